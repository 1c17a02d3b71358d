"""What the ok results say about the writes at each revision, and where an unknown write fits.

It lets the model refuse, at once, to place an unknown-outcome write where a later result shows
it cannot be, instead of the search finding out only when it reaches that result (often hundreds
of operations on, after exploring every interleaving in between). Sound: every linearization
meets every ok result, and each rule below only refuses what some ok result contradicts.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any

from sim.lincheck.history import is_mapping
from sim.lincheck.models.etcd.footprint import delete_ranges, keys_in, puts_of
from sim.lincheck.models.etcd.horizon import Horizon
from sim.lincheck.models.etcd.requests import Compare, DeleteReq, PutReq, RangeReq, Request, TxnReq
from sim.lincheck.models.etcd.results import branch
from sim.lincheck.models.etcd.state import EtcdState
from sim.lincheck.models.etcd.versions import INF

__all__ = ["Facts"]

_ANY_VALUE = object()  # a put whose value the result did not show (keys_only, a create_revision)


def _span_lookup(spans: tuple[list[int], list[int]] | None, rev: int) -> bool:
    if spans is None:
        return False
    i = bisect.bisect_right(spans[0], rev) - 1
    return i >= 0 and spans[1][i] >= rev


def _merge(spans: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    spans.sort()
    starts: list[int] = []
    ends: list[int] = []
    for lo, hi in spans:
        if ends and lo <= ends[-1] + 1:
            ends[-1] = max(ends[-1], hi)
        else:
            starts.append(lo)
            ends.append(hi)
    return starts, ends


class Facts:
    """Facts about revisions, from the ok results of one history; `seal` before `allows`.

    - wrote[r][k]: revision r put key k (with that value, unless _ANY_VALUE);
    - quiet[k]: revisions at which nothing wrote k (after a version read at mod m, up to the read);
    - alive[k]: revisions at which k was not deleted (a generation [create, mod] read);
    - generations[k][c]: (mod, version) read: exactly `version` puts of k in [c, mod];
    - absent[k]: revisions at which k was read absent; a put before needs a delete between,
      and a delete needs a revision no ok operation took, or one an ok delete took.
    """

    def __init__(self) -> None:
        self.wrote: dict[int, dict[str, object]] = {}
        self._quiet: dict[str, list[tuple[int, int]]] = {}
        self._alive: dict[str, list[tuple[int, int]]] = {}
        self._absent: dict[str, set[int]] = {}
        self._gens: dict[str, dict[int, set[tuple[int, int]]]] = {}
        self._claimed: set[int] = set()  # revisions ok requests took
        self._unsure: set[int] = set()  # revisions of ok requests that may or may not have written
        self._ok_deletes: list[tuple[int, str, str | None]] = []  # (revision, key, range_end)
        self._lost_deletes: list[tuple[str, str | None]] = []  # of unknown-outcome requests
        self.keys: set[str] = set()
        self._scans: list[tuple[str, str, int, set[str]]] = []
        self.quiet: dict[str, tuple[list[int], list[int]]] = {}
        self.alive: dict[str, tuple[list[int], list[int]]] = {}
        self.absent: dict[str, list[int]] = {}
        self.generations: dict[str, tuple[list[int], list[list[tuple[int, int]]]]] = {}
        self.puts: dict[str, list[int]] = {}  # k -> the revisions known to have put k, sorted
        self._writers: dict[tuple[str, str], int] = {}  # (k, v) -> requests that may put it
        self.pinned: dict[tuple[str, str], set[int]] = {}  # (k, v) of one writer -> revisions
        self.claimed: frozenset[int] = frozenset()  # revisions ok requests took: no other can
        # No ok result needs the store past this revision; and none needs an unknown compaction.
        self.ceiling = 0
        self.compacted_error = False
        self.horizon: Horizon | None = None  # of the same history
        # Revisions that may have deleted a key: see `_deleter_between`.
        self._lost_keys: set[str] = set()  # keys an unknown-outcome request may delete
        self._gap_from: dict[int, int] = {}  # a revision ok requests took -> the next not taken
        self._top = 1  # the last revision an ok request took (or may have)
        self.open_from = 0  # and from here on, any revision may have deleted any key
        self._taken: list[int] = []
        self._multi: set[tuple[str, str]] = set()  # (k, v) some request puts with other keys
        self._puts_with: dict[tuple[str, str], set[str]] = {}  # (k, v) -> keys its writers put
        self._closed: dict[str, list[int]] = {}  # k -> revisions that cannot hold another put of k
        self._twice = False  # a request puts some key twice: one revision may count two versions
        # When unknown-outcome requests that may put / delete a key were called, sorted.
        self._put_calls: dict[str, list[int]] = {}
        self._lost_calls: list[tuple[str, str | None, int]] = []
        self._delete_calls: dict[str, list[int]] = {}
        self._returns: dict[int, int] = {}  # r -> the earliest return of an ok request seeing r
        self._seen_at: list[int] = []
        self._seen_by: list[int] = [INF]
        self._ok_deleters: dict[str, list[int]] = {}  # k -> revisions of ok (or unsure) deletes
        self._lost_puts: dict[str, list[int]] = {}  # k -> known puts at revisions no ok one took
        self.many = 1  # the most keys one unknown-outcome request puts

    def put(self, rev: int, key: str, value: object) -> None:
        self.keys.add(key)
        at = self.wrote.setdefault(rev, {})
        if at.get(key, _ANY_VALUE) is _ANY_VALUE:
            at[key] = value

    def saw(self, kv: Mapping[str, Any], upto: int, keys_only: bool) -> None:
        """A key-value read at revision `upto`."""
        key = kv.get("key")
        mod, create = kv.get("mod_revision") or 0, kv.get("create_revision") or 0
        version = kv.get("version") or 0
        if not isinstance(key, str) or not all(isinstance(x, int) for x in (mod, create, version)):
            return
        if mod <= 0 or create <= 0 or create > mod:
            return  # not a version the store could hold: the search will reject it
        self.put(mod, key, _ANY_VALUE if keys_only else kv.get("value") or "")
        self.put(create, key, _ANY_VALUE)
        if upto > mod:
            self._quiet.setdefault(key, []).append((mod + 1, upto))
        self._alive.setdefault(key, []).append((create, max(mod, upto)))
        self._gens.setdefault(key, {}).setdefault(create, set()).add((mod, version))
        if create > 1:
            self._absent.setdefault(key, set()).add(create - 1)

    def gone(self, key: str, rev: int) -> None:
        """`key` was read absent at `rev`."""
        self.keys.add(key)
        self._absent.setdefault(key, set()).add(rev)

    def learn(self, req: Request, res: Mapping[str, Any], mid: bool = False) -> bool | None:
        """Take the facts of one ok, non-error result; whether it wrote (None: cannot tell).

        `mid`: a read inside a txn after the txn's first change, at a revision its later
        writes may still change; it tells about the revision before only.
        """
        rev = res.get("revision")
        if not isinstance(rev, int) or isinstance(rev, bool):
            return None
        if isinstance(req, PutReq):
            self.put(rev, req.key, req.value)
            prev = res.get("prev_kv", False)
            if is_mapping(prev):
                self.saw(prev, rev - 1, False)
            elif prev is None and req.prev_kv:
                self.gone(req.key, rev - 1)
            return True
        if isinstance(req, RangeReq):
            if req.serializable:
                return False
            at = req.revision if req.revision > 0 else rev - 1 if mid else rev
            kvs = [kv for kv in res.get("kvs") or () if is_mapping(kv)]
            for kv in kvs:
                self.saw(kv, at, req.keys_only)
            if mid or req.count_only or req.limit or req.min_mod or req.max_mod \
                    or req.min_create or req.max_create:
                return False
            if req.end is None:
                if not kvs and "kvs" in res:
                    self.gone(req.key, at)
            elif "kvs" in res:
                self._scans.append((req.key, req.end, at, {str(kv.get("key")) for kv in kvs}))
            return False
        if isinstance(req, DeleteReq):
            deleted = res.get("deleted")
            for kv in res.get("prev_kvs") or ():
                if is_mapping(kv):
                    self.saw(kv, rev - 1, False)
            if deleted == 0:
                if req.end is None:
                    self.gone(req.key, rev)
                return False
            return None if deleted is None else True
        if isinstance(req, TxnReq):
            ok, resps = res.get("succeeded"), res.get("responses")
            pairs = list(branch(req, res))
            if not isinstance(ok, bool) or not isinstance(resps, (tuple, list, Sequence)) \
                    or len(resps) != len(pairs) or len(pairs) != len(req.success if ok
                                                                    else req.failure):
                return None  # it may have written anything: the revision is no one's
            wrote: bool | None = False
            for sub, inner in pairs:
                w = self.learn(sub, inner, mid or wrote is not False)
                if w is None or wrote is None:
                    wrote = None
                elif w:
                    wrote = True
            return wrote
        return False

    def request(self, req: Request, res: Mapping[str, Any]) -> None:
        """Take one ok, non-error result, and the revision its request took."""
        wrote = self.learn(req, res)
        rev = res.get("revision")
        if isinstance(req, TxnReq) and res.get("succeeded") is True and isinstance(rev, int):
            # Its compares held in the store before it: at its revision, or the one before if
            # it wrote (or may have: then only what holding at either revision implies).
            self.held(req.compare, rev if wrote is False else rev - 1, wrote is not None)
        if not isinstance(rev, int) or wrote is False:
            return
        (self._claimed if wrote else self._unsure).add(rev)
        self._ok_deletes.extend((rev, key, end) for key, end in delete_ranges(req))

    def held(self, compares: Sequence[Compare], at: int, sure: bool = True) -> None:
        """Compares that held at revision `at`: an equal mod or create revision names a put of
        the key and that it lives from there to `at` (unwritten since the mod); zero, or a zero
        version, that it is absent. Not `sure`: they held at `at` or at `at` + 1, which tells
        the same of a live key, but not that it was absent at `at` (it may have been deleted at
        `at` + 1)."""
        for c in compares:
            if c.end is not None or c.result != "EQUAL" or not isinstance(c.operand, int) \
                    or isinstance(c.operand, bool) or c.operand > at:
                continue
            if c.operand == 0:
                if sure and c.target in ("VERSION", "MOD", "CREATE"):
                    self.gone(c.key, at)
            elif c.target == "MOD":
                self.put(c.operand, c.key, _ANY_VALUE)
                if at > c.operand:
                    self._quiet.setdefault(c.key, []).append((c.operand + 1, at))
                self._alive.setdefault(c.key, []).append((c.operand, at))
            elif c.target == "CREATE":
                self.put(c.operand, c.key, _ANY_VALUE)
                self._alive.setdefault(c.key, []).append((c.operand, at))
                if c.operand > 1:
                    self._absent.setdefault(c.key, set()).add(c.operand - 1)

    def lost(self, req: Request, call: int) -> None:
        """An unknown-outcome request called at `call`: it may have deleted, at any revision no
        ok one took."""
        ranges = list(delete_ranges(req))
        self._lost_deletes.extend(ranges)
        self._lost_calls.extend((first, stop, call) for first, stop in ranges)
        keys = {key for key, _ in puts_of(req)}
        self.many = max(self.many, len(keys))
        for key in keys:
            self._put_calls.setdefault(key, []).append(call)

    def _callers(self, key: str, need: int, r: int, mod: int) -> bool:
        """Were enough unknown requests that may put `key` called in time to make its `need`
        uncounted puts in (r, mod], and the known ones no ok request made there?"""
        if self._unsure:
            return True  # an ok request that may have written may have made them
        lost = self._lost_puts.get(key, ())
        need += bisect.bisect_right(lost, mod) - bisect.bisect_right(lost, r)
        # Called no later than that return, as the search lets an operation go first.
        return need <= bisect.bisect_right(self._put_calls.get(key, ()), self.before(mod))

    def returned(self, at: int, ret: int) -> None:
        """An ok request that sees the store at revision `at` or later returned at `ret`."""
        self._returns[at] = min(self._returns.get(at, INF), ret)

    def before(self, rev: int) -> int:
        """When the first ok request that sees the store at `rev` or later returned: a write
        at `rev` or earlier was called by then."""
        return self._seen_by[bisect.bisect_left(self._seen_at, rev)]

    def putter(self, req: Request) -> None:
        """A request of the history, for what it may put."""
        pairs = list(puts_of(req))
        keys = {key for key, _ in pairs}
        self._twice = self._twice or len(keys) < len(pairs)
        if len(keys) > 1:
            self._multi.update(pairs)
        for pair in pairs:
            self._puts_with.setdefault(pair, set()).update(keys)

    def writer(self, key: str, value: str) -> None:
        """Some request in the history may put `value` at `key`."""
        self.keys.add(key)  # and a scan that misses the key saw it absent
        self._writers[key, value] = self._writers.get((key, value), 0) + 1

    def seal(self) -> None:
        """Index the facts for `allows`."""
        keys = sorted(self.keys)
        for start, end, at, seen in self._scans:
            for k in keys_in(keys, start, end):
                if k not in seen:
                    self._absent.setdefault(k, set()).add(at)
        self.quiet = {k: _merge(v) for k, v in self._quiet.items()}
        self.alive = {k: _merge(v) for k, v in self._alive.items()}
        self.absent = {k: sorted(v) for k, v in self._absent.items()}
        self.generations = {k: (sorted(g), [sorted(g[c]) for c in sorted(g)])
                            for k, g in self._gens.items()}
        puts: dict[str, list[int]] = {}
        pinned: dict[tuple[str, str], set[int]] = {}
        for rev in sorted(self.wrote):
            for key, value in self.wrote[rev].items():
                puts.setdefault(key, []).append(rev)
                # A value only one request can write was written where it was seen, only.
                if isinstance(value, str) and self._writers.get((key, value)) == 1:
                    pinned.setdefault((key, value), set()).add(rev)
        self.puts = puts
        self.pinned = pinned
        # A key's possible deleters: the ok requests that may delete it, the revisions of ok
        # requests that may not have written, and, if an unknown request may delete it, every
        # revision no ok request took.
        top = max(self._claimed | self._unsure, default=1)
        unsure = sorted(self._unsure)
        deleters: dict[str, set[int]] = {}
        for rev, first, stop in self._ok_deletes:
            for k in keys_in(keys, first, stop):
                deleters.setdefault(k, set()).add(rev)
        self._lost_keys = {k for first, stop in self._lost_deletes
                           for k in keys_in(keys, first, stop)}
        # The revisions no ok request took (up to top) are not listed, one by one: revisions
        # are numbers from the history, not its size. Each run of taken ones maps to the
        # revision after it instead (see `_gap_after`).
        self._top = top
        self._gap_from = {}
        for rev in sorted(self._claimed, reverse=True):
            self._gap_from[rev] = self._gap_from.get(rev + 1, rev + 1)
        self.open_from = top + 1
        self.claimed = frozenset(self._claimed)
        # Revisions no unknown write can take to put a counted key: those ok requests took,
        # and those a known write holds that only one-key requests make.
        known = {rev for rev, writes in self.wrote.items()
                 if self.many == 1 or any(isinstance(v, str) and (k, v) not in self._multi
                                          for k, v in writes.items())}
        self._taken = sorted(self._claimed | known)
        # Per counted key: the revisions ok requests took, and those whose known write is by a
        # request that cannot put the key, or already puts it.
        shut: dict[str, set[int]] = {k: set() for k in self.generations}
        for rev, writes in self.wrote.items():
            if rev in self._claimed:
                continue
            can: set[str] | None = None
            for k, v in writes.items():
                if isinstance(v, str):
                    with_ = self._puts_with.get((k, v), set())
                    can = set(with_) if can is None else can & with_
            for k, closed in shut.items():
                if k in writes or (can is not None and k not in can):
                    closed.add(rev)
        self._closed = {k: sorted(self._claimed | closed) for k, closed in shut.items()}
        for calls in self._put_calls.values():
            calls.sort()
        self._lost_puts = {k: [r for r in revs if r not in self._claimed]
                           for k, revs in puts.items()}
        for first, stop, call in self._lost_calls:
            for k in keys_in(keys, first, stop):
                self._delete_calls.setdefault(k, []).append(call)
        for calls in self._delete_calls.values():
            calls.sort()
        self._ok_deleters = {k: sorted(deleters.get(k, set()).union(unsure)) for k in keys}
        # The earliest return of an ok request that sees the store at revision r or later.
        self._seen_at = sorted(self._returns)
        self._seen_by = [INF] * (len(self._seen_at) + 1)
        for i in range(len(self._seen_at) - 1, -1, -1):
            self._seen_by[i] = min(self._seen_by[i + 1], self._returns[self._seen_at[i]])

    def _gap_after(self, rev: int) -> int:
        """The first revision after `rev`, from 2 to the top one an ok request took, that no ok
        request took; INF if none."""
        gap = max(rev + 1, 2)
        gap = self._gap_from.get(gap, gap)
        return gap if gap <= self._top else INF

    def _deleter_between(self, key: str, lo: int, hi: int) -> bool:
        """May a request have deleted `key` at a revision in (lo, hi]? An ok request that may
        delete it, one of a revision an ok request may or may not have written, or, if an
        unknown request may delete it, one no ok request took."""
        oks = self._ok_deleters.get(key, ())
        j = bisect.bisect_right(oks, lo)
        if j < len(oks) and oks[j] <= hi:
            return True
        return key in self._lost_keys and self._gap_after(lo) <= hi

    def feasible(self, state: EtcdState) -> bool:
        """Is there room left for the puts that version reads still count?

        A version read at (create c, mod m, version v) means exactly v puts of its key in
        [c, m], with no delete between. At revision r in that span, the puts not yet done and
        not known to be at a later revision need revisions in (r, m] that no ok request took
        and no other known write holds: per key, and for all keys together by deadline (a
        request may put `many` keys at once). The next generation of a key, created after r,
        needs its counted puts in [create, m]. (Only where no request puts a key twice, which
        etcd refuses but a history may hold.) And a key live now but read absent later needs a
        revision between that may delete it.
        """
        if self._twice:
            return True
        r = state.revision
        heads = state.heads
        taken = self._taken
        took = bisect.bisect_right(taken, r)
        due: list[tuple[int, str, int]] = []
        for key, (creates, spans) in self.generations.items():
            i = bisect.bisect_right(creates, r) - 1
            puts = self.puts.get(key, ())
            later = bisect.bisect_right(puts, r)
            closed = self._closed[key]
            if i + 1 < len(creates):
                # The next generation, created later: all its counted puts are still to come,
                # in [create, mod].
                create = creates[i + 1]
                first = bisect.bisect_left(puts, create)
                for mod, version in spans[i + 1][:1]:
                    need = version - (bisect.bisect_right(puts, mod) - first)
                    if need > 0:
                        start = create - 1
                        free = mod - start - (bisect.bisect_right(closed, mod)
                                              - bisect.bisect_right(closed, start))
                        if need > free or not self._callers(key, need, create - 1, mod):
                            return False
                        due.append((mod, key, need))
            if i < 0:
                continue
            create = creates[i]
            head = heads.get(key)
            span = spans[i]
            # The nearest reads bind first; further ones are left to later revisions.
            j = bisect.bisect_right(span, (r, INF))
            for mod, version in span[j:j + 2]:
                if head is None or head.value is None or head.create != create:
                    return False  # the key lives, from that create, through mod
                need = version - head.version - (bisect.bisect_right(puts, mod) - later)
                if need < 0:
                    return False
                if need:
                    if need > mod - r - (bisect.bisect_right(closed, mod)
                                         - bisect.bisect_right(closed, r)) \
                            or not self._callers(key, need, r, mod):
                        return False
                    due.append((mod, key, need))
        for key, absent in self.absent.items():
            # A key read absent at a later revision, live now, needs a delete before then.
            head = heads.get(key)
            if head is None or head.value is None:
                continue
            i = bisect.bisect_left(absent, r)
            if i == len(absent) or absent[i] >= self.open_from:
                continue
            if not self._deleter_between(key, r, absent[i]):
                return False
            oks = self._ok_deleters.get(key, ())
            k = bisect.bisect_right(oks, r)
            if k == len(oks) or oks[k] > absent[i]:
                # Only an unknown request can delete it: one called in time.
                calls = self._delete_calls.get(key, ())
                if not calls or calls[0] > self.before(absent[i]):
                    return False
        if due:
            due.sort()
            owed: dict[str, int] = {}
            total = 0
            for mod, key, need in due:
                before = owed.get(key, 0)
                if need > before:
                    total += need - before
                    owed[key] = need
                if total > (mod - r - (bisect.bisect_right(taken, mod) - took)) * self.many:
                    return False
        return True

    def allows(self, rev: int, writes: Sequence[tuple[str, str | None]]) -> bool:
        """May a request that wrote `writes` (key, value or None: deleted) take revision `rev`?"""
        need = self.wrote.get(rev)
        if need:
            mine = dict(writes)
            for key, value in need.items():
                if mine.get(key) is None:
                    return False
                if value is not _ANY_VALUE and mine[key] != value:
                    return False
        for key, written in writes:
            if _span_lookup(self.quiet.get(key), rev):
                return False
            if written is None:
                if _span_lookup(self.alive.get(key), rev):
                    return False
            elif not self._put_fits(key, rev):
                return False
            else:
                at = self.pinned.get((key, written))
                if at is not None and rev not in at:
                    return False
        return True

    def _put_fits(self, key: str, rev: int) -> bool:
        gens = self.generations.get(key)
        if gens is not None:
            i = bisect.bisect_right(gens[0], rev) - 1
            if i >= 0:
                create = gens[0][i]
                puts = self.puts.get(key, [])
                for mod, version in gens[1][i]:
                    if mod >= rev:
                        known = bisect.bisect_right(puts, mod) - bisect.bisect_left(puts, create)
                        if rev in self.wrote and key in self.wrote[rev]:
                            known -= 1
                        if known >= version:
                            return False
        absent = self.absent.get(key)
        if absent is not None:
            i = bisect.bisect_left(absent, rev)
            if i < len(absent):
                seen_absent = absent[i]
                if seen_absent < self.open_from and not self._deleter_between(key, rev,
                                                                              seen_absent):
                    return False
        return True
