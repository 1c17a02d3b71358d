"""One run as one self-contained HTML page: members, faults, client operations, the violation.

The x axis is simulated time. Every lane is drawn at the same scale (CSS variable ``--px``: pixels
per millisecond), so a fault band, a leader change and a client's stalled call line up. Per-message
network events are counted per time slice, not drawn; the trace is listed only around each
violation. Everything is inline, and history values reach the page only escaped or as JSON read
with ``textContent``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.limits import number_text
from sim.lincheck.history import HistoryError, Operation, Status
from sim.lincheck.report_html import (
    BAR_CSS,
    OP_LINES_JS,
    clip,
    json_for_script,
    op_details,
    pack_rows,
)
from sim.report.timeline import (
    NOISY_KINDS,
    FaultBand,
    Span,
    fault_bands,
    leader_spans,
    message_counts,
    node_spans,
    trace_window,
)
from sim.world.probes import POINTS, hit_line
from sim.world.trace import Event

if TYPE_CHECKING:
    from sim.cluster.config import RunConfig
    from sim.cluster.result import RunResult

__all__ = ["MAX_DRAWN_OPS", "MAX_EVENT_MARKS", "render_run_report", "write_run_report"]

MAX_DRAWN_OPS = 20_000  # client operations drawn; beyond, those nearest the violation
MAX_EVENT_MARKS = 3_000  # notable trace events drawn as ticks
MAX_MARKS_PER_KIND = 300
HISTOGRAM_BUCKETS = 1_200
WINDOW_BEFORE = 40  # trace events listed before a violation (and as many non-network ones)
WINDOW_AFTER = 10
MAX_TIP = 400  # characters of one tooltip field
INITIAL_WIDTH_PX = 1_200  # the timeline's width before the script fits it to the window

_STATE_TEXT = {"up": "up", "down": "down", "paused": "paused", "failed": "failed"}


def render_run_report(
    result: RunResult,
    config: RunConfig,
    *,
    title: str | None = None,
    recheck_timeout_s: float = 10.0,
) -> str:
    """The whole page for one run. A failed linearizability check is checked again (within
    `recheck_timeout_s`, 0 to skip) to mark the operations that cannot be linearized."""
    title = title if title is not None else f"etcdsim run, seed {result.seed}"
    trace = result.trace
    members = list(range(1, config.nodes + 1))
    last_event = _int(trace[-1][0]) if trace else 0
    ops, info_at, describe = _operations(result.history)
    end = max(  # where the world stopped: the run's end, or an invariant's violation
        round(result.sim_seconds * 1_000_000),
        last_event,
        max((_int(v.get("time_us")) for v in result.violations), default=0),
        max((op.ret or op.call for op in ops), default=0),
        1,
    )
    stuck = _stuck_operations(result, ops, recheck_timeout_s)
    page = _Page(end)
    body = [
        _header(result, config, title, config.command_line()),
        _legend(),
        _timeline(page, result, config, members, ops, info_at, describe, stuck, end),
        _violations(page, result, ops, stuck, describe),
        '<div id="tip" role="tooltip" hidden></div>',
        f'<script type="application/json" id="run-data">{json_for_script(page.data())}</script>',
        f"<script>{OP_LINES_JS}{_SCRIPT}</script>",
    ]
    verdict = {"PASS": "pass", "FAIL": "FAIL", "UNDECIDED": "undecided"}[result.verdict]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)} \u2014 {verdict}</title>\n"
        f"<style>{_CSS}{BAR_CSS}{_CSS_AFTER}</style>\n</head>\n"
        f"<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def write_run_report(
    path: str | Path, result: RunResult, config: RunConfig, *, title: str | None = None
) -> Path:
    """Write `render_run_report` to `path` (UTF-8) and return the path."""
    out = Path(path)
    out.write_text(render_run_report(result, config, title=title), encoding="utf-8")
    return out


class _Page:
    """Tooltip texts and operation details gathered while drawing, shipped as one JSON blob."""

    def __init__(self, end: int) -> None:
        self.end = end
        self.tips: dict[str, str] = {}
        self.ops: dict[str, list[Any]] = {}
        self.hist: dict[str, Any] = {}

    def tip(self, key: str, text: str) -> str:
        """Register `text` under `key`; returns the attribute that points at it."""
        self.tips[key] = text
        return f'data-tip="{escape(key)}"'

    def data(self) -> dict[str, Any]:
        return {"end": self.end, "tips": self.tips, "ops": self.ops, "hist": self.hist}


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _ms(us: int) -> str:
    """µs as milliseconds for a CSS variable, exact to the µs."""
    whole, frac = divmod(us, 1000)
    return f"{whole}.{frac:03d}".rstrip("0").rstrip(".") if frac else str(whole)


def _pos(start: int, end: int) -> str:
    return f"--a:{_ms(start)};--w:{_ms(max(0, end - start))}"


def _seconds(us: int) -> str:
    return f"{us / 1_000_000:.6f} s"


# --- the history ------------------------------------------------------------------------------


def _operations(
    history: str,
) -> tuple[list[Operation], dict[int, int], Callable[[Operation], str]]:
    """The history's operations, when each unknown-outcome call was given up, and a describer."""
    from sim.lincheck.formats.jsonl import parse
    from sim.lincheck.models.etcd import EtcdModel

    if not history.strip():
        return [], {}, _plain_description
    try:
        parsed = parse(history, "<run>")
    except HistoryError:
        return [], {}, _plain_description
    info_at: dict[int, int] = {}  # invoke line -> time of its info line
    open_line: dict[str, int] = {}
    for n, raw in enumerate(history.split("\n"), 1):
        if not raw.strip() or '"kind"' not in raw:
            continue
        obj = json.loads(raw)
        client = str(obj.get("client"))
        if obj.get("kind") == "invoke":
            open_line[client] = n
        elif obj.get("kind") == "info" and client in open_line:
            info_at[open_line.pop(client)] = _int(obj.get("time"))
    describe: Callable[[Operation], str] = _plain_description
    if parsed.model_hint in (None, "etcd"):
        describe = EtcdModel().describe_operation
    return list(parsed.ops), info_at, _safe(describe)


def _plain_description(op: Operation) -> str:
    result = f" -> {op.result!r}" if op.status is Status.OK else f" -> {op.status.value}"
    return f"{op.f}({op.args!r}){result}"


def _safe(describe: Callable[[Operation], str]) -> Callable[[Operation], str]:
    def run(op: Operation) -> str:
        try:
            return describe(op)
        except Exception:  # a page must still be written if the model cannot read an operation
            return _plain_description(op)

    return run


def _stuck_operations(result: RunResult, ops: Sequence[Operation], timeout: float) -> set[int]:
    """Ids of the operations the checker cannot place, when linearizability failed."""
    failed = any(v.get("check") == "linearizable" for v in result.violations)
    if timeout <= 0 or not ops or not failed:
        return set()
    from sim.lincheck.checker import check
    from sim.lincheck.models.etcd import EtcdModel

    checked = check(ops, EtcdModel(), timeout=timeout)
    return {i for part in checked.failing_parts for i in part.stuck}


# --- the header -------------------------------------------------------------------------------


def _header(result: RunResult, config: RunConfig, title: str, replay: str) -> str:
    # Undecided is shown as a warning: no check failed, but a bug may hide in the history.
    verdict = {"PASS": ("good", "pass"), "FAIL": ("bad", "FAIL"),
               "UNDECIDED": ("bad", "undecided")}[result.verdict]
    faults = ", ".join(f"{escape(k)} {v}" for k, v in result.faults.items()) or "none"
    facts = [
        ("seed", str(result.seed)),
        ("digest", result.digest),
        ("workload", result.workload),
        ("members", str(config.nodes)),
        ("simulated", f"{result.sim_seconds:.3f} s"),
        ("trace events", f"{result.events:,}"),
        ("faults", faults),
    ]
    if result.workload == "etcd":
        rate = number_text(config.ops_per_sec)
        facts.insert(4, ("clients", f"{config.clients} at {rate} ops/s (target)"))
    if config.bugs:
        facts.append(("planted bugs", ", ".join(sorted(config.bugs))))
    fact_html = "".join(
        f"<dt>{escape(k)}</dt><dd>{v if k == 'faults' else escape(v)}</dd>" for k, v in facts
    )
    rows = "".join(
        f'<tr data-check="{escape(name)}"><td>{escape(name)}</td>'
        f'<td class="{_check_class(text)}">{escape(text)}</td></tr>'
        for name, text in result.checks.items()
    )
    return (
        f"<header><h1>{escape(title)}</h1>\n"
        f'<p class="verdict {verdict[0]}">{verdict[1]}</p>\n'
        f'<dl class="facts">{fact_html}</dl>\n'
        f'<p class="replay">Replay: <code id="replay">{escape(replay)}</code></p>\n'
        '<table class="checks"><thead><tr><th>check</th><th>result</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>{_points(result.probes)}</header>"
    )


def _points(probes: dict[str, int]) -> str:
    """Every sometimes point with the run's hits (0: never reached), folded away."""
    rows = "".join(
        f'<tr class="{"hit" if probes.get(name, 0) else "missed"}" data-point="{escape(name)}">'
        f"<td>{escape(name)}</td><td>{probes.get(name, 0):,}</td>"
        f"<td>{escape(point.description)}</td></tr>"
        for name, point in sorted(POINTS.items())
    )
    return (
        f'<details class="points"><summary>Sometimes points: {escape(hit_line(probes))}'
        "</summary><table><thead><tr><th>point</th><th>hits</th><th>what it means</th></tr>"
        f"</thead><tbody>{rows}</tbody></table></details>"
    )


def _check_class(text: str) -> str:
    if text.startswith("pass"):
        return "good"
    if text.startswith("fail"):
        return "bad"
    return "unsure"


def _legend() -> str:
    items = [
        ("m-state ms-up", "member up"),
        ("m-state ms-paused", "paused"),
        ("m-state ms-down", "down (crashed)"),
        ("m-state ms-failed", "failed (stopped itself)"),
        ("lead", "leader, with its term"),
        *((f"fault fk-{c}", f"fault: {c}") for c in _CATEGORIES),
        ("op st-ok", "operation ok"),
        ("op st-fail", "failed (no effect)"),
        ("op st-unknown", "unknown outcome"),
        ("op stuck", "cannot be linearized"),
        ("vswatch", "violation"),
    ]
    swatches = "".join(
        f'<li><span class="swatch-box {cls}"></span>{escape(text)}</li>' for cls, text in items
    )
    return (
        f'<section class="legend"><ul>{swatches}</ul>'
        '<p class="controls"><label>zoom <input id="zoom" type="range" min="0" max="1000" '
        'value="0"></label> <button id="fit" type="button">fit</button> '
        '<button id="to-violation" type="button">go to the violation</button> '
        '<span class="hint">Ctrl+wheel zooms; hover anything for details.</span></p></section>'
    )


_CATEGORIES = ("partition", "network", "crash", "pause", "failpoint", "disk", "clock")


# --- the timeline -----------------------------------------------------------------------------


def _timeline(
    page: _Page,
    result: RunResult,
    config: RunConfig,
    members: list[int],
    ops: list[Operation],
    info_at: dict[int, int],
    describe: Callable[[Operation], str],
    stuck: set[int],
    end: int,
) -> str:
    trace = result.trace
    states = node_spans(trace, members, end)
    leads = leader_spans(trace, members, end)
    bands = fault_bands(trace, members, config.heal_at_us, end)
    rows: list[str] = ['<div class="row axis"><div class="name">time</div>'
                       '<div class="track" id="axis"></div></div>']
    rows.append('<div class="group">members</div>')
    for m in members:
        rows.append(_member_row(page, m, states[m], leads[m], bands))
    rows.append(_fault_rows(page, bands, end))
    rows.append(_network_row(page, trace, end))
    rows.append(_event_row(page, trace))
    rows.append(_client_rows(page, ops, info_at, describe, stuck, end, result))
    overlay = _overlay(page, result, config, ops, stuck, bands)
    px = INITIAL_WIDTH_PX / (end / 1000)
    return (
        f'<section class="timeline-section"><div class="tl" id="tl" '
        f'style="--end:{_ms(end)};--px:{px:.6g}px">'
        f'<div class="rows">{"".join(rows)}</div>{overlay}</div></section>'
    )


def _member_row(
    page: _Page, m: int, states: list[Span], leads: list[Span], bands: list[FaultBand]
) -> str:
    parts: list[str] = []
    for i, s in enumerate(states):
        tip = page.tip(
            f"s{m}-{i}",
            f"member {m}: {_STATE_TEXT.get(s.state, s.state)}\n{s.detail}\n"
            f"{s.start} us \u2192 {s.end} us",
        )
        parts.append(
            f'<div class="m-state ms-{s.state}" data-state="{s.state}" {tip} '
            f'style="{_pos(s.start, s.end)}"></div>'
        )
    for i, s in enumerate(leads):
        tip = page.tip(f"l{m}-{i}", f"member {m}: {s.detail}\n{s.start} us \u2192 {s.end} us")
        parts.append(
            f'<div class="lead" data-term="{escape(s.label[1:])}" {tip} '
            f'style="{_pos(s.start, s.end)}">{escape(s.label)}</div>'
        )
    for b in bands:
        if m in b.targets:
            parts.append(
                f'<div class="shade fk-{b.category}" data-shade="{b.index}" data-tip="f{b.index}" '
                f'style="{_pos(b.start, b.end)}"></div>'
            )
    return (
        f'<div class="row member" data-member="{m}"><div class="name">member {m}</div>'
        f'<div class="track">{"".join(parts)}</div></div>'
    )


def _fault_rows(page: _Page, bands: list[FaultBand], end: int) -> str:
    lanes: list[int] = []
    html: list[str] = []
    min_width = end // 300  # so that an instant fault (a clock jump) keeps a visible label
    for b in sorted(bands, key=lambda b: (b.start, b.index)):
        drawn_end = max(b.end, b.start + min_width)
        lane = next((i for i, free in enumerate(lanes) if free <= b.start), len(lanes))
        if lane == len(lanes):
            lanes.append(drawn_end)
        else:
            lanes[lane] = drawn_end
        fields = "\n".join(f"{k}: {v}" for k, v in b.fields().items())
        page.tip(
            f"f{b.index}",
            f"fault #{b.index + 1}: {b.label}\n{b.start} us \u2192 {b.end} us"
            f"{' (instant)' if b.start == b.end else ''}\n"
            f"{clip(b.detail, MAX_TIP) + chr(10) if b.detail else ''}"
            f"members: {', '.join(map(str, b.targets)) or '-'}\n{fields}",
        )
        cls = f"fault fk-{b.category}" + ("" if b.hit else " unhit")
        html.append(
            f'<div class="{cls}" data-fault="{b.index}" data-kind="{escape(b.kind)}" '
            f'data-tip="f{b.index}" style="{_pos(b.start, b.end)};--r:{lane}">'
            f"{escape(b.label)}</div>"
        )
    rows = max(1, len(lanes))
    label = f"faults ({len(bands)})"
    return (
        '<div class="group">faults</div>'
        f'<div class="row faults" style="--rows:{rows}"><div class="name">{label}</div>'
        f'<div class="track">{"".join(html)}</div></div>'
    )


def _network_row(page: _Page, trace: Sequence[Event], end: int) -> str:
    counts = message_counts(trace, end, HISTOGRAM_BUCKETS)
    page.hist = {"bucket": counts.bucket_us, "sent": counts.sent, "dropped": counts.dropped}
    n = len(counts.sent)
    # Scaled to the 99th percentile: one burst (a partition healing) must not flatten the rest.
    ranked = sorted(counts.sent)
    top = max(ranked[min(n - 1, n * 99 // 100)] if ranked else 0, 1)

    def path(values: list[int]) -> str:
        out = []
        for i, v in enumerate(values):
            if v:
                h = min(v, top) * 100 / top
                out.append(f"M{i} 100v-{h:.3g}h1v{h:.3g}z")
        return "".join(out)

    # The histogram's x runs over whole buckets, which may end a little after the run.
    width = _ms(counts.bucket_us * n)
    return (
        '<div class="row net"><div class="name">messages</div>'
        f'<div class="track"><svg class="hist" style="--w:{width}" viewBox="0 0 {n} 100" '
        'preserveAspectRatio="none" aria-label="messages sent and dropped per time slice">'
        f'<path class="sent" d="{path(counts.sent)}"/>'
        f'<path class="dropped" d="{path(counts.dropped)}"/></svg></div></div>'
    )


def _event_row(page: _Page, trace: Sequence[Event]) -> str:
    per_kind: dict[str, int] = {}
    marks: list[str] = []
    for event in trace:
        kind = event[1]
        if not isinstance(kind, str) or kind in NOISY_KINDS:
            continue
        if per_kind.get(kind, 0) >= MAX_MARKS_PER_KIND or len(marks) >= MAX_EVENT_MARKS:
            continue
        per_kind[kind] = per_kind.get(kind, 0) + 1
        key = f"e{len(marks)}"
        page.tip(key, f"{_int(event[0])} us\n{clip(_event_text(event), MAX_TIP)}")
        family = kind.split(".", 1)[0]
        marks.append(
            f'<div class="ev ev-{escape(family)}" data-tip="{key}" '
            f'style="--a:{_ms(_int(event[0]))}"></div>'
        )
    return (
        f'<div class="row events"><div class="name">events ({len(marks)})</div>'
        f'<div class="track">{"".join(marks)}</div></div>'
    )


def _client_rows(
    page: _Page,
    ops: list[Operation],
    info_at: dict[int, int],
    describe: Callable[[Operation], str],
    stuck: set[int],
    end: int,
    result: RunResult,
) -> str:
    if not ops:
        text = "no client history (the raft workload)" if result.workload == "raft" else "none"
        return (
            '<div class="group">clients</div><div class="row client"><div class="name">'
            f'clients</div><div class="track note">{escape(text)}</div></div>'
        )
    shown = ops
    note = ""
    if len(ops) > MAX_DRAWN_OPS:
        focus = _focus_time(result, ops, stuck)
        shown = sorted(ops, key=lambda o: (abs(o.call - focus), o.id))[:MAX_DRAWN_OPS]
        shown += [o for o in ops if o.id in stuck and o not in shown]
        note = f" \u00b7 {len(shown)} of {len(ops)} drawn, nearest the violation"

    def span(op: Operation) -> tuple[int, int]:
        if op.ret is not None:
            return op.call, op.ret
        return op.call, max(op.call, info_at.get(op.line, end))

    placed, labels = pack_rows(shown, span)
    by_row: list[list[str]] = [[] for _ in labels]
    for op, row in placed:
        start, stop = span(op)
        classes = f"op st-{op.status.value}"
        attrs = f'data-op-id="{op.id}" data-status="{op.status.value}"'
        if op.id in stuck:
            classes += " stuck"
            attrs += ' data-stuck="true"'
        by_row[row].append(
            f'<div class="{classes}" {attrs} style="{_pos(start, stop)}"></div>'
        )
        page.ops[str(op.id)] = op_details(op, describe)
    rows = "".join(
        f'<div class="row client" data-client="{escape(label)}"><div class="name">'
        f'{"client " + escape(label) if label else ""}</div>'
        f'<div class="track">{"".join(bars)}</div></div>'
        for label, bars in zip(labels, by_row, strict=True)
    )
    clients = len({op.client for op in ops})
    return (
        f'<div class="group">clients ({clients}, {len(ops)} operations{note})</div>{rows}'
    )


def _focus_time(result: RunResult, ops: Sequence[Operation], stuck: set[int]) -> int:
    for op in ops:
        if op.id in stuck:
            return op.call
    return min((_int(v.get("time_us")) for v in result.violations), default=0)


def _overlay(
    page: _Page,
    result: RunResult,
    config: RunConfig,
    ops: Sequence[Operation],
    stuck: set[int],
    bands: list[FaultBand],
) -> str:
    marks: list[str] = []
    heal = next((_int(e[0]) for e in result.trace if e[1] == "heal"), None)
    if heal is not None or bands:
        at = heal if heal is not None else config.heal_at_us
        tip = page.tip("heal", f"{at} us: every fault healed; the run is quiet from here")
        marks.append(f'<div class="heal" {tip} style="--a:{_ms(at)}"><span>heal</span></div>')
    for i, v in enumerate(result.violations):
        t = _int(v.get("time_us"))
        text = f"{v.get('check')}: {v.get('detail')}"
        tip = page.tip(
            f"v{i}",
            f"violation: {v.get('check')}\nat {t} us, node {v.get('node')}\n"
            f"{clip(str(v.get('detail')), MAX_TIP)}",
        )
        side = " left" if t > page.end * 3 // 4 else ""  # near the end: label on the left
        marks.append(
            f'<div class="vmark{side}" data-violation="{i}" {tip} style="--a:{_ms(t)}">'
            f'<span class="vlabel">{escape(clip(text, 160))}</span></div>'
        )
    for op in ops:
        if op.id in stuck:
            tip = page.tip(
                f"x{op.id}", f"operation {op.id} (client {op.client}) cannot be linearized"
            )
            marks.append(
                f'<div class="vmark xmark" data-stuck-op="{op.id}" {tip} '
                f'style="--a:{_ms(op.call)}"><span class="vlabel">op {op.id}</span></div>'
            )
    return f'<div class="overlay">{"".join(marks)}</div>'


# --- the violations and the trace around them -------------------------------------------------


def _violations(
    page: _Page,
    result: RunResult,
    ops: Sequence[Operation],
    stuck: set[int],
    describe: Callable[[Operation], str],
) -> str:
    if not result.violations:
        return '<section class="violations"><h2>No violation</h2></section>'
    trace = result.trace
    times = [_int(e[0]) for e in trace]
    sections: list[str] = []
    for i, v in enumerate(result.violations):
        t = _int(v.get("time_us"))
        head = (
            f'<h2 id="violation-{i}">Violation: {escape(str(v.get("check")))}</h2>'
            f'<p class="vdetail">at {_seconds(t)} ({t} us), node {escape(str(v.get("node")))}: '
            f"{escape(str(v.get('detail')))}</p>"
        )
        if v.get("traceback"):
            head += (
                f"<details><summary>traceback</summary><pre>{escape(str(v['traceback']))}"
                "</pre></details>"
            )
        tail = [tuple(e) for e in v.get("trace_tail") or [] if isinstance(e, (list, tuple))]
        tables = [
            _trace_table(f"The last {len(tail)} trace events the run recorded", tail, t),
            _trace_table(
                f"The trace around {_seconds(t)}",
                [trace[j] for j in trace_window(trace, times, t, WINDOW_BEFORE, WINDOW_AFTER)],
                t,
            ),
        ]
        if v.get("check") == "linearizable":
            for op in ops:
                if op.id in stuck:
                    head += (
                        '<p class="stuck-op">Cannot be linearized: '
                        f'<a href="#" data-ref="{op.id}">op {op.id}, client {escape(op.client)}'
                        f"</a> <code>{escape(clip(describe(op)))}</code> (called at "
                        f"{op.call} us)</p>"
                    )
                    window = trace_window(trace, times, op.call, WINDOW_BEFORE, WINDOW_AFTER)
                    tables.append(
                        _trace_table(
                            f"The trace around op {op.id}'s call ({_seconds(op.call)})",
                            [trace[j] for j in window],
                            op.call,
                        )
                    )
        sections.append(head + "".join(tables))
    return (
        '<section class="violations hide-net" id="violations">'
        '<p><label><input type="checkbox" id="hide-net" checked> hide per-message events '
        "(network messages, fsyncs)</label></p>" + "".join(sections) + "</section>"
    )


def _trace_table(caption: str, events: Sequence[Sequence[object]], t: int) -> str:
    rows: list[str] = []
    marked = False
    for e in events:
        when = _int(e[0]) if e else 0
        kind = str(e[1]) if len(e) > 1 else ""
        classes = []
        if kind in NOISY_KINDS:
            classes.append("net")
        if not marked and when >= t:
            classes.append("at")
            marked = True
        cls = f' class="{" ".join(classes)}"' if classes else ""
        fields = _fields_text(kind, e[2:])
        rows.append(
            f"<tr{cls}><td>{_seconds(when)}</td><td>{escape(kind)}</td>"
            f"<td>{escape(clip(fields))}</td></tr>"
        )
    return (
        f'<table class="trace"><caption>{escape(caption)}</caption><thead><tr><th>time</th>'
        f"<th>event</th><th>fields</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


# Names of the fields of the events a reader meets most; others are listed bare.
_FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "fault": ("kind", "node", "peer", "duration_us", "value", "name"),
    "net.send": ("msg", "from", "to", "type"),
    "net.deliver": ("msg",),
    "net.drop": ("msg", "why"),
    "net.dup": ("msg",),
    "net.hold": ("msg",),
    "net.release": ("msg",),
    "net.partition": ("kind", "cuts"),
    "failpoint": ("node", "name", "action"),
    "raft.leader": ("node", "term"),
    "node.start": ("node", "incarnation"),
    "node.crash": ("node",),
    "node.fail": ("node", "reason"),
    "node.pause": ("node",),
    "node.resume": ("node",),
    "node.discard": ("node", "from"),
    "disk.fsync": ("node", "path", "length"),
    "liveness.pass": ("after_heal_us",),
}


def _fields_text(kind: str, fields: Sequence[object]) -> str:
    names = _FIELD_NAMES.get(kind, ())
    return " ".join(
        f"{names[i]}={_field(f)}" if i < len(names) else _field(f) for i, f in enumerate(fields)
    )


def _field(value: object) -> str:
    if isinstance(value, (int, float, bool)) or value is None:
        return json.dumps(value)
    return json.dumps(str(value), ensure_ascii=False)


def _event_text(event: Sequence[object]) -> str:
    return f"{event[1]} {_fields_text(str(event[1]), event[2:])}"


_CSS = """
:root{--row:22px;--namew:9rem;font:14px/1.4 system-ui,sans-serif;color:#222}
body{margin:1rem 1.5rem}
h1{font-size:1.3rem;margin:0 0 .3rem;word-break:break-all}
h2{font-size:1.1rem;margin:1.4rem 0 .3rem}
.verdict{display:inline-block;font-size:1.4rem;font-weight:700;padding:.1rem .6rem;
 border-radius:4px;margin:.2rem 0}
.good{color:#1a7f37}.bad{color:#b3261e}.unsure{color:#9a6700}
.verdict.good{background:#dafbe1}.verdict.bad{background:#ffebe9}
.facts{display:grid;grid-template-columns:max-content 1fr;gap:.1rem 1rem;margin:.4rem 0}
.facts dt{color:#555}.facts dd{margin:0;word-break:break-all}
.replay code{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}
code{font-size:.9em;word-break:break-all}
table{border-collapse:collapse;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.1rem .5rem;text-align:left;vertical-align:top}
caption{text-align:left;font-weight:600;padding:.3rem 0}
.legend ul{list-style:none;padding:0;margin:.6rem 0;display:flex;flex-wrap:wrap;gap:.3rem 1rem}
.legend li{display:flex;align-items:center;gap:.35rem;font-size:12px}
.swatch-box{display:inline-block;position:static;width:1.8rem;height:12px;box-sizing:border-box}
.controls input{vertical-align:middle;width:14rem}.hint{color:#777;font-size:12px}
.tl{position:relative;overflow-x:auto;border:1px solid #ddd;margin:.5rem 0}
.rows{width:max-content}
.row{display:flex;height:var(--row)}
.row.faults{height:calc(max(1,var(--rows)) * var(--row))}
.row.net{height:36px}
.name{flex:none;width:var(--namew);box-sizing:border-box;position:sticky;left:0;z-index:5;
 background:#fafafa;border-right:1px solid #ddd;padding:0 .4rem;font-size:12px;
 line-height:var(--row);white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.track{position:relative;flex:none;width:calc(var(--end) * var(--px));
 border-bottom:1px solid #f0f0f0}
.track.note{color:#777;font-size:12px;padding-left:.5rem;line-height:var(--row)}
.group{position:sticky;left:0;width:max-content;font-size:11px;font-weight:600;color:#666;
 text-transform:uppercase;letter-spacing:.05em;padding:.3rem .4rem .1rem}
.axis .track{border-bottom:1px solid #ccc}
.tick{position:absolute;top:3px;font-size:10px;color:#777;border-left:1px solid #bbb;
 padding-left:2px;white-space:nowrap;height:16px}
.track>div{position:absolute;box-sizing:border-box;left:calc(var(--a) * var(--px))}
.m-state,.lead,.shade,.fault,.op{width:max(2px,calc(var(--w) * var(--px)))}
.m-state{top:11px;height:9px}
.ms-up{background:#9bd39b}.ms-paused{background:#f2c14e}
.ms-down{background:#b8b8b8;background-image:repeating-linear-gradient(45deg,transparent 0 3px,
 rgba(0,0,0,.2) 3px 5px)}
.ms-failed{background:#e06666}
.lead{top:1px;height:10px;background:#2b5fa6;color:#fff;font-size:9px;line-height:10px;
 padding-left:2px;overflow:hidden;white-space:nowrap;z-index:2;border-radius:2px}
.shade{top:0;height:100%;opacity:.28;z-index:1}
.fault{top:calc(var(--r) * var(--row) + 2px);height:calc(var(--row) - 4px);font-size:10px;
 line-height:calc(var(--row) - 6px);padding:0 3px;white-space:nowrap;overflow:hidden;
 border:1px solid rgba(0,0,0,.25);border-radius:3px;color:#111;min-width:4px}
.fault.unhit{opacity:.45;border-style:dashed}
.fk-partition{background:rgba(148,103,189,.55)}.fk-network{background:rgba(23,190,207,.5)}
.fk-crash{background:rgba(214,39,40,.5)}.fk-pause{background:rgba(242,193,78,.7)}
.fk-failpoint{background:rgba(255,127,14,.55)}.fk-disk{background:rgba(140,86,75,.5)}
.fk-clock{background:rgba(44,160,44,.5)}.fk-other{background:rgba(127,127,127,.5)}
.hist{position:absolute;left:0;top:2px;height:32px;width:calc(var(--w) * var(--px))}
.hist .sent{fill:#7a9cc6}.hist .dropped{fill:#d62728}
.ev{top:4px;height:14px;width:3px;margin-left:-1px;background:#555;opacity:.7}
.ev-node{background:#2b5fa6}.ev-fault,.ev-heal{background:#d62728}.ev-disk{background:#8c564b}
.ev-raft{background:#1a7f37}.ev-clock{background:#2ca02c}.ev-liveness{background:#9467bd}
.op{top:3px;height:calc(var(--row) - 6px);min-width:2px}
.op.st-ok{background-color:#4c78a8}
.op.st-fail{background-color:#9a9a9a;border-color:#777}
.op.st-unknown{background-color:#e8a33d;border-color:#a66b00}
.overlay{position:absolute;top:0;bottom:0;left:var(--namew);width:calc(var(--end) * var(--px));
 pointer-events:none;z-index:6}
.vmark,.heal{position:absolute;top:0;bottom:0;left:calc(var(--a) * var(--px));width:0;
 border-left:2px solid #d62728}
.vmark{z-index:7}
.vlabel,.heal span{pointer-events:auto}
.xmark{border-left:2px dashed #7f0000}
.heal{border-left:2px dotted #1a7f37}
.heal span,.vlabel{position:absolute;top:0;left:3px;font-size:11px;white-space:nowrap;
 padding:0 3px;border-radius:2px}
.heal span{color:#1a7f37;background:rgba(255,255,255,.85)}
.vlabel{background:#d62728;color:#fff;max-width:40rem;overflow:hidden;text-overflow:ellipsis}
.xmark .vlabel{top:18px;background:#7f0000}
.vmark.left .vlabel{left:auto;right:3px}
.vswatch{border-left:3px solid #d62728;height:14px}
.violations .vdetail{margin:.2rem 0}
.trace td:first-child{white-space:nowrap;font-variant-numeric:tabular-nums}
.trace td{font-size:12px;font-family:ui-monospace,monospace}
.trace tr.at td{border-top:2px solid #d62728}
.hide-net tr.net{display:none}
.stuck-op a{color:inherit}
.points summary{cursor:pointer;margin:.3rem 0}.points tr.missed{color:#888}
.points td:nth-child(2){text-align:right;font-variant-numeric:tabular-nums}
"""

_CSS_AFTER = """
.legend .swatch-box{position:static;width:1.8rem;height:12px;top:auto;opacity:1;padding:0}
.op.stuck{background-color:#d62728}
#tip{max-width:36rem}
"""

# Tooltips take text from the JSON blob and set it with textContent only: it is user data.
_SCRIPT = """
(function(){
var data=JSON.parse(document.getElementById('run-data').textContent);
var tl=document.getElementById('tl'),axis=document.getElementById('axis');
var tip=document.getElementById('tip'),zoom=document.getElementById('zoom');
var endMs=data.end/1000,px=parseFloat(getComputedStyle(tl).getPropertyValue('--px'));
function nameW(){var n=tl.querySelector('.name');return n?n.offsetWidth:0;}
function fitPx(){return Math.max(1e-6,(tl.clientWidth-nameW()-2)/endMs);}
function maxPx(){return Math.max(fitPx()*2,Math.min(200,3e7/endMs));}
function toSlider(v){var lo=fitPx(),hi=maxPx();
 return Math.round(1000*Math.log(v/lo)/Math.log(hi/lo));}
function setPx(v,anchorMs,anchorX){
 v=Math.min(maxPx(),Math.max(fitPx(),v));
 if(anchorMs===undefined){anchorX=(tl.clientWidth-nameW())/2;
  anchorMs=(tl.scrollLeft+anchorX)/px;}
 px=v;tl.style.setProperty('--px',v+'px');
 tl.scrollLeft=Math.max(0,anchorMs*v-anchorX);
 zoom.value=String(toSlider(v));ticks();
}
function ticks(){
 var w=tl.clientWidth-nameW(),from=tl.scrollLeft/px,to=(tl.scrollLeft+w)/px;
 var raw=90/px,p=Math.pow(10,Math.floor(Math.log10(raw))),step=p;
 if(raw>step)step=2*p;if(raw>step)step=5*p;if(raw>step)step=10*p;
 var digits=Math.max(0,Math.min(6,3-Math.floor(Math.log10(step))));
 var frag=document.createDocumentFragment();
 for(var t=Math.floor(from/step)*step;t<=Math.min(to,endMs)+step;t+=step){
  if(t<0)continue;var s=document.createElement('span');s.className='tick';
  s.style.left=(t*px)+'px';s.textContent=(t/1000).toFixed(digits)+' s';frag.appendChild(s);
 }
 axis.replaceChildren(frag);
}
var pending=false;
tl.addEventListener('scroll',function(){if(pending)return;pending=true;
 requestAnimationFrame(function(){pending=false;ticks();});});
window.addEventListener('resize',function(){setPx(px);});
zoom.addEventListener('input',function(){
 var lo=fitPx(),hi=maxPx();setPx(lo*Math.pow(hi/lo,zoom.value/1000));});
tl.addEventListener('wheel',function(e){
 if(!e.ctrlKey)return;e.preventDefault();
 var r=tl.getBoundingClientRect(),x=e.clientX-r.left-nameW();
 setPx(px*(e.deltaY<0?1.25:0.8),(tl.scrollLeft+x)/px,x);
},{passive:false});
document.getElementById('fit').addEventListener('click',function(){setPx(fitPx(),0,0);});
function show(el){
 if(!el)return;var ms=parseFloat(el.style.getPropertyValue('--a'))||0;
 setPx(Math.max(px,Math.min(maxPx(),(tl.clientWidth-nameW())/2000)),ms,
  (tl.clientWidth-nameW())/2);
 tl.scrollIntoView({block:'nearest'});
}
document.getElementById('to-violation').addEventListener('click',function(){
 show(document.querySelector('.xmark')||document.querySelector('.vmark'));});
function tipText(el,e){
 var id=el.getAttribute('data-op-id');
 if(id!==null){var d=data.ops[id];if(!d)return '';var lines=opLines(id,d);
  if(el.getAttribute('data-stuck'))lines.push('cannot be linearized');return lines.join('\\n');}
 if(el.classList.contains('hist')){
  var r=el.getBoundingClientRect(),h=data.hist;
  var i=Math.floor((e.clientX-r.left)/r.width*h.sent.length);
  if(i<0||i>=h.sent.length)return '';
  return (i*h.bucket/1e6).toFixed(3)+' s \\u2013 '+((i+1)*h.bucket/1e6).toFixed(3)+' s\\n'+
   h.sent[i]+' messages sent, '+h.dropped[i]+' dropped';}
 var key=el.getAttribute('data-tip');return key&&data.tips[key]||'';
}
function place(e){
 var x=e.clientX+14,y=e.clientY+14,w=tip.offsetWidth,h=tip.offsetHeight;
 if(x+w>window.innerWidth)x=Math.max(0,e.clientX-w-8);
 if(y+h>window.innerHeight)y=Math.max(0,e.clientY-h-8);
 tip.style.left=x+'px';tip.style.top=y+'px';
}
function hover(e){
 var el=e.target.closest&&e.target.closest('[data-tip],[data-op-id],.hist');
 var text=el?tipText(el,e):'';
 if(!text){tip.hidden=true;return;}
 tip.textContent=text;tip.hidden=false;place(e);
}
document.addEventListener('mouseover',hover);
document.addEventListener('mousemove',function(e){
 if(e.target.closest&&e.target.closest('.hist'))hover(e);else if(!tip.hidden)place(e);});
document.getElementById('hide-net')&&document.getElementById('hide-net').addEventListener(
 'change',function(e){document.getElementById('violations').classList.toggle('hide-net',
 e.target.checked);});
document.addEventListener('click',function(e){
 var a=e.target.closest&&e.target.closest('a[data-ref]');if(!a)return;e.preventDefault();
 var el=document.querySelector('.op[data-op-id="'+a.getAttribute('data-ref')+'"]');
 if(!el)return;show(el);el.classList.add('focus');
 setTimeout(function(){el.classList.remove('focus');},1500);
});
setPx(fitPx(),0,0);
})();
"""
