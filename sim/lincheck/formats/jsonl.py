"""etcdsim's own history format, JSON Lines, and the events every format is read into.

Format (UTF-8, one JSON object per line; blank lines are ignored; line numbers count from 1):

- Line 1 may be a header: ``{"format": "etcdsim-history", "version": 1, "model": "etcd"}``.
  ``format`` and ``version`` must be exactly these; ``model`` (a string, optional) names the model
  to check against and becomes ``History.model_hint`` (no header or no ``model``: None).
- Every other line is an event:
  ``{"client": 3, "kind": "invoke", "op": "put", "key": "k", "args": {...}, "time": 123}``.

  ``client``  an integer or a string; stored as a string, so ``3`` and ``"3"`` are one client.
  ``kind``    ``"invoke"`` a call starts; ``"ok"`` it returned and took effect once, between its
              invoke and this line; ``"fail"`` it certainly did not take effect; ``"info"`` its
              outcome is unknown (it may take effect at any time after its invoke, or never).
  ``time``    a non-negative integer (microseconds in etcdsim's own histories), never smaller
              than the time on the line before.
  ``op``      the operation's name (any non-empty string; models check names). Required on
              ``invoke``; optional on the others, where it must equal the invoke's.
  ``args``    ``invoke`` only, any JSON value, default null.
  ``key``     ``invoke`` only, optional string: the key the operation touches, for models that
              split the history by key.
  ``result``  ``ok`` only, any JSON value, default null.
  ``applied_revision``  ``info`` only, optional non-negative integer: what the servers' logs say
              became of the request (etcd: the revision it left the store at; 0: never
              applied), as a harness that can read them records it. The checker only orders
              its search by it: a wrong one costs time, never changes a verdict.

  No other fields are allowed. Each client has at most one operation open: an invoke, then one
  ``ok``/``fail``/``info`` for it, before its next invoke. An invoke with no return by the end of
  the file has an unknown outcome. ``args`` and ``result`` are frozen (objects become FrozenMaps,
  arrays tuples).

Bounds, so that what a file costs to read depends on its size only: integers fit in 64 bits
(signed or not), and values nest at most MAX_DEPTH deep.

Every parser translates its lines into `Invoke` and `Return` events; `pair_events` turns them
into `Operation`s, so pairing rules and their errors are the same for all formats.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from sim.lincheck.history import (
    INT_MAX,
    INT_MIN,
    FrozenMap,
    History,
    HistoryError,
    Operation,
    Status,
    brief,
    is_mapping,
)

__all__ = ["HEADER_FORMAT", "MAX_DEPTH", "Invoke", "Return", "dump_jsonl", "pair_events",
           "parse", "parse_objects"]

HEADER_FORMAT = "etcdsim-history"
VERSION = 1
MAX_DEPTH = 100  # nesting of arrays and objects in a line: far more than any request needs

ReturnKind = Literal["ok", "fail", "info"]


@dataclass(frozen=True, slots=True)
class Invoke:
    """A client starts an operation."""

    line: int
    time: int
    client: str
    f: str
    args: Any = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Return:
    """A client learns the outcome of its open operation; `f`/`key`, when given, must match it."""

    line: int
    time: int
    client: str
    kind: ReturnKind
    result: Any = None  # kept only for "ok"
    f: str | None = None
    key: str | None = None
    applied: int | None = None  # "info" only: see `Operation.applied`


Event = Invoke | Return


def pair_events(
    events: Iterable[Event], *, format: str, source: str, model_hint: str | None = None
) -> History:
    """Pair each client's invoke with its return; ids follow invocation order."""
    open_ops: dict[str, tuple[int, Invoke]] = {}
    invokes = 0
    ops: dict[int, Operation] = {}
    for ev in events:
        if isinstance(ev, Invoke):
            if ev.client in open_ops:
                first = open_ops[ev.client][1]
                raise HistoryError(
                    source,
                    ev.line,
                    f"client {_clip(ev.client)} invokes {_clip(ev.f)} while its "
                    f"{_clip(first.f)} from line {first.line} is still open",
                )
            open_ops[ev.client] = (invokes, ev)
            invokes += 1
            continue
        opened = open_ops.pop(ev.client, None)
        if opened is None:
            raise HistoryError(source, ev.line, f"{ev.kind} for client {_clip(ev.client)}, "
                                                 "which has no open invocation")
        op_id, inv = opened
        if ev.f is not None and ev.f != inv.f:
            raise HistoryError(
                source,
                ev.line,
                f"{ev.kind} {_clip(ev.f)} for client {_clip(ev.client)}, whose open operation "
                f"is {_clip(inv.f)} (line {inv.line})",
            )
        if ev.key is not None and ev.key != inv.key:
            raise HistoryError(
                source,
                ev.line,
                f"{ev.kind} on key {brief(ev.key)} for client {_clip(ev.client)}, whose open "
                f"operation is on key {brief(inv.key)} (line {inv.line})",
            )
        if ev.kind == "ok":
            ops[op_id] = _operation(op_id, inv, Status.OK, ev.time, ev.result, ev.line)
        elif ev.kind == "fail":
            ops[op_id] = _operation(op_id, inv, Status.FAIL, ev.time, None, ev.line)
        else:
            ops[op_id] = _operation(op_id, inv, Status.UNKNOWN, None, None, ev.line,
                                    ev.applied)
    for op_id, inv in open_ops.values():
        ops[op_id] = _operation(op_id, inv, Status.UNKNOWN, None, None, 0)
    if not ops:
        raise HistoryError(source, 0, "no operations in the file")
    return History(
        ops=tuple(ops[i] for i in range(invokes)),
        format=format,
        model_hint=model_hint,
        source=source,
    )


def _clip(name: str) -> str:
    """A client's or an operation's name for a message, cut short."""
    return name if len(name) <= 40 else name[:39] + "…"


def _operation(op_id: int, inv: Invoke, status: Status, ret: int | None, result: Any,
               ret_line: int, applied: int | None = None) -> Operation:
    return Operation(
        id=op_id,
        client=inv.client,
        call=inv.time,
        ret=ret,
        f=inv.f,
        args=inv.args,
        result=result,
        status=status,
        line=inv.line,
        key=inv.key,
        ret_line=ret_line,
        applied=applied,
    )


# --- reading ---------------------------------------------------------------------------------

_FIELDS: dict[str, frozenset[str]] = {
    "invoke": frozenset({"client", "kind", "time", "op", "args", "key"}),
    "ok": frozenset({"client", "kind", "time", "op", "result"}),
    "fail": frozenset({"client", "kind", "time", "op"}),
    "info": frozenset({"client", "kind", "time", "op", "applied_revision"}),
}
_HEADER_FIELDS = frozenset({"format", "version", "model"})


def parse(text: str, source: str = "<string>") -> History:
    """Read a jsonl history (see the module docstring for the format)."""
    lines = ((n, raw) for n, raw in enumerate(text.split("\n"), 1) if raw.strip())
    return parse_objects(((n, _load_object(raw, source, n)) for n, raw in lines), source)


def parse_objects(objects: Iterable[tuple[int, dict[str, Any]]],
                  source: str = "<objects>") -> History:
    """Read a jsonl history already decoded: (line number, object) for each line."""
    events: list[Event] = []
    model_hint: str | None = None
    last_time = 0
    first = True
    for n, obj in objects:
        if "format" in obj:
            if not first:
                raise HistoryError(source, n, "a header belongs on the first line only")
            model_hint = _header(obj, source, n)
        else:
            ev = _event(obj, source, n)
            if ev.time < last_time:
                raise HistoryError(
                    source, n, f"time {ev.time} is before the previous line's time {last_time}"
                )
            last_time = ev.time
            events.append(ev)
        first = False
    return pair_events(events, format="jsonl", source=source, model_hint=model_hint)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _int64(digits: str) -> int:
    if len(digits) > 21:  # before int() works through thousands of digits
        raise ValueError(f"an integer of {len(digits.lstrip('-'))} digits does not fit in 64 "
                         f"bits ({INT_MIN} to {INT_MAX})")
    value = int(digits)
    if not INT_MIN <= value <= INT_MAX:
        raise ValueError(f"integer {digits} does not fit in 64 bits ({INT_MIN} to {INT_MAX})")
    return value


# One decoder for every line: json.loads with an argument builds a new one per call. A line
# with a run of 19 digits or more (rare) is read by one that checks each integer's size.
_DECODE = json.JSONDecoder(parse_constant=_reject_constant).decode
_DECODE_CHECKED = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_int64).decode
_LONG_DIGITS = re.compile(r"[0-9]{19}")


def _load_object(raw: str, source: str, n: int) -> dict[str, Any]:
    try:
        obj = (_DECODE_CHECKED if _LONG_DIGITS.search(raw) else _DECODE)(raw)
    except json.JSONDecodeError as bad:
        raise HistoryError(source, n, f"malformed JSON: {bad.msg} (column {bad.colno})") from None
    except ValueError as e:
        raise HistoryError(source, n, f"malformed JSON: {e}") from None
    except RecursionError:
        raise HistoryError(source, n, f"nested more than {MAX_DEPTH} deep") from None
    if not isinstance(obj, dict):
        raise HistoryError(source, n, f"expected a JSON object, got {type(obj).__name__}")
    return obj


def _frozen(value: Any, source: str, n: int, depth: int = 1) -> Any:
    """A JSON value made hashable (objects become FrozenMaps, arrays tuples), nested at most
    MAX_DEPTH deep."""
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            raise HistoryError(source, n, f"nested more than {MAX_DEPTH} deep")
        return FrozenMap({k: _frozen(v, source, n, depth + 1) for k, v in value.items()})
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            raise HistoryError(source, n, f"nested more than {MAX_DEPTH} deep")
        return tuple([_frozen(v, source, n, depth + 1) for v in value])
    return value


def _header(obj: dict[str, Any], source: str, n: int) -> str | None:
    extra = sorted(set(obj) - _HEADER_FIELDS)
    if extra:
        raise HistoryError(source, n, f"unknown header field {brief(extra[0])}")
    if obj["format"] != HEADER_FORMAT:
        raise HistoryError(
            source, n, f"header format is {brief(obj['format'])}, expected {HEADER_FORMAT!r}"
        )
    version = obj.get("version")
    if version != VERSION or isinstance(version, bool):
        raise HistoryError(source, n,
                           f"unsupported version {brief(version)} (this reader knows 1)")
    model = obj.get("model")
    if model is not None and not isinstance(model, str):
        raise HistoryError(source, n, f"header model must be a string, got {brief(model)}")
    return model


def _event(obj: dict[str, Any], source: str, n: int) -> Event:
    kind = obj.get("kind")
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise HistoryError(
            source, n, f"unknown event kind {brief(kind)} (expected invoke, ok, fail or info)"
        )
    allowed = _FIELDS[kind]
    for name in obj:
        if name not in allowed:
            raise HistoryError(
                source,
                n,
                f"field {brief(name)} does not belong on {kind} events "
                f"(allowed: {', '.join(sorted(allowed))})",
            )
    client = obj.get("client")
    if isinstance(client, bool) or not isinstance(client, (int, str)):
        raise HistoryError(source, n,
                           f"client must be an integer or a string, got {brief(client)}")
    time = obj.get("time")
    if isinstance(time, bool) or not isinstance(time, int) or time < 0:
        raise HistoryError(source, n, f"time must be a non-negative integer, got {brief(time)}")
    op = obj.get("op")
    if kind == "invoke":
        if not isinstance(op, str) or not op:
            raise HistoryError(source, n, f"op must be a non-empty string, got {brief(op)}")
        key = obj.get("key")
        if key is not None and not isinstance(key, str):
            raise HistoryError(source, n, f"key must be a string, got {brief(key)}")
        return Invoke(n, time, str(client), op, _frozen(obj.get("args"), source, n), key)
    if op is not None and (not isinstance(op, str) or not op):
        raise HistoryError(source, n, f"op must be a non-empty string, got {brief(op)}")
    ended: ReturnKind = "ok" if kind == "ok" else "fail" if kind == "fail" else "info"
    applied = obj.get("applied_revision")
    if applied is not None and (isinstance(applied, bool) or not isinstance(applied, int)
                                or applied < 0):
        raise HistoryError(
            source, n, f"applied_revision must be a non-negative integer, got {brief(applied)}"
        )
    return Return(n, time, str(client), ended, _frozen(obj.get("result"), source, n), op,
                  applied=applied)


# --- writing ---------------------------------------------------------------------------------


def dump_jsonl(history_ops: Iterable[Operation], model: str | None = None) -> str:
    """Write operations as a jsonl history that `parse` reads back to the same operations.

    Ids are renumbered by invocation order (call time, then id) and `line` is not kept. An
    unknown outcome is written as an `info` at its client's next invocation (there is no time
    for it otherwise), or left open when the client invokes nothing more (unless it has an
    `applied` hint: then at its own invocation's time).
    """
    ordered = sorted(history_ops, key=lambda op: (op.call, op.id))
    header: dict[str, Any] = {"format": HEADER_FORMAT, "version": VERSION}
    if model is not None:
        header["model"] = model
    next_call: dict[str, int] = {}
    # (time, invocation position, 0 for invoke / 1 for return): a return sorts after its own
    # invoke and before the next invoke of its client, even when the times are equal.
    rows: list[tuple[tuple[int, int, int], dict[str, Any]]] = []
    for pos in reversed(range(len(ordered))):
        op = ordered[pos]
        invoke: dict[str, Any] = {"client": op.client, "kind": "invoke", "op": op.f}
        if op.key is not None:
            invoke["key"] = op.key
        invoke["args"] = _thaw(op.args)
        invoke["time"] = op.call
        rows.append(((op.call, pos, 0), invoke))
        ret = _return_row(op, next_call.get(op.client))
        if ret is not None:
            rows.append(((ret["time"], pos, 1), ret))
        next_call[op.client] = op.call
    rows.sort(key=lambda row: row[0])
    lines = [_dumps(header), *(_dumps(obj) for _, obj in rows)]
    return "\n".join(lines) + "\n"


def _return_row(op: Operation, next_call: int | None) -> dict[str, Any] | None:
    if op.status is Status.UNKNOWN:
        time = op.ret if op.ret is not None else next_call
        if time is None:
            if op.applied is None:
                return None
            time = op.call  # an info line is the only place for the logs' word

        info: dict[str, Any] = {"client": op.client, "kind": "info", "op": op.f, "time": time}
        if op.applied is not None:
            info["applied_revision"] = op.applied
        return info
    if op.ret is None or op.ret < op.call:
        raise ValueError(f"operation {op.id}: a {op.status.value} return needs ret >= call")
    row: dict[str, Any] = {"client": op.client, "kind": op.status.value, "op": op.f}
    if op.status is Status.OK:
        row["result"] = _thaw(op.result)
    row["time"] = op.ret
    return row


def _thaw(value: Any) -> Any:
    """freeze() undone, for json: FrozenMaps become dicts, tuples lists."""
    if is_mapping(value):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_thaw(v) for v in value]
    return value


def _dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False)
