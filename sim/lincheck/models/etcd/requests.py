"""etcd's requests, parsed once per operation from its FrozenMap arguments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sim.lincheck.history import brief, is_mapping
from sim.lincheck.models.etcd.recorded import int64

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
    if end is not None and not isinstance(end, str):
        raise ValueError(f"range_end must be a string, got {brief(end)}")
    # proto3 sends an empty range_end as nil: the single key.
    return None if end is None or end == "" else end


def _int(args: Mapping[str, Any], name: str) -> int:
    value = args.get(name)
    return 0 if value is None else int64(value, name)


def _flag(args: Mapping[str, Any], name: str) -> bool:
    value = args.get(name)
    if value is not None and not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {brief(value)}")
    return bool(value)


def _str(args: Mapping[str, Any], name: str) -> str:
    value = args.get(name)
    if value is None:
        return ""  # proto3's default
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {brief(value)}")
    return value


def _key(args: Mapping[str, Any]) -> str:
    key = args.get("key")
    if not isinstance(key, str):
        raise ValueError(f"key must be a string, got {brief(key)}")
    return key


def _parse_range(args: Mapping[str, Any]) -> RangeReq:
    target = args.get("sort_target") or "KEY"
    order = args.get("sort_order") or "NONE"
    if target != "KEY" or order not in ("NONE", "ASCEND", "DESCEND"):
        raise ValueError(f"sorting by {brief(target)} {brief(order)} is not modelled")
    return RangeReq(_key(args), _end(args), _int(args, "revision"), _int(args, "limit"),
                    _flag(args, "keys_only"), _flag(args, "count_only"),
                    order == "DESCEND", _int(args, "min_mod_revision"),
                    _int(args, "max_mod_revision"), _int(args, "min_create_revision"),
                    _int(args, "max_create_revision"), _flag(args, "serializable"))


def _parse_put(args: Mapping[str, Any]) -> PutReq:
    if _int(args, "lease") or _flag(args, "ignore_value") or _flag(args, "ignore_lease"):
        raise ValueError("leases and ignore_value / ignore_lease are not modelled")
    return PutReq(_key(args), _str(args, "value"), _flag(args, "prev_kv"))


def _parse_compare(c: Any, where: str) -> Compare:
    if not is_mapping(c):
        raise ValueError(f"{where} must be an object, got {brief(c)}")
    target, result = c.get("target"), c.get("result") or "EQUAL"
    if target not in _TARGET_FIELD:
        raise ValueError(f"{where}.target must be one of {sorted(_TARGET_FIELD)}, got "
                         f"{brief(target)}")
    if result not in _RESULTS:
        raise ValueError(f"{where}.result must be one of {list(_RESULTS)}, got {brief(result)}")
    field = _TARGET_FIELD[target]
    operand: str | int = _str(c, field) if target == "VALUE" else _int(c, field)
    return Compare(_key(c), _end(c), target, result, operand)


_TXN_OPS = {"request_put": "put", "request_range": "range",
            "request_delete_range": "delete_range", "request_txn": "txn"}


def _items(args: Mapping[str, Any], name: str) -> tuple[Any, ...]:
    value = args.get(name)
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{name} must be a list, got {brief(value)}")
    return tuple(value)


def _parse_txn(args: Mapping[str, Any]) -> TxnReq:
    def ops(name: str) -> tuple[Request, ...]:
        out: list[Request] = []
        for i, item in enumerate(_items(args, name)):
            if not is_mapping(item) or len(item) != 1:
                raise ValueError(f"{name}[{i}] must be an object with one of "
                                 f"{', '.join(sorted(_TXN_OPS))}, got {brief(item)}")
            (kind, inner), = item.items()
            if kind not in _TXN_OPS:
                raise ValueError(f"unknown txn op {brief(kind)} in {name}[{i}]")
            out.append(parse_request(_TXN_OPS[kind], inner))
        return tuple(out)

    compares = tuple(_parse_compare(c, f"compare[{i}]")
                     for i, c in enumerate(_items(args, "compare")))
    return TxnReq(compares, ops("success"), ops("failure"))


def parse_request(f: str, args: Mapping[str, Any]) -> Request:
    """An operation's name and arguments as a request; ValueError if they are not etcd's."""
    if f not in ("range", "put", "delete_range", "txn", "compact"):
        raise ValueError(f"unknown operation {brief(f)}: etcd's are range, put, delete_range, "
                         "txn, compact")
    if not is_mapping(args):
        raise ValueError(f"arguments must be an object, got {brief(args)}")
    if f == "range":
        return _parse_range(args)
    if f == "put":
        return _parse_put(args)
    if f == "delete_range":
        return DeleteReq(_key(args), _end(args), _flag(args, "prev_kv"))
    if f == "txn":
        return _parse_txn(args)
    return CompactReq(_int(args, "revision"))


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
