"""etcd's JSON gateway form: what it reads and what it writes."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from etcdcore.api import compact_json, gateway, rpctypes
from etcdcore.api.raft_internal import InternalRaftRequest
from etcdcore.api.rpc import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    ResponseHeader,
    SortOrder,
    TxnRequest,
    TxnResponse,
)
from etcdcore.mvcc import KeyValue
from sim.cluster.workload import WorkloadConfig, _Picker


def test_a_put_body_is_read_with_base64_bytes() -> None:
    req = gateway.request_from_json("/v3/kv/put", {"key": "Zm9v", "value": "YmFy"})
    assert req == PutRequest(b"foo", b"bar")


def test_camel_case_names_strings_for_int64_enum_names_and_nulls_are_read() -> None:
    req = gateway.request_from_json("/v3/kv/range", {
        "key": "YQ==", "rangeEnd": "AA==", "limit": "2", "revision": 3,
        "sort_order": "DESCEND", "serializable": True, "keys_only": None, "unknown": 1})
    assert req == RangeRequest(b"a", b"\x00", limit=2, revision=3,
                               sort_order=SortOrder.DESCEND, serializable=True)


def test_url_safe_and_unpadded_base64_are_read() -> None:
    assert gateway.request_from_json("/v3/kv/put", {"key": "_-8"}) == PutRequest(b"\xff\xef")


@pytest.mark.parametrize("body", [
    {"key": "not base64!"}, {"key": 5}, {"limit": "x"}, {"limit": True},
    {"sort_order": "SIDEWAYS"}, {"serializable": "yes"}, [1], {"limit": str(1 << 63)},
])
def test_a_bad_body_is_an_invalid_argument(body: object) -> None:
    with pytest.raises(gateway.GatewayError) as exc:
        gateway.request_from_json("/v3/kv/range", body)
    assert exc.value.code == rpctypes.Code.INVALID_ARGUMENT
    assert exc.value.message.startswith("body")


def test_a_txn_reads_compares_and_nested_ops() -> None:
    req = gateway.request_from_json("/v3/kv/txn", {
        "compare": [{"key": "aw==", "target": "MOD", "result": "LESS", "mod_revision": "9"}],
        "success": [{"request_put": {"key": "aw==", "value": "dg=="}},
                    {"requestTxn": {"failure": [{"request_delete_range": {"key": "aw=="}}]}}],
        "failure": [{}],
    })
    assert req == TxnRequest(
        compare=(Compare(CompareResult.LESS, CompareTarget.MOD, b"k", mod_revision=9),),
        success=(PutRequest(b"k", b"v"), TxnRequest(failure=(DeleteRangeRequest(b"k"),))),
        failure=(None,),
    )


def test_responses_leave_defaults_out_and_write_int64_as_strings() -> None:
    header = ResponseHeader(14841639068965178418, 10276657743932975437, 2, 2)
    put = gateway.dumps(gateway.response_to_json(PutResponse(header)))
    assert put == ('{"header":{"cluster_id":"14841639068965178418",'
                   '"member_id":"10276657743932975437","revision":"2","raft_term":"2"}}')
    rng = RangeResponse(ResponseHeader(revision=2),
                        [KeyValue(b"foo", 2, 2, 1, b"bar")], count=1)
    assert gateway.dumps(gateway.response_to_json(rng)) == (
        '{"header":{"revision":"2"},"kvs":[{"key":"Zm9v","create_revision":"2",'
        '"mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}')
    empty = RangeResponse(ResponseHeader(revision=2))
    assert gateway.response_to_json(empty) == {"header": {"revision": "2"}}


def test_a_txn_response_names_each_op_response_and_keeps_an_empty_nested_header() -> None:
    resp = TxnResponse(ResponseHeader(revision=3), True,
                       [PutResponse(ResponseHeader(revision=3)),
                        TxnResponse(ResponseHeader(), False, [])])
    assert gateway.response_to_json(resp) == {
        "header": {"revision": "3"}, "succeeded": True,
        "responses": [{"response_put": {"header": {"revision": "3"}}},
                      {"response_txn": {"header": {}}}]}


def test_an_error_is_written_as_the_gateway_body() -> None:
    body = gateway.error_to_json(rpctypes.COMPACTED.err())
    assert body == {"error": "etcdserver: mvcc: required revision has been compacted",
                    "code": 11,
                    "message": "etcdserver: mvcc: required revision has been compacted"}


@pytest.mark.parametrize("req", [
    PutRequest(b"k", b"v", prev_kv=True),
    RangeRequest(b"a", b"\x00", limit=3, sort_order=SortOrder.ASCEND, count_only=True),
    DeleteRangeRequest(b"a", b"b", prev_kv=True),
    TxnRequest(compare=(Compare(CompareResult.EQUAL, CompareTarget.VALUE, b"k", value=b"v"),),
               success=(PutRequest(b"k", b"w"), None), failure=(RangeRequest(b"k"),)),
])
def test_a_raft_entry_carries_the_request_unchanged(req: object) -> None:
    entry = InternalRaftRequest(1 << 60, req)  # type: ignore[arg-type]
    assert InternalRaftRequest._decode(entry.marshal()) == entry  # the JSON reader itself
    assert InternalRaftRequest.unmarshal(entry.marshal()) == entry


@settings(max_examples=60)
@given(st.integers(0, 2**32), st.integers(1, 1 << 62))
def test_every_request_the_workload_draws_decodes_to_itself(seed: int, request_id: int) -> None:
    # marshal() lets members skip decoding on the strength of this rule.
    picker = _Picker(WorkloadConfig(), client=1, rand=random.Random(seed))
    picker.last_rev = 50
    for _ in range(20):
        entry = InternalRaftRequest(request_id, picker.next())
        assert InternalRaftRequest._decode(entry.marshal()) == entry


def test_a_raft_entry_that_is_not_a_request_is_refused() -> None:
    with pytest.raises(ValueError, match="not an InternalRaftRequest"):
        InternalRaftRequest.unmarshal(b"marker-17")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text() | st.floats(allow_nan=False),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)


@given(_JSON)
def test_compact_json_writes_what_json_dumps_writes(value: object) -> None:
    assert compact_json.dumps(value) == json.dumps(value, separators=(",", ":"))


def test_compact_json_refuses_what_json_cannot_write() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        compact_json.dumps({"a": b"bytes"})
