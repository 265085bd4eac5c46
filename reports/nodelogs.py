"""Node log excerpts: the lines of each node's logs that explain a run.

raftkv writes plain lines, ``<unix ms> <LEVEL> <message>``. A report cannot show whole
logs, so it keeps the lines that matter: errors and warnings, leadership changes
("became leader/follower/candidate"), elections and term changes, panics. Each node's
excerpt is capped (the most recent lines win when there are too many) and counts what
was matched, so the reader knows what was left out; the full logs stay in
``nodes/<node>/``. Parsing is pure; :func:`read_node_logs` does the reading.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

MAX_LINES_PER_NODE: Final = 200
MAX_LINE_CHARS: Final = 400
_LINE = re.compile(r"^(?P<ms>\d{12,14})\s+(?P<level>TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL)\s+"
                   r"(?P<msg>.*)$")
_LEADER = re.compile(r"became (leader|follower|candidate|pre-?candidate)", re.IGNORECASE)
_BECAME_LEADER = re.compile(r"became leader", re.IGNORECASE)
_TERM = re.compile(r"\bterm[ =:]+(\d+)", re.IGNORECASE)
_INTERESTING = re.compile(r"election|campaign|step ?down|stepped down|panic|leader changed|"
                          r"lost leadership|snapshot|conf ?change|membership", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class LogLine:
    """One kept log line. ``kind`` is error, warn, leader or raft."""

    file: str
    lineno: int
    time_ms: int | None
    level: str
    kind: str
    text: str
    term: int | None = None


@dataclass(frozen=True, slots=True)
class NodeLog:
    """A node's log excerpt and what was counted while reading all of its lines."""

    node: str
    files: tuple[str, ...]
    lines: tuple[LogLine, ...]
    total_lines: int
    matched: int
    errors: int
    warnings: int
    leader_changes: int
    max_term: int | None


def classify(line: str) -> tuple[int | None, str, str | None]:
    """A log line's time (unix ms or None), level, and kind (None when not worth keeping)."""
    m = _LINE.match(line)
    ms, level, msg = (int(m["ms"]), m["level"], m["msg"]) if m else (None, "", line)
    upper = level or ("ERROR" if re.search(r"\b(ERROR|panicked)\b", line) else
                      "WARN" if re.search(r"\bWARN(ING)?\b", line) else "")
    if upper in ("ERROR", "FATAL"):
        return ms, upper, "error"
    if upper in ("WARN", "WARNING"):
        return ms, "WARN", "warn"
    if _LEADER.search(msg):
        return ms, upper or "INFO", "leader"
    if _INTERESTING.search(msg):
        return ms, upper or "INFO", "raft"
    return ms, upper, None


def excerpt(node: str, named_lines: Iterable[tuple[str, Iterable[str]]],
            max_lines: int = MAX_LINES_PER_NODE) -> NodeLog:
    """The excerpt of a node's logs, given ``(file name, lines)`` for each log file."""
    kept: deque[LogLine] = deque(maxlen=max_lines)
    files: list[str] = []
    total = matched = errors = warnings = leader_changes = 0
    max_term: int | None = None
    for name, lines in named_lines:
        files.append(name)
        for lineno, raw in enumerate(lines, 1):
            total += 1
            line = raw.rstrip("\r\n")
            ms, level, kind = classify(line)
            if kind is None:
                continue
            matched += 1
            term_m = _TERM.search(line)
            term = int(term_m[1]) if term_m else None
            if term is not None:
                max_term = term if max_term is None else max(max_term, term)
            errors += kind == "error"
            warnings += kind == "warn"
            leader_changes += _BECAME_LEADER.search(line) is not None
            text = line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + " …"
            kept.append(LogLine(name, lineno, ms, level, kind, text, term))
    return NodeLog(node, tuple(files), tuple(kept), total, matched, errors, warnings,
                   leader_changes, max_term)


def read_node_logs(nodes_dir: Path, max_lines: int = MAX_LINES_PER_NODE) -> list[NodeLog]:
    """The excerpt of every node under ``nodes_dir`` (``nodes/<node>/*``), by node name."""
    if not nodes_dir.is_dir():
        return []
    logs = []
    for node_dir in sorted(p for p in nodes_dir.iterdir() if p.is_dir()):
        files = sorted(p for p in node_dir.rglob("*") if p.is_file() and _is_text_log(p))
        opened = []
        try:
            for p in files:
                opened.append(p.open("r", encoding="utf-8", errors="replace"))
            logs.append(excerpt(node_dir.name, ((str(p.relative_to(nodes_dir.parent)), fh)
                                                for p, fh in zip(files, opened, strict=True)),
                                max_lines))
        finally:
            for fh in opened:
                fh.close()
    return logs


def _is_text_log(path: Path) -> bool:
    return path.suffix in (".log", ".txt", ".out", ".err", "") and not path.name.startswith(".")
