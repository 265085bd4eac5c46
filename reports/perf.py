"""Performance of a run, from its history alone: counts, throughput and latency.

Each client operation is an invocation paired with its completion. Its *latency* is
the time between the two; only ``ok`` completions enter the latency quantiles (a
``fail`` returns early and an ``info`` is usually a timeout, so both would distort
them; they are counted instead). An invocation with no completion is *pending*.

Besides whole-run figures, the summary breaks the run down by ``f`` and by fault
window (:func:`nemesis.windows.fault_windows`): an operation belongs to a window when
it completed while that fault was in force, and to ``calm`` when it completed outside
every window. The time series the plots draw (latency quantiles and throughput per
time bucket) come from the same pairs. Pure: history in, plain JSON-ready data out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from harness.history import History
from harness.op import Op
from nemesis.windows import Window, fault_windows

QUANTILES: Final = (0.5, 0.9, 0.95, 0.99)
SERIES_QUANTILES: Final = (0.5, 0.95, 0.99, 1.0)
NS_PER_MS: Final = 1_000_000
NS_PER_S: Final = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Pair:
    """One operation: its invocation and its completion (None while pending), with its
    times (:class:`harness.history.OpPair` knows positions; this knows nanoseconds)."""

    invoke: Op
    completion: Op | None

    @property
    def outcome(self) -> str:
        """``ok``, ``fail``, ``info``, or ``pending`` when it never completed."""
        return self.completion.type if self.completion is not None else "pending"

    @property
    def end(self) -> int | None:
        return self.completion.time if self.completion is not None else None

    @property
    def latency_ns(self) -> int | None:
        return None if self.completion is None else self.completion.time - self.invoke.time


def client_pairs(history: Iterable[Op]) -> list[Pair]:
    """The client operations of a history, in invocation order (nemesis ops left out)."""
    return [Pair(p.invoke, p.completion) for p in History.of(history).pairs()]


def nemesis_pairs(history: Iterable[Op]) -> list[Pair]:
    """The nemesis operations of a history, in invocation order."""
    return [Pair(p.invoke, p.completion) for p in History.of(history).pairs(clients_only=False)
            if not p.invoke.is_client]


def quantile(sorted_values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-quantile of already sorted values (``q`` in [0, 1])."""
    if not sorted_values:
        raise ValueError("quantile of no values")
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def latency_stats(latencies_ns: Iterable[int]) -> dict[str, Any]:
    """Count, mean, min, quantiles and max of latencies, in milliseconds (None if empty)."""
    values = sorted(latencies_ns)
    stats: dict[str, Any] = {"count": len(values)}
    if not values:
        return stats | {"mean": None, "min": None, "max": None} | {
            _qname(q): None for q in QUANTILES}
    ms = [v / NS_PER_MS for v in values]
    stats["mean"] = _round(sum(ms) / len(ms))
    stats["min"] = _round(ms[0])
    for q in QUANTILES:
        stats[_qname(q)] = _round(quantile(ms, q))
    stats["max"] = _round(ms[-1])
    return stats


def _qname(q: float) -> str:
    return "max" if q >= 1.0 else f"p{round(q * 100)}"


def _round(x: float) -> float:
    return round(x, 3)


def _counts(pairs: Iterable[Pair]) -> dict[str, int]:
    counts = {"ok": 0, "fail": 0, "info": 0, "pending": 0}
    for p in pairs:
        counts[p.outcome] += 1
    return counts


def _ok_latencies(pairs: Iterable[Pair]) -> list[int]:
    return [p.latency_ns for p in pairs if p.outcome == "ok" and p.latency_ns is not None]


def _rate(n: int, duration_ns: int) -> float:
    return round(n * NS_PER_S / duration_ns, 3) if duration_ns > 0 else 0.0


def _group_stats(pairs: Sequence[Pair], duration_ns: int) -> dict[str, Any]:
    counts = _counts(pairs)
    return {
        "ops": counts,
        "ok_per_s": _rate(counts["ok"], duration_ns),
        "latency_ms": latency_stats(_ok_latencies(pairs)),
    }


def history_span_ns(history: Sequence[Op]) -> int:
    """The length of the history: its last event's time (the test starts at 0)."""
    return max((op.time for op in history), default=0)


def perf_summary(history: Sequence[Op]) -> dict[str, Any]:
    """The performance summary of a history (see the module docstring; docs/results-schema.md).

    Keys: ``duration_s``, ``ops`` (ok/fail/info/pending counts of client operations),
    ``throughput`` (completed and ok operations per second), ``latency_ms`` (quantiles
    of ok operations), ``by_f`` (the same per ``f``), ``nemesis`` (fault operations per
    ``f``), ``windows`` (one entry per fault window) and ``calm`` (outside every window).
    """
    history = History.of(history)  # paired once, for every use below
    span = history_span_ns(history)
    pairs = client_pairs(history)
    counts = _counts(pairs)
    completed = counts["ok"] + counts["fail"] + counts["info"]
    by_f: dict[str, list[Pair]] = {}
    for p in pairs:
        by_f.setdefault(p.invoke.f, []).append(p)
    windows = fault_windows(history, end_time=span)
    nemesis_f: dict[str, int] = {}
    for p in nemesis_pairs(history):
        nemesis_f[p.invoke.f] = nemesis_f.get(p.invoke.f, 0) + 1
    return {
        "duration_s": round(span / NS_PER_S, 3),
        "ops": counts,
        "throughput": {"completed_per_s": _rate(completed, span),
                       "ok_per_s": _rate(counts["ok"], span)},
        "latency_ms": latency_stats(_ok_latencies(pairs)),
        "by_f": {f: _group_stats(ps, span) for f, ps in sorted(by_f.items())},
        "nemesis": {"ops": sum(nemesis_f.values()), "by_f": dict(sorted(nemesis_f.items()))},
        "windows": [_window_stats(w, pairs) for w in windows],
        "calm": _calm_stats(windows, pairs, span),
    }


def _completed_within(pairs: Iterable[Pair], start: int, end: int) -> list[Pair]:
    return [p for p in pairs if p.end is not None and start <= p.end <= end]


def _window_stats(w: Window, pairs: Sequence[Pair]) -> dict[str, Any]:
    inside = _completed_within(pairs, w.start, w.end)
    return {
        "family": w.family,
        "f": w.f,
        "value": _plain(w.value),
        "start_s": round(w.start / NS_PER_S, 3),
        "end_s": round(w.end / NS_PER_S, 3),
        "duration_s": round((w.end - w.start) / NS_PER_S, 3),
    } | _group_stats(inside, w.end - w.start)


def _calm_stats(windows: Sequence[Window], pairs: Sequence[Pair], span: int) -> dict[str, Any]:
    intervals = merge_intervals((w.start, w.end) for w in windows)
    faulty_ns = sum(e - s for s, e in intervals)
    calm = [p for p in pairs if p.end is not None and not _inside(p.end, intervals)]
    return {"duration_s": round((span - faulty_ns) / NS_PER_S, 3)} | _group_stats(
        calm, span - faulty_ns)


def merge_intervals(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching intervals merged, sorted by start."""
    merged: list[tuple[int, int]] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _inside(t: int, merged: Sequence[tuple[int, int]]) -> bool:
    return any(s <= t <= e for s, e in merged)


def _plain(value: object) -> Any:
    """A JSON-ready copy of a nemesis value (tuples and sets become lists)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


# --- time series for the plots --------------------------------------------------------


def bucket_width_ns(span_ns: int, target_buckets: int) -> int:
    """A round bucket width (1, 2 or 5 times a power of ten, at least 1 ms) giving about
    ``target_buckets`` buckets over ``span_ns``."""
    raw = max(span_ns / max(target_buckets, 1), NS_PER_MS)
    base = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * base >= raw:
            return int(m * base)
    return int(10 * base)  # pragma: no cover - the loop always returns


def latency_series(pairs: Sequence[Pair], bucket_ns: int) -> dict[str, dict[str, list[Any]]]:
    """Per ``f``, the quantiles (p50, p95, p99, max) of ok latencies in ms per time bucket
    of invocation time (as Jepsen plots latency); ``t`` is the bucket's middle in seconds.
    Empty buckets are left out."""
    buckets: dict[str, dict[int, list[float]]] = {}
    for p in pairs:
        if p.outcome != "ok" or p.end is None or p.latency_ns is None:
            continue
        per_f = buckets.setdefault(p.invoke.f, {})
        per_f.setdefault(p.invoke.time // bucket_ns, []).append(p.latency_ns / NS_PER_MS)
    series: dict[str, dict[str, list[Any]]] = {}
    for f, per_bucket in sorted(buckets.items()):
        s: dict[str, list[Any]] = {"t": []} | {_qname(q): [] for q in SERIES_QUANTILES}
        for b in sorted(per_bucket):
            values = sorted(per_bucket[b])
            s["t"].append(round((b + 0.5) * bucket_ns / NS_PER_S, 4))
            for q in SERIES_QUANTILES:
                s[_qname(q)].append(_round(quantile(values, q)))
        series[f] = s
    return series


def throughput_series(pairs: Sequence[Pair], bucket_ns: int, span_ns: int
                      ) -> dict[str, Any]:
    """Completions per second per time bucket, per ``f`` and outcome (ok, fail, info).

    ``t`` holds every bucket's middle in seconds (empty buckets are zeros, so rates
    that drop to nothing during a fault show as a drop)."""
    n = max(1, math.ceil(span_ns / bucket_ns)) if span_ns > 0 else 1
    per_s = NS_PER_S / bucket_ns
    series: dict[str, dict[str, list[float]]] = {}
    for p in pairs:
        if p.end is None or p.completion is None:
            continue
        by_type = series.setdefault(p.invoke.f, {t: [0.0] * n for t in ("ok", "fail", "info")})
        b = min(p.end // bucket_ns, n - 1)
        by_type[p.completion.type][b] += per_s
    return {
        "t": [round((b + 0.5) * bucket_ns / NS_PER_S, 4) for b in range(n)],
        "bucket_s": bucket_ns / NS_PER_S,
        "series": {f: {t: [round(v, 3) for v in vs] for t, vs in by_type.items()}
                   for f, by_type in sorted(series.items())},
    }
