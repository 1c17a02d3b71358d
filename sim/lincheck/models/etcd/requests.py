"""etcd's requests, parsed once per operation from its FrozenMap arguments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sim.lincheck.history import is_mapping

__all__ = ["CompactReq", "Compare", "DeleteReq", "PutReq", "RangeReq", "Request", "TxnReq",
           "is_read_only", "is_serializable", "parse_request"]


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
            if not is_mapping(item) or len(item) != 1:
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
    if not is_mapping(args):
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


def is_read_only(req: Request) -> bool:
    """A range, or a txn with no put or delete on any branch, nested txns included (etcd's
    isTxnReadonly): it cannot change the store."""
    if isinstance(req, RangeReq):
        return True
    if isinstance(req, TxnReq):
        return all(is_read_only(op) for op in (*req.success, *req.failure))
    return False


def is_serializable(req: Request) -> bool:
    """A serializable range, or a txn whose every op on both branches is one (etcd's
    isTxnSerializable; a txn with no op at all is one too): the member answers from its own
    store, with no recency promised."""
    if isinstance(req, RangeReq):
        return req.serializable
    if isinstance(req, TxnReq):
        return all(isinstance(op, RangeReq) and op.serializable
                   for op in (*req.success, *req.failure))
    return False
