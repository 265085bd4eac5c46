"""Benchmark: how long report.html takes to make, how big it is, how fast Chromium opens it.

Stores a synthetic run (register workload, partition and kill windows, checked by the
real linearizability checker; ``--invalid`` plants a stale read so the page carries a
counterexample), renders it with ``reports.render_run``, then loads the page from
``file://`` in headless Chromium and times the load event and the moment the charts are
drawn. The budgets of issue 8: under 10 MB and open in under 3 s for 100k operations.
Exits 1 when a budget is exceeded.

    python bench/report.py [--ops 100000] [--invalid] [--keep DIR] [--screenshot PNG]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from reports import render_run
from reports.browser import chromium_path, visit
from reports.synthetic import synthetic_run

SIZE_BUDGET_MB = 10.0
LOAD_BUDGET_S = 3.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=100_000, help="client operations")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rate", type=float, default=500.0, help="ops/s (sets the duration)")
    parser.add_argument("--invalid", action="store_true", help="plant a stale read")
    parser.add_argument("--keep", type=Path, help="store the run here instead of a temp dir")
    parser.add_argument("--screenshot", type=Path, help="write a screenshot of the page here")
    args = parser.parse_args()

    store = args.keep or Path(tempfile.mkdtemp(prefix="chaos-bench-report-"))
    try:
        t0 = time.perf_counter()
        run_dir = synthetic_run(store, n_ops=args.ops, invalid=args.invalid,
                                concurrency=args.concurrency, rate=args.rate, name="bench")
        t1 = time.perf_counter()
        written = render_run(run_dir)
        t2 = time.perf_counter()
        report = run_dir / "report.html"
        size_mb = report.stat().st_size / 1e6
        history_mb = (run_dir / "history.jsonl").stat().st_size / 1e6
        print(f"operations           {args.ops:,} ({'invalid' if args.invalid else 'valid'})")
        print(f"run (simulate+check) {t1 - t0:8.2f} s")
        print(f"render_run           {t2 - t1:8.2f} s   ({', '.join(p.name for p in written)})")
        print(f"history.jsonl        {history_mb:8.2f} MB")
        print(f"report.html          {size_mb:8.2f} MB   (budget {SIZE_BUDGET_MB:g} MB)")
        ok = size_mb < SIZE_BUDGET_MB
        if chromium_path() is None:
            print("chromium             not installed: load time not measured")
            return 0 if ok else 1
        v = visit(report, screenshot=args.screenshot, full_page=False,
                  evaluate={"render_ms": "document.documentElement.dataset.renderMs"})
        ready_s = (v.ready_ms or float("inf")) / 1000
        print(f"chromium load event  {v.load_ms / 1000:8.2f} s")
        print(f"chromium drawn       {ready_s:8.2f} s   (budget {LOAD_BUDGET_S:g} s; script "
              f"{v.values.get('render_ms')} ms)")
        print(f"errors / requests    {len(v.errors)} / {len(v.requests)}")
        if args.screenshot:
            print(f"screenshot           {args.screenshot}")
        ok = ok and ready_s < LOAD_BUDGET_S and not v.errors and not v.requests
        print("within budget" if ok else "OVER BUDGET")
        return 0 if ok else 1
    finally:
        if args.keep is None:
            shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
