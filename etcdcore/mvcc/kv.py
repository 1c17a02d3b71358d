"""The store's value types and errors, as etcd's mvcc (kv.go, revision.go, mvccpb.KeyValue)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = [
    "ErrCompacted",
    "ErrFutureRev",
    "KeyValue",
    "MvccError",
    "RangeOptions",
    "RangeResult",
    "Revision",
]


class MvccError(Exception):
    """An error the store answers a request with; the request changed nothing."""


class ErrCompacted(MvccError):
    """The revision asked for is below the compact revision."""

    def __init__(self) -> None:
        super().__init__("mvcc: required revision has been compacted")


class ErrFutureRev(MvccError):
    """The revision asked for is above the current revision."""

    def __init__(self) -> None:
        super().__init__("mvcc: required revision is a future revision")


class Revision(NamedTuple):
    """etcd's Revision: `main` is the txn's revision, `sub` the change's place in that txn.

    Tuples order by (main, sub), which is the order of the backend's key bucket.
    """

    main: int
    sub: int = 0


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One version of a key, as mvccpb.KeyValue."""

    key: bytes
    create_revision: int
    mod_revision: int
    version: int
    value: bytes
    lease: int = 0


@dataclass(frozen=True, slots=True)
class RangeOptions:
    """etcd's RangeOptions: at most `limit` keys (0: all), at `rev` (<= 0: current), or a count."""

    limit: int = 0
    rev: int = 0
    count: bool = False


@dataclass(frozen=True, slots=True)
class RangeResult:
    """The keys found (sorted), the revision the range answers with, and how many keys matched."""

    kvs: list[KeyValue] = field(default_factory=list)
    rev: int = 0
    count: int = 0
