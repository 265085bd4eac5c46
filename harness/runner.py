"""The run: one Test from cluster up to verdict, always ending healed and torn down.

1. :func:`prepare` resolves every name in the Test (database, workload and its options,
   nemesis, backend, an SSH run's inventory) before anything starts, so bad input is
   exit 2 with nothing to clean up (not even a run directory).
2. :func:`plan` builds the whole generator: the workload's ops, staggered to the rate,
   beside the nemesis schedule, for the time limit; then (each phase waiting for the
   previous one's ops) the nemesis's healing ops, the recovery pause and the workload's
   final ops. Pure.
3. :func:`run_test` brings the cluster up, runs the plan on worker threads while the
   recorder writes ``history.jsonl``, and then, whatever happened (an error, Ctrl-C,
   SIGTERM): stops the workers, heals (nemesis teardown, then the cluster's own
   ``heal``), collects node logs, tears the cluster down. Then it checks the history as
   recorded on disk (so ``chaos check`` sees exactly the same), writes ``results.json``
   and the reports, prints the summary and returns the exit code: 0 valid, 1 invalid,
   3 unknown or unfinished (an interrupted run that found an anomaly is still 1).
"""

from __future__ import annotations

import secrets
import shutil
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from rich.console import Console

from checkers.result import UNKNOWN, Result
from cluster.backends import choose_backend
from cluster.base import Cluster, ClusterSpec, Node
from cluster.inventory import load_inventory
from harness import generator as gen
from harness.db import Database, NodeStatus
from harness.errors import EXIT_UNKNOWN, EXIT_USAGE, EXIT_VALID, ChaosError, InputError
from harness.history import read_history
from harness.plugins import load_plugin
from harness.progress import Progress
from harness.recorder import Recorder
from harness.store import (
    HISTORY_FILE,
    NODES_DIR,
    RESULTS_FILE,
    TEST_FILE,
    mark_latest,
    new_run_dir,
    write_json,
)
from harness.test import ROUND_ROBIN, Test
from harness.workers import WorkerPool
from nemesis.packages import NemesisPackage, build_package
from workloads.base import Workload, WorkloadOptions

FINAL_PHASE_LIMIT_S: Final = 60.0  # a final generator that never succeeds gives up then
STOP_GRACE_S: Final = 1.0  # after a stop request, how long in-flight ops may still finish


@dataclass(frozen=True)
class Prepared:
    """A Test with every name resolved; nothing has started yet."""

    test: Test
    database: Database
    workload: Workload
    package: NemesisPackage
    backend: str
    backend_note: str | None


def node_names(n: int) -> list[str]:
    return [f"n{i}" for i in range(1, n + 1)]


def make_workload(test: Test) -> Workload:
    """The Test's workload, built from its options (InputError for bad ones)."""
    factory = load_plugin("workloads", test.workload)
    workload = factory(WorkloadOptions(concurrency=test.concurrency, nodes=test.nodes,
                                       options=test.workload_options))
    if not isinstance(workload, Workload):
        raise InputError(f"workload plugin {test.workload!r} did not return a "
                         f"workloads.base.Workload (got {type(workload).__name__})")
    return workload


def prepare(test: Test) -> Prepared:
    """Resolve the Test's names (see module docstring); raises InputError on bad input.
    With no backend named, Docker is used when an engine answers, else local (noted)."""
    database = load_plugin("databases", test.database)()
    workload = make_workload(test)
    package = build_package(list(test.nemesis), interval_s=test.nemesis_interval,
                            preset=test.preset, nodes=node_names(test.nodes), seed=test.seed)
    backend, note = choose_backend(test.backend)
    if backend == "ssh":
        check_inventory(test)
    return Prepared(test, database, workload, package, backend, note)


def check_inventory(test: Test) -> None:
    """Read and validate an SSH run's inventory now (InputError), so that a bad one is
    one line and exit 2 before a run directory exists."""
    if test.inventory is None:
        raise InputError("--backend ssh needs --inventory FILE (see docs/ssh.md)")
    load_inventory(Path(test.inventory)).first(test.nodes)


def plan(test: Test, workload: Workload, package: NemesisPackage) -> gen.Generator:
    """The run's whole generator (see module docstring)."""
    client_ops = gen.stagger(1.0 / test.rate, workload.generator)
    main = gen.time_limit(test.time_limit, gen.split(client_ops, package.generator))
    phases: list[gen.Generator] = [main]
    if package.final_generator is not None:
        phases.append(gen.nemesis(package.final_generator))
    if workload.final_generator is not None:
        phases.append(gen.sleep(test.recovery_time))
        phases.append(gen.time_limit(max(FINAL_PHASE_LIMIT_S, 3 * test.op_timeout),
                                     gen.clients(workload.final_generator)))
    return gen.phases(*phases)


# --- signals -------------------------------------------------------------------------


@contextmanager
def stop_on_signals(stop: threading.Event, console: Console, *,
                    abort: Callable[[], bool] = lambda: False) -> Iterator[None]:
    """First SIGINT/SIGTERM: stop generating (the run then heals, checks and reports).
    A second one interrupts whatever is waiting; healing still runs. While ``abort()``
    is true (the cluster is still starting: nothing to stop gently), the first one
    already interrupts.

    Python runs the handler in the main thread, between bytecodes: it takes effect only
    because nothing the run does there waits long at a time (the run loop waits in
    slices of ``harness.workers.WAIT_SLICE_S``; ops still in flight get
    :data:`STOP_GRACE_S` to finish, then are recorded ``info``)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: object) -> None:
        if stop.is_set() or abort():
            stop.set()
            raise KeyboardInterrupt
        stop.set()
        console.print(f"[yellow]{signal.Signals(signum).name}: stopping the workload; "
                      "healing, then checking what was recorded (again to abort waits)[/]")

    old = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


# --- the run -------------------------------------------------------------------------


@dataclass
class _Run:
    """What a run accumulates as it goes (mutable; lives only inside run_test)."""

    prepared: Prepared
    run_dir: Path
    started: datetime
    errors: list[str]
    cluster_name: str
    interrupted: bool = False
    finished: bool = False  # the generator ran to its end
    starting: bool = True  # the cluster is coming up: a signal interrupts at once
    setup_error: ChaosError | None = None
    history_started: datetime | None = None  # wall clock of the history's time 0 (UTC)


def _attempt(run: _Run, what: str, action: Any, *args: Any) -> Any:
    """Run a cleanup step; a failure is noted, never raised (the next steps must run)."""
    try:
        return action(*args)
    except BaseException as e:  # cleanup must go on, even after Ctrl-C
        run.errors.append(f"{what}: {type(e).__name__}: {e}")
        return None


def _role_poller(database: Database, nodes: list[Node]) -> Any:
    if not isinstance(database, NodeStatus):
        return None

    def poll() -> Mapping[str, str]:
        roles = {}
        for n in nodes:
            try:
                roles[n.name] = str(database.status(n, 0.5).get("role", "?")).lower()
            except Exception:
                roles[n.name] = "down"
        return roles

    return poll


def run_test(test: Test, *, console: Console, prepared: Prepared | None = None,
             stop: threading.Event | None = None, show_progress: bool = True) -> int:
    """Run one test (see module docstring); returns its exit code."""
    p = prepared or prepare(test)
    if p.backend_note:
        console.print(f"[yellow]note:[/] {p.backend_note}")
    stop = stop or threading.Event()
    store = test.store_dir
    started = datetime.now().astimezone()
    run_dir = new_run_dir(store, test.name, started)
    write_json(run_dir / TEST_FILE, test.to_json())
    mark_latest(store, run_dir)
    cluster_name = f"rc-{secrets.token_hex(3)}"
    console.print(f"[bold]{test.name}[/] seed {test.seed}: {test.nodes} nodes on {p.backend} "
                  f"(cluster {cluster_name}), read mode {test.read_mode}"
                  + (f", unsafe {','.join(test.unsafe)}" if test.unsafe else "")
                  + f"\n  -> {run_dir}", highlight=False)
    run = _Run(p, run_dir, started, [], cluster_name)
    t0 = time.monotonic()
    with stop_on_signals(stop, console, abort=lambda: run.starting):
        _drive(run, stop, console, show_progress)
    return _conclude(run, console, time.monotonic() - t0)


def _drive(run: _Run, stop: threading.Event, console: Console, show_progress: bool) -> None:
    p, test = run.prepared, run.prepared.test
    scratch = run.run_dir / ".cluster"
    spec = ClusterSpec(name=run.cluster_name, nodes=test.nodes, run_dir=scratch,
                       read_mode=test.read_mode, unsafe=test.unsafe,
                       inventory=Path(test.inventory) if test.inventory else None,
                       accept_new_host_keys=test.accept_new_host_keys)
    recorder: Recorder | None = None
    cluster: Cluster | None = None
    pool: WorkerPool | None = None
    progress: Progress | None = None
    nemesis_ready = False
    try:
        cluster = p.database.cluster(p.backend, spec)
        console.print("starting the cluster...")
        cluster.up()
        nodes = list(cluster.nodes())
        if stop.is_set():
            raise KeyboardInterrupt
        p.package.nemesis.setup(cluster)
        nemesis_ready = True
        run.starting = False  # from now on a first signal stops the workload gently
        database = p.database
        recorder = Recorder(run.run_dir / HISTORY_FILE)  # the test's clock starts now
        run.history_started = recorder.started_at

        def connect(node: Node) -> Any:
            return database.connect(node, nodes, read_mode=test.read_mode,
                                    timeout_s=test.op_timeout)

        pool = WorkerPool(recorder, concurrency=test.concurrency, nodes=nodes,
                          new_client=lambda: p.workload.client(connect),
                          nemesis=p.package.nemesis, op_timeout_s=test.op_timeout,
                          pin_to=None if test.client_placement == ROUND_ROBIN
                          else test.client_placement,
                          notes=lambda m: console.print(f"[dim]{m}[/]"))
        if show_progress:
            progress = Progress(console, recorder, time_limit_s=test.time_limit,
                                roles=_role_poller(p.database, nodes))
            progress.start()
            progress.set_phase("running")
        result = gen.interpret(plan(test, p.workload, p.package), pool, pool.threads, test.seed,
                               should_stop=stop.is_set,
                               stop_grace_ns=gen.seconds_to_ns(STOP_GRACE_S))
        run.finished = not result.stopped
        run.interrupted = result.stopped
        if result.in_flight:
            console.print(f"{result.in_flight} ops still in flight after the stop: recorded "
                          "as info, their workers abandoned")
    except KeyboardInterrupt:
        run.interrupted = True
    except ChaosError as e:
        run.setup_error = e
        run.errors.append(str(e))
    except Exception as e:
        run.errors.append(f"{type(e).__name__}: {e}")
    finally:
        if progress is not None:
            _attempt(run, "progress", progress.stop)
        if pool is not None:
            _attempt(run, "stopping workers", pool.close)
        if nemesis_ready:
            _attempt(run, "nemesis teardown", p.package.teardown)
        if cluster is not None:
            console.print("healing, collecting logs, stopping the cluster...")
            _attempt(run, "healing the cluster", cluster.heal)
            _attempt(run, "collecting node logs", cluster.collect_logs, run.run_dir / NODES_DIR)
            _attempt(run, "stopping the cluster", cluster.down)
        if recorder is not None:
            _attempt(run, "closing the history", recorder.close)
        shutil.rmtree(scratch, ignore_errors=True)


def _check(run: _Run) -> tuple[Result, dict[str, Any], int | None]:
    """The verdict, the performance summary and the op count of the recorded history.
    Whatever fails becomes an ``unknown`` verdict or a noted error, never a crash."""
    from checkers.compose import compose
    from reports.perf import perf_summary

    path = run.run_dir / HISTORY_FILE
    try:
        history = read_history(path) if path.exists() else []
    except Exception as e:
        run.errors.append(f"reading the history: {e}")
        return Result("history", UNKNOWN, summary="the history could not be read",
                      error=str(e)), {}, None
    perf: dict[str, Any] = {}
    try:
        perf = perf_summary(history)
    except Exception as e:
        run.errors.append(f"performance summary: {type(e).__name__}: {e}")
    n_ops = sum(1 for o in history if o.is_client and o.type == "invoke")
    workload = run.prepared.workload
    try:
        checks = compose({workload.name: workload.checker}).check(history)
    except Exception as e:
        run.errors.append(f"checking: {type(e).__name__}: {e}")
        checks = Result(workload.name, UNKNOWN, summary="the checker failed", error=str(e))
    return checks, perf, n_ops


def _conclude(run: _Run, console: Console, duration_s: float) -> int:
    from reports.results import build_results, exit_code_for

    test = run.prepared.test
    checks: Result
    perf: dict[str, Any] = {}
    n_ops: int | None = None
    if run.setup_error is not None and run.setup_error.exit_code == EXIT_USAGE:
        checks = Result("run", UNKNOWN, summary="the run could not start",
                        error=str(run.setup_error))
    else:
        console.print("checking the history...")
        checks, perf, n_ops = _check(run)
    exit_code = exit_code_for(checks.valid)
    if exit_code == EXIT_VALID and (run.interrupted or not run.finished or run.errors):
        exit_code = EXIT_UNKNOWN
    if run.setup_error is not None and run.setup_error.exit_code == EXIT_USAGE:
        exit_code = EXIT_USAGE
    results = build_results(
        test=test.to_dict(), checks=checks, perf=perf,
        run={"name": test.name, "run_dir": str(run.run_dir),
             "started": run.started.isoformat(timespec="seconds"),
             "history_started": None if run.history_started is None
             else run.history_started.isoformat(timespec="milliseconds"),
             "duration_s": round(duration_s, 3), "exit_code": exit_code,
             "backend": run.prepared.backend, "backend_note": run.prepared.backend_note,
             "ops": n_ops, "errors": run.errors, "interrupted": run.interrupted,
             "cluster": run.cluster_name})
    write_json(run.run_dir / RESULTS_FILE, results)
    try:
        from reports import render_run

        render_run(run.run_dir)
    except Exception as e:
        console.print(f"[yellow]reports not written: {type(e).__name__}: {e}[/]")
    from reports.console import print_summary

    print_summary(results, console)
    if run.setup_error is not None and exit_code == EXIT_USAGE:
        raise run.setup_error
    return exit_code

