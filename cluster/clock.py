"""Node clocks through libfaketime's control file.

Every raftkv process runs with libfaketime preloaded and ``FAKETIME_TIMESTAMP_FILE``
pointing at a small control file (Docker mounts ``<clock dir>/nK`` at ``/clock``; the
local backend points at the same host path). Writing ``ClockSetting.to_faketime()``
there (``+1.500``, ``-0.250 x2``) moves that node's clock; libfaketime re-reads the file
once its cache expires (``FAKETIME_CACHE_DURATION=1``, as in the compose file: it
re-reads when the whole-second difference exceeds 1), so a change shows within about
two seconds. ``+0.000`` is real time.

Writes happen in place with one ``write`` of a fixed-width line, never by rename, so a
file bind-mounted into a container keeps its inode and a reader never sees it empty.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cluster.base import ClockSetting
from harness.errors import EnvironmentProblem

CONTROL_FILE = "faketime"
LINE_WIDTH = 40  # every control line is padded to this width, newline included
CACHE_DURATION_S = 1  # as in cluster/compose.yaml: a change shows within ~2 s
LIBFAKETIME_PATHS = (
    Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"),
    Path("/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"),
    Path("/usr/lib/faketime/libfaketime.so.1"),
)
_LINE = re.compile(r"^\s*([+-]\d+(?:\.\d+)?)(?:\s+x(\d+(?:\.\d+)?))?\s*$")


def control_file(clock_dir: Path, node: str) -> Path:
    """Where node ``node``'s control file lives on the host."""
    return clock_dir / node / CONTROL_FILE


def control_line(clock: ClockSetting) -> bytes:
    """The fixed-width line written for ``clock``."""
    if clock.rate <= 0:
        raise ValueError(f"clock rate must be > 0, got {clock.rate}")
    text = clock.to_faketime()
    return (text.ljust(LINE_WIDTH - 1) + "\n").encode()


def parse_control_line(text: str) -> ClockSetting:
    """The ClockSetting a control line means; an empty file is real time."""
    if not text.strip():
        return ClockSetting()
    match = _LINE.match(text)
    if match is None:
        raise ValueError(f"not a libfaketime offset line: {text.strip()!r}")
    offset_ms = round(float(match.group(1)) * 1000)
    rate = float(match.group(2)) if match.group(2) else 1.0
    return ClockSetting(offset_ms=offset_ms, rate=rate)


def write_clock(path: Path, clock: ClockSetting) -> None:
    """Set the clock in control file ``path`` (created if missing), in place."""
    line = control_line(clock)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.ftruncate(fd, len(line))
    finally:
        os.close(fd)


def read_clock(path: Path) -> ClockSetting:
    """The clock control file ``path`` holds; a missing file is real time."""
    try:
        return parse_control_line(path.read_text())
    except FileNotFoundError:
        return ClockSetting()


def find_libfaketime() -> Path:
    """The host's libfaketime, or an EnvironmentProblem saying how to install it."""
    override = os.environ.get("RAFTKV_LIBFAKETIME")
    candidates = (Path(override),) if override else LIBFAKETIME_PATHS
    for path in candidates:
        if path.exists():
            return path
    raise EnvironmentProblem("libfaketime.so.1 not found (needed for clock faults): "
                             "apt-get install libfaketime, or set RAFTKV_LIBFAKETIME")


def faketime_env(library: Path, control: Path) -> dict[str, str]:
    """The environment that preloads libfaketime with ``control`` as its control file."""
    return {
        "LD_PRELOAD": str(library),
        "FAKETIME_TIMESTAMP_FILE": str(control),
        "FAKETIME_CACHE_DURATION": str(CACHE_DURATION_S),
    }
