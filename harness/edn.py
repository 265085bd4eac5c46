"""Jepsen EDN histories: import and export through the ``edn_format`` library.

A Jepsen history file is one EDN vector (or list) of op maps, or a bare sequence of op
maps, such as ``{:process 0, :type :invoke, :f :read, :value nil}``. Import turns
keywords into strings (``:nemesis`` -> ``"nemesis"``, ``:read`` -> ``"read"``), vectors
and lists into lists, sets into lists, and keeps every other field (``:time``,
``:index``, ``:error``, ``:key``...). Jepsen's record form ``#jepsen.history.Op{...}`` is
read as a plain map. Independent ``[k v]`` tuple values are kept as they are: only the
caller knows a history is independent (see :func:`harness.history.split_independent`).

Export writes one op map per line inside a vector. Since EDN tells keywords from
strings and our ops do not, export makes keywords of exactly: ``:type``, ``:f``, a
non-integer ``:process``, an ``:error`` that is a plain identifier, and the function of
each ``[f k v]`` micro-op in a ``:txn`` value; every other string stays a string.
"""

from __future__ import annotations

import datetime
import os
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import edn_format

from harness.errors import InputError
from harness.op import Op

_RECORD_TAG = re.compile(r"#jepsen\.history\.Op[ \t]*\{")
_LEXPOS = re.compile(r"lexpos (\d+)")
_IDENTIFIER = re.compile(r"[A-Za-z*+!_?<>=-][A-Za-z0-9*+!_?<>=./-]*\Z")


def read_edn(path: str | os.PathLike[str]) -> list[Op]:
    """The ops of an EDN history file (not yet paired: see harness.history.read_history)."""
    return read_edn_with_lines(path)[0]


def read_edn_with_lines(path: str | os.PathLike[str]) -> tuple[list[Op], list[int]]:
    """The ops of an EDN history file and the line on which each op starts."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not a UTF-8 text file ({e.reason})") from None
    return parse_edn_history(text, source=str(path))


def parse_edn_history(text: str, source: str = "<edn>") -> tuple[list[Op], list[int]]:
    """Parse EDN text into ops, with the line each op starts on. InputError if malformed."""
    text = _RECORD_TAG.sub("{", text)
    try:
        forms = edn_format.loads_all(text)
    except edn_format.EDNDecodeError as e:
        raise InputError(f"{source}:{_error_line(text, e)}: malformed EDN ({_error_text(e)})"
                         ) from None
    except NotImplementedError as e:  # an unknown #tag
        raise InputError(f"{source}: unsupported EDN ({e})") from None
    except (ValueError, TypeError) as e:
        raise InputError(f"{source}: malformed EDN ({e})") from None
    items = list(forms[0]) if len(forms) == 1 and _is_seq(forms[0]) else list(forms)
    ops: list[Op] = []
    lines: list[int] | None = None
    for i, item in enumerate(items):
        try:
            if not isinstance(item, Mapping):
                raise ValueError(f"expected an op map, got {_describe(item)}")
            ops.append(Op.from_dict(_op_fields(item)))
        except ValueError as e:
            if lines is None:
                lines = _element_lines(text)
            line = lines[i] if i < len(lines) else "?"
            raise InputError(f"{source}:{line}: {e}") from None
    return ops, (lines if lines is not None else _element_lines(text))


def _op_fields(m: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in m.items():
        name = _plain(k)
        if not isinstance(name, str):
            raise ValueError(f"op map key {k!r} is not a keyword")
        out[name] = _plain(v)
    return out


def _plain(v: Any) -> Any:
    """An EDN value as plain Python data (keywords -> str, vectors -> list, ...)."""
    if isinstance(v, str | int | float | bool) or v is None:
        return v
    if isinstance(v, edn_format.Keyword | edn_format.Symbol):
        return v.name
    if _is_seq(v):
        return [_plain(x) for x in v]
    if isinstance(v, Mapping):
        return {_key(k): _plain(x) for k, x in v.items()}
    if isinstance(v, frozenset | set):
        items = [_plain(x) for x in v]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(v, edn_format.MetadataValue):
        return _plain(v.value)
    if isinstance(v, Decimal | Fraction):
        return float(v)
    if isinstance(v, datetime.date | datetime.datetime | uuid.UUID):
        return str(v)
    return str(v)


def _is_seq(v: Any) -> bool:
    return isinstance(v, Sequence) and not isinstance(v, str | bytes)


def _key(k: Any) -> Any:
    k = _plain(k)
    return tuple(k) if isinstance(k, list) else k


def _describe(item: Any) -> str:
    s = edn_format.dumps(item) if not isinstance(item, str) else repr(item)
    return s if len(s) <= 40 else s[:37] + "..."


def _error_text(e: edn_format.EDNDecodeError) -> str:
    arg = e.args[0] if e.args else ""
    if hasattr(arg, "value") and hasattr(arg, "type"):
        return f"unexpected {arg.value!r}"
    if arg == "EOF Reached":
        return "the file ends inside an unclosed form"
    return str(arg)


def _error_line(text: str, e: edn_format.EDNDecodeError) -> int | str:
    """The line of a parse error, from the lexer position when the library gives one."""
    arg = e.args[0] if e.args else None
    pos: int | None = None
    lexpos = getattr(arg, "lexpos", None)
    if isinstance(lexpos, int):
        pos = lexpos
    elif isinstance(arg, str):
        if arg == "EOF Reached":
            return text.count("\n") + 1
        m = _LEXPOS.search(arg)
        if m:
            pos = int(m.group(1))
    if pos is None:
        return _first_bad_element_line(text)
    return text.count("\n", 0, pos) + 1


def _element_lines(text: str) -> list[int]:
    """The line on which each element of the history starts.

    Elements are the forms inside the single top-level vector or list, or the top-level
    forms themselves for a bare sequence. A small scanner: strings, comments, character
    literals and ``#_`` are respected; nothing else about EDN needs to be known.
    """
    starts: list[tuple[int, int]] = []  # (depth, line) of each form start
    depth, line, i, n = 0, 1, 0, len(text)
    in_form = [False]  # per depth: inside an atom at this depth
    top_forms = 0
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            in_form[-1] = False
        elif c in " \t\r,":
            in_form[-1] = False
        elif c == ";":
            while i < n and text[i] != "\n":
                i += 1
            continue
        elif c == '"':
            if not in_form[-1]:
                starts.append((depth, line))
            i += 1
            while i < n and text[i] != '"':
                if text[i] == "\\":
                    i += 1
                elif text[i] == "\n":
                    line += 1
                i += 1
            in_form[-1] = False
        elif c == "\\":
            if not in_form[-1]:
                starts.append((depth, line))
            i += 1
            in_form[-1] = True
        elif c in "([{":
            if not in_form[-1]:
                starts.append((depth, line))
            depth += 1
            in_form.append(False)
        elif c in ")]}":
            if depth > 0:
                depth -= 1
                in_form.pop()
                in_form[-1] = False
        elif c == "#":
            if not in_form[-1]:
                starts.append((depth, line))
                in_form[-1] = True  # the tag and its form count as one element
                if i + 1 < n and text[i + 1] in "{_":
                    i += 1
                    if text[i] == "{":
                        depth += 1
                        in_form.append(False)
        else:
            if not in_form[-1]:
                starts.append((depth, line))
            in_form[-1] = True
        i += 1
    top_forms = sum(1 for d, _ in starts if d == 0)
    element_depth = 1 if top_forms == 1 else 0
    return [ln for d, ln in starts if d == element_depth]


def _first_bad_element_line(text: str) -> int | str:
    """For an error without position: the first element that does not parse alone."""
    lines = _element_lines(text)
    src = text.splitlines()
    for idx, start in enumerate(lines):
        end = lines[idx + 1] - 1 if idx + 1 < len(lines) else len(src)
        chunk = "\n".join(src[start - 1:end]).strip().rstrip("])").strip()
        if start == lines[0]:
            chunk = chunk.lstrip().lstrip("[(")
        try:
            edn_format.loads(chunk)
        except Exception:
            return start
    return "?"


# ---------------------------------------------------------------------------- export


def dumps_edn(ops: Iterable[Op], *, independent_tuples: bool = False) -> str:
    """A history as EDN text: a vector with one op map per line.

    With ``independent_tuples=True`` an op's ``key`` is written Jepsen's way, as a
    ``[k v]`` tuple value, instead of a ``:key`` field.
    """
    lines = [_op_edn(op, independent_tuples) for op in ops]
    if not lines:
        return "[]\n"
    return "[" + "\n ".join(lines) + "]\n"


def write_edn(path: str | os.PathLike[str], ops: Iterable[Op], *,
              independent_tuples: bool = False) -> None:
    """Write a history as an EDN file (see :func:`dumps_edn`)."""
    Path(path).write_text(dumps_edn(ops, independent_tuples=independent_tuples),
                          encoding="utf-8")


def _edn_key(k: Any) -> Any:
    return tuple(_edn_key(x) for x in k) if isinstance(k, list | tuple) else k


def _kw(s: str) -> edn_format.Keyword:
    return edn_format.Keyword(s)


def _op_edn(op: Op, independent_tuples: bool) -> str:
    K = _kw
    value = _edn_value(op.value)
    if op.f == "txn" and isinstance(op.value, list | tuple):
        value = [_micro_op_edn(m) for m in op.value]
    m: dict[Any, Any] = {}
    if op.index >= 0:
        m[K("index")] = op.index
    if op.time >= 0:
        m[K("time")] = op.time
    m[K("type")] = K(op.type)
    m[K("process")] = op.process if isinstance(op.process, int) else K(str(op.process))
    m[K("f")] = K(op.f)
    if op.key is not None and independent_tuples:
        m[K("value")] = [_edn_value(op.key), value]
    else:
        m[K("value")] = value
        if op.key is not None:
            m[K("key")] = _edn_value(op.key)
    if op.node is not None:
        m[K("node")] = op.node
    if op.error is not None:
        m[K("error")] = (K(op.error) if isinstance(op.error, str) and _IDENTIFIER.match(op.error)
                         else _edn_value(op.error))
    for k, v in op.extra.items():
        m[K(k)] = _edn_value(v)
    return "{" + ", ".join(f"{edn_format.dumps(k)} {edn_format.dumps(v)}"
                           for k, v in m.items()) + "}"


def _micro_op_edn(m: Any) -> Any:
    if isinstance(m, list | tuple) and m and isinstance(m[0], str):
        return [_kw(m[0]), *(_edn_value(x) for x in m[1:])]
    return _edn_value(m)


def _edn_value(v: Any) -> Any:
    if isinstance(v, list | tuple):
        return [_edn_value(x) for x in v]
    if isinstance(v, Mapping):
        return {_edn_key(k): _edn_value(x) for k, x in v.items()}
    if isinstance(v, set | frozenset):
        return frozenset(_edn_value(x) for x in v)
    return v
