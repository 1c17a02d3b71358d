"""Jepsen-style EDN histories of a key-value store (Porcupine's kv data), one map per line.

    {:process 0, :type :invoke, :f :append, :key "4", :value "x 0 1 y"}

Time is the line number and the client is ``:process``. ``:f`` is ``:get``, ``:put`` or
``:append``; ``:key`` a string; ``:value`` the argument of put/append (nil for get) and, on an
``:ok :get``, the value read. ``:fail`` means the operation did not happen, ``:info`` that its
outcome is unknown. Lines of a ``:nemesis`` process are skipped; other keys of a map are ignored.

`read_edn` reads the EDN subset these files need: maps, vectors, keywords, strings, integers,
nil, true, false, and ``;`` comments. Anything else is reported, not guessed at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sim.lincheck.formats.jsonl import Event, Invoke, Return, pair_events
from sim.lincheck.history import History, HistoryError

__all__ = ["EdnError", "Keyword", "parse", "read_edn"]

MODEL_HINT = "kv"
_KINDS = ("invoke", "ok", "fail", "info")
_OPS = ("get", "put", "append")


@dataclass(frozen=True, slots=True)
class Keyword:
    """An EDN keyword such as ``:invoke`` (``name`` is without the colon)."""

    name: str

    def __str__(self) -> str:
        return f":{self.name}"


class EdnError(ValueError):
    """Text outside the supported EDN subset; `column` counts from 1."""

    def __init__(self, column: int, reason: str) -> None:
        super().__init__(f"bad EDN at column {column}: {reason}")
        self.column = column
        self.reason = reason


def read_edn(text: str) -> Any:
    """Read exactly one EDN value: maps become dicts, vectors tuples, keywords `Keyword`s."""
    reader = _Reader(text)
    value = reader.value(0)
    reader.skip_space()
    if reader.pos < len(text):
        raise EdnError(reader.pos + 1, "unexpected text after the value")
    return value


_SPACE = frozenset(" \t\r\n,")
_DELIMITERS = _SPACE | frozenset('()[]{}";')
_MAX_DEPTH = 100  # far deeper than any history needs; keeps recursion bounded


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, message: str) -> EdnError:
        return EdnError(self.pos + 1, message)

    def skip_space(self) -> None:
        text = self.text
        while self.pos < len(text):
            ch = text[self.pos]
            if ch in _SPACE:
                self.pos += 1
            elif ch == ";":
                end = text.find("\n", self.pos)
                self.pos = len(text) if end < 0 else end
            else:
                return

    def value(self, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise self.fail("nested too deeply")
        self.skip_space()
        if self.pos >= len(self.text):
            raise self.fail("unexpected end of text")
        ch = self.text[self.pos]
        if ch == "{":
            return self.map(depth)
        if ch == "[":
            return self.vector(depth)
        if ch == '"':
            return self.string()
        if ch == ":":
            return self.keyword()
        if ch in ")]}":
            raise self.fail(f"unexpected {ch!r}")
        if ch == "(":
            raise self.fail("lists are not supported")
        if ch == "#":
            raise self.fail("sets and tagged values are not supported")
        if ch == "\\":
            raise self.fail("characters are not supported")
        return self.atom()

    def map(self, depth: int) -> dict[Any, Any]:
        self.pos += 1
        result: dict[Any, Any] = {}
        while True:
            self.skip_space()
            if self.pos < len(self.text) and self.text[self.pos] == "}":
                self.pos += 1
                return result
            start = self.pos
            key = self.value(depth + 1)
            if isinstance(key, dict):
                raise EdnError(start + 1, "a map cannot be a map key")
            self.skip_space()
            if self.pos < len(self.text) and self.text[self.pos] == "}":
                raise self.fail("map key with no value")
            val = self.value(depth + 1)
            if key in result:
                raise EdnError(start + 1, f"duplicate map key {key}")
            result[key] = val

    def vector(self, depth: int) -> tuple[Any, ...]:
        self.pos += 1
        items: list[Any] = []
        while True:
            self.skip_space()
            if self.pos < len(self.text) and self.text[self.pos] == "]":
                self.pos += 1
                return tuple(items)
            items.append(self.value(depth + 1))

    def string(self) -> str:
        text = self.text
        self.pos += 1
        out: list[str] = []
        while self.pos < len(text):
            ch = text[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(out)
            if ch == "\\":
                out.append(self.escape())
            else:
                out.append(ch)
                self.pos += 1
        raise self.fail("unterminated string")

    def escape(self) -> str:
        code = self.text[self.pos + 1 : self.pos + 2]
        simple = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
        if code in simple:
            self.pos += 2
            return simple[code]
        if code == "u":
            digits = self.text[self.pos + 2 : self.pos + 6]
            if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
                self.pos += 6
                return chr(int(digits, 16))
        raise self.fail(f"bad escape in string: \\{code}")

    def token(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in _DELIMITERS:
            self.pos += 1
        return self.text[start : self.pos]

    def keyword(self) -> Keyword:
        start = self.pos
        name = self.token()[1:]
        if not name or name.startswith(":"):
            raise EdnError(start + 1, f"bad keyword {':' + name!r}")
        return Keyword(name)

    def atom(self) -> Any:
        start = self.pos
        tok = self.token()
        if tok == "nil":
            return None
        if tok == "true":
            return True
        if tok == "false":
            return False
        digits = tok[1:] if tok[:1] in "+-" else tok
        if digits.isascii() and digits.isdigit():
            return int(tok)
        if digits[:1].isdigit():
            raise EdnError(start + 1, f"unsupported number {tok!r} (only integers)")
        raise EdnError(start + 1, f"unsupported symbol {tok!r}")


# --- kv histories ----------------------------------------------------------------------------


def parse(text: str, source: str = "<string>") -> History:
    """Read a kv history, one EDN map per line."""
    events: list[Event] = []
    for n, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        try:
            form = read_edn(raw)
        except EdnError as e:
            raise HistoryError(source, n, str(e)) from None
        if not isinstance(form, dict):
            raise HistoryError(
                source, n, "expected a map like {:process 0, :type :invoke, :f :get, :key ...}"
            )
        ev = _event(form, source, n)
        if ev is not None:
            events.append(ev)
    return pair_events(events, format="edn", source=source, model_hint=MODEL_HINT)


def _event(form: dict[Any, Any], source: str, n: int) -> Event | None:
    def field(name: str) -> Any:
        if Keyword(name) not in form:
            raise HistoryError(source, n, f"missing :{name}")
        return form[Keyword(name)]

    process = field("process")
    if isinstance(process, Keyword):
        return None  # the nemesis: faults, not client operations
    if isinstance(process, bool) or not isinstance(process, int):
        raise HistoryError(source, n, f":process must be an integer, got {_show(process)}")
    kind = field("type")
    if not isinstance(kind, Keyword) or kind.name not in _KINDS:
        raise HistoryError(
            source,
            n,
            f"unknown event kind {_show(kind)} (expected :invoke, :ok, :fail or :info)",
        )
    f = field("f")
    if not isinstance(f, Keyword) or f.name not in _OPS:
        raise HistoryError(
            source, n, f"unknown operation {_show(f)} for edn (expected :get, :put or :append)"
        )
    key = field("key")
    if not isinstance(key, str):
        raise HistoryError(source, n, f":key must be a string, got {_show(key)}")
    value = form.get(Keyword("value"))
    client = str(process)
    if kind.name == "invoke":
        if f.name == "get":
            return Invoke(n, n, client, f.name, None, key)
        if not isinstance(value, str):
            raise HistoryError(source, n, f":{f.name} needs a string :value, got {_show(value)}")
        return Invoke(n, n, client, f.name, value, key)
    if kind.name == "ok":
        if f.name != "get":
            return Return(n, n, client, "ok", None, f.name, key)
        if not isinstance(value, str):
            raise HistoryError(source, n, f":ok :get needs a string :value, got {_show(value)}")
        return Return(n, n, client, "ok", value, f.name, key)
    return Return(n, n, client, "fail" if kind.name == "fail" else "info", None, f.name, key)


def _show(value: Any) -> str:
    """A value as EDN would write it, for messages."""
    if value is None:
        return "nil"
    if isinstance(value, Keyword):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple):
        return "[" + " ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_show(k)} {_show(v)}" for k, v in value.items()) + "}"
    return repr(value)
