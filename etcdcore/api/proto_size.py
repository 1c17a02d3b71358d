"""The size of etcd's protobuf encoding of a request: what etcd holds to --max-request-bytes.

etcd's processInternalRaftRequestOnce marshals the InternalRaftRequest (raft_internal.proto: a
RequestHeader carrying the request id, at field 100, and the request at its own field) and
refuses it with "etcdserver: request is too large" if that is longer than --max-request-bytes
(1.5 MiB by default). etcdcore's entries are JSON, to be readable, and base64 makes a value a
third longer: the limit is held against the size the protobuf encoding has, computed here as
gogoproto's Size() computes it. proto3 writes no field at its default; a message field that is
set is written even when empty; a oneof member that is set is written even when zero.

Field numbers are those of etcd's api/etcdserverpb/rpc.proto and raft_internal.proto.
"""

from __future__ import annotations

from etcdcore.api import rpc

__all__ = ["internal_raft_request_size", "request_size", "varint_size"]

_LEN = 2  # the wire type of bytes and messages


def varint_size(n: int) -> int:
    """The bytes of `n` as a varint: 7 bits a byte; a negative int64 always takes ten."""
    if n < 0:
        return 10
    return (n.bit_length() + 6) // 7 or 1


def _tag(field: int, wire: int = 0) -> int:
    return varint_size(field << 3 | wire)


def _varint(field: int, n: int) -> int:
    return _tag(field) + varint_size(n) if n else 0


def _flag(field: int, b: bool) -> int:
    return _tag(field) + 1 if b else 0


def _bytes(field: int, b: bytes) -> int:
    return _tag(field, _LEN) + varint_size(len(b)) + len(b) if b else 0


def _message(field: int, size: int) -> int:
    """A set message field (written even when it is empty)."""
    return _tag(field, _LEN) + varint_size(size) + size


def _range(r: rpc.RangeRequest) -> int:
    return (_bytes(1, r.key) + _bytes(2, r.range_end) + _varint(3, r.limit)
            + _varint(4, r.revision) + _varint(5, r.sort_order) + _varint(6, r.sort_target)
            + _flag(7, r.serializable) + _flag(8, r.keys_only) + _flag(9, r.count_only)
            + _varint(10, r.min_mod_revision) + _varint(11, r.max_mod_revision)
            + _varint(12, r.min_create_revision) + _varint(13, r.max_create_revision))


def _put(r: rpc.PutRequest) -> int:
    return (_bytes(1, r.key) + _bytes(2, r.value) + _varint(3, r.lease) + _flag(4, r.prev_kv)
            + _flag(5, r.ignore_value) + _flag(6, r.ignore_lease))


def _delete(r: rpc.DeleteRangeRequest) -> int:
    return _bytes(1, r.key) + _bytes(2, r.range_end) + _flag(3, r.prev_kv)


def _compare(c: rpc.Compare) -> int:
    size = (_varint(1, c.result) + _varint(2, c.target) + _bytes(3, c.key)
            + _bytes(64, c.range_end))
    # The target_union oneof: the member that holds something; with none, the one the target
    # reads, written with its zero value, as clientv3's Compare sets it.
    union = (_varint(4, c.version) + _varint(5, c.create_revision) + _varint(6, c.mod_revision)
             + _bytes(7, c.value) + _varint(8, c.lease))
    if not union:
        field = _UNION_FIELD[c.target]
        union = _tag(field, _LEN if field == 7 else 0) + 1  # a zero varint, or no bytes
    return size + union


_UNION_FIELD = {rpc.CompareTarget.VERSION: 4, rpc.CompareTarget.CREATE: 5,
                rpc.CompareTarget.MOD: 6, rpc.CompareTarget.VALUE: 7,
                rpc.CompareTarget.LEASE: 8}


def _request_op(op: rpc.RequestOp) -> int:
    """A RequestOp: its oneof's one member (none: an empty message)."""
    if op is None:
        return 0
    if isinstance(op, rpc.RangeRequest):
        return _message(1, _range(op))
    if isinstance(op, rpc.PutRequest):
        return _message(2, _put(op))
    if isinstance(op, rpc.DeleteRangeRequest):
        return _message(3, _delete(op))
    return _message(4, _txn(op))


def _txn(r: rpc.TxnRequest) -> int:
    size = 0
    for c in r.compare:
        size += _message(1, _compare(c))
    for op in r.success:
        size += _message(2, _request_op(op))
    for op in r.failure:
        size += _message(3, _request_op(op))
    return size


def _compaction(r: rpc.CompactionRequest) -> int:
    return _varint(1, r.revision) + _flag(2, r.physical)


def request_size(r: rpc.Request) -> int:
    """The bytes of the request's own message (what gRPC receives)."""
    if isinstance(r, rpc.PutRequest):
        return _put(r)
    if isinstance(r, rpc.RangeRequest):
        return _range(r)
    if isinstance(r, rpc.DeleteRangeRequest):
        return _delete(r)
    if isinstance(r, rpc.TxnRequest):
        return _txn(r)
    return _compaction(r)


# The request's field in InternalRaftRequest.
_FIELD = {rpc.RangeRequest: 3, rpc.PutRequest: 4, rpc.DeleteRangeRequest: 5,
          rpc.TxnRequest: 6, rpc.CompactionRequest: 7}


def internal_raft_request_size(request_id: int, r: rpc.Request) -> int:
    """The bytes of InternalRaftRequest{Header: {ID: request_id}, <r's field>: r}, as etcd
    marshals it before holding it to --max-request-bytes (no auth: no user in the header)."""
    header = _message(100, _varint(1, request_id))
    return header + _message(_FIELD[type(r)], request_size(r))
