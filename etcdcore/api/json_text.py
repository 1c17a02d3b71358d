"""JSON text read as Go's encoding/json reads it, without recursion, to its depth limit.

Go's decoder reads up to 10,000 nested arrays and objects ("exceeded max depth" past that);
Python's json module recurses and stops near Python's recursion limit, about 1,000. etcd's
gateway reads a body with Go's decoder, so a request nested 300 deep is one etcd answers (a txn
that deep, with "too many operations"): `loads` reads it with Python's reader when that can, and
otherwise here, with an explicit stack. As Go's, it refuses NaN and Infinity, which Python's
reader would take. Numbers go through `parse_int` and `float`, as json.loads's hooks.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from json import decoder as _decoder
from typing import Any

__all__ = ["GO_MAX_DEPTH", "JsonTextError", "loads"]

GO_MAX_DEPTH = 10_000  # encoding/json's maxNestingDepth

# The json module's string reader (in C where built), as json.loads uses it.
scanstring: Callable[[str, int], tuple[str, int]] = _decoder.scanstring  # type: ignore[attr-defined]
_WS = re.compile(r"[ \t\n\r]*")
# json.scanner's NUMBER_RE, with ASCII digits only (its \d would take other scripts' digits,
# which neither Go's reader nor the C one of Python's json module takes).
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")


class JsonTextError(ValueError):
    """Text that is not JSON, or nested deeper than the limit (`too_deep`)."""

    def __init__(self, message: str, too_deep: bool = False) -> None:
        super().__init__(message)
        self.too_deep = too_deep


def loads(text: str, parse_int: Callable[[str], Any], max_depth: int = GO_MAX_DEPTH) -> Any:
    """The value of `text`; JsonTextError if it is not JSON or is nested more than
    `max_depth` arrays and objects deep."""
    try:
        return json.loads(text, parse_int=parse_int, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise JsonTextError(f"{exc.msg} (line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        pass
    return _loads_flat(text, parse_int, max_depth)


def _constant(name: str) -> Any:
    raise JsonTextError(f"{name} is not JSON")


def _skip(s: str, pos: int) -> int:
    match = _WS.match(s, pos)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _key(s: str, pos: int) -> tuple[str, int]:
    """An object's key and the colon after it, from `pos`; the position of its value."""
    if s[pos:pos + 1] != '"':
        raise JsonTextError(f"expected a key in double quotes at character {pos}")
    try:
        key, pos = scanstring(s, pos + 1)
    except json.JSONDecodeError as exc:
        raise JsonTextError(f"{exc.msg} at character {exc.pos}") from None
    pos = _skip(s, pos)
    if s[pos:pos + 1] != ":":
        raise JsonTextError(f"expected ':' at character {pos}")
    return key, _skip(s, pos + 1)


def _scalar(s: str, pos: int, parse_int: Callable[[str], Any]) -> tuple[Any, int]:
    """A string, number or literal at `pos`, and the position after it."""
    c = s[pos:pos + 1]
    if c == '"':
        try:
            return scanstring(s, pos + 1)
        except json.JSONDecodeError as exc:
            raise JsonTextError(f"{exc.msg} at character {exc.pos}") from None
    for literal, value in (("true", True), ("false", False), ("null", None)):
        if s.startswith(literal, pos):
            return value, pos + len(literal)
    number = _NUMBER.match(s, pos)
    if number is None:
        raise JsonTextError(f"expected a value at character {pos}")
    integer, frac, exp = number.groups()
    if frac or exp:
        return float(integer + (frac or "") + (exp or "")), number.end()
    return parse_int(integer), number.end()


def _loads_flat(s: str, parse_int: Callable[[str], Any], max_depth: int) -> Any:
    """The reader for what is too deep for Python's: containers on a stack, not in frames."""
    stack: list[Any] = []  # the open arrays and objects, innermost last
    keys: list[str] = []  # for each open object, the key whose value comes next
    pos = _skip(s, 0)
    while True:
        # A value starts at `pos`.
        c = s[pos:pos + 1]
        value: Any
        if c in ("{", "["):
            if len(stack) >= max_depth:
                raise JsonTextError(f"exceeded max depth (more than {max_depth} nested arrays and "
                                    "objects)", too_deep=True)
            pos = _skip(s, pos + 1)
            closer = "}" if c == "{" else "]"
            if s[pos:pos + 1] == closer:
                value, pos = ({} if c == "{" else []), pos + 1
            else:
                if c == "{":
                    key, pos = _key(s, pos)
                    stack.append({})
                    keys.append(key)
                else:
                    stack.append([])
                continue
        else:
            value, pos = _scalar(s, pos, parse_int)
        # Put the value in its container, and close those that end here.
        while True:
            if not stack:
                pos = _skip(s, pos)
                if pos != len(s):
                    raise JsonTextError(f"extra data at character {pos}")
                return value
            top = stack[-1]
            if isinstance(top, dict):
                top[keys[-1]] = value
            else:
                top.append(value)
            pos = _skip(s, pos)
            ch = s[pos:pos + 1]
            if ch == ",":
                pos = _skip(s, pos + 1)
                if isinstance(top, dict):
                    keys[-1], pos = _key(s, pos)
                break
            if ch != ("}" if isinstance(top, dict) else "]"):
                raise JsonTextError(f"expected ',' or the end of the container at character "
                                    f"{pos}")
            pos += 1
            value = stack.pop()
            if isinstance(value, dict):
                keys.pop()
