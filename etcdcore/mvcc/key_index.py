"""The in-memory index from keys to revisions: etcd's keyIndex (key_index.go) and treeIndex.

A key's history is a list of generations. A generation runs from a put that creates the key to
the tombstone that deletes it; a tombstone closes the generation and opens an empty one. So for
put(1.0); put(2.0); tombstone(3.0); put(4.0):

    generations: {1.0, 2.0, 3.0(t)}, {4.0}

Invariants:
- a key's revisions increase strictly, across generations;
- every generation but the last is closed by a tombstone (its last revision);
- `ver` counts every revision ever put in the generation (tombstone included), so after a
  compaction trims older revisions a version is still `ver - (revisions after it)`;
- a key whose only generation is empty has no history left and leaves the index.
"""

from __future__ import annotations

import bisect

from .kv import Revision

__all__ = ["Generation", "KeyIndex", "TreeIndex"]

_ZERO = Revision(0, 0)


class Generation:
    """One life of a key: from its creating put to its tombstone (or now)."""

    __slots__ = ("created", "revs", "ver")

    def __init__(self) -> None:
        self.ver = 0
        self.created = _ZERO
        self.revs: list[Revision] = []

    def is_empty(self) -> bool:
        return not self.revs

    def find_revision_index(self, at_rev: int) -> int:
        """The index of the last revision with main <= at_rev, or -1."""
        # A plain tuple orders as a Revision does, and a NamedTuple's constructor is Python.
        return bisect.bisect_left(self.revs, (at_rev + 1, 0)) - 1


class KeyIndex:
    """The revisions of one key, by generation."""

    __slots__ = ("generations", "key", "modified")

    def __init__(self, key: bytes) -> None:
        self.key = key
        self.modified = _ZERO
        self.generations: list[Generation] = [Generation()]

    def put(self, rev: Revision) -> None:
        """Append a revision to the current generation (creating the key if it is empty)."""
        if rev <= self.modified:
            raise AssertionError(f"put of {rev} on {self.key!r} at or below {self.modified}")
        g = self.generations[-1]
        if g.is_empty():
            g.created = rev
        g.revs.append(rev)
        g.ver += 1
        self.modified = rev

    def tombstone(self, rev: Revision) -> None:
        """Close the current generation with a tombstone at `rev`."""
        if self.generations[-1].is_empty():
            # etcd returns ErrRevisionNotFound; the store only deletes keys it found live.
            raise AssertionError(f"tombstone of {self.key!r}, which does not exist")
        self.put(rev)
        self.generations.append(Generation())

    def get(self, at_rev: int) -> tuple[Revision, Revision, int] | None:
        """(modified, created, version) of the key as of `at_rev`, or None if it did not exist."""
        g = self._find_generation(at_rev)
        if g is None:
            return None
        n = g.find_revision_index(at_rev)
        if n == -1:
            return None
        return g.revs[n], g.created, g.ver - (len(g.revs) - n - 1)

    def _find_generation(self, rev: int) -> Generation | None:
        """The generation live at `rev`; None if `rev` falls between two (the key was deleted)."""
        last = len(self.generations) - 1
        for i in range(last, -1, -1):
            g = self.generations[i]
            if g.is_empty():
                continue
            if i != last and g.revs[-1].main <= rev:
                return None  # its tombstone is at or below rev
            if g.revs[0].main <= rev:
                return g
        return None

    def _do_compact(self, at_rev: int, available: set[Revision]) -> tuple[int, int]:
        """Find the generation and revision a compaction at `at_rev` keeps; mark it available.

        The generations deleted at or below `at_rev` are skipped: nothing of them is kept, not
        even a tombstone at `at_rev` itself (as etcd <= 3.5.15; the key does not exist at
        `at_rev` either way). etcd stops at a generation whose tombstone is at `at_rev` and
        drops it afterwards, which is the same unless one txn deletes a key and creates it
        again: etcd's server rejects such a txn, this store does not.
        """
        gen_idx = 0
        while gen_idx < len(self.generations) - 1:
            if self.generations[gen_idx].revs[-1].main > at_rev:
                break
            gen_idx += 1
        g = self.generations[gen_idx]
        rev_index = g.find_revision_index(at_rev)
        if rev_index != -1:
            available.add(g.revs[rev_index])
        return gen_idx, rev_index

    def compact(self, at_rev: int, available: set[Revision], drop_at_rev: bool = False) -> None:
        """Drop the revisions at or below `at_rev` except the last one, if it is live.

        `drop_at_rev` is the planted bug COMPACT_OFF_BY_ONE: a last one written at `at_rev`
        itself is dropped too.
        """
        gen_idx, rev_index = self._do_compact(at_rev, available)
        g = self.generations[gen_idx]
        if drop_at_rev and rev_index != -1 and g.revs[rev_index].main == at_rev:
            available.discard(g.revs[rev_index])
            rev_index += 1
        if rev_index > 0:
            del g.revs[:rev_index]
        del self.generations[:gen_idx]

    def keep(self, at_rev: int, available: set[Revision]) -> None:
        """Mark the revision a compaction at `at_rev` would keep, changing nothing."""
        self._do_compact(at_rev, available)

    def is_empty(self) -> bool:
        return len(self.generations) == 1 and self.generations[0].is_empty()


class TreeIndex:
    """etcd's treeIndex: key -> KeyIndex, with the keys in a sorted list for ranges.

    `end is None` is the single key `key`; `end == b""` every key >= `key`; else [key, end).
    """

    __slots__ = ("_index", "_keys")

    def __init__(self) -> None:
        self._index: dict[bytes, KeyIndex] = {}
        self._keys: list[bytes] = []  # sorted; ranges walk it, never the dict

    def __len__(self) -> int:
        return len(self._keys)

    def put(self, key: bytes, rev: Revision) -> None:
        ki = self._index.get(key)
        if ki is None:
            ki = self._index[key] = KeyIndex(key)
            bisect.insort(self._keys, key)
        ki.put(rev)

    def tombstone(self, key: bytes, rev: Revision) -> None:
        ki = self._index.get(key)
        if ki is None:
            raise AssertionError(f"tombstone of {key!r}, which is not in the index")
        ki.tombstone(rev)

    def get(self, key: bytes, at_rev: int) -> tuple[Revision, Revision, int] | None:
        """(modified, created, version) of `key` as of `at_rev`, or None."""
        ki = self._index.get(key)
        return None if ki is None else ki.get(at_rev)

    def _key_indexes(self, key: bytes, end: bytes | None) -> list[KeyIndex]:
        if end is None:
            ki = self._index.get(key)
            return [] if ki is None else [ki]
        lo = bisect.bisect_left(self._keys, key)
        hi = len(self._keys) if end == b"" else bisect.bisect_left(self._keys, end, lo)
        return [self._index[k] for k in self._keys[lo:hi]]

    def range(self, key: bytes, end: bytes | None, at_rev: int
              ) -> tuple[list[bytes], list[Revision]]:
        """The keys live at `at_rev` in the range, sorted, and the revision of each."""
        keys: list[bytes] = []
        revs: list[Revision] = []
        for ki in self._key_indexes(key, end):
            got = ki.get(at_rev)
            if got is not None:
                keys.append(ki.key)
                revs.append(got[0])
        return keys, revs

    def revisions(self, key: bytes, end: bytes | None, at_rev: int, limit: int
                  ) -> tuple[list[Revision], int]:
        """Up to `limit` (0: all) revisions of the keys live at `at_rev`, and their total."""
        revs: list[Revision] = []
        total = 0
        for ki in self._key_indexes(key, end):
            got = ki.get(at_rev)
            if got is None:
                continue
            if limit <= 0 or len(revs) < limit:
                revs.append(got[0])
            total += 1
        return revs, total

    def count_revisions(self, key: bytes, end: bytes | None, at_rev: int) -> int:
        """How many keys of the range are live at `at_rev`."""
        return sum(1 for ki in self._key_indexes(key, end) if ki.get(at_rev) is not None)

    def compact(self, rev: int, drop_at_rev: bool = False) -> set[Revision]:
        """Compact every key at `rev`; the revisions kept at or below `rev`."""
        available: set[Revision] = set()
        emptied: list[bytes] = []
        for k in self._keys:
            ki = self._index[k]
            ki.compact(rev, available, drop_at_rev)
            if ki.is_empty():
                emptied.append(k)
        if emptied:
            for k in emptied:
                del self._index[k]
            self._keys = [k for k in self._keys if k in self._index]
        return available

    def keep(self, rev: int) -> set[Revision]:
        """The revisions a compaction at `rev` would keep at or below it."""
        available: set[Revision] = set()
        for k in self._keys:
            self._index[k].keep(rev, available)
        return available
