"""Which parts of a state the rest of the history can still observe.

Two states at the same revision that agree on those lead to the same verdict, so the search may
treat them as one: that is what makes a history with unknown outcomes tractable, where many
choices of which unknown write filled a revision differ only in versions nobody reads again.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from typing import Any, Protocol

from sim.lincheck.history import Operation, Status, is_mapping
from sim.lincheck.models.etcd.footprint import compares_of, keys_in, observed_ranges, old_reads
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


def _strings(value: Any, into: set[str]) -> None:
    if isinstance(value, str):
        into.add(value)
    elif value is None or isinstance(value, int):
        return
    elif isinstance(value, (list, tuple)):
        for item in value:
            _strings(item, into)
    elif is_mapping(value):
        for item in value.values():
            _strings(item, into)


def _spans(olds: list[tuple[int, int]]) -> tuple[list[int], list[tuple[int, ...]]]:
    """Where the set of old revisions read (X read from X + 1 to P) changes, and the set from
    there on, sorted."""
    changes: dict[int, list[tuple[int, int]]] = {}
    for x, at in olds:
        changes.setdefault(x + 1, []).append((x, 1))
        changes.setdefault(at + 1, []).append((x, -1))
    live: dict[int, int] = {}
    starts: list[int] = []
    sets: list[tuple[int, ...]] = []
    for r in sorted(changes):
        for x, d in changes[r]:
            live[x] = live.get(x, 0) + d
        starts.append(r)
        sets.append(tuple(sorted(x for x, n in live.items() if n > 0)))
    return starts, sets


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
        # Per key, the old revisions read from each revision on: at R, each X with X < R <= P
        # for some read (X, P), once. As (starts, revisions) with starts sorted: a bisection
        # finds them, however many old reads the history holds.
        self.spans: dict[str, tuple[list[int], list[tuple[int, ...]]]] = {
            k: _spans(olds) for k, olds in self.olds.items()}
        # The values the history shows (in a result, or as a compare's operand), and the
        # operands of LESS / GREATER value compares, sorted: see `value_class`.
        self.shown: set[str] = set()
        ordered: set[str] = set()
        for c in compiled:
            _strings(c.observed, self.shown)
            for cmp in compares_of(c.req):
                if cmp.target == "VALUE":
                    self.shown.add(str(cmp.operand))
                    if cmp.result in ("LESS", "GREATER"):
                        ordered.add(str(cmp.operand))
        self.bounds = sorted(ordered)

    def value_class(self, value: str) -> str | int:
        """A value, as far as the history can tell it from others: itself if the history shows
        it; else the gap between ordering compares' operands it falls in (equal to no operand,
        such values compare alike with every one, and no result shows them)."""
        if value in self.shown:
            return value
        return bisect.bisect_left(self.bounds, value)

    def _fields(self, rec: Record | None) -> tuple[str | int, int, int, int] | None:
        if rec is None or rec.value is None:
            return None  # absent: a tombstone's revision is not observable
        return self.value_class(rec.value), rec.create, rec.mod, rec.version

    def canon(self, rec: Record | None, key: str, rev: int) -> tuple[Any, ...] | None:
        """What of `key` (newest version `rec`) is observable from revision `rev` on."""
        if self.last.get(key, 0) < rev:
            return None
        spans = self.spans.get(key)
        old: tuple[Any, ...] = ()
        if spans is not None:
            i = bisect.bisect_right(spans[0], rev) - 1
            if i >= 0:
                old = tuple(self._fields(version_at(rec, x)) for x in spans[1][i])
        head = self._fields(rec)
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
