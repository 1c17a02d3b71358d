"""The KV service as clients reach it (etcd's api/v3rpc): request checks, then the server, then
the response header. The calls and replies that carry it over the network are etcdcore.api.call's.
"""

from __future__ import annotations

import dataclasses

from etcdcore import bugs as planted
from etcdcore.api import rpc, rpctypes
from etcdcore.api.call import Call, Reply
from etcdcore.api.proto_size import request_size
from etcdcore.api.rpctypes import EtcdError
from etcdcore.env import Process
from etcdcore.server.etcdserver import EtcdServer

__all__ = [
    "KVServer",
    "check_delete_request",
    "check_intervals",
    "check_put_request",
    "check_range_request",
    "check_txn_request",
]


# ---- request checks (key.go) ---------------------------------------------------------------


def check_range_request(r: rpc.RangeRequest) -> None:
    """A range needs a key."""
    if not r.key:
        raise rpctypes.EMPTY_KEY.err()


def check_put_request(r: rpc.PutRequest) -> None:
    """A put needs a key; ignore_value excludes a value, ignore_lease a lease."""
    if not r.key:
        raise rpctypes.EMPTY_KEY.err()
    if r.ignore_value and r.value:
        raise rpctypes.VALUE_PROVIDED.err()
    if r.ignore_lease and r.lease:
        raise rpctypes.LEASE_PROVIDED.err()


def check_delete_request(r: rpc.DeleteRangeRequest) -> None:
    """A delete needs a key."""
    if not r.key:
        raise rpctypes.EMPTY_KEY.err()


def check_txn_request(r: rpc.TxnRequest, max_txn_ops: int) -> None:
    """At most `max_txn_ops` compares and ops per branch; every key given; every op set."""
    opc = max(len(r.compare), len(r.success), len(r.failure))
    if opc > max_txn_ops:
        raise rpctypes.TOO_MANY_OPS.err()
    for c in r.compare:
        if not c.key:
            raise rpctypes.EMPTY_KEY.err()
    for op in (*r.success, *r.failure):
        _check_request_op(op, max_txn_ops - opc)


def _check_request_op(op: rpc.RequestOp, max_txn_ops: int) -> None:
    if isinstance(op, rpc.RangeRequest):
        check_range_request(op)
    elif isinstance(op, rpc.PutRequest):
        check_put_request(op)
    elif isinstance(op, rpc.DeleteRangeRequest):
        check_delete_request(op)
    elif isinstance(op, rpc.TxnRequest):
        check_txn_request(op, max_txn_ops)
    else:
        raise rpctypes.KEY_NOT_FOUND.err()  # an op with nothing set, as etcd answers it


class _Dels:
    """Deleted ranges: [key, end) with an empty end meaning "to the end", or single keys.

    As etcd's affine intervals: a range_end of "\\0" makes an empty interval here too, so a
    put under a delete-everything-from-key is not caught (etcd behaves the same).
    """

    def __init__(self) -> None:
        self.ivs: list[tuple[bytes, bytes | None]] = []

    def add(self, key: bytes, end: bytes) -> None:
        self.ivs.append((key, end if end else None))

    def intersects(self, k: bytes) -> bool:
        for begin, end in self.ivs:
            if end is None:
                if k == begin:
                    return True
            elif begin <= k and (k < end):
                return True
        return False


def check_intervals(ops: tuple[rpc.RequestOp, ...]) -> tuple[set[bytes], _Dels]:
    """No key put twice, and no key both put and deleted, on any path through the txn."""
    dels = _Dels()
    for op in ops:
        if isinstance(op, rpc.DeleteRangeRequest):
            dels.add(op.key, op.range_end)
    puts: set[bytes] = set()
    for op in ops:
        if not isinstance(op, rpc.TxnRequest):
            continue
        puts_then, dels_then = check_intervals(op.success)
        puts_else, dels_else = check_intervals(op.failure)
        for k in sorted(puts_then):
            if k in puts or dels.intersects(k):
                raise rpctypes.DUPLICATE_KEY.err()
            puts.add(k)
        for k in sorted(puts_else):
            # a key of the other branch may repeat: only one branch runs
            if (k in puts and k not in puts_then) or dels.intersects(k):
                raise rpctypes.DUPLICATE_KEY.err()
            puts.add(k)
        dels.ivs.extend(dels_then.ivs)
        dels.ivs.extend(dels_else.ivs)
    for op in ops:
        if isinstance(op, rpc.PutRequest):
            if op.key in puts or dels.intersects(op.key):
                raise rpctypes.DUPLICATE_KEY.err()
            puts.add(op.key)
    return puts, dels


# ---- the service ---------------------------------------------------------------------------


class KVServer:
    """etcd's kvServer: check, call the server, fill the header."""

    def __init__(self, s: EtcdServer) -> None:
        self.s = s
        self.keys_only_ignored = planted.KEYS_ONLY_IGNORED in s.cfg.bugs

    def range(self, r: rpc.RangeRequest) -> Process:
        """Range."""
        check_range_request(r)
        if self.keys_only_ignored and r.keys_only:
            r = dataclasses.replace(r, keys_only=False)  # the planted bug: values come back too
        resp = yield from self.s.range(r)
        return self._fill(resp)

    def put(self, r: rpc.PutRequest) -> Process:
        """Put."""
        check_put_request(r)
        resp = yield from self.s.put(r)
        return self._fill(resp)

    def delete_range(self, r: rpc.DeleteRangeRequest) -> Process:
        """DeleteRange."""
        check_delete_request(r)
        resp = yield from self.s.delete_range(r)
        return self._fill(resp)

    def txn(self, r: rpc.TxnRequest) -> Process:
        """Txn: checks, then the overlap check of puts and deletes on each branch."""
        check_txn_request(r, self.s.cfg.max_txn_ops)
        check_intervals(r.success)
        check_intervals(r.failure)
        resp = yield from self.s.txn(r)
        return self._fill(resp)

    def compact(self, r: rpc.CompactionRequest) -> Process:
        """Compact (no request checks in etcd)."""
        resp = yield from self.s.compact(r)
        return self._fill(resp)

    def _fill(self, resp: rpc.Response) -> rpc.Response:
        """etcd's header.fill: ids, term, and the current revision if none was set."""
        h = resp.header
        if h is None:
            h = resp.header = rpc.ResponseHeader()
        h.cluster_id = self.s.cluster_id
        h.member_id = self.s.member_id
        h.raft_term = self.s.term
        if h.revision == 0:
            h.revision = self.s.store.rev()
        return resp

    def handle(self, call: Call) -> Process:
        """Serve one call: the interceptor's leader check, then the method; a Reply."""
        try:
            r = call.request
            # gRPC refuses a message longer than the server's MaxRecvMsgSize before any handler
            # or interceptor sees it.
            size = request_size(r)
            limit = self.s.cfg.max_recv_msg_bytes
            if size > limit:
                raise EtcdError(rpctypes.Code.RESOURCE_EXHAUSTED,
                                f"grpc: received message larger than max ({size} vs. {limit})")
            if call.require_leader and not self.s.lead:
                raise rpctypes.NO_LEADER.err()
            if call.method == "Range" and isinstance(r, rpc.RangeRequest):
                resp = yield from self.range(r)
            elif call.method == "Put" and isinstance(r, rpc.PutRequest):
                resp = yield from self.put(r)
            elif call.method == "DeleteRange" and isinstance(r, rpc.DeleteRangeRequest):
                resp = yield from self.delete_range(r)
            elif call.method == "Txn" and isinstance(r, rpc.TxnRequest):
                resp = yield from self.txn(r)
            elif call.method == "Compact" and isinstance(r, rpc.CompactionRequest):
                resp = yield from self.compact(r)
            else:
                raise EtcdError(rpctypes.Code.UNIMPLEMENTED, f"unknown method {call.method}")
        except EtcdError as exc:
            return Reply(call.id, error=exc)
        return Reply(call.id, response=resp)

