"""The store's answer to one request (range, put, delete_range, txn, compact): etcd's MVCC rules."""

from __future__ import annotations

import bisect
from typing import Any

from sim.lincheck.models.etcd.errors import COMPACTED, FUTURE_REV, StoreError
from sim.lincheck.models.etcd.requests import (
    CompactReq,
    Compare,
    DeleteReq,
    PutReq,
    RangeReq,
    Request,
    TxnReq,
)
from sim.lincheck.models.etcd.state import EtcdState
from sim.lincheck.models.etcd.versions import MASK, Record, visible_versions

__all__ = ["execute", "run"]


class _Writer:
    """One write transaction: reads see its earlier writes, which all carry revision + 1."""

    __slots__ = ("base", "changes", "heads", "keys", "rev", "total")

    def __init__(self, base: EtcdState) -> None:
        self.base = base
        self.rev = base.revision + 1
        self.heads = base.heads
        self.keys = base.keys
        self.total = base.total
        self.changes: list[Record] = []

    def current(self) -> int:
        """The revision a read inside the txn answers with."""
        return self.rev if self.changes else self.base.revision

    def _write(self, rec: Record) -> None:
        if not self.changes:
            self.heads = dict(self.heads)
        if rec.prev is None:
            keys = list(self.keys)
            bisect.insort(keys, rec.key)
            self.keys = tuple(keys)
        self.heads[rec.key] = rec
        self.total = (self.total + rec.hash) & MASK
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
        recs = visible_versions(self.heads, self.keys, req.key, req.end, rev)
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
            rec = Record(req.key, req.value, self.rev, self.rev, 1, head)
        else:
            rec = Record(req.key, req.value, live.create, self.rev, live.version + 1, head)
        self._write(rec)
        prev = live.kv() if req.prev_kv and live is not None else None
        return {"revision": self.rev, "prev_kv": prev}

    def delete(self, req: DeleteReq) -> dict[str, Any]:
        recs = visible_versions(self.heads, self.keys, req.key, req.end, self.rev)
        for r in recs:
            self._write(Record(r.key, None, 0, self.rev, 0, r))
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
        csum = 0 if hz is None else hz.advance(base.revision, base.csum, base.heads, self.heads,
                                               self.changes)
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


def _field(r: Record | None, target: str) -> int:
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
    after, resp, _ = run(state, req)
    return after, resp


_NO_CHANGES: list[Record] = []


def run(state: EtcdState, req: Request) -> tuple[EtcdState, dict[str, Any], list[Record]]:
    """`execute`, and the versions the request wrote."""
    if isinstance(req, RangeReq):
        return state, _Writer(state).range(req, state.revision), _NO_CHANGES
    if isinstance(req, CompactReq):
        if req.revision <= state.compact:
            raise StoreError(COMPACTED)
        if req.revision > state.revision:
            raise StoreError(FUTURE_REV)
        after = EtcdState(state.revision, req.revision, state.heads, state.keys, state.total,
                          state.horizon, state.csum)
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
