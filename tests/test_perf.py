"""reports.perf: counts, throughput and latency of hand-written histories."""

from __future__ import annotations

import pytest

from harness.op import NEMESIS, Op
from reports.perf import (
    bucket_width_ns,
    client_pairs,
    latency_series,
    latency_stats,
    merge_intervals,
    perf_summary,
    quantile,
    throughput_series,
)

MS = 1_000_000
S = 1_000_000_000


def op(process: object, type_: str, f: str, value: object = None, t_ms: float = 0,
       **kw: object) -> Op:
    return Op(process=process, type=type_, f=f, value=value, time=int(t_ms * MS), **kw)  # type: ignore[arg-type]


def history(*ops: Op) -> list[Op]:
    return [o.with_(index=i) for i, o in enumerate(ops)]


def simple() -> list[Op]:
    """Two processes; a partition from 1 s to 2 s during which one op fails, one times out."""
    return history(
        op(0, "invoke", "write", 1, 0), op(0, "ok", "write", 1, 10),          # 10 ms
        op(1, "invoke", "read", None, 5), op(1, "ok", "read", 1, 25),         # 20 ms
        op(0, "invoke", "read", None, 500), op(0, "ok", "read", 1, 530),      # 30 ms
        op(NEMESIS, "invoke", "start-partition", "majority", 990),
        op(NEMESIS, "info", "start-partition", {"n1": ["n2"]}, 1000),
        op(1, "invoke", "write", 2, 1100), op(1, "fail", "write", 2, 1200, error="not-leader"),
        op(0, "invoke", "write", 3, 1300), op(0, "info", "write", 3, 1900, error="timeout"),
        op(NEMESIS, "invoke", "stop-partition", None, 1990),
        op(NEMESIS, "info", "stop-partition", "healed", 2000),
        op(1, "invoke", "read", None, 2500), op(1, "ok", "read", 3, 2540),    # 40 ms
        op(2, "invoke", "write", 4, 3000),                                     # never completes
    )


def test_quantile_is_nearest_rank() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert quantile(values, 0.5) == 2.0
    assert quantile(values, 0.75) == 3.0
    assert quantile(values, 0.99) == 4.0
    assert quantile(values, 0.0) == 1.0
    with pytest.raises(ValueError):
        quantile([], 0.5)


def test_latency_stats_in_ms() -> None:
    stats = latency_stats([10 * MS, 20 * MS, 30 * MS, 40 * MS])
    assert stats == {"count": 4, "mean": 25.0, "min": 10.0, "p50": 20.0, "p90": 40.0,
                     "p95": 40.0, "p99": 40.0, "max": 40.0}
    assert latency_stats([]) == {"count": 0, "mean": None, "min": None, "max": None,
                                 "p50": None, "p90": None, "p95": None, "p99": None}


def test_summary_counts_and_latency() -> None:
    perf = perf_summary(simple())
    assert perf["duration_s"] == 3.0
    assert perf["ops"] == {"ok": 4, "fail": 1, "info": 1, "pending": 1}
    # only ok ops enter the quantiles: 10, 20, 30, 40 ms
    assert perf["latency_ms"]["count"] == 4
    assert perf["latency_ms"]["p50"] == 20.0
    assert perf["latency_ms"]["max"] == 40.0
    assert perf["throughput"] == {"completed_per_s": 2.0, "ok_per_s": 1.333}
    assert set(perf["by_f"]) == {"read", "write"}
    assert perf["by_f"]["read"]["ops"] == {"ok": 3, "fail": 0, "info": 0, "pending": 0}
    assert perf["by_f"]["write"]["ops"] == {"ok": 1, "fail": 1, "info": 1, "pending": 1}
    assert perf["by_f"]["read"]["latency_ms"]["max"] == 40.0
    assert perf["nemesis"] == {"ops": 2, "by_f": {"start-partition": 1, "stop-partition": 1}}


def test_summary_per_fault_window_and_calm() -> None:
    perf = perf_summary(simple())
    [w] = perf["windows"]
    assert (w["family"], w["f"], w["start_s"], w["end_s"]) == ("partition", "start-partition",
                                                                1.0, 2.0)
    assert w["value"] == {"n1": ["n2"]}
    # completed inside the window: the failed write (1.2 s) and the timed-out one (1.9 s)
    assert w["ops"] == {"ok": 0, "fail": 1, "info": 1, "pending": 0}
    assert w["latency_ms"]["count"] == 0
    calm = perf["calm"]
    assert calm["duration_s"] == 2.0
    assert calm["ops"]["ok"] == 4
    assert calm["ok_per_s"] == 2.0


def test_summary_of_an_empty_history() -> None:
    perf = perf_summary([])
    assert perf["ops"] == {"ok": 0, "fail": 0, "info": 0, "pending": 0}
    assert perf["throughput"] == {"completed_per_s": 0.0, "ok_per_s": 0.0}
    assert perf["windows"] == []


def test_a_window_left_open_lasts_to_the_end() -> None:
    h = history(op(NEMESIS, "invoke", "kill", "one", 0), op(NEMESIS, "info", "kill", ["n1"], 100),
                op(0, "invoke", "read", None, 200), op(0, "ok", "read", None, 700))
    [w] = perf_summary(h)["windows"]
    assert (w["family"], w["start_s"], w["end_s"]) == ("kill", 0.1, 0.7)
    assert w["ops"]["ok"] == 1


def test_client_pairs_keep_invocation_order_and_pending_ops() -> None:
    pairs = client_pairs(simple())
    assert [p.invoke.f for p in pairs] == ["write", "read", "read", "write", "write", "read",
                                          "write"]
    assert [p.outcome for p in pairs] == ["ok", "ok", "ok", "fail", "info", "ok", "pending"]
    assert pairs[0].latency_ns == 10 * MS
    assert pairs[-1].latency_ns is None


def test_bucket_width_is_round() -> None:
    assert bucket_width_ns(100 * S, 100) == 1 * S
    assert bucket_width_ns(300 * S, 100) == 5 * S
    assert bucket_width_ns(10 * MS, 100) == MS  # never below a millisecond


def test_latency_series_per_f_and_bucket() -> None:
    series = latency_series(client_pairs(simple()), S)
    assert set(series) == {"read", "write"}
    read = series["read"]
    # reads invoked at 5 ms and 500 ms (bucket 0) and 2.5 s (bucket 2)
    assert read["t"] == [0.5, 2.5]
    assert read["p50"] == [20.0, 40.0]
    assert read["max"] == [30.0, 40.0]


def test_throughput_series_has_every_bucket() -> None:
    thr = throughput_series(client_pairs(simple()), S, 3 * S)
    assert thr["t"] == [0.5, 1.5, 2.5]
    assert thr["bucket_s"] == 1.0
    assert thr["series"]["write"]["ok"] == [1.0, 0.0, 0.0]
    assert thr["series"]["write"]["fail"] == [0.0, 1.0, 0.0]
    assert thr["series"]["write"]["info"] == [0.0, 1.0, 0.0]
    assert thr["series"]["read"]["ok"] == [2.0, 0.0, 1.0]


def test_merge_intervals() -> None:
    assert merge_intervals([(5, 6), (1, 3), (2, 4), (4, 4)]) == [(1, 4), (5, 6)]
    assert merge_intervals([]) == []
