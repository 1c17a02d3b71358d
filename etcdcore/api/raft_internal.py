"""InternalRaftRequest (raft_internal.proto): what a raft entry carries for the KV server.

Encoded as compact JSON in the gateway's form, so an entry in a trace or a WAL dump is
readable; the encoding is deterministic (fields in proto order).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from etcdcore.api import rpc
from etcdcore.api.compact_json import dumps
from etcdcore.api.gateway import PATHS, GatewayError, request_from_json, request_to_json

__all__ = ["InternalRaftRequest"]

_FIELD = {rpc.RangeRequest: "range", rpc.PutRequest: "put",
          rpc.DeleteRangeRequest: "delete_range", rpc.TxnRequest: "txn",
          rpc.CompactionRequest: "compaction"}
_PATH = {"range": "/v3/kv/range", "put": "/v3/kv/put", "delete_range": "/v3/kv/deleterange",
         "txn": "/v3/kv/txn", "compaction": "/v3/kv/compaction"}
assert set(_PATH.values()) == set(PATHS)
_CACHE_SIZE = 4096
_ANY = 1 << 62
_DECODED: dict[bytes, InternalRaftRequest] = {}


@dataclass(frozen=True, slots=True)
class InternalRaftRequest:
    """One proposal: the request id the proposer waits on, and the request."""

    id: int
    request: rpc.Request

    def marshal(self) -> bytes:
        """The entry's data."""
        field = _FIELD[type(self.request)]
        body = {"header": {"ID": str(self.id)}, field: request_to_json(self.request)}
        data = dumps(body).encode()
        # The data decodes to this very request (the encoding is lossless: tests hold
        # decode(marshal(x)) == x), so the members applying it need not run the JSON reader.
        _remember(data, self)
        return data

    @classmethod
    def unmarshal(cls, data: bytes) -> InternalRaftRequest:
        """Decode an entry's data; ValueError if it is not an InternalRaftRequest."""
        # Every member decodes every entry: remember recent ones (a pure function's cache).
        cached = _DECODED.get(data)
        if cached is not None:
            return cached
        decoded = cls._decode(data)
        _remember(data, decoded)
        return decoded

    @classmethod
    def _decode(cls, data: bytes) -> InternalRaftRequest:
        try:
            body = json.loads(data)
            id_ = int(body["header"]["ID"])
            (field,) = (k for k in body if k != "header")
            # The proposer held the request to its own --max-txn-ops: none here.
            return cls(id_, request_from_json(_PATH[field], body[field], max_txn_ops=_ANY))
        except (ValueError, KeyError, TypeError, GatewayError) as exc:
            raise ValueError(f"not an InternalRaftRequest: {data[:80]!r}: {exc}") from None


def _remember(data: bytes, request: InternalRaftRequest) -> None:
    if len(_DECODED) >= _CACHE_SIZE:
        _DECODED.clear()
    _DECODED[data] = request
