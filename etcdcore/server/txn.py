"""Requests run against the MVCC store, as etcd's etcdserver/txn (Range, Put, DeleteRange, Txn).

Pure: these take a store or one of its txns and return etcd's response, or raise the EtcdError a
client would see. Where etcd sorts with Go's unstable sort, ties here keep key order (a stable
sort); etcd gives no order among ties either.
"""

from __future__ import annotations

from collections.abc import Callable

from etcdcore import bugs as planted
from etcdcore.api import rpctypes
from etcdcore.api.rpc import (
    CompactionRequest,
    CompactionResponse,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    DeleteRangeResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    RequestOp,
    ResponseHeader,
    ResponseOp,
    SortOrder,
    SortTarget,
    TxnRequest,
    TxnResponse,
)
from etcdcore.mvcc import ErrCompacted, ErrFutureRev, KeyValue, MvccError, RangeOptions, Store
from etcdcore.mvcc.store import ReadTxn, WriteTxn

__all__ = [
    "compaction",
    "delete_range",
    "is_txn_readonly",
    "is_txn_serializable",
    "mk_gte_range",
    "put",
    "range_",
    "to_grpc_error",
    "txn",
]

Txn = ReadTxn | WriteTxn


def to_grpc_error(err: MvccError) -> rpctypes.EtcdError:
    """The error a client sees for a store error (etcd's togRPCError)."""
    if isinstance(err, ErrCompacted):
        return rpctypes.COMPACTED.err()
    if isinstance(err, ErrFutureRev):
        return rpctypes.FUTURE_REV.err()
    return rpctypes.EtcdError(rpctypes.Code.UNKNOWN, str(err))


def mk_gte_range(range_end: bytes) -> bytes | None:
    """etcd's range end for the store: none (one key), "\\0" → every key >= key, or as given."""
    if not range_end:
        return None
    if range_end == b"\x00":
        return b""
    return range_end


_SORT_KEYS: dict[SortTarget, Callable[[KeyValue], bytes | int]] = {
    SortTarget.KEY: lambda kv: kv.key,
    SortTarget.VERSION: lambda kv: kv.version,
    SortTarget.CREATE: lambda kv: kv.create_revision,
    SortTarget.MOD: lambda kv: kv.mod_revision,
    SortTarget.VALUE: lambda kv: kv.value,
}


def range_(t: Txn, r: RangeRequest) -> RangeResponse:
    """etcd's Range: fetch, prune by revision filters, sort, cut to the limit."""
    limit = r.limit
    if (r.sort_order != SortOrder.NONE or r.min_mod_revision or r.max_mod_revision
            or r.min_create_revision or r.max_create_revision):
        limit = 0  # fetch everything: filters and sorting come before the limit
    if limit > 0:
        limit += 1  # one extra, to know whether there is more
    try:
        rr = t.range(r.key, mk_gte_range(r.range_end),
                     RangeOptions(limit=limit, rev=r.revision, count=r.count_only))
    except MvccError as exc:
        raise to_grpc_error(exc) from None
    kvs = rr.kvs
    if r.max_mod_revision:
        kvs = [kv for kv in kvs if kv.mod_revision <= r.max_mod_revision]
    if r.min_mod_revision:
        kvs = [kv for kv in kvs if kv.mod_revision >= r.min_mod_revision]
    if r.max_create_revision:
        kvs = [kv for kv in kvs if kv.create_revision <= r.max_create_revision]
    if r.min_create_revision:
        kvs = [kv for kv in kvs if kv.create_revision >= r.min_create_revision]
    order = r.sort_order
    if r.sort_target != SortTarget.KEY and order == SortOrder.NONE:
        order = SortOrder.ASCEND  # another target with no order: ascending, as etcd does
    elif r.sort_target == SortTarget.KEY and order == SortOrder.ASCEND:
        order = SortOrder.NONE  # the store already answers in key order
    if order != SortOrder.NONE:
        kvs = sorted(kvs, key=_SORT_KEYS[r.sort_target], reverse=order == SortOrder.DESCEND)
    more = False
    if r.limit > 0 and len(kvs) > r.limit:
        kvs, more = kvs[:r.limit], True
    if r.keys_only:
        kvs = [KeyValue(kv.key, kv.create_revision, kv.mod_revision, kv.version, b"", kv.lease)
               for kv in kvs]
    return RangeResponse(ResponseHeader(revision=rr.rev), list(kvs), more, rr.count)


def _prev(t: Txn, key: bytes) -> KeyValue | None:
    kvs = t.range(key, None).kvs
    return kvs[0] if kvs else None


def put(t: WriteTxn, p: PutRequest) -> PutResponse:
    """etcd's put: leases must exist (there are none here), ignore_* need the previous key."""
    prev = _prev(t, p.key) if p.ignore_value or p.ignore_lease or p.prev_kv else None
    value, lease = p.value, p.lease
    if lease:
        raise rpctypes.LEASE_NOT_FOUND.err()
    if p.ignore_value or p.ignore_lease:
        if prev is None:
            raise rpctypes.KEY_NOT_FOUND.err()
        if p.ignore_value:
            value = prev.value
        if p.ignore_lease:
            lease = prev.lease
    resp = PutResponse(ResponseHeader())
    if p.prev_kv:
        resp.prev_kv = prev
    assert resp.header is not None
    resp.header.revision = t.put(p.key, value, lease)
    return resp


def delete_range(t: WriteTxn, d: DeleteRangeRequest) -> DeleteRangeResponse:
    """etcd's deleteRange: the previous key-values when asked for, then the delete."""
    end = mk_gte_range(d.range_end)
    resp = DeleteRangeResponse(ResponseHeader())
    if d.prev_kv:
        resp.prev_kvs = list(t.range(d.key, end).kvs)
    resp.deleted, rev = t.delete_range(d.key, end)
    assert resp.header is not None
    resp.header.revision = rev
    return resp


# ---- txn -----------------------------------------------------------------------------------


def is_txn_readonly(r: TxnRequest) -> bool:
    """No put or delete anywhere in it (nested txns included)."""
    for op in (*r.success, *r.failure):
        if isinstance(op, (PutRequest, DeleteRangeRequest)):
            return False
        if isinstance(op, TxnRequest) and not is_txn_readonly(op):
            return False
    return True


def is_txn_serializable(r: TxnRequest) -> bool:
    """Every op a serializable range (so the txn may be served locally)."""
    for op in (*r.success, *r.failure):
        if not isinstance(op, RangeRequest) or not op.serializable:
            return False
    return True


def _compare_kv(c: Compare, kv: KeyValue) -> bool:
    if c.target == CompareTarget.VALUE:
        a: bytes | int = kv.value
        b: bytes | int = c.value
    elif c.target == CompareTarget.CREATE:
        a, b = kv.create_revision, c.create_revision
    elif c.target == CompareTarget.MOD:
        a, b = kv.mod_revision, c.mod_revision
    elif c.target == CompareTarget.VERSION:
        a, b = kv.version, c.version
    else:
        a, b = kv.lease, c.lease
    sign = (a > b) - (a < b)  # type: ignore[operator]
    if c.result == CompareResult.EQUAL:
        return sign == 0
    if c.result == CompareResult.NOT_EQUAL:
        return sign != 0
    if c.result == CompareResult.GREATER:
        return sign > 0
    return sign < 0


_ZERO = KeyValue(b"", 0, 0, 0, b"", 0)


def apply_compare(rv: ReadTxn, c: Compare) -> bool:
    """One compare against every key of its range; a missing key compares as a zero KeyValue,
    except that a VALUE compare on nothing is false (gRPC cannot tell nil from empty)."""
    try:
        kvs = rv.range(c.key, mk_gte_range(c.range_end)).kvs
    except MvccError:
        return False
    if not kvs:
        if planted.COMPARE_MISSING_KEY_PANICS in rv.bugs:
            kvs = [kvs[0]]  # the planted bug: the first key of an empty range (IndexError)
        return c.target != CompareTarget.VALUE and _compare_kv(c, _ZERO)
    return all(_compare_kv(c, kv) for kv in kvs)


def compare_to_path(rv: ReadTxn, r: TxnRequest) -> list[bool]:
    """Which branch each txn takes, nested ones in order, all judged on the store before."""
    path = [all(apply_compare(rv, c) for c in r.compare)]
    for op in r.success if path[0] else r.failure:
        if isinstance(op, TxnRequest):
            path.extend(compare_to_path(rv, op))
    return path


def _check_requests(rv: ReadTxn, r: TxnRequest, path: list[bool], at: int,
                    check: Callable[[ReadTxn, RequestOp], None]) -> int:
    """Check every op on the taken path; the number of nested txns passed over."""
    nested = 0
    for op in r.success if path[at] else r.failure:
        if isinstance(op, TxnRequest):
            nested += 1 + _check_requests(rv, op, path, at + nested + 1, check)
        else:
            check(rv, op)
    return nested


def _check_put(rv: ReadTxn, op: RequestOp) -> None:
    if not isinstance(op, PutRequest):
        return
    if (op.ignore_value or op.ignore_lease) and not rv.range(op.key, None).kvs:
        raise rpctypes.KEY_NOT_FOUND.err()
    if op.lease:
        raise rpctypes.LEASE_NOT_FOUND.err()


def _check_range(store: Store) -> Callable[[ReadTxn, RequestOp], None]:
    def check(rv: ReadTxn, op: RequestOp) -> None:
        if not isinstance(op, RangeRequest) or op.revision == 0:
            return
        if op.revision > rv.rev():
            raise rpctypes.FUTURE_REV.err()
        if op.revision < store.compact_rev():
            raise rpctypes.COMPACTED.err()
    return check


def _new_txn_resp(r: TxnRequest, path: list[bool], at: int) -> tuple[TxnResponse, int]:
    """The response skeleton for the taken branches, and how many nested txns it covered."""
    resp = TxnResponse(ResponseHeader(), succeeded=path[at])
    nested = 0
    for op in r.success if path[at] else r.failure:
        if isinstance(op, TxnRequest):
            sub, n = _new_txn_resp(op, path, at + nested + 1)
            resp.responses.append(sub)
            nested += 1 + n
    return resp, nested


def _execute_txn(t: Txn, r: TxnRequest, path: list[bool], at: int, resp: TxnResponse) -> int:
    nested = 0
    subs = iter(resp.responses)
    out: list[ResponseOp] = []
    for op in r.success if path[at] else r.failure:
        if isinstance(op, RangeRequest):
            out.append(range_(t, op))
        elif isinstance(op, PutRequest):
            assert isinstance(t, WriteTxn)
            out.append(put(t, op))
        elif isinstance(op, DeleteRangeRequest):
            assert isinstance(t, WriteTxn)
            out.append(delete_range(t, op))
        elif isinstance(op, TxnRequest):
            sub = next(subs)
            assert isinstance(sub, TxnResponse)
            nested += 1 + _execute_txn(t, op, path, at + nested + 1, sub)
            out.append(sub)
    resp.responses = out
    return nested


def txn(store: Store, r: TxnRequest) -> TxnResponse:
    """etcd's Txn: judge every compare, check the taken ops, then run them as one revision."""
    header_before = planted.TXN_HEADER_BEFORE_WRITES in store.bugs
    rv = store.read()
    path = compare_to_path(rv, r)
    store.probes.sometimes(not path[0], "server.txn_compare_failed")
    _check_requests(rv, r, path, 0, _check_put)
    _check_requests(rv, r, path, 0, _check_range(store))
    t: Txn = store.read() if is_txn_readonly(r) else store.write()
    resp, _ = _new_txn_resp(r, path, 0)
    try:
        _execute_txn(t, r, path, 0, resp)
        rev = t.rev()
        if isinstance(t, WriteTxn) and t.changes() and not header_before:
            rev += 1  # the planted bug answers with the revision the txn began at
    finally:
        t.end()
    assert resp.header is not None
    resp.header.revision = rev
    return resp


def compaction(store: Store, r: CompactionRequest) -> CompactionResponse:
    """etcd's Compaction: compact, then answer with the current revision."""
    try:
        store.compact(r.revision)
    except MvccError as exc:
        raise to_grpc_error(exc) from None
    return CompactionResponse(ResponseHeader(revision=store.rev()))
