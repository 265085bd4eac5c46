"""set: unique adds to a grow-only set, periodic reads, and a final read after healing.

Every ``add`` carries a fresh integer (0, 1, 2, ... in the order the generator emits
them), appended to one key as ``"n,"``; a ``read`` returns the elements in order. After
the nemesis heals, the clients read once more, retrying until a read succeeds: an
acknowledged add missing from the final read is *lost*, an element nobody added is
*unexpected*.

Ops: ``add`` (value: the int), ``read`` (value: the list of ints read).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from harness.db import KVSession
from harness.generator import PENDING, Answer, Context, Generator, mix, repeat, until_ok
from harness.op import Op
from workloads.base import Option, Workload, WorkloadOptions, ok, session_client

OPTIONS: Final = {
    "read_ratio": Option(0.1, float, "share of ops that read the whole set", 0, 1),
}

SET_KEY: Final = "set/elements"


@dataclass(frozen=True, slots=True)
class UniqueAdds:
    """``add`` ops with 0, 1, 2, ...: each element is added exactly once."""

    next: int = 0

    def op(self, ctx: Context) -> Answer:
        p = ctx.free_process()
        if p is None:
            return PENDING, self
        return {"f": "add", "value": self.next, "process": p, "time": ctx.time}, \
            UniqueAdds(self.next + 1)

    def update(self, ctx: Context, event: Op) -> Generator:
        return self


def parse_elements(s: str | None) -> list[int]:
    return [int(x) for x in (s or "").split(",") if x]


def apply(session: KVSession, op: Op) -> Op:
    if op.f == "add":
        session.append(SET_KEY, f"{op.value},")
        return ok(op)
    if op.f == "read":
        return ok(op, parse_elements(session.get(SET_KEY)))
    raise ValueError(f"set: unknown op {op.f!r}")


def set_generator(*, read_ratio: float) -> Generator:
    return mix([UniqueAdds(), repeat({"f": "read"})], weights=[1 - read_ratio, read_ratio])


def workload(opts: WorkloadOptions) -> Workload:
    o = opts.resolve("set", OPTIONS)
    from checkers.sets import SetChecker

    final: Any = until_ok(repeat({"f": "read"}))
    return Workload(
        name="set",
        client=session_client(apply),
        generator=set_generator(read_ratio=o["read_ratio"]),
        checker=SetChecker(),
        final_generator=final,
    )
