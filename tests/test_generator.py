"""Generator combinators, tested through ``simulate`` on a fake clock."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import generator as gen
from harness.generator import (
    Context,
    any_of,
    clients,
    cycle,
    delay,
    each_process,
    fn,
    independent_keys,
    limit,
    map_ops,
    mix,
    ok_after,
    once,
    phases,
    repeat,
    seq,
    simulate,
    sleep,
    split,
    stagger,
    synchronize,
    time_limit,
    until_ok,
)
from harness.op import Op

S = 1_000_000_000


def invokes(history: list[Op]) -> list[Op]:
    return [o for o in history if o.type == "invoke"]


def fs(history: list[Op]) -> list[str]:
    return [o.f for o in invokes(history)]


def test_once_emits_one_op_and_fills_process_and_value() -> None:
    h = simulate(once({"f": "read"}), concurrency=1, nemesis=False)
    assert [(o.type, o.f, o.process, o.value) for o in h] == [
        ("invoke", "read", 0, None), ("ok", "read", 0, None)]


def test_dict_and_list_lift_to_generators() -> None:
    h = simulate([{"f": "a"}, {"f": "b"}, {"f": "c"}], concurrency=1, nemesis=False)
    assert fs(h) == ["a", "b", "c"]


def test_repeat_and_limit() -> None:
    assert fs(simulate(repeat({"f": "r"}, 4), nemesis=False)) == ["r"] * 4
    assert fs(simulate(limit(7, repeat({"f": "r"})), nemesis=False)) == ["r"] * 7
    assert fs(simulate(limit(0, repeat({"f": "r"})), nemesis=False)) == []


def test_fn_is_called_until_it_returns_none() -> None:
    def count(ctx: Context) -> dict[str, object] | None:
        return {"f": "w", "value": ctx.time} if ctx.time < 3 * S else None

    h = simulate(delay(1, fn(count)), concurrency=1, nemesis=False)
    assert [o.value for o in invokes(h)] == [0, S, 2 * S]


def test_seq_runs_phases_in_order_and_cycle_repeats() -> None:
    g = seq(limit(2, repeat({"f": "a"})), once({"f": "b"}))
    assert fs(simulate(g, nemesis=False)) == ["a", "a", "b"]
    c = limit(5, cycle(once({"f": "x"}), once({"f": "y"})))
    assert fs(simulate(c, nemesis=False)) == ["x", "y", "x", "y", "x"]


def test_empty_cycle_is_exhausted() -> None:
    assert simulate(cycle(), nemesis=False) == []


def test_mix_draws_from_every_generator_and_drops_exhausted_ones() -> None:
    h = simulate(limit(200, mix([repeat({"f": "a"}), repeat({"f": "b"})])), nemesis=False)
    counts = {f: fs(h).count(f) for f in ("a", "b")}
    assert counts["a"] + counts["b"] == 200 and min(counts.values()) > 60
    h2 = simulate(mix([once({"f": "a"}), limit(3, repeat({"f": "b"}))]), nemesis=False)
    assert sorted(fs(h2)) == ["a", "b", "b", "b"]


def test_mix_weights() -> None:
    h = simulate(limit(300, mix([repeat({"f": "a"}), repeat({"f": "b"})], weights=[1, 0])),
                 nemesis=False)
    assert set(fs(h)) == {"a"}
    with pytest.raises(ValueError):
        mix([{"f": "a"}], weights=[0])


def test_time_limit_stops_on_the_fake_clock() -> None:
    h = simulate(time_limit(10, delay(1, repeat({"f": "r"}))), concurrency=1, nemesis=False)
    times = [o.time for o in invokes(h)]
    assert times == [i * S for i in range(10)]


def test_stagger_gives_the_rate_on_average() -> None:
    h = simulate(time_limit(100, stagger(0.1, repeat({"f": "r"}))), concurrency=4,
                 nemesis=False, seed=3)
    n = len(invokes(h))
    assert 900 <= n <= 1100  # ~10 ops/s for 100 s
    gaps = [b.time - a.time for a, b in zip(invokes(h), invokes(h)[1:], strict=False)]
    assert max(gaps) < 0.2 * S and min(gaps) >= 0


def test_delay_with_busy_threads_waits_for_completions() -> None:
    h = simulate(limit(3, delay(0.1, repeat({"f": "r"}))), concurrency=1, nemesis=False,
                 respond=ok_after(1.0))
    assert [o.time for o in invokes(h)] == [0, 1 * S, 2 * S]


def test_sleep_pauses_between_phases() -> None:
    h = simulate(seq(once({"f": "a"}), sleep(5), once({"f": "b"})), nemesis=False)
    assert [(o.f, o.time) for o in invokes(h)] == [("a", 0), ("b", 5 * S)]


def test_sleep_with_jitter_stays_in_its_range_and_is_seeded() -> None:
    def when(seed: int) -> int:
        h = simulate(seq(sleep(10, jitter=0.5), once({"f": "b"})), nemesis=False, seed=seed)
        return invokes(h)[0].time

    assert all(5 * S <= when(s) < 15 * S for s in range(20))
    assert when(4) == when(4)
    assert len({when(s) for s in range(10)}) > 1


def test_clients_and_nemesis_route_to_their_threads() -> None:
    g = split(limit(6, repeat({"f": "read"})), once({"f": "start-partition"}))
    h = simulate(g, concurrency=3)
    for o in invokes(h):
        if o.f == "read":
            assert isinstance(o.process, int)
        else:
            assert o.process == "nemesis"
    assert fs(h).count("read") == 6 and fs(h).count("start-partition") == 1


def test_nemesis_schedule_alongside_busy_clients() -> None:
    # Clients are always busy (long ops); the nemesis schedule must still advance.
    nem = cycle(sleep(1), once({"f": "start-partition"}), sleep(1), once({"f": "stop-partition"}))
    g = time_limit(10, split(repeat({"f": "read"}), nem))
    h = simulate(g, concurrency=2, respond=ok_after(0.3))
    nemesis_ops = [(o.f, o.time) for o in invokes(h) if o.process == "nemesis"]
    assert [f for f, _ in nemesis_ops][:4] == ["start-partition", "stop-partition"] * 2
    assert [t for _, t in nemesis_ops] == [i * S for i in range(1, 10)]


def test_info_completion_gives_the_thread_a_new_process() -> None:
    def crash_first(op: Op, rng: random.Random) -> tuple[str, object, float]:
        return ("info", None, 0.0) if op.process == 0 else ("ok", None, 0.0)

    h = simulate(limit(3, repeat({"f": "w"})), concurrency=1, nemesis=False, respond=crash_first)
    assert [o.process for o in invokes(h)] == [0, 1, 1]


def test_each_process_runs_a_copy_per_process() -> None:
    h = simulate(each_process(seq({"f": "a"}, {"f": "b"})), concurrency=3, nemesis=False)
    by_process: dict[object, list[str]] = {}
    for o in invokes(h):
        by_process.setdefault(o.process, []).append(o.f)
    assert by_process == {0: ["a", "b"], 1: ["a", "b"], 2: ["a", "b"]}


def test_until_ok_retries_failures() -> None:
    def fail_twice(op: Op, rng: random.Random) -> tuple[str, object, float]:
        return ("fail" if op.index < 4 else "ok", None, 0.0)

    h = simulate(until_ok(repeat({"f": "w"})), concurrency=1, nemesis=False, respond=fail_twice)
    assert [o.type for o in h if o.type != "invoke"] == ["fail", "fail", "ok"]


def test_synchronize_and_phases_wait_for_in_flight_ops() -> None:
    g = phases(limit(2, repeat({"f": "a"})), once({"f": "b"}))
    h = simulate(g, concurrency=2, nemesis=False, respond=ok_after(1.0))
    b = next(o for o in h if o.f == "b")
    assert all(o.index < b.index for o in h if o.f == "a")
    assert b.time == 1 * S
    h2 = simulate(seq(limit(2, repeat({"f": "a"})), once({"f": "b"})), concurrency=3,
                  nemesis=False, respond=ok_after(1.0))
    assert next(o for o in h2 if o.f == "b").time == 0  # without the barrier
    assert fs(simulate(synchronize(once({"f": "x"})), nemesis=False)) == ["x"]


def test_any_of_takes_the_soonest() -> None:
    g = any_of(delay(3, limit(2, repeat({"f": "slow"}))), delay(1, limit(4, repeat({"f": "fast"}))))
    h = simulate(g, concurrency=1, nemesis=False)
    assert fs(h) == ["slow", "fast", "fast", "fast", "slow", "fast"]


def test_map_ops() -> None:
    h = simulate(map_ops(lambda o: {**o, "value": 9}, once({"f": "w"})), nemesis=False)
    assert invokes(h)[0].value == 9


def test_independent_keys_groups_threads_and_moves_to_fresh_keys() -> None:
    g = clients(limit(40, independent_keys(2, lambda k: limit(5, repeat({"f": "w", "value": k})))))
    h = simulate(g, concurrency=4)
    ops = invokes(h)
    assert len(ops) == 40
    per_key: dict[object, list[Op]] = {}
    for o in ops:
        assert o.value == o.key
        per_key.setdefault(o.key, []).append(o)
    assert all(len(v) == 5 for v in per_key.values())
    assert len(per_key) == 8
    for v in per_key.values():  # each key is worked on by one group of two threads
        assert {int(o.process) % 4 // 2 for o in v} in ({0}, {1})


def test_emitting_for_a_busy_process_is_an_error() -> None:
    class Bad:
        def op(self, ctx: Context) -> gen.Answer:
            return {"f": "x", "process": 0, "time": ctx.time, "value": None}, self

        def update(self, ctx: Context, event: Op) -> Bad:
            return self

    with pytest.raises(RuntimeError, match="busy or unknown process"):
        simulate(Bad(), concurrency=1, nemesis=False, respond=ok_after(1))


def test_bad_arguments_are_rejected() -> None:
    for make in (lambda: limit(-1, {}), lambda: time_limit(-1, {}), lambda: stagger(-1, {}),
                 lambda: sleep(1, jitter=2), lambda: independent_keys(0, lambda k: {}),
                 lambda: repeat({}, -1), lambda: gen.lift(42)):
        with pytest.raises((ValueError, TypeError)):
            make()


def workload_like(seed_ops: int = 300) -> gen.Generator:
    r = {"f": "read"}
    w = fn(lambda ctx: {"f": "write", "value": ctx.rng.randrange(5)})
    cas = fn(lambda ctx: {"f": "cas", "value": [ctx.rng.randrange(5), ctx.rng.randrange(5)]})
    client = independent_keys(2, lambda k: limit(20, mix([r, w, cas])))
    nem = cycle(sleep(2, jitter=0.5), once({"f": "start-partition", "value": "majority"}),
                sleep(2, jitter=0.5), once({"f": "stop-partition"}))
    return time_limit(30, split(stagger(0.05, client), nem))


def jittery(op: Op, rng: random.Random) -> tuple[str, object, float]:
    t = rng.choice(["ok", "ok", "ok", "fail", "info"])
    return t, op.value, rng.random() * 0.2


def test_same_seed_same_plan() -> None:
    a = simulate(workload_like(), concurrency=5, seed=7, respond=jittery)
    b = simulate(workload_like(), concurrency=5, seed=7, respond=jittery)
    c = simulate(workload_like(), concurrency=5, seed=8, respond=jittery)
    assert [o.to_dict() for o in a] == [o.to_dict() for o in b]
    assert [o.to_dict() for o in a] != [o.to_dict() for o in c]
    assert len(a) > 500


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32), concurrency=st.integers(1, 6))
def test_histories_are_well_formed(seed: int, concurrency: int) -> None:
    """Every invoke is completed once, by its own process, and an info process never
    invokes again; times never go backwards."""
    h = simulate(workload_like(), concurrency=concurrency, seed=seed, respond=jittery)
    open_: dict[object, Op] = {}
    crashed: set[object] = set()
    last = 0
    for o in h:
        assert o.time >= last
        last = o.time
        if o.type == "invoke":
            assert o.process not in open_ and o.process not in crashed
            open_[o.process] = o
        else:
            inv = open_.pop(o.process)
            assert inv.f == o.f
            if o.type == "info" and o.process != "nemesis":
                crashed.add(o.process)
    assert not open_


def test_nemesis_sleeps_advance_while_clients_offer_future_ops() -> None:
    # Staggered clients always have an op due a little later; the nemesis's sleep must
    # still start (and end) on time.
    nem = seq(sleep(2), once({"f": "start-partition"}), sleep(2), once({"f": "stop-partition"}))
    g = time_limit(10, split(stagger(0.02, repeat({"f": "read"})), nem))
    h = simulate(g, concurrency=3, respond=ok_after(0.001))
    nemesis_ops = [(o.f, o.time) for o in invokes(h) if o.process == "nemesis"]
    assert [f for f, _ in nemesis_ops] == ["start-partition", "stop-partition"]
    assert abs(nemesis_ops[0][1] - 2 * S) < S // 10
    assert abs(nemesis_ops[1][1] - 4 * S) < S // 5
