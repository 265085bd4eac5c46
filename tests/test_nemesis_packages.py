"""Packages and presets: validation, schedules, determinism, and that a whole run of a
package's generator then its final generator leaves the (fake) cluster healed."""

from __future__ import annotations

import heapq
import itertools
from typing import Any

import pytest
from test_nemesis_fakes import FakeCluster, FakeNodeAPI

from harness import generator as gen
from harness.errors import InputError
from harness.op import NEMESIS, Op
from nemesis.packages import build_package, nemesis_names
from nemesis.presets import PRESETS, get_preset
from nemesis.windows import family_of, fault_windows

NODES = ["n1", "n2", "n3", "n4", "n5"]
ALL = ["partition", "kill", "pause", "clock", "packet", "membership"]


@pytest.fixture(autouse=True)
def _fake_clocks_settle_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake cluster's clocks change at once: no waiting for libfaketime."""
    monkeypatch.setattr("nemesis.clock.SETTLE_S", 0.0)


class NemesisExecutor:
    """Runs a generator's nemesis ops against a real nemesis on a fake clock."""

    def __init__(self, nemesis: Any, latency_ns: int = 50_000_000) -> None:
        self.nemesis, self.latency_ns = nemesis, latency_ns
        self.clock = 0
        self.history: list[Op] = []
        self._queue: list[tuple[int, int, gen.Thread, Op]] = []
        self._seq = itertools.count()

    def now(self) -> int:
        return self.clock

    def _record(self, op: Op) -> Op:
        op = op.with_(index=len(self.history), time=self.clock)
        self.history.append(op)
        return op

    def dispatch(self, thread: gen.Thread, invocation: Op) -> Op:
        inv = self._record(invocation)
        done = self.nemesis.invoke(inv)
        heapq.heappush(self._queue, (self.clock + self.latency_ns, next(self._seq), thread, done))
        return inv

    def next_completion(self, deadline: int | None) -> tuple[gen.Thread, Op] | None:
        if self._queue and (deadline is None or self._queue[0][0] <= deadline):
            at, _, thread, done = heapq.heappop(self._queue)
            self.clock = max(self.clock, at)
            return thread, self._record(done)
        assert deadline is not None
        self.clock = max(self.clock, deadline)
        return None


def run_package(names: list[str], seed: int, *, seconds: float = 60, preset: str | None = None,
                interval_s: float | None = 5.0) -> tuple[list[Op], FakeCluster, FakeNodeAPI]:
    cluster = FakeCluster(5)
    api = FakeNodeAPI(cluster)
    package = build_package(names, nodes=NODES, seed=seed, api=api, preset=preset,
                            interval_s=interval_s)
    package.nemesis.setup(cluster)
    executor = NemesisExecutor(package.nemesis)
    plan = gen.seq(gen.time_limit(seconds, package.generator), package.final_generator)
    try:
        gen.interpret(plan, executor, [NEMESIS], seed)
    finally:
        package.teardown()  # stops a strobe thread even when the test fails
    return executor.history, cluster, api


def test_every_nemesis_name_builds_and_owns_its_families_f() -> None:
    assert set(nemesis_names()) >= {*ALL, "none"}
    package = build_package(ALL, nodes=NODES)
    assert package.families == ("partition", "kill", "pause", "clock", "packet", "membership")
    assert package.name == ",".join(ALL)
    fs = package.nemesis.fs()
    for f in fs - {"check-clock-offsets"}:
        family = family_of(f)
        assert family is not None and family.name in package.families


def test_none_is_a_package_without_faults() -> None:
    package = build_package(["none"], nodes=NODES)
    assert package.generator is None and package.final_generator is None
    assert package.families == () and package.nemesis.fs() == frozenset()


@pytest.mark.parametrize(("names", "kwargs", "message"), [
    (["partition", "lightning"], {}, "unknown nemesis lightning"),
    (["kill", "kill"], {}, "named twice"),
    (["none", "kill"], {}, "cannot be combined"),
    (["kill"], {"interval_s": 0}, "must be positive"),
    ([], {"preset": "everything"}, "unknown preset 'everything'"),
])
def test_bad_names_are_input_errors(names: list[str], kwargs: dict[str, Any],
                                    message: str) -> None:
    with pytest.raises(InputError, match=message):
        build_package(names, nodes=NODES, **kwargs)


def test_generator_alternates_open_and_close_per_family_at_the_interval() -> None:
    package = build_package(["partition", "kill"], nodes=NODES, seed=4, interval_s=10)
    history = gen.simulate(package.generator, concurrency=0, max_time_s=600)
    invokes = [op for op in history if op.type == "invoke"]
    assert all(op.process == NEMESIS for op in invokes)
    for opens, closes in (("start-partition", "stop-partition"), ("kill", "start")):
        fs = [op.f for op in invokes if op.f in (opens, closes)]
        assert fs[:4] == [opens, closes, opens, closes]
        times = [op.time for op in invokes if op.f in (opens, closes)]
        gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(times)]
        assert all(0 <= gap < 20.1 for gap in gaps)
        assert 5 < sum(gaps) / len(gaps) < 15, "on average one op per interval"


def test_same_seed_same_schedule() -> None:
    def plan(seed: int) -> list[tuple[Any, ...]]:
        package = build_package(ALL, nodes=NODES, seed=seed)
        return [(op.time, op.f, repr(op.value)) for op in
                gen.simulate(package.generator, concurrency=0, max_time_s=120, seed=seed)]

    assert plan(11) == plan(11)
    assert plan(11) != plan(12)


def _what_was_done(history: list[Op]) -> list[tuple[Any, ...]]:
    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "offsets_ms"}
        return value
    return [(op.f, op.type, repr(strip(op.value))) for op in history]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_whole_run_ends_healed_and_says_what_it_did(seed: int) -> None:
    history, cluster, api = run_package(ALL, seed)
    assert cluster.is_healed(), cluster.calls[-20:]
    assert api.members == {1, 2, 3, 4, 5}
    completions = [op for op in history if op.type != "invoke"]
    assert len(completions) >= 20
    assert all(op.process == NEMESIS for op in history)
    for op in completions:
        assert op.value is not None or op.type == "fail", op
        if op.type != "ok":
            assert op.error, op
    windows = fault_windows(history)
    assert {w.family for w in windows} >= {"partition", "kill", "pause", "clock", "packet"}
    assert all(w.end <= history[-1].time for w in windows)


def test_same_seed_same_faults_on_the_cluster() -> None:
    first = _what_was_done(run_package(ALL, 5, seconds=30)[0])
    assert first == _what_was_done(run_package(ALL, 5, seconds=30)[0])
    assert first != _what_was_done(run_package(ALL, 6, seconds=30)[0])


def test_explicit_specs_are_checked_against_the_nodes() -> None:
    from nemesis.packages import check_spec

    check_spec({"f": "kill", "value": ["n1"]}, NODES)
    check_spec({"f": "start-partition", "value": [["n1"], ["n2", "n3"]]}, NODES)
    with pytest.raises(InputError, match="n7"):
        check_spec({"f": "kill", "value": ["n7"]}, NODES)
    with pytest.raises(InputError, match="partition"):
        check_spec({"f": "start-partition", "value": "quarters"}, NODES)
    with pytest.raises(InputError, match="kind"):
        check_spec({"f": "start-packet", "value": {"targets": "one", "kind": "gremlins"}}, NODES)


# -- presets -----------------------------------------------------------------------------

def test_presets_cover_each_deliberate_defect() -> None:
    assert {p.defect for p in PRESETS.values()} >= {
        "stale-reads", "lease-ignore-drift", "ack-before-commit"}
    for preset in PRESETS.values():
        assert preset.defect in preset.unsafe
        assert preset.read_mode in ("log", "index", "lease", "follower", "stale")
        assert set(preset.openers) <= set(preset.nemeses)
    assert get_preset("lease").read_mode == "lease"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_each_preset_builds_runs_and_heals(name: str) -> None:
    preset = PRESETS[name]
    package = build_package([], preset=name, nodes=NODES)
    assert package.name == name
    assert set(package.families) == set(preset.nemeses)
    history, cluster, _ = run_package([], 3, preset=name, interval_s=None)
    assert cluster.is_healed()
    invoked = [(op.f, op.value) for op in history if op.type == "invoke"]
    own = [(o["f"], o["value"]) for ops in (*preset.openers.values(),
                                            [op for _, op in preset.schedule]) for o in ops]
    closers = {"stop-partition", "start", "resume", "reset-clock", "stop-packet", "add-node",
               "check-clock-offsets"}
    assert all(op in own or op[0] in closers for op in invoked), invoked
    assert any(op in own and op[0] not in closers for op in invoked), "its own ops were used"
    if preset.schedule:
        cycle = [op["f"] for _, op in preset.schedule]
        assert [f for f, _ in invoked][:len(cycle) * 2] == cycle * 2, "in a fixed cycle"


def test_explicit_interval_and_names_override_the_preset() -> None:
    package = build_package(["partition"], preset="lease", nodes=NODES, interval_s=1.0)
    assert package.families == ("partition",)
    history = gen.simulate(package.generator, concurrency=0, max_time_s=30)
    assert sum(op.type == "invoke" for op in history) > 15


def test_the_docs_name_every_nemesis_f_spec_kind_and_preset() -> None:
    from pathlib import Path

    from nemesis.grudge import GRUDGE_SPECS
    from nemesis.packet import KINDS
    from nemesis.targets import TARGET_SPECS
    from nemesis.windows import FAMILIES

    text = (Path(__file__).resolve().parent.parent / "docs" / "nemesis.md").read_text()
    fs = {f for family in FAMILIES for f in family.opens | family.closes}
    names = [*nemesis_names(), *fs, *GRUDGE_SPECS, *TARGET_SPECS, *KINDS, *PRESETS,
             "check-clock-offsets"]
    missing = [name for name in names if f"`{name}`" not in text]
    assert missing == []


def test_a_preset_says_how_the_run_it_pairs_with_is_set() -> None:
    from nemesis.presets import run_defaults

    assert run_defaults(get_preset("lease")) == {
        "workload": "register", "read_mode": "lease", "unsafe": ["lease-ignore-drift"],
        "op_timeout": 1.0}
