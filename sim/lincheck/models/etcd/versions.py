"""Versions of keys: one version, a key's chain of them, and what a range sees at a revision."""

from __future__ import annotations

import bisect
from typing import NamedTuple

__all__ = ["INF", "MASK", "KeyValue", "Record", "chains_equal", "version_at", "visible_versions"]

MASK = (1 << 64) - 1  # hash sums wrap at 64 bits
INF = 1 << 62  # past any revision, time or operation id


class KeyValue(NamedTuple):
    """A key-value as a response carries it."""

    key: str
    value: str
    create_revision: int
    mod_revision: int
    version: int


class Record:
    """One version of a key (value None: a tombstone); `prev` links to the version before."""

    __slots__ = ("create", "hash", "key", "mod", "prev", "value", "version")

    def __init__(self, key: str, value: str | None, create: int, mod: int, version: int,
                 prev: Record | None) -> None:
        self.key = key
        self.value = value
        self.create = create
        self.mod = mod
        self.version = version
        self.prev = prev
        self.hash = hash((key, value, create, mod, version))

    def kv(self, keys_only: bool = False) -> KeyValue:
        assert self.value is not None
        value = "" if keys_only else self.value
        return KeyValue(self.key, value, self.create, self.mod, self.version)


def version_at(rec: Record | None, rev: int) -> Record | None:
    """The live version visible at revision `rev` in a key's chain, or None."""
    while rec is not None and rec.mod > rev:
        rec = rec.prev
    return rec if rec is not None and rec.value is not None else None


def chains_equal(a: Record | None, b: Record | None) -> bool:
    """Do two chains hold the same versions?"""
    # Iterative, and by identity first: chains share their tails, and may be thousands long.
    while a is not b:
        if a is None or b is None:
            return False
        if (a.hash != b.hash or a.mod != b.mod or a.value != b.value or a.create != b.create
                or a.version != b.version):
            return False
        a, b = a.prev, b.prev
    return True


def visible_versions(heads: dict[str, Record], keys: tuple[str, ...], key: str,
                     end: str | None, rev: int) -> list[Record]:
    """Live versions at revision `rev` of the keys in etcd's range (key, end), by key."""
    if end is None:
        rec = version_at(heads.get(key), rev)
        return [] if rec is None else [rec]
    out: list[Record] = []
    for i in range(bisect.bisect_left(keys, key), len(keys)):
        k = keys[i]
        if end != "\0" and k >= end:
            break
        rec = version_at(heads[k], rev)
        if rec is not None:
            out.append(rec)
    return out
