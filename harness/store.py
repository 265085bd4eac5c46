"""The store: where each run keeps everything a reader needs.

Layout (a public contract, see DESIGN.md)::

    store/
      latest -> <test-name>/<timestamp>          (the newest run of any test)
      <test-name>/
        latest -> <timestamp>
        <timestamp>/
          test.json  history.jsonl  results.json  junit.xml  report.html
          nodes/<node>/...                       (node logs)

Timestamps are local time, ``YYYYMMDDTHHMMSS`` (a suffix ``-2``, ``-3``... if two runs
start in the same second). ``latest`` links are relative and replaced atomically, and
they are set when a run starts, so even a run that dies is found there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from harness.errors import InputError

TIMESTAMP_FORMAT: Final = "%Y%m%dT%H%M%S"
LATEST: Final = "latest"
TEST_FILE: Final = "test.json"
HISTORY_FILE: Final = "history.jsonl"
RESULTS_FILE: Final = "results.json"
NODES_DIR: Final = "nodes"


def new_run_dir(store: Path, test_name: str, started: datetime) -> Path:
    """Create and return a fresh run directory for ``test_name`` under ``store``."""
    base = started.strftime(TIMESTAMP_FORMAT)
    test_dir = store / test_name
    try:
        test_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create the store directory {test_dir}: "
                         f"{e.strerror or e}") from e
    for n in range(1, 1000):
        run_dir = test_dir / (base if n == 1 else f"{base}-{n}")
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        return run_dir
    raise InputError(f"too many runs of {test_name} started at {base}")


def _point(link: Path, target: str) -> None:
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target)
    os.replace(tmp, link)


def mark_latest(store: Path, run_dir: Path) -> None:
    """Point ``store/latest`` and ``store/<test>/latest`` at ``run_dir``."""
    test_dir = run_dir.parent
    _point(test_dir / LATEST, run_dir.name)
    _point(store / LATEST, os.path.relpath(run_dir, store))


def write_json(path: Path, data: Mapping[str, Any] | str) -> Path:
    """Write JSON (or an already-rendered JSON string) atomically."""
    text = data if isinstance(data, str) else json.dumps(data, indent=2) + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
