"""The EDN that history files are written in: a reader for one value, and for a file of maps.

The subset: maps, vectors, keywords, strings, integers, nil, true, false, and ``;`` comments.
Anything else is reported, not guessed at. Integers must fit in 64 bits (signed or not), and
values nest at most MAX_DEPTH deep, so what a file costs to read depends on its size only.

`read_maps` reads a history file: maps one after another (usually one a line), or one vector of
them. Most event maps are flat (keyword keys; scalar values or a vector of scalars): a regular
expression reads those whole, and only the others go through the general reader.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sim.lincheck.history import INT_MAX, INT_MIN

__all__ = ["MAX_DEPTH", "EdnError", "Keyword", "keyword", "read_edn", "read_maps"]

MAX_DEPTH = 100  # far deeper than any history needs; keeps recursion bounded


@dataclass(frozen=True, slots=True)
class Keyword:
    """An EDN keyword such as ``:invoke`` (``name`` is without the colon)."""

    name: str

    def __str__(self) -> str:
        return f":{self.name}"


_KEYWORDS: dict[str, Keyword] = {}


def keyword(name: str) -> Keyword:
    """The keyword of that name (one object per name: a file holds the same few thousands of
    times)."""
    kw = _KEYWORDS.get(name)
    if kw is None:
        kw = Keyword(name)
        if len(_KEYWORDS) < 10_000:  # a bounded cache: arbitrary input must not grow it forever
            _KEYWORDS[name] = kw
    return kw


class EdnError(ValueError):
    """Text outside the supported EDN subset, at offset `pos` of the text read (`column` counts
    from 1 and is right when that text is one line)."""

    def __init__(self, pos: int, reason: str) -> None:
        super().__init__(f"bad EDN at column {pos + 1}: {reason}")
        self.pos = pos
        self.column = pos + 1
        self.reason = reason


def read_edn(text: str) -> Any:
    """Read exactly one EDN value: maps become dicts, vectors tuples, keywords `Keyword`s."""
    reader = _Reader(text)
    value = reader.value(0)
    reader.skip_space()
    if reader.pos < len(text):
        raise EdnError(reader.pos, "unexpected text after the value")
    return value


def read_maps(text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The maps of a history file, as (line of the map's ``{``, its fields by keyword name).

    The file holds maps one after another, or one vector of maps. EdnError for anything else;
    its `pos` is an offset into `text` (`position` turns it into a line and column).
    """
    skip = _skip
    end = len(text)
    pos = skip(text, 0)
    in_vector = pos < end and text[pos] == "["
    if in_vector:
        pos = skip(text, pos + 1)
    line, counted = 1, 0
    memo: dict[str, Any] = {}  # tokens other than strings: the same few, many times
    names: tuple[str, ...] = ()
    same_shape: re.Pattern[str] | None = None  # matches maps with the last map's keys, in order
    while pos < end:
        ch = text[pos]
        if ch == "]" and in_vector:
            pos = skip(text, pos + 1)
            if pos < end:
                raise EdnError(pos, "unexpected text after the vector of events")
            return
        line += text.count("\n", counted, pos)
        counted = pos
        m = same_shape.match(text, pos) if same_shape is not None else None
        if m is None:
            m = re.compile(_FLAT_MAP).match(text, pos)  # re keeps it compiled
            if m is not None:
                found = tuple(name for name in m.groups()[0::2] if name is not None)
                if len(set(found)) < len(found):
                    m = None  # a key given twice: the general reader says so
                else:
                    names, same_shape = found, _shape(found)
                    m = same_shape.match(text, pos)
        if m is not None:
            fields: dict[str, Any] = {}
            for i in range(len(names)):
                tok = m.group(i + 1)
                if tok[0] == '"':
                    fields[names[i]] = tok[1:-1]  # values are mostly unique: not kept
                    continue
                value = memo.get(tok, memo)
                if value is memo:
                    value = _scalar(tok, m.start(i + 1))
                    if len(memo) < 10_000:
                        memo[tok] = value
                fields[names[i]] = value
            yield line, fields
            pos = m.end()  # the shape takes the space and comments after the map too
            continue
        reader = _Reader(text, pos)
        form = reader.value(0 if not in_vector else 1)  # its errors say more than ours
        if not isinstance(form, dict):
            raise EdnError(pos, "expected a map like {:process 0, :type :invoke, :f ...}")
        yield line, _named(form, pos)
        pos = skip(text, reader.pos)
    if in_vector:
        raise EdnError(end, "unexpected end of text: the vector of events is not closed")


def position(text: str, pos: int) -> tuple[int, int]:
    """The line and column (both from 1) of offset `pos` in `text`."""
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _named(form: dict[Any, Any], pos: int) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, value in form.items():
        if not isinstance(key, Keyword):
            raise EdnError(pos, f"the keys of an event map must be keywords, got {show(key)}")
        fields[key.name] = value
    return fields


# --- the quick path: a flat map read by one regular expression ----------------------------------

_DELIMITER = r'[\s,()\[\]{}";]'
_END = rf"(?={_DELIMITER}|\Z)"  # a token ends at a delimiter, as in `_Reader.token`
_NAME = r'[^\s,()\[\]{}";:][^\s,()\[\]{}";]*+'
_INT = r"-?(?:0|[1-9][0-9]{0,18})"
_ATOM = rf'(?:"[^"\\]*"|(?:nil|true|false|{_INT}|:{_NAME}){_END})'
_VALUE = rf"({_ATOM}|\[[\s,]*+(?:{_ATOM}[\s,]*+)*+\])"
_PAIRS = 10
# Possessive throughout: a line the quick path cannot read fails in linear time. Compiled
# when first needed (a few ms: `etcdsim check` of a Jepsen log never needs it).
_FLAT_MAP = r"\{[\s,]*+" + rf"(?::({_NAME})[\s,]*+{_VALUE}[\s,]*+)?+" * _PAIRS + r"\}"
_SKIP = re.compile(r"(?:[\s,]++|;[^\n]*+)*+")
_ATOMS = re.compile(_ATOM)
_CONSTANTS: dict[str, Any] = {"nil": None, "true": True, "false": False}
_SHAPES: dict[tuple[str, ...], re.Pattern[str]] = {}


def _run_end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where a run of `pattern` (which matches the empty string too) from `pos` ends."""
    m = pattern.match(text, pos)
    return pos if m is None else m.end()


def _skip(text: str, pos: int) -> int:
    """Past blank space, commas and comments."""
    return _run_end(_SKIP, text, pos)


def _shape(names: tuple[str, ...]) -> re.Pattern[str]:
    """A flat map with these keys in this order, and the space after it; its groups are the
    values."""
    shape = _SHAPES.get(names)
    if shape is None:
        shape = re.compile(r"\{[\s,]*+" + "".join(
            rf":{re.escape(name)}(?={_DELIMITER})[\s,]*+{_VALUE}[\s,]*+" for name in names)
            + r"\}" + _SKIP.pattern)
        if len(_SHAPES) < 100:
            _SHAPES[names] = shape
    return shape


def _scalar(tok: str, pos: int) -> Any:
    """A value the quick path matched, at offset `pos`."""
    first = tok[0]
    if first == '"':
        return tok[1:-1]
    if first == ":":
        return keyword(tok[1:])
    if first == "[":
        return tuple(_scalar(t, pos) for t in _ATOMS.findall(tok, 1))
    if tok in _CONSTANTS:
        return _CONSTANTS[tok]
    return _int(tok, pos)


def _int(tok: str, pos: int) -> int:
    if len(tok) > 21:  # past 64 bits: say so before int() works on thousands of digits
        raise EdnError(pos, f"integer of {len(tok.lstrip('+-'))} digits: integers must fit in "
                            f"64 bits ({INT_MIN} to {INT_MAX})")
    value = int(tok)
    if not INT_MIN <= value <= INT_MAX:
        raise EdnError(pos, f"integer {tok} does not fit in 64 bits ({INT_MIN} to {INT_MAX})")
    return value


# --- the general reader ------------------------------------------------------------------------

_SPACE = frozenset(" \t\r\n,")
_DELIMITERS = _SPACE | frozenset('()[]{}";')
_STRING_RUN = re.compile(r'[^"\\]*')
_TOKEN = re.compile(r'[^\s,()\[\]{}";]*')
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


class _Reader:
    def __init__(self, text: str, pos: int = 0) -> None:
        self.text = text
        self.pos = pos

    def fail(self, message: str) -> EdnError:
        return EdnError(self.pos, message)

    def skip_space(self) -> None:
        self.pos = _skip(self.text, self.pos)

    def value(self, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise self.fail(f"nested more than {MAX_DEPTH} deep")
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
            if isinstance(key, (dict, tuple)):
                raise EdnError(start, "a map or vector cannot be a map key here")
            self.skip_space()
            if self.pos < len(self.text) and self.text[self.pos] == "}":
                raise self.fail("map key with no value")
            val = self.value(depth + 1)
            if key in result:
                raise EdnError(start, f"duplicate map key {show(key)}")
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
        while True:
            end = _run_end(_STRING_RUN, text, self.pos)
            out.append(text[self.pos:end])
            self.pos = end
            if end >= len(text):
                raise self.fail("unterminated string")
            if text[end] == '"':
                self.pos += 1
                return "".join(out)
            out.append(self.escape())

    def escape(self) -> str:
        code = self.text[self.pos + 1 : self.pos + 2]
        if code in _ESCAPES:
            self.pos += 2
            return _ESCAPES[code]
        if code == "u":
            digits = self.text[self.pos + 2 : self.pos + 6]
            if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
                self.pos += 6
                return chr(int(digits, 16))
        raise self.fail(f"bad escape in string: \\{code}")

    def token(self) -> str:
        start = self.pos
        self.pos = _run_end(_TOKEN, self.text, start)
        return self.text[start : self.pos]

    def keyword(self) -> Keyword:
        start = self.pos
        name = self.token()[1:]
        if not name or name.startswith(":"):
            raise EdnError(start, f"bad keyword {':' + name[:40]!r}")
        return keyword(name)

    def atom(self) -> Any:
        start = self.pos
        tok = self.token()
        if tok in _CONSTANTS:
            return _CONSTANTS[tok]
        digits = tok[1:] if tok[:1] in "+-" else tok
        if digits.isascii() and digits.isdigit():
            if len(digits) > 1 and digits[0] == "0":
                raise EdnError(start, f"unsupported number {tok[:40]!r} (a leading zero)")
            return _int(tok, start)
        if digits[:1].isdigit():
            raise EdnError(start, f"unsupported number {tok[:40]!r} (only integers)")
        raise EdnError(start, f"unsupported symbol {tok[:40]!r}")


def show(value: Any) -> str:
    """A value as EDN would write it, for messages (cut short)."""
    text = _show(value, 0)
    return text if len(text) <= 60 else text[:59] + "…"


def _show(value: Any, depth: int) -> str:
    if depth > 3:
        return "…"
    if value is None:
        return "nil"
    if isinstance(value, Keyword):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value[:60].replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple):
        return "[" + " ".join(_show(v, depth + 1) for v in value[:8]) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_show(k, depth + 1)} {_show(v, depth + 1)}"
                               for k, v in list(value.items())[:8]) + "}"
    return repr(value)
