"""Jepsen-style EDN histories: a key-value store (Porcupine's kv data) or a compare-and-set
register (Knossos's cas-register), one event map after another, or one vector of them.

    {:process 0, :type :invoke, :f :append, :key "4", :value "x 0 1 y"}
    {:type :invoke, :f :cas, :value [1 2], :process 3, :time 7000, :index 12}

``:process`` is the client (an integer; a keyword such as ``:nemesis`` marks faults, skipped);
``:type`` is ``:invoke``, then ``:ok`` (it took effect, once, in between), ``:fail`` (it did not
take effect) or ``:info`` (unknown: it may take effect at any time after its invocation, or
never), as in Knossos. Time is the line of the map. Other keys (``:time``, ``:index``,
``:error``...) are ignored. The first client event's ``:f`` says which history the file holds:

- kv: ``:get``, ``:put``, ``:append`` on a string ``:key``. ``:value`` is the argument of put
  (a string or an integer) and append (a string) and, on an ``:ok :get``, the value read (nil:
  the key is empty, as ""). Every key starts as "".
- cas-register: ``:read``, ``:write v``, ``:cas [old new]``, values integers or strings. An
  ``:ok :read`` returns nil (the register is empty, as it starts) or the value; an ``:ok :cas``
  set the register to ``new`` when it held ``old``; a ``:fail :cas`` did not happen.

The EDN subset and its bounds are `sim.lincheck.formats.edn_reader`'s.
"""

from __future__ import annotations

from typing import Any

from sim.lincheck.formats.edn_reader import EdnError, Keyword, position, read_edn, read_maps, show
from sim.lincheck.formats.jsonl import Event, Invoke, Return, pair_events
from sim.lincheck.history import History, HistoryError

__all__ = ["EdnError", "Keyword", "parse", "read_edn"]

_KINDS = ("invoke", "ok", "fail", "info")
KV_OPS = ("get", "put", "append")
REGISTER_OPS = ("read", "write", "cas")
_MODEL = {f: "kv" for f in KV_OPS} | {f: "cas-register" for f in REGISTER_OPS}


def parse(text: str, source: str = "<string>") -> History:
    """Read a kv or cas-register history (see the module docstring)."""
    events: list[Event] = []
    reader = _Events(source)
    try:
        for line, fields in read_maps(text):
            ev = reader.event(fields, line)
            if ev is not None:
                events.append(ev)
    except EdnError as e:
        line, column = position(text, e.pos)
        raise HistoryError(source, line, f"bad EDN at column {column}: {e.reason}") from None
    return pair_events(events, format="edn", source=source, model_hint=reader.model or "kv")


class _Events:
    """Event maps to events, for one file: the first client event fixes the model."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.model: str | None = None
        self.first_line = 0

    def fail(self, line: int, message: str) -> HistoryError:
        return HistoryError(self.source, line, message)

    def event(self, form: dict[str, Any], n: int) -> Event | None:
        process = form.get("process")
        if isinstance(process, Keyword):
            return None  # the nemesis: faults, not client operations
        if isinstance(process, bool) or not isinstance(process, int):
            if "process" not in form:
                raise self.fail(n, "missing :process")
            raise self.fail(n, f":process must be an integer, got {show(process)}")
        kind = form.get("type")
        if not isinstance(kind, Keyword) or kind.name not in _KINDS:
            raise self.fail(n, f"unknown event kind {show(kind)} (expected :invoke, :ok, :fail "
                               "or :info)" if "type" in form else "missing :type")
        f = form.get("f")
        model = _MODEL.get(f.name) if isinstance(f, Keyword) else None
        if model is None or not isinstance(f, Keyword):
            raise self.fail(n, f"unknown operation {show(f)} (expected :get, :put or :append "
                               "for a kv history; :read, :write or :cas for a cas register)"
                            if "f" in form else "missing :f")
        if self.model is None:
            self.model, self.first_line = model, n
        elif model != self.model:
            raise self.fail(n, f"{show(f)} is a {model} operation, but the history is a "
                               f"{self.model} one (line {self.first_line})")
        client = str(process)
        value = form.get("value")
        if model == "kv":
            return self.kv(kind.name, f.name, form, value, client, n)
        return self.register(kind.name, f.name, value, client, n)

    def kv(self, kind: str, f: str, form: dict[str, Any], value: Any, client: str,
           n: int) -> Event:
        key = form.get("key")
        if not isinstance(key, str):
            raise self.fail(n, f":key must be a string, got {show(key)}" if "key" in form
                            else "missing :key")
        if kind == "invoke":
            if f == "get":
                return Invoke(n, n, client, f, None, key)
            if f == "append" and not isinstance(value, str):
                raise self.fail(n, f":append needs a string :value, got {show(value)}")
            if not _is_value(value):
                raise self.fail(n, f":put needs a string or integer :value, got {show(value)}")
            return Invoke(n, n, client, f, value, key)
        if kind == "ok":
            if f != "get":
                return Return(n, n, client, "ok", None, f, key)
            if value is None:
                value = ""  # an empty key
            elif not _is_value(value):
                raise self.fail(n, f":ok :get needs a string, integer or nil :value, got "
                                   f"{show(value)}")
            return Return(n, n, client, "ok", value, f, key)
        return Return(n, n, client, "fail" if kind == "fail" else "info", None, f, key)

    def register(self, kind: str, f: str, value: Any, client: str, n: int) -> Event:
        if kind == "invoke":
            if f == "read":
                return Invoke(n, n, client, f, None)
            if f == "write" and not _is_value(value):
                raise self.fail(n, f":write needs an integer or string :value, got "
                                   f"{show(value)}")
            if f == "cas" and not (isinstance(value, tuple) and len(value) == 2
                                   and all(_is_value(v) for v in value)):
                raise self.fail(n, f":cas needs :value [old new], integers or strings, got "
                                   f"{show(value)}")
            return Invoke(n, n, client, f, value)
        if kind == "ok":
            if f == "read":
                if value is not None and not _is_value(value):
                    raise self.fail(n, f":ok :read needs nil, an integer or a string, got "
                                       f"{show(value)}")
                return Return(n, n, client, "ok", value, f)
            return Return(n, n, client, "ok", True if f == "cas" else None, f)
        return Return(n, n, client, "fail" if kind == "fail" else "info", None, f)


def _is_value(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
