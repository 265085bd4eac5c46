"""The interpreter against pending answers that cannot help: an ``until`` already past
must not spin the loop (on the fake clock: freeze it forever)."""

from __future__ import annotations

from dataclasses import dataclass

from harness import generator as gen
from harness.op import Op


@dataclass(frozen=True)
class PastDue:
    """Pending with an ``until`` long gone, for one second; then one op, then done."""

    emitted: bool = False

    def op(self, ctx: gen.Context) -> gen.Answer:
        if self.emitted:
            return None
        if ctx.time < gen.NS_PER_S:
            return gen.Pending(until=0), self
        p = ctx.free_process()
        if p is None:
            return gen.PENDING, self
        return {"f": "read", "value": None, "process": p, "time": ctx.time}, PastDue(True)

    def update(self, ctx: gen.Context, event: Op) -> gen.Generator:
        return self


def test_a_pending_until_in_the_past_waits_a_poll_instead_of_spinning() -> None:
    history = gen.simulate(gen.clients(PastDue()), concurrency=1, max_time_s=10)
    assert [(o.type, o.f) for o in history] == [("invoke", "read"), ("ok", "read")]
    assert gen.NS_PER_S <= history[0].time < gen.NS_PER_S + 20_000_000
