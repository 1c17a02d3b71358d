"""The model's state: an immutable store holding every version of every key, and its equality."""

from __future__ import annotations

from sim.lincheck.models.etcd.horizon import Horizon
from sim.lincheck.models.etcd.versions import KeyValue, Record, chains_equal, visible_versions

__all__ = ["INITIAL", "EtcdState"]


class EtcdState:
    """An immutable store: revision, compact revision, and every version of every key.

    Each step copies only the key → newest-version dict (shallowly) and links new versions in
    front of the old, so a step costs O(keys) at worst and the hash O(changed keys): it is a sum
    over every version ever written, plus the two revisions.

    With a `Horizon` (the model sets one up per history), states compare by what the rest of
    the history can still observe instead: see horizon.py.
    """

    __slots__ = ("_hash", "compact", "csum", "heads", "horizon", "keys", "revision", "total")

    def __init__(self, revision: int, compact: int, heads: dict[str, Record],
                 keys: tuple[str, ...], total: int, horizon: Horizon | None = None,
                 csum: int = 0) -> None:
        self.revision = revision
        self.compact = compact
        self.heads = heads  # never mutated once the state exists
        self.keys = keys  # sorted: every key that has a version
        self.total = total
        self.horizon = horizon
        self.csum = csum  # with a horizon: the sum of the hashes of what is still observable
        self._hash = hash((revision, compact, total if horizon is None else csum))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, EtcdState):
            return NotImplemented
        if (self._hash != other._hash or self.revision != other.revision
                or self.compact != other.compact or self.horizon is not other.horizon):
            return False
        mine, theirs = self.heads, other.heads
        hz = self.horizon
        if hz is None:
            return self.keys == other.keys and all(
                chains_equal(rec, theirs[key]) for key, rec in mine.items())
        rev = self.revision
        for key in mine.keys() | theirs.keys():
            a, b = mine.get(key), theirs.get(key)
            if a is not b and hz.canon(a, key, rev) != hz.canon(b, key, rev):
                return False
        return True

    def visible(self, key: str, end: str | None, rev: int) -> list[Record]:
        """Live versions at revision `rev` of the keys in etcd's range (key, end), by key."""
        return visible_versions(self.heads, self.keys, key, end, rev)

    def live(self) -> dict[str, KeyValue]:
        """The keys that exist now and their current versions."""
        return {r.key: r.kv() for r in self.visible("\0", "\0", self.revision)}

    def __repr__(self) -> str:
        kvs = ", ".join(f"{k}={v.value!r}@{v.mod_revision}" for k, v in self.live().items())
        return f"EtcdState(rev={self.revision}, compact={self.compact}, {{{kvs}}})"


INITIAL = EtcdState(1, -1, {}, (), 0)
