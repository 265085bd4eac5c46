"""Synthetic runs: realistic store directories made without a cluster.

A seeded simulation of a register workload (read, write, cas over a few keys) by
``concurrency`` workers at a given rate, with partition and kill windows from a
nemesis during which latencies grow and operations fail or time out. Each operation
takes effect at a random point between its invocation and its completion, so the
history is linearizable; ``plant_stale_read`` makes it invalid with a read that returns
an overwritten value, and :func:`synthetic_run` stores a complete run directory (history,
test description, node logs, results with a counterexample in the linearizability
checker's shape). The report tests and ``bench/report.py`` render these.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from checkers.linearizable import check_linearizable
from checkers.result import Result
from harness.op import NEMESIS, Op
from reports.perf import perf_summary
from reports.results import build_results, write_results

KEYS: Final = ("k1", "k2", "k3", "k4", "k5")
NS_PER_MS: Final = 1_000_000
NS_PER_S: Final = 1_000_000_000
STARTED: Final = datetime(2025, 3, 14, 2, 30, 0, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Planned:
    process: int
    f: str
    key: str
    arg: Any
    start: int
    end: int
    outcome: str  # ok, fail, info
    effect_at: int  # when it takes effect (ok ops, and info ops that happened)
    node: str


def _fault_spans(duration_ns: int) -> list[tuple[str, int, int]]:
    """Fault windows: partitions alternating with kills, about four per run (at most one
    every 20 s), each over part of its period."""
    period = min(20 * NS_PER_S, duration_ns // 4)
    spans = []
    t = period // 4
    i = 0
    while period > 0 and t + period // 2 < duration_ns:
        family = "partition" if i % 2 == 0 else "kill"
        length = period * 2 // 5 if family == "partition" else period // 4
        spans.append((family, t, t + length))
        t += period
        i += 1
    return spans


def _in_fault(t: int, spans: Sequence[tuple[str, int, int]]) -> bool:
    return any(s <= t <= e for _, s, e in spans)


def synthetic_history(n_ops: int, *, concurrency: int = 5, rate: float = 200.0,
                      nodes: Sequence[str] = ("n1", "n2", "n3"), seed: int = 42) -> list[Op]:
    """A linearizable register history of ``n_ops`` client operations with nemesis ops."""
    rng = random.Random(seed)
    duration_ns = int(n_ops / rate * NS_PER_S)
    spans = _fault_spans(duration_ns)
    gap_ns = concurrency / rate * NS_PER_S
    planned: list[_Planned] = []
    next_free = [int(rng.uniform(0, gap_ns)) for _ in range(concurrency)]
    process_of = list(range(concurrency))
    per_worker = [n_ops // concurrency + (1 if w < n_ops % concurrency else 0)
                  for w in range(concurrency)]
    for w in range(concurrency):
        t = next_free[w]
        for _ in range(per_worker[w]):
            faulty = _in_fault(t, spans)
            latency = int(rng.lognormvariate(1.2, 0.5) * NS_PER_MS)
            if faulty:
                latency = int(latency * rng.uniform(3, 40))
            r = rng.random()
            outcome = "ok"
            if faulty and r < 0.12:
                outcome = "info"
                latency = 1000 * NS_PER_MS + int(rng.uniform(0, 20) * NS_PER_MS)
            elif (faulty and r < 0.3) or r < 0.01:
                outcome = "fail"
            f = rng.choices(("read", "write", "cas"), weights=(5, 3, 2))[0]
            arg: Any = (None if f == "read" else rng.randrange(5) if f == "write"
                        else [rng.randrange(5), rng.randrange(5)])
            effect = t + int(rng.uniform(0, latency))
            takes_effect = outcome == "ok" or (outcome == "info" and rng.random() < 0.5)
            planned.append(_Planned(process_of[w], f, rng.choice(KEYS), arg, t, t + latency,
                                    outcome, effect if takes_effect else -1,
                                    nodes[rng.randrange(len(nodes))]))
            if outcome == "info":
                process_of[w] += concurrency
            t += latency + int(rng.uniform(0, 2 * gap_ns))
    return _events(planned, spans, nodes)


def _events(planned: Sequence[_Planned], spans: Sequence[tuple[str, int, int]],
            nodes: Sequence[str]) -> list[Op]:
    """Apply the planned ops in effect order to compute results; emit the events."""
    state = dict.fromkeys(KEYS)
    results: dict[int, tuple[str, Any]] = {}
    effective = sorted((p.effect_at, i) for i, p in enumerate(planned) if p.effect_at >= 0)
    for _, i in effective:
        p = planned[i]
        if p.f == "read":
            results[i] = ("ok", state[p.key])
        elif p.f == "write":
            state[p.key] = p.arg
            results[i] = ("ok", p.arg)
        elif state[p.key] == p.arg[0]:
            state[p.key] = p.arg[1]
            results[i] = ("ok", p.arg)
        else:
            results[i] = ("fail", p.arg)
    raw: list[tuple[int, int, dict[str, Any]]] = []
    for i, p in enumerate(planned):
        raw.append((p.start, 0, {"process": p.process, "type": "invoke", "f": p.f,
                                 "key": p.key, "value": p.arg, "node": p.node}))
        done_type, done_value = results.get(i, (p.outcome, p.arg))
        if p.outcome != "ok":
            done_type = p.outcome
        if p.f == "read" and done_type != "ok":
            done_value = None
        done: dict[str, Any] = {"process": p.process, "type": done_type, "f": p.f, "key": p.key,
                                "value": done_value, "node": p.node}
        if done_type == "fail":
            done["error"] = "not-leader" if p.f != "cas" else "cas-mismatch"
        elif done_type == "info":
            done["error"] = "timeout"
        raw.append((p.end, 1, done))
    for family, s, e in spans:
        target = [nodes[0]] if family == "kill" else {"n1": list(nodes[1:])}
        opener, closer = ("start-partition", "stop-partition") if family == "partition" else (
            "kill", "start")
        for t, f, value in ((s, opener, "one" if family == "kill" else "majorities-ring"),
                            (e, closer, None)):
            raw.append((t - 30 * NS_PER_MS, 0, {"process": NEMESIS, "type": "invoke",
                                                "f": f, "value": value}))
            raw.append((t, 1, {"process": NEMESIS, "type": "info", "f": f,
                               "value": target if value is not None else "healed"}))
    raw.sort(key=lambda r: (r[0], r[1]))
    return [Op.from_dict(d | {"time": t, "index": i}) for i, (t, _, d) in enumerate(raw)]


def plant_stale_read(history: Sequence[Op], *, at: float = 0.01, key: str = "k2") -> list[Op]:
    """The history with a stale read planted ``at`` a fraction of its span: a new process
    writes a value nobody else writes, a second one then writes another value, and a
    third reads the first value back. Whatever the other processes do, no order explains
    that read. (Early in the run by default: before the first fault leaves indeterminate
    operations behind, which the checker would have to rule out one at a time.)"""
    span = max((op.time for op in history), default=0)
    t = int(span * at)
    last = max((op.process for op in history if op.is_client), default=-1)
    assert isinstance(last, int)
    first, second = 1000 + last, 2000 + last
    planted = []
    for i, (f, value, result) in enumerate((("write", first, first), ("write", second, second),
                                            ("read", None, first))):
        process, start = last + 1 + i, t + i * 2 * NS_PER_MS
        planted.append(Op(process, "invoke", f, value, time=start, key=key, node="n1"))
        planted.append(Op(process, "ok", f, result, time=start + 3 * NS_PER_MS // 2, key=key,
                          node="n1"))
    merged = sorted([*history, *planted], key=lambda op: op.time)
    return [op.with_(index=i) for i, op in enumerate(merged)]


def _node_log(node: str, spans: Sequence[tuple[str, int, int]], epoch_ms: int,
              leader: str) -> str:
    lines = [f"{epoch_ms} INFO raftkv {node} starting: read_mode=index data=/data",
             f"{epoch_ms + 5} INFO became follower at term 1",
             f"{epoch_ms + 7} DEBUG heartbeat tick"]
    term = 1
    for family, s, e in spans:
        term += 1
        s_ms, e_ms = epoch_ms + s // NS_PER_MS, epoch_ms + e // NS_PER_MS
        if family == "partition":
            lines.append(f"{s_ms + 300} WARN send to peer failed: connection refused")
            lines.append(f"{s_ms + 900} INFO starting a new election, term {term}")
            if node == leader:
                lines.append(f"{s_ms + 950} INFO became leader at term {term}")
        else:
            lines.append(f"{s_ms + 100} ERROR raft storage: unexpected EOF reading log entry")
        lines.append(f"{e_ms + 200} INFO became follower at term {term + 1}")
    return "\n".join(lines) + "\n"


def synthetic_run(store: Path, *, n_ops: int = 2000, invalid: bool = False, seed: int = 42,
                  name: str = "register-partition", concurrency: int = 5,
                  rate: float = 200.0, checks: Result | None = None) -> Path:
    """Write a complete synthetic run directory under ``store`` and return its path.

    The history is checked by the real linearizability checker unless ``checks`` gives
    the verdict to store instead."""
    nodes = ("n1", "n2", "n3")
    history = synthetic_history(n_ops, concurrency=concurrency, rate=rate, nodes=nodes,
                                seed=seed)
    if invalid:
        history = plant_stale_read(history)
    if checks is None:
        checks = check_linearizable(history, "cas-register")
    run_dir = store / name / STARTED.strftime("%Y%m%dT%H%M%S%z")
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "history.jsonl").open("w", encoding="utf-8") as out:
        for op in history:
            out.write(json.dumps(op.to_dict()) + "\n")
    test = {"name": name, "workload": "register", "nemesis": ["partition", "kill"],
            "nodes": list(nodes), "concurrency": concurrency, "rate": rate,
            "time_limit": round(n_ops / rate), "seed": seed, "read_mode": "index",
            "backend": "docker", "unsafe": ["stale-reads"] if invalid else []}
    (run_dir / "test.json").write_text(json.dumps(test, indent=2) + "\n", encoding="utf-8")
    spans = _fault_spans(int(n_ops / rate * NS_PER_S))
    epoch_ms = int(STARTED.timestamp() * 1000)
    for node in nodes:
        (run_dir / "nodes" / node).mkdir(parents=True, exist_ok=True)
        (run_dir / "nodes" / node / "raftkv.log").write_text(
            _node_log(node, spans, epoch_ms, leader="n2"), encoding="utf-8")
    perf = perf_summary(history)
    results = build_results(test=test, checks=checks, perf=perf, run={
        "name": name, "run_dir": str(run_dir), "started": STARTED.isoformat(),
        "history_started": STARTED.isoformat(timespec="milliseconds"),
        "duration_s": perf["duration_s"] + 4.2, "backend": "docker", "backend_note": None,
        "ops": len(history), "errors": [],
        "finished": (STARTED + timedelta(seconds=perf["duration_s"] + 4.2)).isoformat()})
    write_results(run_dir / "results.json", results)
    for link in (store / "latest", store / name / "latest"):
        if link.is_symlink():
            link.unlink()
        link.symlink_to(run_dir.relative_to(link.parent))
    return run_dir
