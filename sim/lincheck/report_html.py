"""A check's result as one self-contained HTML page: a timeline per part, the witness on it.

Everything is inline (CSS, a small script, the operation details as one JSON blob), so the file
opens offline. The x axis is event order, not time: each distinct call or return time gets one
slot, so real-time precedence (a returns before b is called) stays visible whatever the gaps.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from sim.lincheck.history import Operation
from sim.lincheck.model import Model
from sim.lincheck.result import CheckResult, PartResult, Verdict

__all__ = [
    "BAR_CSS",
    "MAX_DRAWN_OPS",
    "MAX_DRAWN_PARTS",
    "MAX_LISTED_PARTS",
    "MAX_PART_OPS",
    "OP_LINES_JS",
    "clip",
    "json_for_script",
    "natural_key",
    "op_details",
    "pack_rows",
    "render_html",
]

MAX_DRAWN_PARTS = 50  # timelines drawn; the rest are only counted
MAX_DRAWN_OPS = 20_000  # operations drawn over all timelines
MAX_PART_OPS = 10_000  # operations drawn in one timeline: a window around the failure
MAX_LISTED_PARTS = 200  # rows in the table of parts
MAX_TEXT = 600  # characters kept of one description (model output may be huge)
PREFIX_TAIL = 10  # last operations of the linearizable prefix listed under a failing part
MAX_REPLAY_STATES = 1_000  # give up describing the state after the prefix beyond this
MAX_TICKS = 400  # axis labels per timeline
SLOT_PX = 26  # default width of one event slot; the page's zoom changes it

_VERDICT_CLASS = {
    Verdict.LINEARIZABLE: "good",
    Verdict.NOT_LINEARIZABLE: "bad",
    Verdict.UNKNOWN: "unsure",
}
_PART_RANK = {Verdict.NOT_LINEARIZABLE: 0, Verdict.UNKNOWN: 1, Verdict.LINEARIZABLE: 2}


def render_html(result: CheckResult, model: Model, title: str) -> str:
    """The whole report page for `result`, described with `model`."""
    parts = sorted(result.parts, key=lambda p: _PART_RANK[p.verdict])  # stable: failing first
    details: dict[str, list[Any]] = {}
    sections: list[str] = []
    budget = MAX_DRAWN_OPS
    for part in parts:
        if len(sections) >= MAX_DRAWN_PARTS or budget <= 0:
            break
        shown = _window(part, min(budget, MAX_PART_OPS))
        budget -= len(shown)
        sections.append(_part_section(len(sections), part, shown, model, details))
    skipped = parts[len(sections) :]
    if skipped:
        sections.append(
            f'<p class="note">{len(skipped)} more part(s) with '
            f"{sum(len(p.ops) for p in skipped)} operations are not drawn "
            f"(at most {MAX_DRAWN_PARTS} parts and {MAX_DRAWN_OPS} operations are).</p>"
        )
    body = "\n".join(
        [
            _header(result, model, title),
            _legend(),
            _parts_table(parts),
            *sections,
            '<div id="tip" role="tooltip" hidden></div>',
            f'<script type="application/json" id="op-data">{json_for_script(details)}</script>',
            f"<script>{_SCRIPT}</script>",
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)} — {escape(result.verdict.value)}</title>\n"
        f"<style>:root{{--slot:{SLOT_PX}px}}{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def _header(result: CheckResult, model: Model, title: str) -> str:
    failing = len(result.failing_parts)
    unknown = sum(1 for p in result.parts if p.verdict is Verdict.UNKNOWN)
    counts = f"{len(result.parts)} part{'s' if len(result.parts) != 1 else ''}"
    if failing:
        counts += f", {failing} not linearizable"
    if unknown:
        counts += f", {unknown} unknown (time limit)"
    return (
        f"<header><h1>{escape(title)}</h1>\n"
        f'<p class="verdict {_VERDICT_CLASS[result.verdict]}">'
        f"{escape(result.verdict.value)}</p>\n"
        f'<p class="stats">{result.operations} operations · {counts} · '
        f"model {escape(model.name)} · checked in {result.elapsed:.3f} s</p></header>"
    )


def _legend() -> str:
    items = [
        ("lin", "1", "linearized, numbered in linearization order"),
        ("stuck", "\u2717", "could not be linearized after the prefix (failing)"),
        ("rest", "", "not linearized / not reached"),
        ("rest st-unknown", "", "unknown outcome: may take effect any time after its call"),
        ("rest st-fail", "", "failed: certainly no effect"),
    ]
    swatches = "".join(
        f'<li><span class="swatch {cls}">{label}</span>{escape(text)}</li>'
        for cls, label, text in items
    )
    return (
        f'<section class="legend"><ul>{swatches}</ul>'
        "<p>One row per client. The x axis is event order, not to scale: hover an operation "
        f'for its times. <label>zoom <input id="zoom" type="range" min="4" max="80" '
        'value="{SLOT_PX}"></label></p></section>'
    )


def _parts_table(parts: Sequence[PartResult]) -> str:
    if len(parts) <= 1:
        return ""
    rows = "".join(
        f'<tr><td>{escape(p.name)}</td><td class="{_VERDICT_CLASS[p.verdict]}">'
        f"{escape(p.verdict.value)}</td><td>{len(p.ops)}</td><td>{p.explored}</td></tr>"
        for p in parts[:MAX_LISTED_PARTS]
    )
    more = ""
    if len(parts) > MAX_LISTED_PARTS:
        more = f'<p class="note">… and {len(parts) - MAX_LISTED_PARTS} more parts.</p>'
    return (
        '<section class="parts"><table><thead><tr><th>part</th><th>verdict</th>'
        f"<th>operations</th><th>states explored</th></tr></thead><tbody>{rows}</tbody>"
        f"</table>{more}</section>"
    )


@dataclass(frozen=True, slots=True)
class _Bar:
    op: Operation
    start: int  # first slot
    end: int  # slot after the last
    row: int


def _layout(ops: Sequence[Operation]) -> tuple[list[_Bar], list[str], list[int]]:
    """Bars in slots, row labels, and the time of each slot."""
    times = sorted({op.call for op in ops} | {op.ret for op in ops if op.ret is not None})
    slot = {t: i for i, t in enumerate(times)}
    n = len(times)

    def span(op: Operation) -> tuple[int, int]:
        return slot[op.call], n if op.ret is None else slot[op.ret] + 1

    placed, labels = pack_rows(ops, span)
    bars = [_Bar(op, *span(op), row) for op, row in placed]
    return bars, labels, times


def pack_rows(
    ops: Iterable[Operation], span: Callable[[Operation], tuple[int, int]]
) -> tuple[list[tuple[Operation, int]], list[str]]:
    """One row per client (naturally sorted), more where its bars overlap; and the row labels.

    `span(op)` gives the bar's [start, end) in any unit; a client may go on after an
    unknown-outcome call, so its overlapping bars take extra rows labelled "".
    """
    by_client: dict[str, list[Operation]] = {}
    for op in ops:
        by_client.setdefault(op.client, []).append(op)
    placed: list[tuple[Operation, int]] = []
    labels: list[str] = []
    for client in sorted(by_client, key=natural_key):
        lanes: list[int] = []  # per lane of this client: where it is free again
        first_row = len(labels)
        for op in sorted(by_client[client], key=lambda o: (o.call, o.id)):
            start, end = span(op)
            lane = next((i for i, free in enumerate(lanes) if free <= start), len(lanes))
            if lane == len(lanes):
                lanes.append(end)
                labels.append(client if lane == 0 else "")
            else:
                lanes[lane] = end
            placed.append((op, first_row + lane))
    return placed, labels


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key putting "c2" before "c10"."""
    out: list[Any] = []
    digits = ""
    for ch in text + "\0":
        if ch.isdigit():
            digits += ch
            continue
        if digits:
            out.append((0, int(digits), ""))
            digits = ""
        out.append((1, 0, ch))
    return tuple(out)


def op_details(op: Operation, describe: Callable[[Operation], str]) -> list[Any]:
    """What the tooltip script shows for one bar: client, call, return, text, status, line, key."""
    return [op.client, op.call, op.ret, clip(describe(op)), op.status.value, op.line, op.key]


def _window(part: PartResult, size: int) -> list[Operation]:
    """At most `size` of the part's operations, consecutive by call, around where it failed."""
    if len(part.ops) <= size:
        return list(part.ops)
    ops = sorted(part.ops, key=lambda o: (o.call, o.id))
    index = {op.id: i for i, op in enumerate(ops)}
    if part.stuck:
        focus = min(index.get(i, len(ops)) for i in part.stuck)
    elif part.order and part.verdict is not Verdict.LINEARIZABLE:
        focus = index.get(part.order[-1], 0)
    else:
        focus = 0
    start = max(0, min(focus - size * 3 // 4, len(ops) - size))
    shown = ops[start : start + size]
    kept = {op.id for op in shown}
    return shown + [ops[index[i]] for i in part.stuck if i in index and i not in kept]


def _part_section(
    index: int,
    part: PartResult,
    shown: list[Operation],
    model: Model,
    details: dict[str, list[Any]],
) -> str:
    position = {op_id: i + 1 for i, op_id in enumerate(part.order)}
    stuck = set(part.stuck)
    bars, labels, times = _layout(shown)
    html_bars: list[str] = []
    for bar in bars:
        op = bar.op
        lin = position.get(op.id)
        classes = ["op", f"st-{op.status.value}"]
        attrs = f'data-op-id="{op.id}" data-status="{op.status.value}"'
        if op.id in stuck:
            classes.append("stuck")
            attrs += ' data-stuck="true"'
        elif lin is not None:
            classes.append("lin")
            attrs += f' data-lin="{lin}"'
        else:
            classes.append("rest")
        html_bars.append(
            f'<div class="{" ".join(classes)}" {attrs} style="--a:{bar.start};'
            f'--b:{bar.end - bar.start};--r:{bar.row}">{_label(op.id in stuck, lin)}</div>'
        )
        details[str(op.id)] = op_details(op, model.describe_operation)
    widest = max((len(str(t)) for t in times), default=1)
    step = max(-(-(7 * widest + 10) // SLOT_PX), -(-len(times) // MAX_TICKS))
    ticks = "".join(
        f'<span class="tick" style="--a:{i}">{t}</span>'
        for i, t in enumerate(times)
        if i % step == 0
    )
    names = "".join(f'<div class="name">{escape(label)}</div>' for label in labels)
    clients = len({op.client for op in part.ops})
    note = ""
    if len(shown) < len(part.ops):
        note = (
            f'<p class="note">Drawn: {len(shown)} of the {len(part.ops)} operations, '
            "consecutive by call time, around the failure.</p>\n"
        )
    return (
        f'<section class="part" id="part-{index}" data-part="{escape(part.name)}" '
        f'data-verdict="{escape(part.verdict.value)}">\n'
        f"<h2>part {escape(part.name)} "
        f'<span class="badge {_VERDICT_CLASS[part.verdict]}">{escape(part.verdict.value)}'
        f"</span></h2>\n"
        f'<p class="stats">{len(part.ops)} operations · {clients} clients · '
        f"{part.explored} states explored</p>\n"
        f"{_witness(part, model)}{note}"
        f'<div class="timeline" style="--events:{len(times)};--rows:{len(labels)}">'
        f'<div class="names"><div class="name axis">time</div>{names}</div>'
        f'<div class="scroll"><div class="lanes"><div class="axis">{ticks}</div>'
        f'<div class="rows">{"".join(html_bars)}</div></div></div></div>\n</section>'
    )


def _label(stuck: bool, lin: int | None) -> str:
    if stuck:
        return "\u2717"
    return "" if lin is None else str(lin)


def _witness(part: PartResult, model: Model) -> str:
    """The failing part's story in words: the end of the prefix, the state, what is stuck."""
    if part.verdict is Verdict.LINEARIZABLE:
        return (
            f'<p class="witness">Linearizable: {len(part.order)} operations numbered in '
            "linearization order.</p>\n"
        )
    by_id = {op.id: op for op in part.ops}
    n = len(part.order)
    if part.verdict is Verdict.UNKNOWN:
        return (
            '<p class="witness">The time limit ran out; '
            f"{n} operations were placed when it did.</p>\n"
        )
    tail_start = max(0, n - PREFIX_TAIL)
    tail = "".join(
        f"<li>{_op_line(by_id[i], model)}</li>" for i in part.order[tail_start:] if i in by_id
    )
    stuck = "".join(f"<li>{_op_line(by_id[i], model)}</li>" for i in part.stuck if i in by_id)
    return (
        '<div class="witness">'
        f"<p>The longest linearizable prefix has {n} of {len(part.ops)} operations"
        f"{'; it ends with:' if n else '.'}</p>"
        + (f'<ol start="{tail_start + 1}">{tail}</ol>' if tail else "")
        + f"<p>State after it: {escape(_state_after(part, model))}</p>"
        f'<p class="stuck-title">None of these can be linearized next:</p>'
        f'<ul class="stuck-list">{stuck}</ul></div>\n'
    )


def _op_line(op: Operation, model: Model) -> str:
    where = f"line {op.line} · " if op.line else ""
    return (
        f'<a href="#" data-ref="{op.id}">{where}client {escape(op.client)} · '
        f"op {op.id}</a>: <code>{escape(clip(model.describe_operation(op)))}</code>"
    )


def _state_after(part: PartResult, model: Model) -> str:
    """The model's possible states after replaying the prefix, as one line."""
    by_id = {op.id: op for op in part.ops}
    try:
        states: set[Any] = {model.init()}
        for op_id in part.order:
            states = _step_all(model, states, by_id[op_id])
            if not states or len(states) > MAX_REPLAY_STATES:
                return "(could not be followed through the model)"
        described = sorted(clip(model.describe_state(s)) for s in states)
    except Exception as exc:  # a report must still be written if the model cannot replay it
        return f"(could not replay the prefix: {type(exc).__name__}: {exc})"
    if len(described) == 1:
        return described[0]
    return (
        " | ".join(described[:5])
        + (" | …" if len(described) > 5 else "")
        + (f" ({len(described)} possible states)")
    )


def _step_all(model: Model, states: Iterable[Any], op: Operation) -> set[Any]:
    return {after for state in states for after in model.step(state, op)}


def clip(text: str, limit: int = MAX_TEXT) -> str:
    """`text`, cut to `limit` characters with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_for_script(value: Any) -> str:
    """JSON that cannot end its <script> element or open a comment, whatever the strings."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_CSS = """
:root{--row:22px;font:14px/1.4 system-ui,sans-serif;color:#222}
body{margin:1rem 1.5rem}
h1{font-size:1.3rem;margin:0 0 .3rem;word-break:break-all}
h2{font-size:1.1rem;margin:1.6rem 0 .2rem;word-break:break-all}
.verdict{display:inline-block;font-size:1.4rem;font-weight:700;padding:.1rem .6rem;
 border-radius:4px;margin:.2rem 0}
.good{color:#1a7f37}.bad{color:#b3261e}.unsure{color:#9a6700}
.verdict.good{background:#dafbe1}.verdict.bad{background:#ffebe9}.verdict.unsure{background:#fff8c5}
.badge{font-size:.85rem;font-weight:600;margin-left:.4rem}
.stats,.note{color:#555;margin:.2rem 0}
.legend ul{list-style:none;padding:0;margin:.6rem 0;display:flex;flex-wrap:wrap;gap:.3rem 1.2rem}
.legend li{display:flex;align-items:center;gap:.4rem}
.legend p{color:#555;margin:.2rem 0}
.swatch{display:inline-block;width:2.2rem;height:16px}
.parts table{border-collapse:collapse;margin:.6rem 0}
.parts td,.parts th{border:1px solid #ddd;padding:.1rem .5rem;text-align:left}
.witness{margin:.4rem 0}.witness p{margin:.3rem 0}.witness ol,.witness ul{margin:.2rem 0}
.stuck-title{color:#b3261e;font-weight:600}
.stuck-list a,.witness a{color:inherit}
code{font-size:.9em;word-break:break-all}
.timeline{display:flex;border:1px solid #ddd;margin:.5rem 0}
.names{flex:none;max-width:12rem;border-right:1px solid #ddd;background:#fafafa}
.name{height:var(--row);line-height:var(--row);padding:0 .4rem;overflow:hidden;
 white-space:nowrap;text-overflow:ellipsis;font-size:12px}
.name.axis{color:#888}
.scroll{overflow-x:auto;flex:1}
.lanes{position:relative;width:calc(var(--events) * var(--slot))}
.axis{position:relative;height:var(--row);border-bottom:1px solid #eee}
.tick{position:absolute;left:calc(var(--a) * var(--slot));font-size:10px;color:#888;
 border-left:1px solid #ccc;padding-left:2px;white-space:nowrap;top:4px}
.rows{position:relative;height:calc(var(--rows) * var(--row))}
.op{position:absolute;left:calc(var(--a) * var(--slot) + 1px);
 width:calc(var(--b) * var(--slot) - 2px);min-width:3px;top:calc(var(--r) * var(--row) + 3px);
 height:calc(var(--row) - 6px);cursor:default}
"""

# How an operation bar looks, shared with the run report (sim.report); no positioning.
BAR_CSS = """
.op,.swatch{box-sizing:border-box;border:1px solid #2f5d8a;border-radius:3px;font-size:10px;
 line-height:14px;color:#fff;text-align:center;overflow:hidden;white-space:nowrap}
.lin{background-color:#4c78a8}
.rest{background-color:#d0d0d0;border-color:#999;color:#333}
.stuck{background-color:#d62728;border:2px solid #7f0000;z-index:2;
 box-shadow:0 0 0 2px rgba(214,39,40,.35)}
.st-unknown{border-style:dashed;opacity:.7;
 background-image:repeating-linear-gradient(135deg,transparent 0 6px,rgba(255,255,255,.35) 6px 9px)}
.st-fail{opacity:.5;
 background-image:repeating-linear-gradient(45deg,transparent 0 3px,rgba(0,0,0,.25) 3px 4px)}
.stuck.st-unknown{opacity:1}
.op.st-unknown{text-align:left;padding-left:4px}
.op:hover,.op.focus{outline:2px solid #111;z-index:3}
#tip{position:fixed;z-index:10;max-width:32rem;background:#222;color:#fff;padding:.4rem .6rem;
 border-radius:4px;font-size:12px;white-space:pre-wrap;word-break:break-all;pointer-events:none}
"""

_CSS += BAR_CSS

# The tooltip lines of one operation from its `op_details` list; shared with the run report.
OP_LINES_JS = """
function opLines(id,d){
 var ret=d[2]===null?'unknown':String(d[2]);
 var lines=['op '+id+' \\u00b7 client '+d[0]+(d[5]?' \\u00b7 line '+d[5]:''),
  'call '+d[1]+' \\u2192 return '+ret,d[3],'status '+d[4]];
 if(d[6]!==null)lines.splice(1,0,'key '+d[6]);
 return lines;
}
"""

# Tooltip from the JSON blob, filled with textContent only: the data is user input.
_SCRIPT = OP_LINES_JS + """
(function(){
var data=JSON.parse(document.getElementById('op-data').textContent);
var tip=document.getElementById('tip');
function mark(el){
 if(el.getAttribute('data-stuck'))return 'stuck: cannot be linearized after the prefix';
 var lin=el.getAttribute('data-lin');if(lin)return 'linearized #'+lin;
 var part=el.closest('.part');
 return part&&part.getAttribute('data-verdict')==='not linearizable'?'not reached':'not linearized';
}
function text(el){
 var id=el.getAttribute('data-op-id'),d=data[id];if(!d)return '';
 var lines=opLines(id,d);lines[lines.length-1]+=' \\u00b7 '+mark(el);
 return lines.join('\\n');
}
function place(e){
 var x=e.clientX+14,y=e.clientY+14,w=tip.offsetWidth,h=tip.offsetHeight;
 if(x+w>window.innerWidth)x=Math.max(0,e.clientX-w-8);
 if(y+h>window.innerHeight)y=Math.max(0,e.clientY-h-8);
 tip.style.left=x+'px';tip.style.top=y+'px';
}
document.addEventListener('mouseover',function(e){
 var el=e.target.closest&&e.target.closest('.op[data-op-id]');
 if(!el){tip.hidden=true;return;}
 tip.textContent=text(el);tip.hidden=false;place(e);
});
document.addEventListener('mousemove',function(e){if(!tip.hidden)place(e);});
document.addEventListener('click',function(e){
 var a=e.target.closest&&e.target.closest('a[data-ref]');if(!a)return;
 e.preventDefault();
 var el=document.querySelector('.op[data-op-id="'+a.getAttribute('data-ref')+'"]');
 if(!el)return;
 el.scrollIntoView({block:'center',inline:'center'});
 el.classList.add('focus');setTimeout(function(){el.classList.remove('focus');},1500);
});
// Open each failing timeline where it failed.
document.querySelectorAll('.part').forEach(function(part){
 var el=part.querySelector('.op.stuck'),sc=part.querySelector('.scroll');
 if(el&&sc)sc.scrollLeft=Math.max(0,el.offsetLeft-sc.clientWidth/2);
});
var zoom=document.getElementById('zoom');
zoom.addEventListener('input',function(){
 document.documentElement.style.setProperty('--slot',zoom.value+'px');
});
})();
"""
