"""Which parts of a state the rest of the history can still observe.

Two states at the same revision that agree on those lead to the same verdict, so the search may
treat them as one: that is what makes a history with unknown outcomes tractable, where many
choices of which unknown write filled a revision differ only in versions nobody reads again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sim.lincheck.history import Operation, Status
from sim.lincheck.models.etcd.footprint import keys_in, observed_ranges, old_reads
from sim.lincheck.models.etcd.requests import Request
from sim.lincheck.models.etcd.versions import INF, MASK, Record, version_at

__all__ = ["Horizon", "Observer"]


class Observer(Protocol):
    """An operation as the model compiled it (operations.Compiled), as far as the horizon reads."""

    @property
    def op(self) -> Operation: ...
    @property
    def req(self) -> Request: ...
    @property
    def error(self) -> str | None: ...
    @property
    def unchecked(self) -> bool: ...
    @property
    def read_only(self) -> bool: ...
    @property
    def observed(self) -> Any: ...


def _fields(rec: Record | None) -> tuple[str, int, int, int] | None:
    if rec is None or rec.value is None:
        return None  # absent: a tombstone's revision is not observable
    return rec.value, rec.create, rec.mod, rec.version


class Horizon:
    """Per key, up to which revision ok results observe it, and which old revisions they read.

    An ok request observes the keys its result depends on (read, compared, deleted, or put with
    prev_kv) at a revision no later than its result's. An unknown-outcome request that compares
    or deletes a key makes the key observable for good: whether it writes (and so the revision)
    depends on the key (unless it only reads: then it changes nothing either way). At revision
    R, key k's observable part is then nothing if no ok request observes k at R or later;
    otherwise its current version (value, create, mod, version, or absent), and its version at
    each old revision X < R that a request observing k at P >= R reads.
    """

    def __init__(self, compiled: Sequence[Observer], keys: list[str]) -> None:
        self.last: dict[str, int] = {}
        self.olds: dict[str, list[tuple[int, int]]] = {}
        for c in compiled:
            op = c.op
            if op.status is Status.UNKNOWN:
                if c.read_only:
                    continue  # it changes nothing, whatever it compares
                for first, stop in observed_ranges(c.req, compares_and_deletes_only=True):
                    for k in keys_in(keys, first, stop):
                        self.last[k] = INF
            elif op.status is Status.OK and c.error is None and not c.unchecked:
                rev = c.observed.get("revision")
                at = rev if isinstance(rev, int) and not isinstance(rev, bool) else INF
                for first, stop in observed_ranges(c.req, compares_and_deletes_only=False):
                    for k in keys_in(keys, first, stop):
                        self.last[k] = max(self.last.get(k, 0), at)
                for first, stop, old in old_reads(c.req):
                    if old < at:
                        for k in keys_in(keys, first, stop):
                            self.olds.setdefault(k, []).append((old, at))
        # Where a key's observable part changes without a write to it.
        events: dict[int, set[str]] = {}
        for k, last in self.last.items():
            if last < INF:
                events.setdefault(last + 1, set()).add(k)
        for k, olds in self.olds.items():
            for old, at in olds:
                events.setdefault(old + 1, set()).add(k)
                if at < INF:
                    events.setdefault(at + 1, set()).add(k)
        self.events = {r: sorted(ks) for r, ks in events.items()}

    def canon(self, rec: Record | None, key: str, rev: int) -> tuple[Any, ...] | None:
        """What of `key` (newest version `rec`) is observable from revision `rev` on."""
        if self.last.get(key, 0) < rev:
            return None
        olds = self.olds.get(key)
        old = () if olds is None else tuple(
            _fields(version_at(rec, x)) for x, at in olds if x < rev <= at)
        head = _fields(rec)
        if head is None and not old:
            return None
        return key, head, old

    def _hash(self, rec: Record | None, key: str, rev: int) -> int:
        canon = self.canon(rec, key, rev)
        return 0 if canon is None else hash(canon)

    def advance(self, revision: int, csum: int, old_heads: dict[str, Record],
                heads: dict[str, Record], changes: list[Record]) -> int:
        """The observable hash sum after `changes` take a state (at `revision`, with the sum `csum`
        and the newest versions `old_heads`) to the next revision."""
        rev = revision + 1
        touched = {rec.key for rec in changes}
        touched.update(self.events.get(rev, ()))
        total = csum
        for key in touched:
            total -= self._hash(old_heads.get(key), key, rev - 1)
            total += self._hash(heads.get(key), key, rev)
        return total & MASK
