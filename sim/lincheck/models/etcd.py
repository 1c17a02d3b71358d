"""etcd v3's key-value store as a model for the checker: MVCC revisions, ranges, txns, compaction.

Semantics follow etcd's server (etcdserver/txn, storage/mvcc), and where they are subtle:

- An empty store is at revision 1; the compact revision starts at -1 as in mvcc's store.
- A write request (put, delete_range, txn) that changes something bumps the revision once; all
  its changes carry the new revision. A delete of nothing and a txn whose executed branch changes
  nothing leave the revision alone. Inside a txn, each operation sees the ones before it (3.5/3.6).
- Header revisions: a range answers with the current revision, not the one it read at; a
  compaction with the current revision; inside a txn a put answers with the txn's new revision, a
  range and a delete with the revision as of that point, a nested txn with 0 (etcd never fills
  nested headers).
- Range at revision r: r > current -> "future revision"; r < compact revision -> "compacted"
  (r equal to the compact revision still reads). Compact(r): r <= compact revision ->
  "compacted", r > current -> "future revision". A txn checks the ranges of the branches it will
  take, against the store before the txn, and fails as a whole.
- Compares: each key in the compare's range must pass; an empty range compares as a zero
  KeyValue (version, create, mod and lease 0), except a VALUE compare, which is then false
  whatever its result ("no way to represent a missing value"). Values compare as bytes
  (code-point order of str is UTF-8 byte order). All compares of all nested txns are evaluated
  against the store before the txn.
- Errors may carry gRPC's "etcdserver: " prefix or not. A result {"error": ...} is accepted when
  it is the compacted / future revision error the store would give then; any other error means
  the request did not take effect (validation errors, e.g. duplicate keys in a txn).
- Matching a result: a top-level or response field absent from the recorded result is not checked;
  fields of a key-value take proto3 defaults ("" and 0). Unknown fields are ignored.
- Not modelled (rejected with a HistoryError): leases, ignore_value / ignore_lease, sorting on a
  target other than the key. Serializable ranges promise no recency, so they are not checked.
  A txn that writes one key twice is applied in order (etcd rejects it before it runs).

Keeping the search small. Revisions are global, so the history is one part; but almost every ok
result names the revision it saw, which pins writes and reads in place. What is left is the
unknown-outcome writes: which of them filled the revisions no ok write took. `partition` reads
the history once for two sound shortcuts (both used only by a search rooted at the `init()` that
follows it):
- `_Facts`: what the ok results say about each revision's writes (which key and value it wrote,
  which keys nothing wrote, versions, absences, what a txn's compares that held name). An unknown
  write is refused at once at a revision those contradict, or when it leaves too few revisions
  for the puts a later version read counts (`_Facts.feasible`), rather than when the search
  reaches the result that contradicts it.
- `interchangeable`: unknown writes that differ only in values no result shows are one class,
  so a run of revisions only unknown writes filled is searched once per kind of write.
- `_Horizon`: states compare by what the rest of the history can still observe, so that choices
  that differ only in versions nobody reads again make one search node, not many.
`contradictions` finds, without any search, the usual proofs that there is no linearization.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from sim.lincheck.history import FrozenMap, HistoryError, Operation, Status
from sim.lincheck.model import Model

__all__ = [
    "COMPACTED",
    "FUTURE_REV",
    "EtcdModel",
    "EtcdState",
    "KeyValue",
    "StoreError",
    "execute",
    "parse_request",
    "to_json",
]

COMPACTED = "mvcc: required revision has been compacted"
FUTURE_REV = "mvcc: required revision is a future revision"
_GRPC_PREFIX = "etcdserver: "
_MASK = (1 << 64) - 1


class StoreError(Exception):
    """An error the store answers with (compacted or future revision); nothing changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KeyValue(NamedTuple):
    """A key-value as a response carries it."""

    key: str
    value: str
    create_revision: int
    mod_revision: int
    version: int


class _Record:
    """One version of a key (value None: a tombstone); `prev` links to the version before."""

    __slots__ = ("create", "hash", "key", "mod", "prev", "value", "version")

    def __init__(self, key: str, value: str | None, create: int, mod: int, version: int,
                 prev: _Record | None) -> None:
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


def _at(rec: _Record | None, rev: int) -> _Record | None:
    """The live version visible at revision `rev` in a key's chain, or None."""
    while rec is not None and rec.mod > rev:
        rec = rec.prev
    return rec if rec is not None and rec.value is not None else None


def _chains_equal(a: _Record | None, b: _Record | None) -> bool:
    # Iterative, and by identity first: chains share their tails, and may be thousands long.
    while a is not b:
        if a is None or b is None:
            return False
        if (a.hash != b.hash or a.mod != b.mod or a.value != b.value or a.create != b.create
                or a.version != b.version):
            return False
        a, b = a.prev, b.prev
    return True


class EtcdState:
    """An immutable store: revision, compact revision, and every version of every key.

    Each step copies only the key → newest-version dict (shallowly) and links new versions in
    front of the old, so a step costs O(keys) at worst and the hash O(changed keys): it is a sum
    over every version ever written, plus the two revisions.

    With a `_Horizon` (the model sets one up per history), states compare by what the rest of
    the history can still observe instead: see `_Horizon`.
    """

    __slots__ = ("_csum", "_hash", "_sum", "compact", "heads", "horizon", "keys", "revision")

    def __init__(self, revision: int, compact: int, heads: dict[str, _Record],
                 keys: tuple[str, ...], total: int, horizon: _Horizon | None = None,
                 csum: int = 0) -> None:
        self.revision = revision
        self.compact = compact
        self.heads = heads  # never mutated once the state exists
        self.keys = keys  # sorted: every key that has a version
        self._sum = total
        self.horizon = horizon
        self._csum = csum  # with a horizon: the sum of the hashes of what is still observable
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
                _chains_equal(rec, theirs[key]) for key, rec in mine.items())
        rev = self.revision
        for key in mine.keys() | theirs.keys():
            a, b = mine.get(key), theirs.get(key)
            if a is not b and hz.canon(a, key, rev) != hz.canon(b, key, rev):
                return False
        return True

    def visible(self, key: str, end: str | None, rev: int) -> list[_Record]:
        """Live versions at revision `rev` of the keys in etcd's range (key, end), by key."""
        return _visible(self.heads, self.keys, key, end, rev)

    def live(self) -> dict[str, KeyValue]:
        """The keys that exist now and their current versions."""
        return {r.key: r.kv() for r in self.visible("\0", "\0", self.revision)}

    def __repr__(self) -> str:
        kvs = ", ".join(f"{k}={v.value!r}@{v.mod_revision}" for k, v in self.live().items())
        return f"EtcdState(rev={self.revision}, compact={self.compact}, {{{kvs}}})"


def _visible(heads: dict[str, _Record], keys: tuple[str, ...], key: str, end: str | None,
             rev: int) -> list[_Record]:
    if end is None:
        rec = _at(heads.get(key), rev)
        return [] if rec is None else [rec]
    out: list[_Record] = []
    for i in range(bisect.bisect_left(keys, key), len(keys)):
        k = keys[i]
        if end != "\0" and k >= end:
            break
        rec = _at(heads[k], rev)
        if rec is not None:
            out.append(rec)
    return out


INITIAL = EtcdState(1, -1, {}, (), 0)


# Requests, parsed once per operation from its FrozenMap arguments.


@dataclass(frozen=True, slots=True)
class RangeReq:
    key: str
    end: str | None  # None: the one key; "\0": every key >= key
    revision: int
    limit: int
    keys_only: bool
    count_only: bool
    descend: bool
    min_mod: int
    max_mod: int
    min_create: int
    max_create: int
    serializable: bool


@dataclass(frozen=True, slots=True)
class PutReq:
    key: str
    value: str
    prev_kv: bool


@dataclass(frozen=True, slots=True)
class DeleteReq:
    key: str
    end: str | None
    prev_kv: bool


@dataclass(frozen=True, slots=True)
class Compare:
    key: str
    end: str | None
    target: str  # VALUE | VERSION | CREATE | MOD | LEASE
    result: str  # EQUAL | GREATER | LESS | NOT_EQUAL
    operand: str | int


@dataclass(frozen=True, slots=True)
class TxnReq:
    compare: tuple[Compare, ...]
    success: tuple[Request, ...]
    failure: tuple[Request, ...]


@dataclass(frozen=True, slots=True)
class CompactReq:
    revision: int


Request = RangeReq | PutReq | DeleteReq | TxnReq | CompactReq

_TARGET_FIELD = {"VALUE": "value", "VERSION": "version", "CREATE": "create_revision",
                 "MOD": "mod_revision", "LEASE": "lease"}
_RESULTS = ("EQUAL", "GREATER", "LESS", "NOT_EQUAL")
_ANY = 1 << 62  # no revision recorded: any revision passes the quick filter


def _end(args: Mapping[str, Any]) -> str | None:
    end = args.get("range_end")
    # proto3 sends an empty range_end as nil: the single key.
    return None if end is None or end == "" else str(end)


def _int(args: Mapping[str, Any], name: str) -> int:
    value = args.get(name) or 0
    if not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return value


def _key(args: Mapping[str, Any]) -> str:
    key = args.get("key")
    if not isinstance(key, str):
        raise ValueError(f"key must be a string, got {key!r}")
    return key


def _parse_range(args: Mapping[str, Any]) -> RangeReq:
    target = args.get("sort_target") or "KEY"
    order = args.get("sort_order") or "NONE"
    if target != "KEY" or order not in ("NONE", "ASCEND", "DESCEND"):
        raise ValueError(f"sorting by {target} {order} is not modelled")
    return RangeReq(_key(args), _end(args), _int(args, "revision"), _int(args, "limit"),
                    bool(args.get("keys_only")), bool(args.get("count_only")),
                    order == "DESCEND", _int(args, "min_mod_revision"),
                    _int(args, "max_mod_revision"), _int(args, "min_create_revision"),
                    _int(args, "max_create_revision"), bool(args.get("serializable")))


def _parse_put(args: Mapping[str, Any]) -> PutReq:
    if args.get("lease") or args.get("ignore_value") or args.get("ignore_lease"):
        raise ValueError("leases and ignore_value / ignore_lease are not modelled")
    value = args.get("value", "")
    if not isinstance(value, str):
        raise ValueError(f"value must be a string, got {value!r}")
    return PutReq(_key(args), value, bool(args.get("prev_kv")))


def _parse_compare(c: Mapping[str, Any]) -> Compare:
    target, result = c.get("target"), c.get("result", "EQUAL")
    if target not in _TARGET_FIELD:
        raise ValueError(f"compare target must be one of {sorted(_TARGET_FIELD)}, got {target!r}")
    if result not in _RESULTS:
        raise ValueError(f"compare result must be one of {list(_RESULTS)}, got {result!r}")
    field = _TARGET_FIELD[target]
    operand: str | int = str(c.get(field) or "") if target == "VALUE" else _int(c, field)
    return Compare(_key(c), _end(c), target, result, operand)


_TXN_OPS = {"request_put": "put", "request_range": "range",
            "request_delete_range": "delete_range", "request_txn": "txn"}


def _parse_txn(args: Mapping[str, Any]) -> TxnReq:
    def ops(name: str) -> tuple[Request, ...]:
        out: list[Request] = []
        for item in args.get(name) or ():
            if not isinstance(item, Mapping) or len(item) != 1:
                raise ValueError(f"each {name} op must be one of {sorted(_TXN_OPS)}")
            (kind, inner), = item.items()
            if kind not in _TXN_OPS:
                raise ValueError(f"unknown txn op {kind!r}")
            out.append(parse_request(_TXN_OPS[kind], inner))
        return tuple(out)

    compares = tuple(_parse_compare(c) for c in args.get("compare") or ())
    return TxnReq(compares, ops("success"), ops("failure"))


def parse_request(f: str, args: Mapping[str, Any]) -> Request:
    """An operation's name and arguments as a request; ValueError if they are not etcd's."""
    if not isinstance(args, Mapping):
        raise ValueError(f"arguments must be an object, got {args!r}")
    if f == "range":
        return _parse_range(args)
    if f == "put":
        return _parse_put(args)
    if f == "delete_range":
        return DeleteReq(_key(args), _end(args), bool(args.get("prev_kv")))
    if f == "txn":
        return _parse_txn(args)
    if f == "compact":
        return CompactReq(_int(args, "revision"))
    raise ValueError(f"unknown operation {f!r}: etcd's are range, put, delete_range, txn, compact")


# Execution: the store's answer to one request.


class _Writer:
    """One write transaction: reads see its earlier writes, which all carry revision + 1."""

    __slots__ = ("base", "changes", "heads", "keys", "rev", "total")

    def __init__(self, base: EtcdState) -> None:
        self.base = base
        self.rev = base.revision + 1
        self.heads = base.heads
        self.keys = base.keys
        self.total = base._sum
        self.changes: list[_Record] = []

    def current(self) -> int:
        """The revision a read inside the txn answers with."""
        return self.rev if self.changes else self.base.revision

    def _write(self, rec: _Record) -> None:
        if not self.changes:
            self.heads = dict(self.heads)
        if rec.prev is None:
            keys = list(self.keys)
            bisect.insort(keys, rec.key)
            self.keys = tuple(keys)
        self.heads[rec.key] = rec
        self.total = (self.total + rec.hash) & _MASK
        self.changes.append(rec)

    def range(self, req: RangeReq, check_rev: int) -> dict[str, Any]:
        rev = req.revision
        if rev > check_rev:
            raise StoreError(FUTURE_REV)
        cur = self.current()
        if rev <= 0:
            rev = cur
        if rev < self.base.compact:
            raise StoreError(COMPACTED)
        recs = _visible(self.heads, self.keys, req.key, req.end, rev)
        count = len(recs)
        # etcd counts before the revision filters prune, and prunes before the limit.
        if req.max_mod:
            recs = [r for r in recs if r.mod <= req.max_mod]
        if req.min_mod:
            recs = [r for r in recs if r.mod >= req.min_mod]
        if req.max_create:
            recs = [r for r in recs if r.create <= req.max_create]
        if req.min_create:
            recs = [r for r in recs if r.create >= req.min_create]
        if req.descend:
            recs.reverse()
        more = False
        if req.count_only:
            recs = []
        elif req.limit > 0 and len(recs) > req.limit:
            recs, more = recs[:req.limit], True
        kvs = [r.kv(req.keys_only) for r in recs]
        return {"revision": cur, "kvs": kvs, "count": count, "more": more}

    def put(self, req: PutReq) -> dict[str, Any]:
        head = self.heads.get(req.key)
        live = head if head is not None and head.value is not None else None
        if live is None:
            rec = _Record(req.key, req.value, self.rev, self.rev, 1, head)
        else:
            rec = _Record(req.key, req.value, live.create, self.rev, live.version + 1, head)
        self._write(rec)
        prev = live.kv() if req.prev_kv and live is not None else None
        return {"revision": self.rev, "prev_kv": prev}

    def delete(self, req: DeleteReq) -> dict[str, Any]:
        recs = _visible(self.heads, self.keys, req.key, req.end, self.rev)
        for r in recs:
            self._write(_Record(r.key, None, 0, self.rev, 0, r))
        prev = [r.kv() for r in recs] if req.prev_kv else []
        return {"revision": self.current(), "deleted": len(recs), "prev_kvs": prev}

    def txn(self, req: TxnReq, plan: _Plan, nested: bool) -> dict[str, Any]:
        ok, children = plan
        responses: list[dict[str, Any]] = []
        child = iter(children)
        for op in req.success if ok else req.failure:
            if isinstance(op, PutReq):
                responses.append({"response_put": self.put(op)})
            elif isinstance(op, RangeReq):
                responses.append({"response_range": self.range(op, self.base.revision)})
            elif isinstance(op, DeleteReq):
                responses.append({"response_delete_range": self.delete(op)})
            elif isinstance(op, TxnReq):
                responses.append({"response_txn": self.txn(op, next(child), True)})
        # etcd fills only the outer header; a nested txn's stays empty.
        return {"revision": 0 if nested else self.current(), "succeeded": ok,
                "responses": responses}

    def finish(self) -> EtcdState:
        base = self.base
        if not self.changes:
            return base
        hz = base.horizon
        csum = 0 if hz is None else hz.advance(base, self.heads, self.changes)
        return EtcdState(self.rev, base.compact, self.heads, self.keys, self.total, hz, csum)


# A txn's path: whether its compares held, and the paths of the nested txns it will run.
_Plan = tuple[bool, tuple[Any, ...]]


def _compare(state: EtcdState, c: Compare) -> bool:
    recs = state.visible(c.key, c.end, state.revision)
    if not recs and c.target == "VALUE":
        return False
    for r in recs or (None,):
        if c.target == "VALUE":
            assert r is not None and r.value is not None
            sign = _sign(r.value, str(c.operand))
        else:
            sign = _sign(_field(r, c.target), int(c.operand))
        if not _RESULT_HOLDS[c.result](sign):
            return False
    return True


def _field(r: _Record | None, target: str) -> int:
    # A missing key compares as a zero KeyValue; there are no leases in this model.
    if r is None or target == "LEASE":
        return 0
    if target == "VERSION":
        return r.version
    if target == "CREATE":
        return r.create
    return r.mod


def _sign(a: str | int, b: str | int) -> int:
    return (a > b) - (a < b)  # type: ignore[operator]


_RESULT_HOLDS = {"EQUAL": lambda s: s == 0, "NOT_EQUAL": lambda s: s != 0,
                 "GREATER": lambda s: s > 0, "LESS": lambda s: s < 0}


def _plan(state: EtcdState, req: TxnReq) -> _Plan:
    ok = all(_compare(state, c) for c in req.compare)
    branch = req.success if ok else req.failure
    return ok, tuple(_plan(state, op) for op in branch if isinstance(op, TxnReq))


def _check(state: EtcdState, req: TxnReq, plan: _Plan) -> None:
    """etcd's checkTxn: the ranges the txn will run must be readable before it starts."""
    ok, children = plan
    child = iter(children)
    for op in req.success if ok else req.failure:
        if isinstance(op, RangeReq) and op.revision:
            if op.revision > state.revision:
                raise StoreError(FUTURE_REV)
            if op.revision < state.compact:
                raise StoreError(COMPACTED)
        elif isinstance(op, TxnReq):
            _check(state, op, next(child))


def execute(state: EtcdState, req: Request) -> tuple[EtcdState, dict[str, Any]]:
    """The store after `req`, and its response; raises StoreError (and changes nothing)."""
    after, resp, _ = _run(state, req)
    return after, resp


_NO_CHANGES: list[_Record] = []


def _run(state: EtcdState, req: Request) -> tuple[EtcdState, dict[str, Any], list[_Record]]:
    """`execute`, and the versions the request wrote."""
    if isinstance(req, RangeReq):
        return state, _Writer(state).range(req, state.revision), _NO_CHANGES
    if isinstance(req, CompactReq):
        if req.revision <= state.compact:
            raise StoreError(COMPACTED)
        if req.revision > state.revision:
            raise StoreError(FUTURE_REV)
        after = EtcdState(state.revision, req.revision, state.heads, state.keys, state._sum,
                          state.horizon, state._csum)
        return after, {"revision": state.revision}, _NO_CHANGES
    w = _Writer(state)
    if isinstance(req, PutReq):
        resp = w.put(req)
    elif isinstance(req, DeleteReq):
        resp = w.delete(req)
    else:
        plan = _plan(state, req)
        _check(state, req, plan)
        resp = w.txn(req, plan, False)
    return w.finish(), resp, w.changes


# What the ok results say about the writes at each revision. It lets the model refuse, at once,
# to place an unknown-outcome write where a later result shows it cannot be, instead of the search
# finding out only when it reaches that result (often hundreds of operations on, after exploring
# every interleaving in between). Sound: every linearization meets every ok result, and each rule
# below only refuses what some ok result contradicts.

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


class _Facts:
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
        self.horizon: _Horizon | None = None  # of the same history
        self.deleters: dict[str, list[int]] = {}  # k -> revisions that may have deleted it
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
        self._seen_by: list[int] = [_INF]
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
            if isinstance(prev, Mapping):
                self.saw(prev, rev - 1, False)
            elif prev is None and req.prev_kv:
                self.gone(req.key, rev - 1)
            return True
        if isinstance(req, RangeReq):
            if req.serializable:
                return False
            at = req.revision if req.revision > 0 else rev - 1 if mid else rev
            kvs = [kv for kv in res.get("kvs") or () if isinstance(kv, Mapping)]
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
                if isinstance(kv, Mapping):
                    self.saw(kv, rev - 1, False)
            if deleted == 0:
                if req.end is None:
                    self.gone(req.key, rev)
                return False
            return None if deleted is None else True
        if isinstance(req, TxnReq):
            ok, resps = res.get("succeeded"), res.get("responses")
            pairs = list(_branch(req, res))
            if not isinstance(ok, bool) or not isinstance(resps, Sequence) \
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
            # it wrote (or may have).
            self.held(req.compare, rev if wrote is False else rev - 1)
        if not isinstance(rev, int) or wrote is False:
            return
        (self._claimed if wrote else self._unsure).add(rev)
        self._ok_deletes.extend((rev, key, end) for key, end in _delete_ranges(req))

    def held(self, compares: Sequence[Compare], at: int) -> None:
        """Compares that held at revision `at`: an equal mod or create revision names a put of
        the key and that it lives from there to `at` (unwritten since the mod); zero, that it
        is absent."""
        for c in compares:
            if c.end is not None or c.result != "EQUAL" or not isinstance(c.operand, int) \
                    or isinstance(c.operand, bool) or c.operand > at:
                continue
            if c.target == "MOD":
                if c.operand == 0:
                    self.gone(c.key, at)
                else:
                    self.put(c.operand, c.key, _ANY_VALUE)
                    if at > c.operand:
                        self._quiet.setdefault(c.key, []).append((c.operand + 1, at))
                    self._alive.setdefault(c.key, []).append((c.operand, at))
            elif c.target == "CREATE":
                if c.operand == 0:
                    self.gone(c.key, at)
                else:
                    self.put(c.operand, c.key, _ANY_VALUE)
                    self._alive.setdefault(c.key, []).append((c.operand, at))
                    if c.operand > 1:
                        self._absent.setdefault(c.key, set()).add(c.operand - 1)

    def lost(self, req: Request, call: int) -> None:
        """An unknown-outcome request called at `call`: it may have deleted, at any revision no
        ok one took."""
        ranges = list(_delete_ranges(req))
        self._lost_deletes.extend(ranges)
        self._lost_calls.extend((first, stop, call) for first, stop in ranges)
        keys = {key for key, _ in _puts(req)}
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
        self._returns[at] = min(self._returns.get(at, _INF), ret)

    def before(self, rev: int) -> int:
        """When the first ok request that sees the store at `rev` or later returned: a write
        at `rev` or earlier was called by then."""
        return self._seen_by[bisect.bisect_left(self._seen_at, rev)]

    def putter(self, req: Request) -> None:
        """A request of the history, for what it may put."""
        pairs = list(_puts(req))
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
            for k in _keys_in(keys, start, end):
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
        gaps = [r for r in range(2, top + 1) if r not in self._claimed]
        deleters: dict[str, set[int]] = {}
        for rev, first, stop in self._ok_deletes:
            for k in _keys_in(keys, first, stop):
                deleters.setdefault(k, set()).add(rev)
        lost = {k for first, stop in self._lost_deletes for k in _keys_in(keys, first, stop)}
        self.deleters = {k: sorted(deleters.get(k, set()).union(unsure, gaps if k in lost else ()))
                         for k in keys}
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
            for k in _keys_in(keys, first, stop):
                self._delete_calls.setdefault(k, []).append(call)
        for calls in self._delete_calls.values():
            calls.sort()
        self._ok_deleters = {k: sorted(deleters.get(k, set()).union(unsure)) for k in keys}
        # The earliest return of an ok request that sees the store at revision r or later.
        self._seen_at = sorted(self._returns)
        self._seen_by = [_INF] * (len(self._seen_at) + 1)
        for i in range(len(self._seen_at) - 1, -1, -1):
            self._seen_by[i] = min(self._seen_by[i + 1], self._returns[self._seen_at[i]])

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
            j = bisect.bisect_right(span, (r, _INF))
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
            deleters = self.deleters.get(key, ())
            j = bisect.bisect_right(deleters, r)
            if j == len(deleters) or deleters[j] > absent[i]:
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
                if seen_absent < self.open_from:
                    deleters = self.deleters.get(key, ())
                    j = bisect.bisect_right(deleters, rev)
                    if j == len(deleters) or deleters[j] > seen_absent:
                        return False
        return True


# Which parts of a state the rest of the history can still observe. Two states at the same
# revision that agree on those lead to the same verdict, so the search may treat them as one:
# that is what makes a history with unknown outcomes tractable, where many choices of which
# unknown write filled a revision differ only in versions nobody reads again.

_INF = 1 << 62


def _fields(rec: _Record | None) -> tuple[str, int, int, int] | None:
    if rec is None or rec.value is None:
        return None  # absent: a tombstone's revision is not observable
    return rec.value, rec.create, rec.mod, rec.version


class _Horizon:
    """Per key, up to which revision ok results observe it, and which old revisions they read.

    An ok request observes the keys its result depends on (read, compared, deleted, or put with
    prev_kv) at a revision no later than its result's. An unknown-outcome request that compares
    or deletes a key makes the key observable for good: whether it writes (and so the revision)
    depends on the key. At revision R, key k's observable part is then nothing if no ok request
    observes k at R or later; otherwise its current version (value, create, mod, version, or
    absent), and its version at each old revision X < R that a request observing k at P >= R
    reads.
    """

    def __init__(self, compiled: Sequence[_Compiled], keys: list[str]) -> None:
        self.last: dict[str, int] = {}
        self.olds: dict[str, list[tuple[int, int]]] = {}
        for c in compiled:
            op = c.op
            if op.status is Status.UNKNOWN:
                for first, stop in _observed(c.req, compares_and_deletes_only=True):
                    for k in _keys_in(keys, first, stop):
                        self.last[k] = _INF
            elif op.status is Status.OK and c.error is None and not c.unchecked:
                rev = c.observed.get("revision")
                at = rev if isinstance(rev, int) and not isinstance(rev, bool) else _INF
                for first, stop in _observed(c.req, compares_and_deletes_only=False):
                    for k in _keys_in(keys, first, stop):
                        self.last[k] = max(self.last.get(k, 0), at)
                for first, stop, old in _old_reads(c.req):
                    if old < at:
                        for k in _keys_in(keys, first, stop):
                            self.olds.setdefault(k, []).append((old, at))
        # Where a key's observable part changes without a write to it.
        events: dict[int, set[str]] = {}
        for k, last in self.last.items():
            if last < _INF:
                events.setdefault(last + 1, set()).add(k)
        for k, olds in self.olds.items():
            for old, at in olds:
                events.setdefault(old + 1, set()).add(k)
                if at < _INF:
                    events.setdefault(at + 1, set()).add(k)
        self.events = {r: sorted(ks) for r, ks in events.items()}

    def canon(self, rec: _Record | None, key: str, rev: int) -> tuple[Any, ...] | None:
        """What of `key` (newest version `rec`) is observable from revision `rev` on."""
        if self.last.get(key, 0) < rev:
            return None
        olds = self.olds.get(key)
        old = () if olds is None else tuple(
            _fields(_at(rec, x)) for x, at in olds if x < rev <= at)
        head = _fields(rec)
        if head is None and not old:
            return None
        return key, head, old

    def _hash(self, rec: _Record | None, key: str, rev: int) -> int:
        canon = self.canon(rec, key, rev)
        return 0 if canon is None else hash(canon)

    def advance(self, base: EtcdState, heads: dict[str, _Record], changes: list[_Record]) -> int:
        """The observable hash sum after `changes` take `base` to the next revision."""
        rev = base.revision + 1
        touched = {rec.key for rec in changes}
        touched.update(self.events.get(rev, ()))
        total = base._csum
        old_heads = base.heads
        for key in touched:
            total -= self._hash(old_heads.get(key), key, rev - 1)
            total += self._hash(heads.get(key), key, rev)
        return total & _MASK


def _observed(req: Request, compares_and_deletes_only: bool
              ) -> Iterable[tuple[str, str | None]]:
    """The key ranges whose state the request's result or effect depends on."""
    if isinstance(req, RangeReq):
        if not compares_and_deletes_only:
            yield req.key, req.end
    elif isinstance(req, PutReq):
        if req.prev_kv and not compares_and_deletes_only:
            yield req.key, None
    elif isinstance(req, DeleteReq):
        yield req.key, req.end
    elif isinstance(req, TxnReq):
        for c in req.compare:
            yield c.key, c.end
        for sub in (*req.success, *req.failure):
            yield from _observed(sub, compares_and_deletes_only)


def _old_reads(req: Request) -> Iterable[tuple[str, str | None, int]]:
    if isinstance(req, RangeReq) and req.revision > 0:
        yield req.key, req.end, req.revision
    elif isinstance(req, TxnReq):
        for sub in (*req.success, *req.failure):
            yield from _old_reads(sub)


def to_json(value: Any) -> Any:
    """A response as JSON values: key-values become objects, tuples lists."""
    if isinstance(value, KeyValue):
        return value._asdict()
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    # Concrete types first: isinstance against an ABC such as Mapping is several times slower.
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, (FrozenMap, dict)):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _kv_of(obs: Mapping[str, Any]) -> KeyValue:
    # proto3 leaves out default fields: a key-only range's value, and zeros.
    return KeyValue(obs.get("key") or "", obs.get("value") or "", obs.get("create_revision") or 0,
              obs.get("mod_revision") or 0, obs.get("version") or 0)


def _matches(obs: Any, exp: Any) -> bool:
    """Does the recorded `obs` agree with the model's `exp` on every field it records?"""
    if isinstance(exp, KeyValue):
        return isinstance(obs, (dict, Mapping)) and _kv_of(obs) == exp
    if isinstance(exp, dict):
        if not isinstance(obs, (dict, Mapping)):
            return False
        for name, value in obs.items():
            if name in exp:
                if not _matches(value, exp[name]):
                    return False
            elif name.startswith("response_"):
                return False  # a txn answered with another kind of response than it asked
        return True
    if isinstance(exp, list):
        if not isinstance(obs, (list, Sequence)) or isinstance(obs, str) or len(obs) != len(exp):
            return False
        return all(_matches(o, e) for o, e in zip(obs, exp, strict=True))
    if isinstance(exp, bool) or isinstance(obs, bool):
        return obs is exp or (obs is None and exp is False)
    if obs is None:  # a proto3 default written out as null
        return exp in (0, "", None)
    return bool(obs == exp)


def normalize_error(message: str) -> str:
    """etcd's message without gRPC's "etcdserver: " prefix."""
    return message[len(_GRPC_PREFIX):] if message.startswith(_GRPC_PREFIX) else message


# Operations, compiled once: the request, what the client saw, and the revisions it allows.


class _Compiled:
    __slots__ = ("error", "facts", "fits", "observed", "op", "req", "rev_hi", "rev_lo",
                 "unchecked")

    def __init__(self, op: Operation, req: Request) -> None:
        self.op = op  # holds the operation alive, so its id() is not reused while cached
        self.req = req
        self.error: str | None = None
        self.rev_lo = -_ANY
        self.rev_hi = _ANY
        self.unchecked = isinstance(req, RangeReq) and req.serializable
        self.facts: _Facts | None = None  # set by EtcdModel.partition
        self.fits: dict[int, bool] = {}  # an unknown put: may it take this revision?
        self.observed = _plain(op.result)  # plain dicts and lists: quicker to match than frozen
        result = op.result
        if op.status is not Status.OK:
            return
        if not isinstance(result, Mapping):
            raise ValueError(f"an ok result must be an object, got {result!r}")
        if "error" in result:
            self.error = normalize_error(str(result["error"]))
            return
        rev = result.get("revision")
        if isinstance(rev, int) and not isinstance(rev, bool):
            # The revision before the request that answers with `rev`: a quick filter.
            if isinstance(req, PutReq):
                self.rev_lo = self.rev_hi = rev - 1
            elif isinstance(req, (RangeReq, CompactReq)):
                self.rev_lo = self.rev_hi = rev
            else:
                self.rev_lo, self.rev_hi = rev - 1, rev


def _keys_in(keys: list[str], start: str, end: str | None) -> Iterable[str]:
    """The keys of sorted `keys` in etcd's range (start, end)."""
    if end is None:
        i = bisect.bisect_left(keys, start)
        if i < len(keys) and keys[i] == start:
            yield start
        return
    for i in range(bisect.bisect_left(keys, start), len(keys)):
        if end != "\0" and keys[i] >= end:
            return
        yield keys[i]


def _delete_ranges(req: Request) -> Iterable[tuple[str, str | None]]:
    if isinstance(req, DeleteReq):
        yield req.key, req.end
    elif isinstance(req, TxnReq):
        for sub in (*req.success, *req.failure):
            yield from _delete_ranges(sub)


def _ok_puts(req: Request, res: Mapping[str, Any]) -> Iterable[tuple[str, str, int]]:
    """(key, value, revision) of the puts an ok result shows done."""
    rev = res.get("revision")
    if isinstance(req, PutReq):
        if isinstance(rev, int):
            yield req.key, req.value, rev
    elif isinstance(req, TxnReq):
        for sub, inner in _branch(req, res):
            yield from _ok_puts(sub, inner)


def _observations(req: Request, res: Mapping[str, Any], mid: bool = False
                  ) -> Iterable[tuple[Mapping[str, Any], int, bool]]:
    """(key-value, revision it was read at, keys only) for each version an ok result shows.

    `mid`: as in `_Facts.learn`.
    """
    rev = res.get("revision")
    if not isinstance(rev, int):
        return
    if isinstance(req, PutReq):
        prev = res.get("prev_kv")
        if isinstance(prev, Mapping):
            yield prev, rev - 1, False
    elif isinstance(req, RangeReq):
        for kv in res.get("kvs") or ():
            if isinstance(kv, Mapping):
                yield kv, req.revision if req.revision > 0 else rev - 1 if mid else rev, \
                    req.keys_only
    elif isinstance(req, DeleteReq):
        for kv in res.get("prev_kvs") or ():
            if isinstance(kv, Mapping):
                yield kv, rev - 1, False
    elif isinstance(req, TxnReq):
        changed = mid
        for sub, inner in _branch(req, res):
            yield from _observations(sub, inner, changed)
            changed = changed or bool(list(_ok_puts(sub, inner))) or bool(inner.get("deleted"))


def _branch(req: TxnReq, res: Mapping[str, Any]) -> Iterable[tuple[Request, Mapping[str, Any]]]:
    """A txn's requests that ran, with their responses (a nested txn's with the outer revision)."""
    ok, resps = res.get("succeeded"), res.get("responses")
    if not isinstance(ok, bool) or not isinstance(resps, Sequence):
        return
    for sub, item in zip(req.success if ok else req.failure, resps, strict=False):
        inner = next(iter(item.values()), None) if isinstance(item, Mapping) else None
        if isinstance(inner, Mapping):
            yield sub, {**inner, "revision": res.get("revision")} if isinstance(sub, TxnReq) \
                else inner


def _revisions_asked(req: Request) -> Iterable[int]:
    if isinstance(req, (RangeReq, CompactReq)):
        yield req.revision
    elif isinstance(req, TxnReq):
        for sub in (*req.success, *req.failure):
            yield from _revisions_asked(sub)


def _puts(req: Request) -> Iterable[tuple[str, str]]:
    if isinstance(req, PutReq):
        yield req.key, req.value
    elif isinstance(req, TxnReq):
        for sub in (*req.success, *req.failure):
            yield from _puts(sub)


def _strings(value: Any, into: set[str]) -> None:
    if isinstance(value, str):
        into.add(value)
    elif value is None or isinstance(value, int):
        return
    elif isinstance(value, (dict, FrozenMap)):
        for item in value.values():
            _strings(item, into)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _strings(item, into)
    elif isinstance(value, Mapping):
        for item in value.values():
            _strings(item, into)


def _classes(compiled: Sequence[_Compiled]) -> dict[int, Hashable]:
    """id(op) -> class, for the unknown-outcome writes that are interchangeable.

    Two such requests step alike from every state when they are the same request but for the
    values they put, and no result shows those values and no compare names them: every result
    then mismatches both or neither, and an EQUAL / NOT_EQUAL compare holds for both or neither.
    A LESS / GREATER compare on values would tell them apart, so with one anywhere, values count.
    """
    seen: set[str] = set()
    ordered = False
    for c in compiled:
        _strings(c.observed, seen)
        for cmp in _compares(c.req):
            if cmp.target == "VALUE":
                _strings(cmp.operand, seen)
                ordered = ordered or cmp.result in ("LESS", "GREATER")

    def shape(req: Request) -> Hashable:
        if isinstance(req, PutReq):
            hidden = not ordered and req.value not in seen
            return "put", req.key, None if hidden else req.value
        if isinstance(req, DeleteReq):
            return "delete", req.key, req.end
        if isinstance(req, TxnReq):
            return ("txn", req.compare, tuple(shape(r) for r in req.success),
                    tuple(shape(r) for r in req.failure))
        return req  # a range or a compaction: no values in it

    return {id(c.op): shape(c.req) for c in compiled
            if c.op.status is Status.UNKNOWN and not isinstance(c.req, RangeReq)}


def _compares(req: Request) -> Iterable[Compare]:
    if isinstance(req, TxnReq):
        yield from req.compare
        for sub in (*req.success, *req.failure):
            yield from _compares(sub)


class EtcdModel(Model):
    """etcd v3's KeyValue store: put, range, delete_range, txn and compact, with revisions."""

    name: ClassVar[str] = "etcd"

    def __init__(self) -> None:
        self._compiled: dict[int, _Compiled] = {}
        self._horizon: _Horizon | None = None  # of the history last partitioned
        self._classes: dict[int, Hashable] = {}  # id(op) -> its class; see `interchangeable`

    def init(self) -> EtcdState:
        """An empty store at revision 1."""
        if self._horizon is None:
            return INITIAL
        return EtcdState(1, -1, {}, (), 0, self._horizon)

    def compile(self, op: Operation) -> _Compiled:
        """The operation's parsed request and expectations, cached; HistoryError if malformed."""
        c = self._compiled.get(id(op))
        if c is not None and c.op is op:
            return c
        try:
            c = _Compiled(op, parse_request(op.f, op.args))
        except ValueError as exc:
            raise HistoryError("history", op.line, f"operation {op.id} ({op.f}): {exc}") from None
        self._compiled[id(op)] = c
        return c

    def step(self, state: EtcdState, op: Operation) -> Iterable[Hashable]:
        """The store after `op`, if it can answer as the client saw; see the module docstring."""
        c = self._compiled.get(id(op))
        if c is None or c.op is not op:
            c = self.compile(op)
        facts = c.facts
        if state.horizon is None:
            facts = None  # a search not set up by partition(): no shortcuts
        elif facts is None or facts.horizon is not state.horizon:
            # States that compare by one history's horizon mean nothing to another history.
            raise ValueError(f"operation {op.id} is not in the history given to partition() "
                             "before init(); call partition() with the operations to check")
        if op.status is not Status.OK:
            if op.status is Status.FAIL or isinstance(c.req, RangeReq):
                return (state,)
            req = c.req
            if facts is not None:
                if isinstance(req, CompactReq):
                    # Compaction only makes requests fail: needed only to explain a failure.
                    if not facts.compacted_error:
                        return ()
                elif state.revision + 1 in facts.claimed or state.revision >= facts.ceiling:
                    # A write takes the next revision, which no ok request may have taken; and
                    # past every revision an ok result needs, never taking effect explains as
                    # much. (A write that changes nothing is the same as never taking effect.)
                    return ()
            checked = False
            if facts is not None and isinstance(req, PutReq):
                # A put's writes do not depend on the state: decide before building it.
                rev = state.revision + 1
                fits = c.fits.get(rev)
                if fits is None:
                    fits = c.fits[rev] = facts.allows(rev, ((req.key, req.value),))
                if not fits:
                    return ()
                checked = True
            try:
                after, _, changes = _run(state, req)
            except StoreError:
                return (state,)
            if changes and facts is not None:
                if not checked and not facts.allows(
                        after.revision, [(r.key, r.value) for r in changes]):
                    return ()
                if not facts.feasible(after):
                    return ()
            return (after,)
        if c.unchecked:
            return (state,)
        if c.error is not None:
            if c.error not in (COMPACTED, FUTURE_REV):
                return (state,)  # a validation error: it did not take effect
            try:
                execute(state, c.req)
            except StoreError as exc:
                return (state,) if exc.message == c.error else ()
            return ()
        if not c.rev_lo <= state.revision <= c.rev_hi:
            return ()
        try:
            after, resp = execute(state, c.req)
        except StoreError:
            return ()
        return (after,) if _matches(c.observed, resp) else ()

    def partition(self, ops: Sequence[Operation]) -> list[list[Operation]]:
        """One part: every write bumps the one global revision, so keys are not independent.

        Also prepares the shortcuts for exactly these operations (see the module docstring): the
        next `init()` roots a search over them, and stepping another operation from it raises.
        """
        facts = _Facts()
        compiled = [self.compile(op) for op in ops]
        for c in compiled:
            facts.putter(c.req)
            for key, value in _puts(c.req):
                facts.writer(key, value)
            if c.op.status is Status.OK and c.error is None:
                facts.request(c.req, c.observed)
                if c.op.ret is not None and c.rev_lo >= 0:
                    facts.returned(c.rev_lo, c.op.ret)
            elif c.op.status is Status.UNKNOWN:
                facts.lost(c.req, c.op.call)
            if c.op.status is Status.OK and not c.unchecked:
                if c.error is None:
                    facts.ceiling = max(facts.ceiling, c.rev_hi)
                elif c.error == COMPACTED:
                    # A compaction past the revision it asked for: the store got there first.
                    facts.ceiling = max(facts.ceiling, 1 + max(_revisions_asked(c.req), default=0))
                    facts.compacted_error = True
        facts.seal()
        facts.horizon = self._horizon = _Horizon(compiled, sorted(facts.keys))
        for c in compiled:
            c.facts = facts
        self._classes = _classes(compiled)
        return [list(ops)]

    def interchangeable(self, op: Operation) -> Hashable | None:
        """Unknown-outcome requests that write alike: the same request up to values nobody sees
        (in no result, no compare), so they step alike from every state; see `_classes`."""
        return self._classes.get(id(op))

    def contradictions(self, ops: Sequence[Operation]) -> list[tuple[int, str]]:
        """Proofs without search that `ops` has no linearization: (operation id, why) pairs.

        Finds the usual bugs: a read of a value no request writes, of an overwritten version
        (stale: an ok put wrote the key between the version read and the read's revision), two
        versions at one revision, a revision two ok writes took. Empty proves nothing.
        """
        compiled = [self.compile(op) for op in ops if op.status is not Status.FAIL]
        writers: dict[tuple[str, str], int] = {}
        for c in compiled:
            for pair in _puts(c.req):
                writers[pair] = writers.get(pair, 0) + 1
        ok = [c for c in compiled if c.op.status is Status.OK and c.error is None
              and not c.unchecked and isinstance(c.observed, dict)]
        out: list[tuple[int, str]] = []
        took: dict[int, int] = {}  # revision -> the ok request that took it
        at: dict[tuple[str, str], int] = {}  # (key, value) -> the revision an ok put wrote it
        puts: dict[str, list[tuple[int, int]]] = {}  # key -> (revision, request) of ok puts
        for c in ok:
            for key, value, rev in _ok_puts(c.req, c.observed):
                other = took.setdefault(rev, c.op.id)
                if other != c.op.id:
                    out.append((c.op.id, f"revision {rev} is taken by operation {other} too"))
                at[key, value] = rev
                puts.setdefault(key, []).append((rev, c.op.id))
        for writes in puts.values():
            writes.sort()
        seen: dict[tuple[str, int], tuple[str, int]] = {}
        for c in ok:
            for kv, upto, keys_only in _observations(c.req, c.observed):
                name, mod = kv.get("key"), kv.get("mod_revision") or 0
                if not isinstance(name, str) or not isinstance(mod, int):
                    continue
                key = name
                where = f"read {key}@{mod}"
                if not keys_only:
                    value = str(kv.get("value") or "")
                    where = f"read {key}={value!r}@{mod}"
                    if (key, value) not in writers:
                        out.append((c.op.id, f"{where}: no request writes that value"))
                    first = seen.setdefault((key, mod), (value, c.op.id))
                    if first[0] != value:
                        out.append((c.op.id, f"{where}: operation {first[1]} read "
                                             f"{first[0]!r} there"))
                    written = at.get((key, value))
                    if writers.get((key, value)) == 1 and written not in (None, mod):
                        out.append((c.op.id, f"{where}: that value was written at {written}"))
                writes = puts.get(key, [])
                i = bisect.bisect_right(writes, (mod, _INF))
                if i < len(writes) and writes[i][0] <= upto:
                    rev, by = writes[i]
                    out.append((c.op.id, f"{where} at revision {upto}: operation {by} wrote "
                                         f"{key} at {rev}"))
        return out

    def describe_operation(self, op: Operation) -> str:
        """E.g. `put(k1, 'v3') -> rev 7`."""
        a = op.args if isinstance(op.args, Mapping) else {}
        if op.f == "put":
            call = f"put({a.get('key')}, {a.get('value')!r})"
        elif op.f in ("range", "delete_range"):
            end = a.get("range_end")
            where = a.get("key") if not end else f"[{a.get('key')}, {end!r})"
            at = f" @{a['revision']}" if a.get("revision") else ""
            call = f"{op.f}({where}{at})"
        elif op.f == "compact":
            call = f"compact({a.get('revision')})"
        else:
            call = f"{op.f}({op.args!r})"
        if op.status is not Status.OK:
            return f"{call} -> {op.status.value}"
        r = op.result if isinstance(op.result, Mapping) else {}
        if "error" in r:
            return f"{call} -> error {r['error']!r}"
        out = f"rev {r.get('revision')}"
        if op.f == "range":
            kvs = ", ".join(f"{kv.get('key')}={kv.get('value')!r}@{kv.get('mod_revision')}"
                            for kv in r.get("kvs") or ())
            out += f" [{kvs}]"
        elif op.f == "txn":
            out += " succeeded" if r.get("succeeded") else " failed"
        elif op.f == "delete_range":
            out += f" deleted {r.get('deleted')}"
        return f"{call} -> {out}"

    def describe_state(self, state: EtcdState) -> str:
        """Revision, compact revision and the live keys."""
        return repr(state)
