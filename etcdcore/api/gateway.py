"""etcd's v3 JSON gateway form: requests from JSON, responses and errors to JSON.

It reads what grpc-gateway's protobuf JSON reader accepts (etcd 3.4/3.5): proto field names or
their lowerCamelCase JSON names, bytes as base64 (standard or URL alphabet, padding optional),
64-bit integers as JSON integers or as decimal strings of one (Go's int64 reader: no fraction,
no exponent; whitespace inside the quotes allowed), enums by name or number, null as the
default, unknown fields ignored. It writes what the gateway writes: proto field names in field
order, defaults left out, 64-bit integers as strings, bytes as standard base64, compact
separators. Errors are the gateway's body: {"error": message, "code": grpc code, "message":
message}.

Whatever the body, reading it raises GatewayError (InvalidArgument) or gives a request, in time
and memory bounded by the body's size: an integer of any length is refused as out of range
without being converted (`parse_int`, for the JSON reader, keeps a long one as a BigNumber), and
a txn is held to etcd's --max-txn-ops as it is read. etcd reads the whole body, then refuses a
txn with more compares or ops in a list than --max-txn-ops, where each nested txn gets what its
parent's longest list left (checkTxnRequest); here that check is made while reading, so that no
list is read past the limit and nesting ends within it (a txn nested 300 deep is refused as
etcd refuses it, "too many operations in txn request"). Of a body that is wrong in both ways, a
bad field and too many operations, etcd names the first and this reader may name the second.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from etcdcore.api import rpc
from etcdcore.api.rpctypes import TOO_MANY_OPS, Code, EtcdError
from etcdcore.mvcc import KeyValue

__all__ = [
    "MAX_TXN_OPS",
    "PATHS",
    "REQUEST_OP_FIELDS",
    "RESPONSE_OP_FIELDS",
    "BigNumber",
    "GatewayError",
    "dumps",
    "error_to_json",
    "parse_int",
    "request_from_json",
    "request_to_json",
    "response_to_json",
]

MAX_TXN_OPS = 128  # etcd's --max-txn-ops default
_INT64 = (-(1 << 63), (1 << 63) - 1)
_UINT64 = (0, (1 << 64) - 1)
_MAX_INT_DIGITS = 20  # 2**64 has 20 digits: a longer integer is out of range
_INT_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)")  # a JSON integer, as Go's int64 reader takes it
_JSON_SPACE = " \t\n\r"
_SHOWN = 60  # characters of a value an error message shows


class GatewayError(EtcdError):
    """A body the gateway cannot turn into a request (InvalidArgument, as grpc-gateway says)."""

    def __init__(self, message: str) -> None:
        super().__init__(Code.INVALID_ARGUMENT, message)


# ---- reading -------------------------------------------------------------------------------


class BigNumber:
    """A JSON integer with more digits than any 64-bit integer, kept as its text (Python would
    not convert one of more than 4,300 digits, and a long one costs time to convert)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return _clip(self.text)


def parse_int(text: str) -> int | BigNumber:
    """The JSON reader's hook for integers: short ones as ints, longer ones as BigNumbers."""
    return int(text) if len(text.lstrip("-")) <= _MAX_INT_DIGITS else BigNumber(text)


def _clip(text: str) -> str:
    if len(text) <= _SHOWN:
        return text
    return f"{text[:_SHOWN - 3]}... ({len(text)} characters)"


def _show(v: object) -> str:
    """A value for an error message: short, one line, whatever it holds."""
    if isinstance(v, BigNumber):
        return repr(v)
    if isinstance(v, str):
        return _clip(json.dumps(v[:_SHOWN + 1]))
    if isinstance(v, list):
        return f"an array of {len(v)} items"
    if isinstance(v, dict):
        return "an object"
    return json.dumps(v)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _bytes(v: object, where: str) -> bytes:
    if not isinstance(v, str):
        raise GatewayError(f"{where}: bytes must be a base64 string, got {_show(v)}")
    text = v.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise GatewayError(f"{where}: invalid base64 {_show(v)}") from None


def _integer(v: object, where: str, bounds: tuple[int, int]) -> int:
    # A JSON integer, or a string holding one: Go's reader takes no fraction, no exponent, no
    # leading zero, no sign but a minus (2.0 and "1e3" are refused).
    if isinstance(v, int) and not isinstance(v, bool):
        n = v
    elif isinstance(v, BigNumber):
        raise GatewayError(f"{where}: {v!r} is out of range")
    elif isinstance(v, str) and _INT_TEXT.fullmatch(v.strip(_JSON_SPACE)):
        text = v.strip(_JSON_SPACE)
        if len(text.lstrip("-")) > _MAX_INT_DIGITS:
            raise GatewayError(f"{where}: {_clip(text)} is out of range")
        n = int(text)
    else:
        raise GatewayError(f"{where}: integer expected, got {_show(v)}")
    if not bounds[0] <= n <= bounds[1]:
        raise GatewayError(f"{where}: {n} is out of range")
    return n


def _int64(v: object, where: str) -> int:
    return _integer(v, where, _INT64)


def _bool(v: object, where: str) -> bool:
    if not isinstance(v, bool):
        raise GatewayError(f"{where}: true or false expected, got {_show(v)}")
    return v


def _enum(kind: type[enum.IntEnum]) -> Callable[[object, str], Any]:
    def parse(v: object, where: str) -> enum.IntEnum:
        if isinstance(v, str) and v in kind.__members__:
            return kind[v]
        if isinstance(v, int) and not isinstance(v, bool):
            try:
                return kind(v)
            except ValueError:
                pass
        names = ", ".join(kind.__members__)
        raise GatewayError(f"{where}: unknown value {_show(v)} (one of {names})")
    return parse


Reader = Callable[[object, str], Any]


class _Spec:
    """A message's fields: the reader of each, and the JSON names (proto and camelCase)."""

    def __init__(self, readers: Mapping[str, Reader]) -> None:
        self.readers = dict(readers)
        self.names = _json_names(readers)


def _json_names(fields: Iterable[str]) -> dict[str, str]:
    """Each field by its JSON names: the proto's, and its lowerCamelCase."""
    return {**{_camel(n): n for n in fields}, **{n: n for n in fields}}


def _fields(obj: object, where: str, spec: _Spec) -> dict[str, Any]:
    """The known fields of a JSON object as keyword arguments; unknown ones are ignored."""
    if not isinstance(obj, dict):
        raise GatewayError(f"{where}: a JSON object expected, got {_show(obj)}")
    names, readers = spec.names, spec.readers
    out: dict[str, Any] = {}
    for key, value in obj.items():
        name = names.get(key)
        if name is None or value is None:
            continue
        if name in out:
            raise GatewayError(f"{where}: field {name} given twice")
        out[name] = readers[name](value, f"{where}.{name}")
    return out


_RANGE = _Spec({
    "key": _bytes, "range_end": _bytes, "limit": _int64, "revision": _int64,
    "sort_order": _enum(rpc.SortOrder), "sort_target": _enum(rpc.SortTarget),
    "serializable": _bool, "keys_only": _bool, "count_only": _bool,
    "min_mod_revision": _int64, "max_mod_revision": _int64,
    "min_create_revision": _int64, "max_create_revision": _int64,
})
_PUT = _Spec({
    "key": _bytes, "value": _bytes, "lease": _int64, "prev_kv": _bool,
    "ignore_value": _bool, "ignore_lease": _bool,
})
_DELETE = _Spec({"key": _bytes, "range_end": _bytes, "prev_kv": _bool})
_COMPARE = _Spec({
    "result": _enum(rpc.CompareResult), "target": _enum(rpc.CompareTarget),
    "key": _bytes, "range_end": _bytes, "version": _int64, "create_revision": _int64,
    "mod_revision": _int64, "value": _bytes, "lease": _int64,
})
_COMPACT = _Spec({"revision": _int64, "physical": _bool})
_ONEOF_TARGETS = ("version", "create_revision", "mod_revision", "value", "lease")


def _range(v: object, where: str) -> rpc.RangeRequest:
    return rpc.RangeRequest(**_fields(v, where, _RANGE))


def _put(v: object, where: str) -> rpc.PutRequest:
    return rpc.PutRequest(**_fields(v, where, _PUT))


def _delete(v: object, where: str) -> rpc.DeleteRangeRequest:
    return rpc.DeleteRangeRequest(**_fields(v, where, _DELETE))


def _compare(v: object, where: str) -> rpc.Compare:
    fields = _fields(v, where, _COMPARE)
    if sum(1 for n in _ONEOF_TARGETS if n in fields) > 1:
        raise GatewayError(f"{where}: more than one of {', '.join(_ONEOF_TARGETS)} set")
    return rpc.Compare(**fields)


_OPS: dict[str, Reader] = {
    "request_range": _range, "request_put": _put, "request_delete_range": _delete,
}
_OP_NAMES = _json_names((*_OPS, "request_txn"))
_TXN_NAMES = _json_names(("compare", "success", "failure"))


def _txn(v: object, where: str, budget: int) -> rpc.TxnRequest:
    """A txn whose lists hold at most `budget` items each; the txns in its ops get what its
    longest list leaves (etcd's checkTxnRequest, made while reading)."""
    if not isinstance(v, dict):
        raise GatewayError(f"{where}: a JSON object expected, got {_show(v)}")
    lists: dict[str, list[object]] = {}
    for key, value in v.items():
        name = _TXN_NAMES.get(key)
        if name is None or value is None:
            continue
        if name in lists:
            raise GatewayError(f"{where}: field {name} given twice")
        if not isinstance(value, list):
            raise GatewayError(f"{where}.{name}: a JSON array expected, got {_show(value)}")
        lists[name] = value
    opc = max((len(items) for items in lists.values()), default=0)
    if opc > budget:
        raise GatewayError(TOO_MANY_OPS.message)
    compare = tuple(_compare(c, f"{where}.compare[{i}]")
                    for i, c in enumerate(lists.get("compare", ())))
    return rpc.TxnRequest(compare, _request_ops(lists.get("success", []), f"{where}.success",
                                                budget - opc),
                          _request_ops(lists.get("failure", []), f"{where}.failure",
                                       budget - opc))


def _request_ops(items: list[object], where: str, budget: int) -> tuple[rpc.RequestOp, ...]:
    out: list[rpc.RequestOp] = []
    for i, item in enumerate(items):  # a loop, not a generator: a frame fewer per nesting
        out.append(_request_op(item, f"{where}[{i}]", budget))
    return tuple(out)


def _request_op(v: object, where: str, budget: int) -> rpc.RequestOp:
    """A RequestOp: the one request it sets, or None if it sets none."""
    if not isinstance(v, dict):
        raise GatewayError(f"{where}: a JSON object expected, got {_show(v)}")
    found: tuple[str, object] | None = None
    for key, value in v.items():
        name = _OP_NAMES.get(key)
        if name is None or value is None:
            continue
        if found is not None:
            raise GatewayError(f"{where}: field {name} given twice" if found[0] == name
                               else f"{where}: more than one request set")
        found = (name, value)
    if found is None:
        return None
    name, value = found
    if name == "request_txn":
        return _txn(value, f"{where}.request_txn", budget)
    return _OPS[name](value, f"{where}.{name}")  # type: ignore[no-any-return]


def _compaction(v: object, where: str) -> rpc.CompactionRequest:
    return rpc.CompactionRequest(**_fields(v, where, _COMPACT))


def _txn_body(v: object, where: str) -> rpc.TxnRequest:
    return _txn(v, where, MAX_TXN_OPS)


PATHS: dict[str, Callable[[object, str], rpc.Request]] = {
    "/v3/kv/range": _range,
    "/v3/kv/put": _put,
    "/v3/kv/deleterange": _delete,
    "/v3/kv/txn": _txn_body,
    "/v3/kv/compaction": _compaction,
}


def request_from_json(path: str, body: object, max_txn_ops: int = MAX_TXN_OPS) -> rpc.Request:
    """The request a POST of `body` to `path` makes; GatewayError if the body is not one (a
    txn beyond `max_txn_ops`, etcd's --max-txn-ops, included).

    KeyError if `path` is not one of PATHS (the gateway would answer 404).
    """
    reader = PATHS[path]
    if reader is _txn_body:
        return _txn(body, "body", max_txn_ops)
    return reader(body, "body")


# ---- writing -------------------------------------------------------------------------------


def _b64(b: bytes) -> str:
    # base64.b64encode's own body, without its Python-level call.
    return binascii.b2a_base64(b, newline=False).decode("ascii")


def _header(h: rpc.ResponseHeader) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("cluster_id", "member_id", "revision", "raft_term"):
        value = getattr(h, name)
        if value:
            out[name] = str(value)
    return out


def _kv(kv: KeyValue) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if kv.key:
        out["key"] = _b64(kv.key)
    for name in ("create_revision", "mod_revision", "version"):
        value = getattr(kv, name)
        if value:
            out[name] = str(value)
    if kv.value:
        out["value"] = _b64(kv.value)
    if kv.lease:
        out["lease"] = str(kv.lease)
    return out


RESPONSE_OP_FIELDS = {rpc.RangeResponse: "response_range", rpc.PutResponse: "response_put",
                rpc.DeleteRangeResponse: "response_delete_range",
                rpc.TxnResponse: "response_txn"}


def response_to_json(resp: rpc.Response) -> dict[str, Any]:
    """A response as the gateway writes it (defaults left out)."""
    out: dict[str, Any] = {}
    if resp.header is not None:
        out["header"] = _header(resp.header)
    if isinstance(resp, rpc.RangeResponse):
        if resp.kvs:
            out["kvs"] = [_kv(kv) for kv in resp.kvs]
        if resp.more:
            out["more"] = True
        if resp.count:
            out["count"] = str(resp.count)
    elif isinstance(resp, rpc.PutResponse):
        if resp.prev_kv is not None:
            out["prev_kv"] = _kv(resp.prev_kv)
    elif isinstance(resp, rpc.DeleteRangeResponse):
        if resp.deleted:
            out["deleted"] = str(resp.deleted)
        if resp.prev_kvs:
            out["prev_kvs"] = [_kv(kv) for kv in resp.prev_kvs]
    elif isinstance(resp, rpc.TxnResponse):
        if resp.succeeded:
            out["succeeded"] = True
        if resp.responses:
            out["responses"] = [{RESPONSE_OP_FIELDS[type(r)]: response_to_json(r)}
                                for r in resp.responses]
    return out


REQUEST_OP_FIELDS = {rpc.RangeRequest: "request_range", rpc.PutRequest: "request_put",
               rpc.DeleteRangeRequest: "request_delete_range", rpc.TxnRequest: "request_txn"}


def request_to_json(req: rpc.Request | rpc.Compare) -> dict[str, Any]:
    """A request in the gateway's JSON form (what `request_from_json` reads back)."""
    out: dict[str, Any] = {}
    for name in req.__dataclass_fields__:
        value = getattr(req, name)
        if not value:
            continue
        if isinstance(value, bytes):
            out[name] = _b64(value)
        elif isinstance(value, enum.IntEnum):
            out[name] = value.name
        elif isinstance(value, bool):
            out[name] = True
        elif isinstance(value, int):
            out[name] = str(value)
        elif name == "compare":
            out[name] = [request_to_json(c) for c in value]
        else:  # success / failure
            out[name] = [{} if op is None else {REQUEST_OP_FIELDS[type(op)]: request_to_json(op)}
                         for op in value]
    return out


def error_to_json(err: EtcdError) -> dict[str, Any]:
    """An error as the gateway's body."""
    return {"error": err.message, "code": int(err.code), "message": err.message}


def dumps(obj: Mapping[str, Any]) -> str:
    """Compact JSON, as Go's encoder writes it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
