"""A client history: operations with their invocation and return times, results and status.

A history file is a list of events (invoke, then ok / fail / info for the same client); the
parsers in `sim.lincheck.formats` pair them into `Operation`s. Times are integers in any unit
that orders events (microseconds for our own histories, line numbers for Jepsen logs).
"""

from __future__ import annotations

import enum
from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from dataclasses import dataclass
from typing import Any, TypeGuard

__all__ = ["INT_MAX", "INT_MIN", "FrozenMap", "History", "HistoryError", "Operation", "Status",
           "brief", "freeze", "is_mapping"]

# The integers a history file may hold: 64 bits, signed or not (as etcd's and Jepsen's are).
INT_MIN = -(1 << 63)
INT_MAX = (1 << 64) - 1
_BRIEF = 60  # characters of a value an error message shows


class FrozenMap(Mapping[str, Any]):
    """An immutable, hashable mapping: how JSON objects appear in operations."""

    __slots__ = ("_hash", "_items")

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        self._items: dict[str, Any] = dict(items or {})
        self._hash: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    # The dict's own views and lookups: Mapping's mixins would call __getitem__ key by key.
    def __contains__(self, key: object) -> bool:
        return key in self._items

    def get(self, key: str, default: Any = None) -> Any:
        return self._items.get(key, default)

    def keys(self) -> KeysView[str]:
        return self._items.keys()

    def values(self) -> ValuesView[Any]:
        return self._items.values()

    def items(self) -> ItemsView[str, Any]:
        return self._items.items()

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(tuple(sorted(self._items.items())))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenMap):
            return self._items == other._items
        return NotImplemented

    def __repr__(self) -> str:
        return f"{{{', '.join(f'{k!r}: {v!r}' for k, v in sorted(self._items.items()))}}}"


def is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    """isinstance(value, Mapping), quick for the values a history holds."""
    # FrozenMap's metaclass is ABCMeta: any isinstance against it or Mapping that misses runs
    # the ABC's Python-level check. Exact types decide the usual JSON values without it.
    cls = type(value)
    if cls is dict or cls is FrozenMap:
        return True
    if value is None or cls is bool or cls is int or cls is str or cls is list or cls is tuple:
        return False
    return isinstance(value, Mapping)


def brief(value: Any) -> str:
    """A value for an error message: its repr, cut short."""
    if isinstance(value, int) and not isinstance(value, bool) and not INT_MIN <= value <= INT_MAX:
        return f"an integer of {value.bit_length()} bits"  # str() of a huge one may fail
    text = repr(value)
    return text if len(text) <= _BRIEF else text[:_BRIEF - 1] + "…"


def freeze(value: Any) -> Any:
    """JSON value -> hashable: objects become FrozenMaps, arrays tuples."""
    if isinstance(value, dict):
        return FrozenMap({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    return value


class Status(enum.Enum):
    """What the client learned about an operation."""

    OK = "ok"  # it took effect once, between call and return, with `result`
    FAIL = "fail"  # it certainly did not take effect (the checker ignores it)
    UNKNOWN = "unknown"  # it may have taken effect at any point after its call, or never


@dataclass(frozen=True, slots=True)
class Operation:
    """One client operation. `args` and `result` are hashable (tuples, not lists)."""

    id: int  # position in invocation order, unique within a history
    client: str
    call: int  # invocation time
    ret: int | None  # return time; None when the outcome is unknown
    f: str  # the operation's name: "read", "write", "cas", "get", "put", "append", "txn", ...
    args: Any
    result: Any  # None when unknown
    status: Status
    line: int = 0  # where the invocation is in the source file (0 if not from a file)
    key: str | None = None  # the key it touches, when the model partitions by key
    ret_line: int = 0  # where its return is in the source file (0: none, or not from a file)
    # Unknown outcomes only, when the servers' logs were read: None, no word; 0, never applied;
    # else where it took effect, in the model's terms (etcd: the revision it left). A search
    # hint (`Model.hinted`), never evidence.
    applied: int | None = None


@dataclass(frozen=True, slots=True)
class History:
    """The operations of one history file, and what the file said about itself."""

    ops: tuple[Operation, ...]
    format: str  # "jsonl" | "jepsen-log" | "edn"
    model_hint: str | None = None  # the model the format implies, e.g. "cas-register"
    source: str = ""  # the file it came from


class HistoryError(ValueError):
    """Bad input: names the file and line, reads as one line."""

    def __init__(self, source: str, line: int, message: str) -> None:
        where = f"{source}:{line}" if line else source
        super().__init__(f"{where}: {message}")
        self.source = source
        self.line = line
