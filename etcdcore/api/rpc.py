"""etcd v3's KV requests and responses (api/v3/etcdserverpb/rpc.proto), as Python values.

Field names and defaults are the proto's (proto3: 0, false, empty bytes, an unset message is
None). Keys and values are bytes. A `range_end` of b"\\0" means "every key >= key" and an empty
one means "only `key`", exactly as in etcd. Requests are frozen; responses are filled in by the
server as etcd fills its response structs (the header last).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TypeAlias

from etcdcore.mvcc import KeyValue

__all__ = [
    "CompactionRequest",
    "CompactionResponse",
    "Compare",
    "CompareResult",
    "CompareTarget",
    "DeleteRangeRequest",
    "DeleteRangeResponse",
    "KeyValue",
    "PutRequest",
    "PutResponse",
    "RangeRequest",
    "RangeResponse",
    "Request",
    "RequestOp",
    "Response",
    "ResponseHeader",
    "ResponseOp",
    "SortOrder",
    "SortTarget",
    "TxnRequest",
    "TxnResponse",
]


class SortOrder(enum.IntEnum):
    """RangeRequest.SortOrder."""

    NONE = 0
    ASCEND = 1
    DESCEND = 2


class SortTarget(enum.IntEnum):
    """RangeRequest.SortTarget."""

    KEY = 0
    VERSION = 1
    CREATE = 2
    MOD = 3
    VALUE = 4


class CompareResult(enum.IntEnum):
    """Compare.CompareResult."""

    EQUAL = 0
    GREATER = 1
    LESS = 2
    NOT_EQUAL = 3


class CompareTarget(enum.IntEnum):
    """Compare.CompareTarget."""

    VERSION = 0
    CREATE = 1
    MOD = 2
    VALUE = 3
    LEASE = 4


@dataclass(frozen=True, slots=True)
class RangeRequest:
    """Range: one key, or [key, range_end), at a revision (0: the latest)."""

    key: bytes = b""
    range_end: bytes = b""
    limit: int = 0
    revision: int = 0
    sort_order: SortOrder = SortOrder.NONE
    sort_target: SortTarget = SortTarget.KEY
    serializable: bool = False
    keys_only: bool = False
    count_only: bool = False
    min_mod_revision: int = 0
    max_mod_revision: int = 0
    min_create_revision: int = 0
    max_create_revision: int = 0


@dataclass(frozen=True, slots=True)
class PutRequest:
    """Put a key."""

    key: bytes = b""
    value: bytes = b""
    lease: int = 0
    prev_kv: bool = False
    ignore_value: bool = False
    ignore_lease: bool = False


@dataclass(frozen=True, slots=True)
class DeleteRangeRequest:
    """Delete one key, or [key, range_end)."""

    key: bytes = b""
    range_end: bytes = b""
    prev_kv: bool = False


@dataclass(frozen=True, slots=True)
class Compare:
    """One txn guard: `target` of every key in the range compared with the operand for it."""

    result: CompareResult = CompareResult.EQUAL
    target: CompareTarget = CompareTarget.VERSION
    key: bytes = b""
    range_end: bytes = b""
    # The proto's `target_union`: only the field named by `target` is read.
    version: int = 0
    create_revision: int = 0
    mod_revision: int = 0
    value: bytes = b""
    lease: int = 0


@dataclass(frozen=True, slots=True)
class TxnRequest:
    """If every compare holds, run `success`, else `failure`, as one revision."""

    compare: tuple[Compare, ...] = ()
    success: tuple[RequestOp, ...] = ()
    failure: tuple[RequestOp, ...] = ()


# A RequestOp is its oneof's one member; None is an op with nothing set (etcd rejects it).
RequestOp: TypeAlias = RangeRequest | PutRequest | DeleteRangeRequest | TxnRequest | None


@dataclass(frozen=True, slots=True)
class CompactionRequest:
    """Compact the history up to `revision`; `physical` waits until it is done on disk."""

    revision: int = 0
    physical: bool = False


Request: TypeAlias = RangeRequest | PutRequest | DeleteRangeRequest | TxnRequest | CompactionRequest


@dataclass(slots=True)
class ResponseHeader:
    """Who answered and at which revision and term."""

    cluster_id: int = 0
    member_id: int = 0
    revision: int = 0
    raft_term: int = 0


@dataclass(slots=True)
class RangeResponse:
    """The keys found; `count` counts all matches, `more` says the limit cut some."""

    header: ResponseHeader | None = None
    kvs: list[KeyValue] = field(default_factory=list)
    more: bool = False
    count: int = 0


@dataclass(slots=True)
class PutResponse:
    """A put's answer; `prev_kv` when asked for and the key existed."""

    header: ResponseHeader | None = None
    prev_kv: KeyValue | None = None


@dataclass(slots=True)
class DeleteRangeResponse:
    """How many keys were deleted, and them when asked for."""

    header: ResponseHeader | None = None
    deleted: int = 0
    prev_kvs: list[KeyValue] = field(default_factory=list)


@dataclass(slots=True)
class TxnResponse:
    """Which branch ran, and one response per op of it."""

    header: ResponseHeader | None = None
    succeeded: bool = False
    responses: list[ResponseOp] = field(default_factory=list)


@dataclass(slots=True)
class CompactionResponse:
    """A compaction's answer."""

    header: ResponseHeader | None = None


ResponseOp: TypeAlias = RangeResponse | PutResponse | DeleteRangeResponse | TxnResponse
Response: TypeAlias = (
    RangeResponse | PutResponse | DeleteRangeResponse | TxnResponse | CompactionResponse
)
