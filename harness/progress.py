"""Live progress while a run goes: time, throughput, outcomes, faults, node roles.

On a terminal a small rich table refreshes twice a second; elsewhere (CI logs) a plain
line is printed every few seconds. What is shown is a :class:`ProgressView`, plain data
built from the recorder's tally; rendering is separate (:func:`render_line`,
:func:`render_table`) and the clock is injectable, so both are testable without a run.
Node roles come from an optional poller (the database's ``status``), run in its own
thread so a paused node never stalls the display.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.table import Table

from harness.recorder import Recorder, Tally

RolePoller = Callable[[], Mapping[str, str]]


@dataclass(frozen=True, slots=True)
class ProgressView:
    phase: str
    elapsed_s: float
    remaining_s: float | None
    ops_per_s: float
    tally: Tally
    roles: Mapping[str, str] = field(default_factory=dict)


def _faults(v: ProgressView) -> str:
    if v.tally.faults:
        return "in force: " + ", ".join(v.tally.faults)
    return "none in force"


def render_line(v: ProgressView) -> str:
    """One plain line (for logs)."""
    t = v.tally
    remaining = "" if v.remaining_s is None else f" (-{v.remaining_s:.0f}s)"
    roles = " ".join(f"{n}:{r}" for n, r in v.roles.items())
    return (f"[{v.phase}] {v.elapsed_s:.0f}s{remaining} {v.ops_per_s:.0f} ops/s "
            f"ok={t.ok} fail={t.fail} info={t.info} faults: {_faults(v)}"
            + (f" | {roles}" if roles else ""))


def render_table(v: ProgressView) -> Table:
    """The live table (for terminals)."""
    t = v.tally
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    remaining = "" if v.remaining_s is None else f", {v.remaining_s:.0f} s left"
    table.add_row("phase", f"{v.phase}  ({v.elapsed_s:.0f} s elapsed{remaining})")
    table.add_row("clients", f"{v.ops_per_s:.0f} ops/s   [green]ok {t.ok}[/]  "
                             f"[red]fail {t.fail}[/]  [yellow]info {t.info}[/]")
    nemesis = _faults(v) + (f"; last: {t.last_nemesis}" if t.last_nemesis else "")
    table.add_row("nemesis", nemesis)
    if v.roles:
        table.add_row("nodes", "  ".join(f"{n} {r}" for n, r in v.roles.items()))
    return table


class Progress:
    """Shows a run's progress until stopped (see module docstring)."""

    def __init__(self, console: Console, recorder: Recorder, *, time_limit_s: float,
                 roles: RolePoller | None = None, plain_every_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.console, self.recorder = console, recorder
        self.time_limit_s = time_limit_s
        self._poll_roles = roles
        self._plain_every_s = plain_every_s
        self._clock = clock
        self._phase = "starting"
        self._phase_started = clock()
        self._roles: Mapping[str, str] = {}
        self._last: tuple[float, int] | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._live: Live | None = None

    def set_phase(self, phase: str) -> None:
        self._phase = phase
        self._phase_started = self._clock()

    def view(self) -> ProgressView:
        tally = self.recorder.tally()
        now = self._clock()
        rate = 0.0
        if self._last is not None and now > self._last[0]:
            rate = max(0.0, (tally.ops - self._last[1]) / (now - self._last[0]))
        self._last = (now, tally.ops)
        elapsed = tally.elapsed_ns / 1e9
        remaining = None
        if self._phase == "running":
            remaining = max(0.0, self.time_limit_s - (now - self._phase_started))
        return ProgressView(self._phase, elapsed, remaining, rate, tally, dict(self._roles))

    def start(self) -> None:
        self._last = (self._clock(), self.recorder.tally().ops)  # the first rate is real
        if self._poll_roles is not None:
            self._spawn(self._roles_loop, "progress-roles")
        if self.console.is_terminal:
            self._live = Live(render_table(self.view()), console=self.console,
                              refresh_per_second=2, transient=True)
            self._live.start()
            self._spawn(self._live_loop, "progress-live")
        else:
            self._spawn(self._plain_loop, "progress-plain")

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _live_loop(self) -> None:
        while not self._stop.wait(0.5):
            if self._live is not None:
                self._live.update(render_table(self.view()))

    def _plain_loop(self) -> None:
        while not self._stop.wait(self._plain_every_s):
            self.console.print(render_line(self.view()), highlight=False, soft_wrap=True)

    def _roles_loop(self) -> None:
        assert self._poll_roles is not None
        while not self._stop.is_set():
            try:
                self._roles = dict(self._poll_roles())
            except Exception:  # progress is best effort; the run never depends on it
                self._roles = {}
            self._stop.wait(1.0)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(2.0)
        if self._live is not None:
            self._live.stop()
            self._live = None
