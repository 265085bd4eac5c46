"""report.html: one self-contained page per run, written for the reader the morning after.

Top to bottom: a verdict banner (what happened, in one glance), the headline anomalies,
the test's parameters with the command that reruns it, each checker's result, every
linearizability counterexample drawn as Porcupine draws one (the minimal sub-history's
operations as bars on process lanes, the operation that cannot be linearized in red,
and the sentence that explains it), a timeline of all operations, latency and
throughput over time (all three shaded by fault windows and sharing one zoomable time
axis), performance tables, node log excerpts, and links to the run's files.

The page makes no network request of any kind: the stylesheet and script (from
``reports/assets/``) are inlined, the data is embedded as JSON, the counterexample is
inline SVG and the charts are drawn on canvas; a Content-Security-Policy forbids
fetching anything. Large histories stay light: the timeline holds at most
``max_timeline_ops`` operations (every non-ok one is kept; ok ones are thinned evenly
beyond that) and the quantile and throughput lines are aggregated per time bucket.
Pure: data in, HTML text out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from importlib import resources
from typing import Any, Final

from harness import __version__
from harness.history import History
from harness.op import Op
from nemesis.windows import FAMILIES, fault_windows
from reports.nodelogs import NodeLog
from reports.perf import (
    NS_PER_S,
    Pair,
    bucket_width_ns,
    client_pairs,
    history_span_ns,
    latency_series,
    nemesis_pairs,
    throughput_series,
)
from reports.results import rerun_command

DEFAULT_MAX_TIMELINE_OPS: Final = 150_000
TYPE_CODES: Final = {"ok": 0, "fail": 1, "info": 2, "pending": 3}
PARAM_ORDER: Final = ("name", "workload", "nemesis", "nodes", "concurrency", "rate",
                      "time_limit", "seed", "read_mode", "backend", "unsafe")
FLAG_NAMES: Final = {"workload": "--workload", "nemesis": "--nemesis", "nodes": "--nodes",
                     "concurrency": "--concurrency", "rate": "--rate",
                     "time_limit": "--time-limit", "seed": "--seed", "read_mode": "--read-mode",
                     "backend": "--backend"}
VERDICT_WORDS: Final = {True: "valid", False: "invalid", "unknown": "unknown"}
CSP: Final = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
              "img-src data:; base-uri 'none'; form-action 'none'")


def asset(name: str) -> str:
    """The text of a file in ``reports/assets/``."""
    return resources.files("reports").joinpath("assets", name).read_text(encoding="utf-8")


def short(value: Any, limit: int = 60) -> str:
    """A value as compact text (JSON for structures), cut to ``limit`` characters."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
    else:
        try:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_call(invoke: Op, completion: Op | None, *, with_key: bool = True) -> str:
    """What an operation asked and what it got: ``k1 3``, ``k1 → 2``, ``[1,4]``."""
    parts = []
    if with_key and invoke.key is not None:
        parts.append(short(invoke.key, 24))
    if invoke.value is not None:
        parts.append(short(invoke.value))
    if (completion is not None and completion.type == "ok" and completion.value is not None
            and completion.value != invoke.value):
        parts.append("→ " + short(completion.value))
    return " ".join(parts)


def _verdict(valid: object) -> str:
    return VERDICT_WORDS.get(valid, "unknown") if isinstance(valid, bool | str) else "unknown"


def _fmt_duration(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s"


def _fmt_param(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(short(v, 40) for v in value) or "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return short(value, 80)


def _ms(value: object) -> str:
    return "-" if not isinstance(value, int | float) else f"{value:,.1f}"


def _started(results: Mapping[str, Any], key: str = "started") -> datetime | None:
    """A time of the run (``started``, or ``history_started``: the wall-clock time of the
    history's time 0), or None when it is not recorded."""
    started = (results.get("run") or {}).get(key)
    if not isinstance(started, str):
        return None
    try:
        dt = datetime.fromisoformat(started)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


# --- page sections ---------------------------------------------------------------------


def _banner(results: Mapping[str, Any]) -> str:
    verdict = _verdict(results.get("valid"))
    run = results.get("run") or {}
    test = results.get("test") or {}
    perf = results.get("perf") or {}
    started = _started(results)
    bits = []
    if started:
        bits.append(f"started <b>{escape(started.strftime('%Y-%m-%d %H:%M:%S %Z'))}</b>")
    bits.append(f"ran <b>{_fmt_duration(run.get('duration_s') or perf.get('duration_s'))}</b>")
    ops = perf.get("ops") or {}
    bits.append(f"<b>{sum(int(v) for v in ops.values()):,}</b> operations")
    if test.get("seed") is not None:
        bits.append(f"seed <b>{escape(str(test['seed']))}</b>")
    if run.get("backend"):
        bits.append(f"backend <b>{escape(str(run['backend']))}</b>")
    bits.append(f"exit code <b>{escape(str(results.get('exit_code')))}</b>")
    name = run.get("name") or test.get("name") or "chaos run"
    return (f'<header class="banner {verdict}" id="verdict" data-verdict="{verdict}">'
            f'<div class="inner"><div class="verdict">{verdict.upper()}</div><div>'
            f"<h1>{escape(str(name))}</h1><div class=\"sub\">{' · '.join(bits)}</div>"
            "</div></div></header>")


def _headline(results: Mapping[str, Any], has_cx: bool) -> str:
    """The one-line summary and, for a run that is not valid, what went wrong first."""
    items = []
    for a in (results.get("anomalies") or [])[:6]:
        link = ' <a href="#counterexample">see the counterexample</a>' if (
            has_cx and a.get("kind") in ("nonlinearizable", "linearizability")) else ""
        items.append(f'<li><b class="mono">{escape(str(a.get("kind")))}</b>: '
                     f'{escape(str(a.get("explanation")))} <span class="muted">— found by '
                     f'{escape(str(a.get("checker")))}</span>{link}</li>')
    extra = len(results.get("anomalies") or []) - 6
    if extra > 0:
        items.append(f'<li>… and {extra} more anomalies, listed under '
                     '<a href="#checkers">Checkers</a></li>')
    for c in results.get("checkers") or []:
        if _verdict(c.get("valid")) == "unknown":
            why = c.get("error") or c.get("summary") or "the checker gave up"
            items.append(f'<li class="unknown"><b>{escape(str(c.get("checker")))}</b> could '
                         f"not decide: {escape(str(why))}</li>")
    for err in (results.get("run") or {}).get("errors") or []:
        items.append(f'<li class="unknown"><b>run error</b>: {escape(str(err))}</li>')
    summary = "" if results.get("anomalies") else results.get("summary") or ""
    return ('<section class="headline">'
            + (f'<p class="summary">{escape(str(summary))}</p>' if summary else "")
            + (f"<ul>{''.join(items)}</ul>" if items else "") + "</section>")


def flags_command(test: Mapping[str, Any]) -> str:
    """The ``chaos run`` command line with the test's parameters as flags."""
    args = ["chaos", "run"]
    for key, flag in FLAG_NAMES.items():
        value = test.get(key)
        if value is None or value == []:
            continue
        if key == "nodes" and isinstance(value, list):
            value = len(value)
        if isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value)
        args += [flag, str(value)]
    return " ".join(args)


def _params(results: Mapping[str, Any], run_dir: str | None) -> str:
    test = dict(results.get("test") or {})
    keys = [k for k in PARAM_ORDER if k in test] + sorted(k for k in test if k not in PARAM_ORDER)
    cells = "".join(f"<div><dt>{escape(k.replace('_', ' '))}</dt>"
                    f"<dd>{escape(_fmt_param(test[k]))}</dd></div>" for k in keys)
    rerun = results.get("rerun") or (rerun_command(run_dir) if run_dir else None)
    cmds = []
    if rerun:
        cmds.append(("rerun", "cmd-rerun", str(rerun)))
    if any(k in test for k in FLAG_NAMES):
        cmds.append(("as flags", "cmd-flags", flags_command(test)))
    cmd_html = "".join(
        f'<div class="cmd"><span class="label">{label}</span><code id="{cid}">{escape(text)}'
        f'</code><button type="button" data-copy="{cid}">copy</button></div>'
        for label, cid, text in cmds)
    return (f'<section id="parameters"><h2>Test parameters</h2><dl class="params">{cells}</dl>'
            f"{cmd_html}</section>")


def _anomaly_list(anomalies: Sequence[Mapping[str, Any]], limit: int = 50) -> str:
    items = [f'<li><span class="kind">{escape(str(a.get("kind")))}</span> '
             f'{escape(str(a.get("explanation")))}'
             + (f' <span class="muted">(ops {escape(short(a.get("ops"), 80))})</span>'
                if a.get("ops") else "") + "</li>" for a in anomalies[:limit]]
    if len(anomalies) > limit:
        items.append(f"<li>… {len(anomalies) - limit} more in results.json</li>")
    return f"<ul>{''.join(items)}</ul>" if items else ""


def _checkers(results: Mapping[str, Any]) -> str:
    cards = []
    for c in results.get("checkers") or []:
        verdict = _verdict(c.get("valid"))
        details = {k: v for k, v in (c.get("details") or {}).items() if k != "counterexample"}
        details_html = ""
        if details:
            text = json.dumps(details, indent=2, ensure_ascii=False, default=str)
            if len(text) > 20_000:
                text = text[:20_000] + "\n… (cut; the whole of it is in results.json)"
            details_html = f"<details><summary>details</summary><pre>{escape(text)}</pre></details>"
        error = (f'<p><b>error:</b> {escape(str(c["error"]))}</p>' if c.get("error") else "")
        cx = ' <a href="#counterexample">counterexample ↓</a>' if (
            c.get("details") or {}).get("counterexample") else ""
        summary = str(c.get("summary") or "")
        if any(str(a.get("explanation")) in summary for a in c.get("anomalies") or []):
            summary = ""  # the anomalies below say it
        cards.append(
            f'<div class="card {verdict}"><h3><span>{escape(str(c.get("checker")))}</span>'
            f'<span class="pill {verdict}">{verdict}</span></h3>'
            f'<div>{escape(summary)}{cx}</div>{error}'
            f'{_anomaly_list(c.get("anomalies") or [])}{details_html}</div>')
    if not cards:
        cards.append('<p class="muted">No checker ran: the run ended before its history was '
                     "checked.</p>")
    return (f'<section id="checkers"><h2>Checkers <span class="count">'
            f'{len(results.get("checkers") or [])}</span></h2>'
            f'<div class="cards">{"".join(cards)}</div></section>')


# --- the counterexample, drawn as Porcupine does --------------------------------------


@dataclass(frozen=True, slots=True)
class CxOp:
    """One operation of a counterexample: invocation and completion (either may be None)."""

    invoke: Op | None
    completion: Op | None

    @property
    def op(self) -> Op:
        op = self.invoke or self.completion
        assert op is not None
        return op

    @property
    def start(self) -> int:
        return self.op.time

    @property
    def end(self) -> int | None:
        return self.completion.time if self.completion is not None else None

    def has_index(self, index: int) -> bool:
        return any(o is not None and o.index == index for o in (self.invoke, self.completion))


def counterexample_ops(op_dicts: Iterable[Any]) -> list[CxOp]:
    """The counterexample's op dicts as operations (an invocation with its completion)."""
    ops: list[Op] = []
    for d in op_dicts:
        if isinstance(d, Mapping):
            try:
                ops.append(Op.from_dict(d))
            except ValueError:
                continue
    result: list[CxOp] = []
    open_: dict[object, int] = {}
    for op in ops:
        if op.is_invoke:
            open_[op.process] = len(result)
            result.append(CxOp(op, None))
        elif op.process in open_:
            i = open_.pop(op.process)
            result[i] = CxOp(result[i].invoke, op)
        else:
            result.append(CxOp(None, op))
    return result


def failing_position(cx_ops: Sequence[CxOp], failing: object, raw_len: int,
                     raw: Sequence[Any]) -> int | None:
    """Which operation ``failing`` names: an op index in the history, else a position in
    the counterexample's op list."""
    if not isinstance(failing, int) or isinstance(failing, bool):
        return None
    for i, c in enumerate(cx_ops):
        if c.has_index(failing):
            return i
    if 0 <= failing < raw_len and isinstance(raw[failing], Mapping):
        target = raw[failing]
        for i, c in enumerate(cx_ops):
            for o in (c.invoke, c.completion):
                if o is not None and o.process == target.get("process") and o.time == target.get(
                        "time") and o.type == target.get("type"):
                    return i
    return None


def counterexample_svg(cx_ops: Sequence[CxOp], failing: int | None) -> str:
    """The counterexample as SVG: one lane per process, one bar per operation spanning
    its invocation to its completion on an axis of event order (so that short operations
    stay readable), the failing operation in red."""
    if not cx_ops:
        return ""
    times = sorted({t for c in cx_ops for t in (c.start, c.end) if t is not None})
    slot = {t: i for i, t in enumerate(times)}
    procs = sorted({c.op.process for c in cx_ops}, key=lambda p: (isinstance(p, str), str(p)
                                                                   if isinstance(p, str) else p))
    labels = [f"{c.op.f} {describe_call(c.invoke or c.op, c.completion, with_key=False)}".strip()
              for c in cx_ops]
    n_slots = len(times) + 1
    # Wide enough that every bar holds its label (about 7.5 px a character) and that the
    # time labels under the slots do not collide.
    step = 78.0
    for c, label in zip(cx_ops, labels, strict=True):
        spanned = (slot[c.end] if c.end is not None else n_slots - 1) - slot[c.start]
        step = max(step, (len(label) * 7.5 + 20) / max(spanned, 1))
    step = min(step, 220.0)
    left, right, top, lane_h = 96, 40, 30, 58
    width = int(left + n_slots * step + right)
    height = top + len(procs) * lane_h + 36
    lane_of = {p: i for i, p in enumerate(procs)}
    t0 = times[0]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="counterexample">',
           '<defs><pattern id="unknown-end" width="6" height="6" patternUnits="userSpaceOnUse" '
           'patternTransform="rotate(45)"><rect width="3" height="6" fill="#f59f00" '
           'opacity="0.5"/></pattern></defs>']
    for i, p in enumerate(procs):
        y = top + i * lane_h
        if i % 2:
            out.append(f'<rect x="0" y="{y}" width="{width}" height="{lane_h}" fill="#f8f9fa"/>')
        out.append(f'<text x="{left - 12}" y="{y + lane_h / 2 + 4}" text-anchor="end" '
                   f'font-size="13" fill="#495057">process {escape(str(p))}</text>')
    for t, i in slot.items():
        x = left + (i + 0.5) * step
        out.append(f'<line x1="{x}" y1="{top - 6}" x2="{x}" y2="{height - 30}" stroke="#dee2e6" '
                   'stroke-dasharray="2 3"/>')
        out.append(f'<text x="{x}" y="{height - 14}" text-anchor="middle" font-size="10.5" '
                   f'fill="#868e96">+{(t - t0) / 1e6:.1f} ms</text>')
    out.append(f'<text x="{left}" y="16" font-size="11" fill="#868e96">event order (time since '
               "the first event below each line)</text>")
    for i, c in enumerate(cx_ops):
        y = top + lane_of[c.op.process] * lane_h + 12
        x0 = left + (slot[c.start] + 0.5) * step
        ended = c.end is not None and c.completion is not None and c.completion.type != "info"
        x1 = left + ((slot[c.end] if c.end is not None else n_slots - 1) + 0.5) * step
        if not ended:
            x1 = left + n_slots * step
        is_failing = i == failing
        fill, stroke = ("#ffe3e3", "#c92a2a") if is_failing else ("#e7f0fb", "#1c7ed6")
        w = max(x1 - x0, 8)
        title = _cx_title(c)
        out.append(f'<g class="cx-op{" failing" if is_failing else ""}"><title>{escape(title)}'
                   "</title>")
        out.append(f'<rect x="{x0:.1f}" y="{y}" width="{w:.1f}" height="28" rx="4" fill="{fill}" '
                   f'stroke="{stroke}" stroke-width="{2.5 if is_failing else 1.4}"/>')
        if not ended:
            out.append(f'<rect x="{x1 - 40:.1f}" y="{y + 1}" width="39" height="26" '
                       'fill="url(#unknown-end)"/>')
        out.append(f'<text x="{x0 + w / 2:.1f}" y="{y + 18.5}" text-anchor="middle" '
                   f'font-size="12.5" font-weight="{700 if is_failing else 500}" '
                   f'fill="{"#a51d1d" if is_failing else "#1a3d66"}">{escape(labels[i])}</text>')
        if is_failing:
            out.append(f'<text x="{x0 + w / 2:.1f}" y="{y + 40}" text-anchor="middle" '
                       'font-size="11" font-weight="700" fill="#c92a2a">cannot be linearized'
                       "</text>")
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def _cx_title(c: CxOp) -> str:
    op = c.invoke or c.op
    outcome = c.completion.type if c.completion is not None else "pending"
    lines = [f"op #{op.index} process {op.process}: {op.f} "
             f"{describe_call(op, c.completion)}", f"outcome: {outcome}",
             f"invoked at {op.time / 1e9:.6f} s"]
    if c.completion is not None:
        lines.append(f"completed at {c.completion.time / 1e9:.6f} s")
    return "\n".join(lines)


def _counterexample_section(results: Mapping[str, Any]) -> tuple[str, list[int]]:
    """The counterexample section (empty when there is none) and the history indices of
    the operations in it (to outline them on the timeline)."""
    blocks = []
    indices: list[int] = []
    for c in results.get("checkers") or []:
        cx = (c.get("details") or {}).get("counterexample")
        if not isinstance(cx, Mapping):
            continue
        raw = list(cx.get("ops") or [])
        ops = counterexample_ops(raw)
        failing = failing_position(ops, cx.get("failing"), len(raw), raw)
        indices += [o.index for x in ops for o in (x.invoke, x.completion)
                    if o is not None and o.index >= 0]
        part = cx.get("part")
        rows = []
        for i, x in enumerate(ops):
            op = x.invoke or x.op
            outcome = x.completion.type if x.completion is not None else "pending"
            result = (short(x.completion.value) if x.completion is not None
                      and x.completion.value is not None else "-")
            rows.append(
                f'<tr class="{"hl" if i == failing else ""}"><td>{op.index}</td>'
                f"<td>{escape(str(op.process))}</td><td class=\"l\">{escape(op.f)}</td>"
                f'<td class="l mono">{escape(short(op.value) if op.value is not None else "-")}'
                "</td>"
                f'<td class="l"><span class="t-{outcome}">{outcome}</span></td>'
                f'<td class="l mono">{escape(result)}</td><td>{op.time / 1e9:.6f}</td>'
                f"<td>{'-' if x.end is None else f'{x.end / 1e9:.6f}'}</td>"
                f"<td>{'← cannot be linearized' if i == failing else ''}</td></tr>")
        times = [t for x in ops for t in (x.start, x.end) if t is not None]
        zoom = (f'<button type="button" data-zoom="{min(times) / 1e9:.9f},{max(times) / 1e9:.9f}">'
                "show on the timeline</button>") if times else ""
        prefix = cx.get("prefix_length")
        facts = [f"checker <b>{escape(str(c.get('checker')))}</b>"]
        if part is not None:
            facts.append(f"key <b class=\"mono\">{escape(short(part))}</b>")
        facts.append(f"{len(ops)} operations")
        if isinstance(prefix, int):
            facts.append(f"longest linearizable prefix: {prefix} ops")
        blocks.append(
            f'<div class="cx" data-checker="{escape(str(c.get("checker")))}">'
            f'<p class="sentence">{escape(str(cx.get("sentence") or "not linearizable"))}</p>'
            f'<div class="toolbar"><span class="muted">{" · ".join(facts)}</span>'
            f'<span class="spacer"></span>{zoom}</div>'
            f'<div class="svgwrap">{counterexample_svg(ops, failing)}</div>'
            '<div class="legend">Each bar is one operation, from its invocation to its '
            "completion, on its process's lane; the x axis orders events (real times are under "
            "the lines). Red: the operation that cannot be linearized. A striped end: the "
            "outcome is unknown (info), it may take effect at any later time.</div>"
            '<table class="data"><thead><tr><th>op</th><th>process</th><th class="l">f</th>'
            '<th class="l">value</th><th class="l">outcome</th><th class="l">result</th>'
            "<th>invoked (s)</th><th>completed (s)</th><th></th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")
    if not blocks:
        return "", []
    return (f'<section id="counterexample"><h2>Counterexample</h2>{"".join(blocks)}</section>',
            indices)


# --- charts ------------------------------------------------------------------------------


def _thin(pairs: Sequence[Pair], keep: set[int], budget: int) -> list[Pair]:
    """At most ``budget`` pairs: all non-ok ones and those in ``keep``, ok ones thinned."""
    if len(pairs) <= budget:
        return list(pairs)
    must = [p.outcome != "ok" or p.invoke.index in keep for p in pairs]
    room = max(0, budget - sum(must))
    ok_total = len(pairs) - sum(must)
    stride = ok_total / room if room else float("inf")
    out, seen_ok, next_pick = [], 0, 0.0
    for p, m in zip(pairs, must, strict=True):
        if m:
            out.append(p)
            continue
        if seen_ok >= next_pick:
            out.append(p)
            next_pick += stride
        seen_ok += 1
    return out


def chart_data(history: Sequence[Op], *, concurrency: int | None, node_logs: Sequence[NodeLog],
               history_started: datetime | None, cx_indices: Iterable[int],
               max_ops: int = DEFAULT_MAX_TIMELINE_OPS) -> dict[str, Any]:
    """The data the page's script draws: the operations as columns, nemesis ops, fault
    windows, latency quantile and throughput series, and leader changes (placed by the
    nodes' log clocks, so only when the wall-clock time of the history's start is known)."""
    history = History.of(history)  # paired once, for every use below
    span = max(history_span_ns(history), 1)
    pairs = client_pairs(history)
    cx_set = set(cx_indices)
    shown = _thin(pairs, cx_set, max_ops)
    fs = sorted({p.invoke.f for p in pairs})
    f_index = {f: i for i, f in enumerate(fs)}
    nodes = sorted({p.invoke.node for p in pairs if p.invoke.node is not None})
    node_index = {n: i for i, n in enumerate(nodes)}
    cols: dict[str, list[Any]] = {k: [] for k in ("p", "s", "e", "t", "f", "d", "i", "n")}
    errors: dict[int, str] = {}
    cx_rows = []
    for row, p in enumerate(shown):
        inv, done = p.invoke, p.completion
        cols["p"].append(inv.process)
        cols["s"].append(inv.time // 1000)
        cols["e"].append(done.time // 1000 if done is not None else -1)
        cols["t"].append(TYPE_CODES[p.outcome])
        cols["f"].append(f_index[inv.f])
        cols["d"].append(describe_call(inv, done))
        cols["i"].append(inv.index)
        node = (done.node if done is not None and done.node else None) or inv.node
        cols["n"].append(node_index.get(node, -1) if node else -1)
        if done is not None and done.error is not None:
            errors[row] = short(done.error, 120)
        if inv.index in cx_set or (done is not None and done.index in cx_set):
            cx_rows.append(row)
    lat_bucket = bucket_width_ns(span, 100)
    nemesis = [{"s": round(p.invoke.time / NS_PER_S, 6),
                "e": round((p.end if p.end is not None else span) / NS_PER_S, 6),
                "f": p.invoke.f, "t": p.outcome,
                "v": short(p.completion.value if p.completion is not None and
                           p.completion.value is not None else p.invoke.value, 80)}
               for p in nemesis_pairs(history)]
    windows = [{"family": w.family, "f": w.f, "s": round(w.start / NS_PER_S, 6),
                "e": round(w.end / NS_PER_S, 6), "color": w.color, "v": short(w.value, 80)}
               for w in fault_windows(history, end_time=span)]
    return {
        "span_s": round(span / NS_PER_S, 6),
        "concurrency": concurrency or 0,
        "fs": fs,
        "nodes": nodes,
        "ops": cols,
        "errors": errors,
        "cx_rows": cx_rows,
        "total_ops": len(pairs),
        "shown_ops": len(shown),
        "nemesis": nemesis,
        "windows": windows,
        "latq": latency_series(pairs, lat_bucket),
        "latq_bucket_s": lat_bucket / NS_PER_S,
        "throughput": throughput_series(pairs, bucket_width_ns(span, 150), span),
        "leaders": _leader_marks(node_logs, history_started, span),
    }


def _leader_marks(node_logs: Sequence[NodeLog], started: datetime | None,
                  span_ns: int) -> list[dict[str, Any]]:
    if started is None:
        return []
    epoch_ms = started.timestamp() * 1000
    marks = []
    for log in node_logs:
        for line in log.lines:
            if line.time_ms is None or "became leader" not in line.text.lower():
                continue
            t = (line.time_ms - epoch_ms) / 1000
            if -1 <= t <= span_ns / NS_PER_S + 1:
                marks.append({"node": log.node, "t": round(max(t, 0.0), 3),
                              "text": short(line.text.split(" ", 2)[-1], 100)})
    return sorted(marks, key=lambda m: m["t"])


def _charts_section(data: Mapping[str, Any]) -> str:
    thinned = ""
    if data["shown_ops"] < data["total_ops"]:
        thinned = (f'<div class="notice">The timeline and latency points show '
                   f'{data["shown_ops"]:,} of {data["total_ops"]:,} operations: every failed, '
                   "indeterminate and counterexample operation, and evenly thinned successful "
                   "ones. Quantile and throughput lines use all of them.</div>")
    families = {w["family"]: w["color"] for w in data["windows"]}
    fam_legend = "".join(f'<span><span class="swatch" style="background:{escape(c)};'
                         f'opacity:.55"></span>{escape(f)}</span>' for f, c in families.items())
    types = "".join(f'<span><span class="swatch" style="background:var(--{t})"></span>{t}</span>'
                    for t in ("ok", "fail", "info", "pending"))
    toolbar = (
        '<div class="toolbar"><button type="button" data-zoom-action="left" title="pan left">◀'
        '</button><button type="button" data-zoom-action="right" title="pan right">▶</button>'
        '<button type="button" data-zoom-action="in">zoom in</button><button type="button" '
        'data-zoom-action="out">zoom out</button><button type="button" data-zoom-action="reset">'
        'reset</button><span class="muted" id="view-range"></span><span class="spacer"></span>'
        '<span class="hint">drag to pan · Ctrl+wheel or double-click to zoom · Esc resets · '
        "hover for details</span></div>")
    return (
        '<section id="timeline"><h2>Timeline <span class="count">'
        f'{data["total_ops"]:,} operations</span></h2>{thinned}{toolbar}'
        f'<div class="legend-row">{types}{fam_legend}<span class="spacer"></span>'
        '<label>lanes <select id="lane-mode"><option value="process">one per process</option>'
        '<option value="worker">one per worker</option></select>'
        '</label></div>'
        '<div class="chart"><canvas id="timeline-canvas"></canvas></div>'
        '<p class="hint">Each bar is one operation from invocation to completion. The top lane '
        "shows the nemesis (fault windows shaded across every chart; ticks mark nemesis "
        "operations); triangles mark leader changes read from the node logs (node clocks). "
        "Operations outlined in red are in the counterexample.</p></section>"
        '<section id="latency"><h2>Latency</h2>'
        '<div class="legend-row" id="f-legend"></div><div class="legend-row" id="q-legend">'
        '<span>show:</span></div><div class="chart"><canvas id="latency-canvas"></canvas></div>'
        '<p class="hint">One point per operation at its invocation (squares: ok; crosses: '
        "fail or info), log scale; lines are per-f quantiles of ok operations per time bucket "
        "(solid p50, dashed p95, dotted p99).</p></section>"
        '<section id="throughput"><h2>Throughput</h2>'
        '<div class="chart"><canvas id="throughput-canvas"></canvas></div>'
        '<p class="hint">Completions per second, per time bucket of '
        f'{data["throughput"]["bucket_s"]:g} s: ok per f, and fail and info over all f '
        "(dashed).</p></section>")


def _perf_tables(perf: Mapping[str, Any]) -> str:
    head = ("<tr><th class=\"l\">{first}</th><th>ok</th><th>fail</th><th>info</th>"
            "<th>pending</th><th>ok/s</th><th>p50 ms</th><th>p90 ms</th><th>p95 ms</th>"
            "<th>p99 ms</th><th>max ms</th></tr>")

    def cells(g: Mapping[str, Any]) -> str:
        ops, lat = g.get("ops") or {}, g.get("latency_ms") or {}
        return ("".join(f"<td>{int(ops.get(t, 0)):,}</td>" for t in ("ok", "fail", "info",
                                                                     "pending"))
                + f"<td>{_ms(g.get('ok_per_s'))}</td>"
                + "".join(f"<td>{_ms(lat.get(q))}</td>" for q in ("p50", "p90", "p95", "p99",
                                                                  "max")))
    rows = [f'<tr><td class="l mono">{escape(f)}</td>{cells(g)}</tr>'
            for f, g in (perf.get("by_f") or {}).items()]
    total = {"ops": perf.get("ops"), "latency_ms": perf.get("latency_ms"),
             "ok_per_s": (perf.get("throughput") or {}).get("ok_per_s")}
    rows.append(f'<tr class="total"><td class="l">all</td>{cells(total)}</tr>')
    out = [f'<section id="performance"><h2>Performance</h2><table class="data"><thead>'
           f'{head.format(first="f")}</thead><tbody>{"".join(rows)}</tbody></table>']
    windows = perf.get("windows") or []
    if windows:
        colors = {f.name: f.color for f in FAMILIES}
        wrows = []
        for w in windows:
            color = colors.get(str(w.get("family")), "#868e96")
            wrows.append(
                f'<tr><td class="l"><span class="swatch" style="background:{color}"></span>'
                f'<a href="#timeline" data-zoom="{w.get("start_s")},{w.get("end_s")}">'
                f'{escape(str(w.get("family")))}</a></td>'
                f'<td class="l mono">{escape(short(w.get("value"), 50))}</td>'
                f'<td>{w.get("start_s")}</td><td>{w.get("end_s")}</td>{cells(w)}</tr>')
        calm = perf.get("calm") or {}
        wrows.append(f'<tr class="total"><td class="l">calm (no fault)</td><td></td><td></td>'
                     f"<td></td>{cells(calm)}</tr>")
        out.append(
            "<h3>Per fault window</h3><table class=\"data\"><thead><tr><th class=\"l\">fault</th>"
            '<th class="l">what</th><th>from s</th><th>to s</th>'
            + head.format(first="")[len('<tr><th class="l"></th>'):]
            + f"</thead><tbody>{''.join(wrows)}</tbody></table>"
            '<p class="hint">An operation counts in a window when it completed while the fault '
            "was in force. Click a fault to zoom the charts to it.</p>")
    out.append("</section>")
    return "".join(out)


def _node_logs(node_logs: Sequence[NodeLog], origin: datetime | None, origin_is_test: bool
               ) -> str:
    if not node_logs:
        return ('<section id="nodes"><h2>Nodes</h2><p class="muted">No node logs were '
                "collected for this run.</p></section>")
    epoch_ms = origin.timestamp() * 1000 if origin else None
    since = ("relative to the test's start (the timeline's 0)" if origin_is_test else
             "relative to the run's start (cluster start-up included)" if origin else
             "in unix milliseconds")
    rows = "".join(
        f'<tr><td class="l"><a href="#node-{escape(n.node)}">{escape(n.node)}</a></td>'
        f"<td>{n.total_lines:,}</td><td>{n.errors:,}</td><td>{n.warnings:,}</td>"
        f"<td>{n.leader_changes:,}</td><td>{'-' if n.max_term is None else n.max_term}</td>"
        f'<td class="l">{", ".join(escape(f) for f in n.files)}</td></tr>' for n in node_logs)
    blocks = []
    for n in node_logs:
        lines = []
        for ln in n.lines:
            when = ""
            if ln.time_ms is not None:
                when = (f"+{(ln.time_ms - epoch_ms) / 1000:9.3f}s" if epoch_ms is not None
                        else str(ln.time_ms))
            text = ln.text
            if ln.time_ms is not None and text.startswith(str(ln.time_ms)):
                text = text[len(str(ln.time_ms)):].lstrip()
            lines.append(f'<div class="{ln.kind}"><span class="t">{escape(when)}</span> '
                         f"{escape(text)}</div>")
        note = (f"{len(n.lines):,} of {n.matched:,} matching lines shown (the latest)"
                if n.matched > len(n.lines) else f"{n.matched:,} matching lines")
        body = (f'<div class="log">{"".join(lines)}</div>' if lines else
                '<p class="muted">Nothing notable in these logs.</p>')
        opened = " open" if n.errors or n.warnings else ""
        blocks.append(f'<details class="node" id="node-{escape(n.node)}"{opened}><summary>'
                      f'{escape(n.node)} <span class="muted">— {note}, '
                      f"{n.errors} errors, {n.warnings} warnings, {n.leader_changes} times "
                      f"became leader</span></summary>{body}</details>")
    return ('<section id="nodes"><h2>Nodes</h2><table class="data"><thead><tr>'
            '<th class="l">node</th><th>log lines</th><th>errors</th><th>warnings</th>'
            '<th>became leader</th><th>max term</th><th class="l">files</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
            '<p class="hint">Excerpts keep errors, warnings, leadership and election lines; '
            f"times are {since}, by the node's own clock (skewed under the clock "
            "nemesis).</p>"
            f'{"".join(blocks)}</section>')


def _files(files: Sequence[tuple[str, int]]) -> str:
    if not files:
        return ""
    items = "".join(f'<li><a href="{escape(path)}">{escape(path)}</a> '
                    f'<span class="muted">{_size(size)}</span></li>' for path, size in files)
    return f'<section id="files"><h2>Files</h2><ul class="files">{items}</ul></section>'


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return ""  # pragma: no cover


def _json_script(data: Mapping[str, Any]) -> str:
    """Data for the script, safe inside a <script> element."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def page(title: str, body: str, *, script: str = "", data: Mapping[str, Any] | None = None
         ) -> str:
    """A complete self-contained HTML page around ``body`` (used by the report and index)."""
    data_tag = (f'<script type="application/json" id="report-data">{_json_script(data)}</script>'
                if data is not None else "")
    script_tag = f"<script>{script}</script>" if script else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f'<link rel="icon" href="data:,"><title>{escape(title)}</title>'
        f"<style>{asset('report.css')}</style></head><body>"
        '<div class="js-errors" id="js-errors" hidden></div>'
        f"{body}<div id=\"tooltip\" hidden></div>{data_tag}{script_tag}</body></html>\n")


def render_report(*, results: Mapping[str, Any], history: Sequence[Op],
                  node_logs: Sequence[NodeLog] = (), files: Sequence[tuple[str, int]] = (),
                  run_dir: str | None = None, max_timeline_ops: int = DEFAULT_MAX_TIMELINE_OPS,
                  generated_at: datetime | None = None) -> str:
    """The report.html text of a run.

    ``results`` is the results.json object, ``history`` the run's ops, ``node_logs`` the
    excerpts of :func:`reports.nodelogs.read_node_logs`, ``files`` the run directory's
    files as (relative path, size) for the links."""
    test = results.get("test") or {}
    run = results.get("run") or {}
    verdict = _verdict(results.get("valid"))
    history_started = _started(results, "history_started")
    cx_html, cx_indices = _counterexample_section(results)
    concurrency = test.get("concurrency")
    chart = chart_data(
        history, concurrency=concurrency if isinstance(concurrency, int) else None,
        node_logs=node_logs, history_started=history_started, cx_indices=cx_indices,
        max_ops=max_timeline_ops) if history else None
    data = {"verdict": verdict, "chart": chart}
    nav = [("parameters", "Parameters"), ("checkers", "Checkers")]
    if cx_html:
        nav.append(("counterexample", "Counterexample"))
    if history:
        nav += [("timeline", "Timeline"), ("latency", "Latency"), ("throughput", "Throughput")]
    nav += [("performance", "Performance"), ("nodes", "Nodes"), ("files", "Files")]
    nav_html = ('<nav class="toc"><div class="inner">' + "".join(
        f'<a href="#{a}">{label}</a>' for a, label in nav) + "</div></nav>")
    charts = (_charts_section(chart) if chart else
              '<section id="timeline"><h2>Timeline</h2><p class="muted">The history is empty.'
              "</p></section>")
    when = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M:%S %Z")
    body = (
        _banner(results) + _headline(results, bool(cx_html)) + nav_html + "<main>"
        + _params(results, run_dir or run.get("run_dir")) + _checkers(results) + cx_html
        + charts + _perf_tables(results.get("perf") or {}) + _node_logs(
            node_logs, history_started or _started(results), history_started is not None)
        + _files(files)
        + f"<footer>Generated by raft-chaos {escape(__version__)} at {escape(when)} · "
        "self-contained: this page loads nothing from the network · "
        '<noscript>the charts need JavaScript; everything else is plain HTML</noscript>'
        "</footer></main>")
    name = run.get("name") or test.get("name") or "run"
    return page(f"{verdict.upper()} · {name} · raft-chaos", body, script=asset("report.js"),
                data=data)
