"""Benchmark of the linearizability checker: time and peak memory per scenario.

    python bench/checker.py                 # every scenario, each in its own process
    python bench/checker.py --scenario d    # one scenario
    python bench/checker.py --list

Scenarios: (a) the Knossos corpus (parse and check times apart; the slowest files
listed); (b) 100 cas-register histories of about 80 operations, 5 to 10 processes,
with info ops, like Jepsen's etcd tests; (c) one 2,000-operation, 50-process, 10-key
kv history with MIT 6.824's mix (c-stress: the same closed-loop, ten seeds, to show
where the search gets exponential); (d) one 100,000-operation, 20-process, 10-key
register history (d1: the same on a single key). Invalid single-key histories of
100,000 operations and 20 processes, each with one corrupted read: (e) a register read
near the end returns a value never written; (f) the same for a cas-register with info
ops, (g) near the start; (h) a cas-register read near the end, with values drawn from
1,000, returns one overwritten 30 writes before it began (a stale read). "Operation"
means an invocation and its completion (a history of N operations has 2N entries).

Histories of (b)-(d) come from a seeded simulation of a linearizable store: every
operation is invoked, takes effect at a random instant inside its interval and returns;
processes overlap for real. Some operations fail (no effect) or crash (``info``: effect
or not, unknown; the process then continues under a new id), as under a nemesis. Same
seed, same history.

Peak memory is the whole process's maximum resident set (getrusage, self plus
children: the parallel workers), so each scenario runs in a fresh process.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from checkers.linearizable import check_linearizable  # noqa: E402
from harness.history import read_history  # noqa: E402
from harness.op import Op, OpType  # noqa: E402


@dataclass(frozen=True)
class Workload:
    """What the simulated clients do."""

    model: str  # register, cas-register or kv
    operations: int
    processes: int
    keys: int = 1
    values: int = 5  # register values are drawn from range(values)
    p_info: float = 0.0  # chance an operation crashes (outcome unknown)
    p_fail: float = 0.0  # chance an operation fails (no effect)
    latency: float = 0.5  # mean duration of an operation (exponential), seconds
    think: float = 0.25  # mean pause of a process between operations (exponential)
    mix: tuple[str, ...] = ()  # the f of each operation, drawn uniformly (default per model)


def simulate(w: Workload, seed: int) -> list[Op]:
    """A linearizable history of the workload (see module docstring)."""
    rng = random.Random(seed)
    # Each process issues operations one after another; pick times first.
    plans: list[tuple[float, float, float, int, int]] = []  # inv, lin, ret, proc slot, i
    clock = [rng.random() for _ in range(w.processes)]
    per_proc = [0] * w.processes
    for i in range(w.operations):
        slot = min(range(w.processes), key=clock.__getitem__)
        inv = clock[slot]
        duration = rng.expovariate(1.0 / w.latency) + 0.01
        lin = inv + rng.random() * duration
        ret = inv + duration
        clock[slot] = ret + rng.expovariate(1.0 / w.think)
        plans.append((inv, lin, ret, slot, i))
        per_proc[slot] += 1
    # Decide each operation and apply the effective ones in linearization order.
    kinds: list[tuple[str, Any, Any, str]] = []  # f, key, value, outcome
    for _ in range(w.operations):
        key = rng.randrange(w.keys) if w.keys > 1 else None
        r = rng.random()
        outcome = "info" if r < w.p_info else "fail" if r < w.p_info + w.p_fail else "ok"
        value: Any
        if w.model == "kv":
            f = rng.choice(w.mix or ("get", "put", "append", "append"))
            value = None if f == "get" else f"{rng.randrange(100)} "
        else:
            fs = ("read", "write", "cas") if w.model == "cas-register" else ("read", "write")
            f = rng.choice(w.mix or fs)
            value = (None if f == "read" else rng.randrange(w.values) if f == "write"
                     else [rng.randrange(w.values), rng.randrange(w.values)])
        kinds.append((f, key, value, outcome))
    state: dict[Any, Any] = {}
    results: list[Any] = [None] * w.operations
    effective = [True] * w.operations
    for _inv, _lin, _ret, _slot, i in sorted(plans, key=lambda p: p[1]):
        f, key, value, outcome = kinds[i]
        if outcome == "fail" or (outcome == "info" and rng.random() < 0.5):
            effective[i] = False
            continue
        current = state.get(key, "" if w.model == "kv" else None)
        if f in ("read", "get"):
            results[i] = current
        elif f in ("write", "put"):
            state[key] = value
        elif f == "append":
            state[key] = current + value
        elif current == value[0]:
            state[key] = value[1]
        else:
            effective[i] = False  # a cas whose compare failed: Jepsen records fail
            kinds[i] = (f, key, value, "fail" if outcome == "ok" else outcome)
    # Events in time order; a crashed process continues under a new id.
    events: list[tuple[float, int, Op]] = []
    process_id = list(range(w.processes))
    for inv, _lin, ret, slot, i in sorted(plans):
        f, key, value, outcome = kinds[i]
        p = process_id[slot]
        events.append((inv, 0, Op(process=p, type="invoke", f=f, value=value, key=key,
                                  time=int(inv * 1e9))))
        done_value = results[i] if f in ("read", "get") and outcome == "ok" else value
        events.append((ret, 1, Op(process=p, type=cast(OpType, outcome), f=f,
                                  value=done_value, key=key, time=int(ret * 1e9))))
        if outcome == "info":
            process_id[slot] += w.processes
    events.sort(key=lambda e: (e[0], e[1]))
    return [op.with_(index=i) for i, (_, _, op) in enumerate(events)]


def peak_mb() -> float:
    """Peak resident memory of this process and its children, in MB."""
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (self_kb + children_kb) / 1024


# ---------------------------------------------------------------------------- scenarios


def corpus_dir() -> Path:
    env = os.environ.get("RAFT_CHAOS_CORPUS")
    return Path(env) if env else REPO.parent / "shared" / "corpus"


def scenario_a() -> dict[str, Any]:
    """The Knossos corpus: parse (EDN) and check times apart, verdicts against folders."""
    base = corpus_dir() / "knossos"
    files = sorted(base.rglob("*.edn"))
    parse = check = 0.0
    rows = []
    wrong = []
    for f in files:
        rel = f.relative_to(base)
        model, verdict = rel.parts[0], rel.parts[1]
        t0 = time.perf_counter()
        ops = read_history(f)
        t1 = time.perf_counter()
        r = check_linearizable(ops, model, time_limit=60)
        t2 = time.perf_counter()
        parse += t1 - t0
        check += t2 - t1
        rows.append((t2 - t1, str(rel), r.valid))
        if r.valid != (verdict == "good"):
            wrong.append(str(rel))
    rows.sort(reverse=True)
    return {"files": len(files), "parse_s": round(parse, 3), "check_s": round(check, 3),
            "wrong": wrong, "slowest": [(name, round(t, 4), v) for t, name, v in rows[:8]],
            "per_file": {name: round(t, 4) for t, name, _ in sorted(rows, key=lambda r: r[1])}}


def scenario_b() -> dict[str, Any]:
    """100 cas-register histories, ~80 operations, 5-10 processes, with info ops."""
    rng = random.Random(2)
    histories = []
    for i in range(100):
        w = Workload("cas-register", operations=80, processes=rng.randint(5, 10),
                     p_info=0.08, p_fail=0.05)
        histories.append(simulate(w, seed=1000 + i))
    t0 = time.perf_counter()
    verdicts = [check_linearizable(h, "cas-register", time_limit=10).valid for h in histories]
    elapsed = time.perf_counter() - t0
    return {"histories": len(histories), "check_s": round(elapsed, 3),
            "all_valid": all(v is True for v in verdicts),
            "verdicts": sorted({str(v) for v in verdicts})}


# MIT 6.824's kv test mix: about half appends, a few puts, the rest gets.
KV_MIX: tuple[str, ...] = ("get",) * 9 + ("append",) * 10 + ("put",)


def scenario_c() -> dict[str, Any]:
    """2,000 kv operations, 50 processes on 10 keys, each busy a third of the time."""
    h = simulate(Workload("kv", operations=2000, processes=50, keys=10, p_info=0.02,
                          p_fail=0.02, latency=0.5, think=1.0, mix=KV_MIX), seed=3)
    t0 = time.perf_counter()
    r = check_linearizable(h, "kv", time_limit=30)
    return {"entries": len(h), "check_s": round(time.perf_counter() - t0, 3),
            "valid": r.valid, "configurations": r.details["configurations"]}


def scenario_c_stress() -> dict[str, Any]:
    """As (c), but closed-loop (busy 2/3 of the time): ~3.5 ops in flight per key.

    Many concurrent appends between two gets make every WGL-style search (Porcupine's
    too) explore their orders; ten seeds, 5 s limit each, to show the spread.
    """
    times, verdicts, configurations = [], [], []
    for seed in range(3, 13):
        h = simulate(Workload("kv", operations=2000, processes=50, keys=10, p_info=0.02,
                              p_fail=0.02, latency=0.5, think=0.25, mix=KV_MIX), seed=seed)
        t0 = time.perf_counter()
        r = check_linearizable(h, "kv", time_limit=5)
        times.append(round(time.perf_counter() - t0, 3))
        verdicts.append(str(r.valid))
        configurations.append(r.details["configurations"])
    return {"check_s": times, "median_s": sorted(times)[len(times) // 2],
            "verdicts": verdicts, "max_configurations": max(configurations)}


def scenario_d() -> dict[str, Any]:
    """100,000 register operations (200,000 entries), 20 processes, 10 keys."""
    t0 = time.perf_counter()
    h = simulate(Workload("register", operations=100_000, processes=20, keys=10,
                          p_info=0.002, p_fail=0.01), seed=4)
    t1 = time.perf_counter()
    r = check_linearizable(h, "register", time_limit=120)
    t2 = time.perf_counter()
    return {"entries": len(h), "generate_s": round(t1 - t0, 3),
            "check_s": round(t2 - t1, 3), "valid": r.valid,
            "configurations": r.details["configurations"], "parts": r.details["parts"]}


def scenario_d1() -> dict[str, Any]:
    """As (d), on a single key: 20 processes on one register."""
    h = simulate(Workload("register", operations=100_000, processes=20, p_info=0.002,
                          p_fail=0.01), seed=4)
    t0 = time.perf_counter()
    r = check_linearizable(h, "register", time_limit=120)
    return {"entries": len(h), "check_s": round(time.perf_counter() - t0, 3),
            "valid": r.valid, "configurations": r.details["configurations"]}


def corrupt_read(history: list[Op], where: str, stale: bool = False) -> tuple[list[Op], int]:
    """One ok read changed (10 reads from the start or the end): to 99, a value never
    written, or (``stale``) to the value of the write that completed 30 writes before
    the read began. Returns the history and the changed op's index."""
    reads = [i for i, op in enumerate(history) if op.f == "read" and op.type == "ok"]
    i = reads[10] if where == "start" else reads[-10]
    value: Any = 99
    if stale:
        began = max(j for j in range(i) if history[j].process == history[i].process
                    and history[j].type == "invoke")
        writes = [j for j in range(began) if history[j].type == "ok"
                  and history[j].f == "write"]
        value = history[writes[-30]].value
    changed = list(history)
    changed[i] = changed[i].with_(value=value)
    return changed, changed[i].index


def invalid(model: str, where: str, *, p_info: float, values: int = 5,
            stale: bool = False) -> dict[str, Any]:
    """Check one corrupted single-key history: time, verdict, and the counterexample."""
    h = simulate(Workload(model, operations=100_000, processes=20, values=values,
                          p_info=p_info, p_fail=0.01), seed=4)
    h, corrupted = corrupt_read(h, where, stale)
    t0 = time.perf_counter()
    r = check_linearizable(h, model, time_limit=120)
    out: dict[str, Any] = {"entries": len(h), "check_s": round(time.perf_counter() - t0, 3),
                           "valid": r.valid, "configurations": r.details["configurations"]}
    ce = r.details.get("counterexample")
    if ce is not None:
        out |= {"failing_is_corrupted": ce["failing"] == corrupted,
                "counterexample_ops": len(ce["ops"]), "minimal": ce["minimal"]}
    return out


def scenario_e() -> dict[str, Any]:
    """Single-key register, 100,000 ops, a read of a value never written near the end."""
    return invalid("register", "end", p_info=0.002)


def scenario_f() -> dict[str, Any]:
    """Single-key cas-register with info ops, a read never written near the end."""
    return invalid("cas-register", "end", p_info=0.01)


def scenario_g() -> dict[str, Any]:
    """Single-key cas-register with info ops, a read never written near the start."""
    return invalid("cas-register", "start", p_info=0.01)


def scenario_h() -> dict[str, Any]:
    """Single-key cas-register, values from 1,000, a stale read near the end."""
    return invalid("cas-register", "end", p_info=0.01, values=1000, stale=True)


SCENARIOS = {"a": scenario_a, "b": scenario_b, "c": scenario_c, "c-stress": scenario_c_stress,
             "d": scenario_d, "d1": scenario_d1, "e": scenario_e, "f": scenario_f,
             "g": scenario_g, "h": scenario_h}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--per-file", action="store_true", help="(a): every file's time")
    args = parser.parse_args()
    if args.list:
        print("\n".join(f"{k}: {(v.__doc__ or '').strip()}" for k, v in SCENARIOS.items()))
        return 0
    if args.scenario:
        result = SCENARIOS[args.scenario]()
        if not args.per_file:
            result.pop("per_file", None)
        result["peak_mb"] = round(peak_mb(), 1)
        print(f"({args.scenario}) {result}")
        if args.per_file and "per_file" in result:
            for name, t in result["per_file"].items():
                print(f"    {t:8.4f} s  {name}")
        return 0
    for name in sorted(SCENARIOS):
        subprocess.run([sys.executable, __file__, "--scenario", name], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
