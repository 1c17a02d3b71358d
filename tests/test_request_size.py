"""etcd holds a request's protobuf encoding, not its JSON form, to --max-request-bytes."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from etcdcore.api import rpc
from etcdcore.api.proto_size import internal_raft_request_size, request_size, varint_size
from etcdcore.server.etcdserver import ServerConfig
from sim.cluster.gateway import serve

LIMIT = 1536 * 1024  # etcd's default --max-request-bytes


# ---- an encoder written the other way: bytes out, counted after -------------------------------


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # an int64 below zero is written as its two's complement
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _len(field: int, body: bytes) -> bytes:
    return _key(field, 2) + _varint(len(body)) + body


def _scalars(fields: list[tuple[int, object]]) -> bytes:
    out = b""
    for field, value in fields:
        if isinstance(value, bytes):
            out += _len(field, value) if value else b""
        elif value:
            out += _key(field, 0) + _varint(int(value))  # type: ignore[call-overload]
    return out


def _encode(r: object) -> bytes:
    if isinstance(r, rpc.PutRequest):
        return _scalars([(1, r.key), (2, r.value), (3, r.lease), (4, r.prev_kv),
                         (5, r.ignore_value), (6, r.ignore_lease)])
    if isinstance(r, rpc.RangeRequest):
        return _scalars([(1, r.key), (2, r.range_end), (3, r.limit), (4, r.revision),
                         (5, r.sort_order), (6, r.sort_target), (7, r.serializable),
                         (8, r.keys_only), (9, r.count_only), (10, r.min_mod_revision),
                         (11, r.max_mod_revision), (12, r.min_create_revision),
                         (13, r.max_create_revision)])
    if isinstance(r, rpc.DeleteRangeRequest):
        return _scalars([(1, r.key), (2, r.range_end), (3, r.prev_kv)])
    if isinstance(r, rpc.CompactionRequest):
        return _scalars([(1, r.revision), (2, r.physical)])
    if isinstance(r, rpc.Compare):
        out = _scalars([(1, r.result), (2, r.target), (3, r.key)])
        members = [(4, r.version), (5, r.create_revision), (6, r.mod_revision), (7, r.value),
                   (8, r.lease)]
        union = _scalars(members)
        if not union:  # the member the target reads, set to its zero value
            field = 4 + int(r.target)
            union = _len(field, b"") if field == 7 else _key(field, 0) + _varint(0)
        return out + union + _scalars([(64, r.range_end)])
    assert isinstance(r, rpc.TxnRequest)
    out = b"".join(_len(1, _encode(c)) for c in r.compare)
    for field, ops in ((2, r.success), (3, r.failure)):
        for op in ops:
            one = b"" if op is None else _len(_OP_FIELD[type(op)], _encode(op))
            out += _len(field, one)
    return out


_OP_FIELD = {rpc.RangeRequest: 1, rpc.PutRequest: 2, rpc.DeleteRangeRequest: 3,
             rpc.TxnRequest: 4}
_RAFT_FIELD = {rpc.RangeRequest: 3, rpc.PutRequest: 4, rpc.DeleteRangeRequest: 5,
               rpc.TxnRequest: 6, rpc.CompactionRequest: 7}


def _encode_internal(request_id: int, r: rpc.Request) -> bytes:
    header = _len(100, _key(1, 0) + _varint(request_id) if request_id else b"")
    return header + _len(_RAFT_FIELD[type(r)], _encode(r))


# ---- requests of every kind --------------------------------------------------------------------

_bytes = st.binary(max_size=300)
_int64 = st.integers(-(1 << 63), (1 << 63) - 1)
_puts = st.builds(rpc.PutRequest, _bytes, _bytes, _int64, st.booleans(), st.booleans(),
                  st.booleans())
_ranges = st.builds(rpc.RangeRequest, _bytes, _bytes, _int64, _int64,
                    st.sampled_from(rpc.SortOrder), st.sampled_from(rpc.SortTarget),
                    st.booleans(), st.booleans(), st.booleans(), _int64, _int64, _int64, _int64)
_deletes = st.builds(rpc.DeleteRangeRequest, _bytes, _bytes, st.booleans())


@st.composite
def _compares(draw: st.DrawFn) -> rpc.Compare:
    target = draw(st.sampled_from(rpc.CompareTarget))
    operand: dict[str, object] = {}
    if draw(st.booleans()):  # the member the target reads, or left at zero
        name = ("version", "create_revision", "mod_revision", "value", "lease")[target]
        operand[name] = draw(_bytes if name == "value" else _int64)
    return rpc.Compare(draw(st.sampled_from(rpc.CompareResult)), target, draw(_bytes),
                       draw(_bytes), **operand)  # type: ignore[arg-type]


_txns = st.recursive(
    st.builds(rpc.TxnRequest, st.lists(_compares(), max_size=3).map(tuple)),
    lambda inner: st.builds(
        rpc.TxnRequest, st.lists(_compares(), max_size=3).map(tuple),
        st.lists(st.one_of(st.none(), _puts, _ranges, _deletes, inner), max_size=3).map(tuple),
        st.lists(st.one_of(st.none(), _puts, _ranges, _deletes, inner), max_size=3).map(tuple)),
    max_leaves=8)
_requests = st.one_of(_puts, _ranges, _deletes, _txns,
                      st.builds(rpc.CompactionRequest, _int64, st.booleans()))


def test_a_varint_takes_seven_bits_a_byte_and_a_negative_int64_ten() -> None:
    assert [varint_size(n) for n in (0, 1, 127, 128, 16_383, 16_384, (1 << 64) - 1)] == [
        1, 1, 1, 2, 2, 3, 10]
    assert varint_size(-1) == 10


def test_a_put_of_foo_bar_is_ten_bytes_as_protobuf_writes_it() -> None:
    # 0a 03 'foo' 12 03 'bar': two length-delimited fields.
    assert request_size(rpc.PutRequest(b"foo", b"bar")) == 10
    assert _encode(rpc.PutRequest(b"foo", b"bar")) == bytes.fromhex("0a03666f6f1203626172")


@given(_requests, st.integers(1, (1 << 64) - 1))
def test_the_size_is_that_of_the_protobuf_encoding_of_the_internal_raft_request(
    request: rpc.Request, request_id: int
) -> None:
    assert request_size(request) == len(_encode(request))
    assert internal_raft_request_size(request_id, request) == len(
        _encode_internal(request_id, request))


def test_the_limit_is_compared_with_the_encoding_to_the_byte() -> None:
    # A 9-byte id: the header takes 2 (field 100) + 1 + 10 bytes. The put: key 1 + 1 + 3,
    # value 1 + 3 + n, and its own field 1 + 3. So a value of LIMIT - 26 bytes makes an
    # InternalRaftRequest of exactly LIMIT bytes.
    request_id = 1 << 60
    at_limit = rpc.PutRequest(b"foo", b"x" * (LIMIT - 26))
    assert internal_raft_request_size(request_id, at_limit) == LIMIT
    one_more = rpc.PutRequest(b"foo", b"x" * (LIMIT - 25))
    assert internal_raft_request_size(request_id, one_more) == LIMIT + 1


def _put(value_bytes: int) -> tuple[str, dict[str, str]]:
    return "/v3/kv/put", {"key": "Zm9v", "value": base64.b64encode(b"x" * value_bytes).decode()}


def test_etcd_takes_a_put_of_1572000_bytes_and_refuses_one_of_1573000_as_too_large() -> None:
    # Measured on etcd 3.4 and 3.5; both values are longer than the limit as base64 JSON.
    ok, too_large = serve([_put(1_572_000), _put(1_573_000)])
    assert "error" not in ok and ok["header"]["revision"] == "2"
    assert too_large == {"error": "etcdserver: request is too large", "code": 3,
                         "message": "etcdserver: request is too large"}


def test_grpc_refuses_a_message_beyond_the_limit_and_its_overhead_before_etcd_sees_it() -> None:
    limit = ServerConfig(peers=(1,)).max_recv_msg_bytes
    assert limit == LIMIT + 512 * 1024
    (answer,) = serve([_put(limit)])
    size = request_size(rpc.PutRequest(b"foo", b"x" * limit))
    assert answer["code"] == 8  # ResourceExhausted
    assert answer["message"] == f"grpc: received message larger than max ({size} vs. {limit})"
