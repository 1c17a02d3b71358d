"""A recorded result, read once: each field etcd's responses define is checked for its type, and
an int64 written as a decimal string (as etcd's JSON gateway writes them) is read as the integer.

Null is a field left at its proto3 default. Fields etcd's responses do not define are kept as
they are: matching ignores them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sim.lincheck.history import brief, is_mapping
from sim.lincheck.models.etcd.responses import plain

__all__ = ["INT64_MAX", "int64", "read_result"]

INT64_MAX = (1 << 63) - 1
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]{0,19})")
# Non-negative int64s in etcd's responses (header, range, delete, key-values); and the uint64s
# of a response header.
_COUNTS = frozenset({"revision", "count", "deleted", "create_revision", "mod_revision",
                     "version", "lease", "compact_revision", "raft_term"})
_IDS = frozenset({"cluster_id", "member_id"})
_FLAGS = frozenset({"more", "succeeded"})
_RESPONSES = frozenset({"response_range", "response_put", "response_delete_range",
                        "response_txn"})


def int64(value: Any, where: str, low: int = -INT64_MAX - 1, high: int = INT64_MAX) -> int:
    """`value` as an integer in [low, high]: a JSON integer, or a decimal string; ValueError
    naming `where` otherwise."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DECIMAL.fullmatch(value):
        number = int(value)
    if number is None or not low <= number <= high:
        kind = "a non-negative integer" if low == 0 else "an integer"
        raise ValueError(f"{where} must be {kind} of 64 bits (or a decimal string, as etcd's "
                         f"JSON gateway writes them), got {brief(value)}")
    return number


def read_result(result: Any) -> Any:
    """The recorded result as plain dicts and lists, its fields checked (see the module
    docstring); ValueError naming the first bad field."""
    if not is_mapping(result):
        raise ValueError(f"an ok result must be an object, got {brief(result)}")
    return _response(result, "result")


def _response(obj: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in obj.items():
        at = f"{where}.{name}"
        if value is None:
            out[name] = None
        elif name in _COUNTS:
            out[name] = int64(value, at, 0)
        elif name in _FLAGS:
            if not isinstance(value, bool):
                raise ValueError(f"{at} must be true or false, got {brief(value)}")
            out[name] = value
        elif name == "error":
            if not isinstance(value, str):
                raise ValueError(f"{at} must be a string, got {brief(value)}")
            out[name] = value
        elif name in ("kvs", "prev_kvs"):
            out[name] = [_kv(kv, f"{at}[{i}]") for i, kv in enumerate(_list(value, at))]
        elif name == "prev_kv":
            out[name] = _kv(value, at)
        elif name == "responses":
            out[name] = [_item(item, f"{at}[{i}]") for i, item in enumerate(_list(value, at))]
        elif name == "header":
            if not is_mapping(value):
                raise ValueError(f"{at} must be an object, got {brief(value)}")
            out[name] = _header(value, at)
        else:
            out[name] = plain(value)
    return out


def _list(value: Any, where: str) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{where} must be a list, got {brief(value)}")
    return value


def _kv(kv: Any, where: str) -> dict[str, Any]:
    if not is_mapping(kv):
        raise ValueError(f"{where} must be a key-value object, got {brief(kv)}")
    out: dict[str, Any] = {}
    for name, value in kv.items():
        at = f"{where}.{name}"
        if value is None:
            out[name] = None
        elif name in ("key", "value"):
            if not isinstance(value, str):
                raise ValueError(f"{at} must be a string, got {brief(value)}")
            out[name] = value
        elif name in _COUNTS:
            out[name] = int64(value, at, 0)
        else:
            out[name] = plain(value)
    return out


def _item(item: Any, where: str) -> dict[str, Any]:
    if not is_mapping(item) or len(item) != 1:
        raise ValueError(f"{where} must be an object with one of {', '.join(sorted(_RESPONSES))}"
                         f", got {brief(item)}")
    ((name, inner),) = item.items()
    if name not in _RESPONSES:
        raise ValueError(f"{where} must hold one of {', '.join(sorted(_RESPONSES))}, got "
                         f"{brief(name)}")
    if inner is None:
        return {name: None}
    if not is_mapping(inner):
        raise ValueError(f"{where}.{name} must be an object, got {brief(inner)}")
    return {name: _response(inner, f"{where}.{name}")}


def _header(header: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in header.items():
        at = f"{where}.{name}"
        if value is None:
            out[name] = None
        elif name in _COUNTS:
            out[name] = int64(value, at, 0)
        elif name in _IDS:
            out[name] = int64(value, at, 0, (1 << 64) - 1)
        else:
            out[name] = plain(value)
    return out
