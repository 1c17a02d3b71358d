"""Rules of etcd's KV API, on the applier and the request checks (no cluster needed)."""

from __future__ import annotations

import pytest

from etcdcore.api import rpctypes
from etcdcore.api.rpc import (
    CompactionRequest,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    PutRequest,
    RangeRequest,
    RangeResponse,
    SortOrder,
    SortTarget,
    TxnRequest,
    TxnResponse,
)
from etcdcore.api.rpctypes import EtcdError
from etcdcore.mvcc import Store
from etcdcore.server import txn
from etcdcore.server.v3rpc import (
    check_intervals,
    check_put_request,
    check_range_request,
    check_txn_request,
)


def put(s: Store, key: bytes, value: bytes = b"v", **kw: bool) -> int:
    t = s.write()
    try:
        resp = txn.put(t, PutRequest(key, value, **kw))
    finally:
        t.end()
    assert resp.header is not None
    return resp.header.revision


def delete(s: Store, key: bytes, end: bytes = b"") -> tuple[int, int]:
    t = s.write()
    try:
        resp = txn.delete_range(t, DeleteRangeRequest(key, end))
    finally:
        t.end()
    assert resp.header is not None
    return resp.deleted, resp.header.revision


def get(s: Store, key: bytes, **kw: object) -> RangeResponse:
    return txn.range_(s.read(), RangeRequest(key, **kw))  # type: ignore[arg-type]


def status_of(exc: pytest.ExceptionInfo[EtcdError]) -> rpctypes.Status:
    return exc.value.status


def test_an_empty_store_answers_at_revision_1_and_the_first_put_makes_2() -> None:
    s = Store()
    assert get(s, b"a").header.revision == 1  # type: ignore[union-attr]
    assert put(s, b"a") == 2


def test_version_starts_again_at_1_after_a_delete() -> None:
    s = Store()
    put(s, b"k")
    put(s, b"k")
    assert get(s, b"k").kvs[0].version == 2
    delete(s, b"k")
    rev = put(s, b"k")
    kv = get(s, b"k").kvs[0]
    assert (kv.version, kv.create_revision, kv.mod_revision) == (1, rev, rev)


def test_a_delete_that_deletes_nothing_does_not_bump_the_revision() -> None:
    s = Store()
    put(s, b"a")
    assert delete(s, b"zzz") == (0, 2)
    assert s.rev() == 2
    assert delete(s, b"a") == (1, 3)


def test_range_end_zero_byte_means_every_key_from_key_on() -> None:
    s = Store()
    for k in (b"a", b"b", b"c"):
        put(s, k)
    assert [kv.key for kv in get(s, b"b", range_end=b"\x00").kvs] == [b"b", b"c"]
    assert [kv.key for kv in get(s, b"a", range_end=b"c").kvs] == [b"a", b"b"]
    assert [kv.key for kv in get(s, b"b").kvs] == [b"b"]


def test_range_limit_cuts_and_says_more_while_count_counts_everything() -> None:
    s = Store()
    for k in (b"a", b"b", b"c"):
        put(s, k)
    resp = get(s, b"a", range_end=b"\x00", limit=2)
    assert [kv.key for kv in resp.kvs] == [b"a", b"b"]
    assert (resp.more, resp.count) == (True, 3)
    exact = get(s, b"a", range_end=b"\x00", limit=3)
    assert (exact.more, exact.count) == (False, 3)


def test_range_sorts_by_target_and_descends() -> None:
    s = Store()
    put(s, b"a", b"3")
    put(s, b"b", b"1")
    put(s, b"c", b"2")
    by_value = get(s, b"a", range_end=b"\x00", sort_target=SortTarget.VALUE)
    assert [kv.key for kv in by_value.kvs] == [b"b", b"c", b"a"]  # no order: ascending
    down = get(s, b"a", range_end=b"\x00", sort_order=SortOrder.DESCEND, limit=2)
    assert [kv.key for kv in down.kvs] == [b"c", b"b"] and down.more


def test_keys_only_and_count_only() -> None:
    s = Store()
    put(s, b"a", b"value")
    assert get(s, b"a", keys_only=True).kvs[0].value == b""
    counted = get(s, b"a", count_only=True)
    assert (counted.kvs, counted.count) == ([], 1)


def test_compaction_errors_for_compacted_and_future_revisions() -> None:
    s = Store()
    for _ in range(4):
        put(s, b"k")  # revisions 2..5
    with pytest.raises(EtcdError) as exc:
        txn.compaction(s, CompactionRequest(6))
    assert status_of(exc) == rpctypes.FUTURE_REV
    assert txn.compaction(s, CompactionRequest(3)).header.revision == 5  # type: ignore[union-attr]
    with pytest.raises(EtcdError) as exc:
        txn.compaction(s, CompactionRequest(3))
    assert status_of(exc) == rpctypes.COMPACTED
    with pytest.raises(EtcdError) as exc:
        get(s, b"k", revision=2)
    assert status_of(exc) == rpctypes.COMPACTED
    assert get(s, b"k", revision=3).kvs[0].mod_revision == 3  # the compact revision still reads
    with pytest.raises(EtcdError) as exc:
        get(s, b"k", revision=9)
    assert status_of(exc) == rpctypes.FUTURE_REV


def test_a_txn_takes_one_revision_and_its_reads_see_its_writes() -> None:
    s = Store()
    put(s, b"k", b"old")
    r = TxnRequest(
        compare=(Compare(CompareResult.EQUAL, CompareTarget.VALUE, b"k", value=b"old"),),
        success=(PutRequest(b"k", b"new"), PutRequest(b"j", b"x"), RangeRequest(b"k")),
    )
    resp = txn.txn(s, r)
    assert resp.succeeded and resp.header.revision == 3  # type: ignore[union-attr]
    seen = resp.responses[2]
    assert isinstance(seen, RangeResponse) and seen.kvs[0].value == b"new"
    assert s.rev() == 3


def test_a_value_compare_on_a_missing_key_is_false_but_a_version_compare_sees_zero() -> None:
    s = Store()
    on_value = Compare(CompareResult.NOT_EQUAL, CompareTarget.VALUE, b"nope", value=b"x")
    on_version = Compare(CompareResult.EQUAL, CompareTarget.VERSION, b"nope", version=0)
    assert not txn.txn(s, TxnRequest(compare=(on_value,))).succeeded
    assert txn.txn(s, TxnRequest(compare=(on_version,))).succeeded


def test_a_read_only_txn_does_not_bump_and_a_nested_header_stays_empty() -> None:
    s = Store()
    put(s, b"k")
    resp = txn.txn(s, TxnRequest(success=(RangeRequest(b"k"), TxnRequest())))
    assert s.rev() == 2 and resp.header.revision == 2  # type: ignore[union-attr]
    nested = resp.responses[1]
    assert isinstance(nested, TxnResponse) and nested.header.revision == 0  # type: ignore[union-attr]


def test_a_txn_range_at_a_future_revision_fails_the_whole_txn() -> None:
    s = Store()
    r = TxnRequest(success=(PutRequest(b"k"), RangeRequest(b"k", revision=5)))
    with pytest.raises(EtcdError) as exc:
        txn.txn(s, r)
    assert status_of(exc) == rpctypes.FUTURE_REV and s.rev() == 1


def test_ignore_value_needs_the_key_and_leases_do_not_exist() -> None:
    s = Store()
    t = s.write()
    with pytest.raises(EtcdError) as exc:
        txn.put(t, PutRequest(b"k", ignore_value=True))
    t.end()
    assert status_of(exc) == rpctypes.KEY_NOT_FOUND
    put(s, b"k", b"keep")
    put(s, b"k", b"", ignore_value=True)
    assert get(s, b"k").kvs[0].value == b"keep"
    t = s.write()
    with pytest.raises(EtcdError) as exc:
        txn.put(t, PutRequest(b"k", b"v", lease=7))
    t.end()
    assert status_of(exc) == rpctypes.LEASE_NOT_FOUND


@pytest.mark.parametrize(
    ("ops", "duplicate"),
    [
        ((PutRequest(b"a"), PutRequest(b"a")), True),
        ((PutRequest(b"a"), DeleteRangeRequest(b"a")), True),
        ((PutRequest(b"b"), DeleteRangeRequest(b"a", b"c")), True),
        ((PutRequest(b"c"), DeleteRangeRequest(b"a", b"c")), False),
        ((PutRequest(b"a"), TxnRequest(success=(PutRequest(b"a"),))), True),
        ((TxnRequest(success=(PutRequest(b"a"),), failure=(PutRequest(b"a"),)),), False),
        ((PutRequest(b"a"), PutRequest(b"b")), False),
    ],
)
def test_a_txn_may_not_write_one_key_twice_on_a_path(ops: tuple[object, ...],
                                                     duplicate: bool) -> None:
    if duplicate:
        with pytest.raises(EtcdError) as exc:
            check_intervals(ops)  # type: ignore[arg-type]
        assert status_of(exc) == rpctypes.DUPLICATE_KEY
    else:
        check_intervals(ops)  # type: ignore[arg-type]


def test_request_checks_answer_with_etcds_errors() -> None:
    with pytest.raises(EtcdError) as exc:
        check_range_request(RangeRequest(b""))
    assert exc.value.message == "etcdserver: key is not provided"
    with pytest.raises(EtcdError) as exc:
        check_put_request(PutRequest(b"k", b"v", ignore_value=True))
    assert status_of(exc) == rpctypes.VALUE_PROVIDED
    with pytest.raises(EtcdError) as exc:
        check_txn_request(TxnRequest(success=(PutRequest(b"k"),) * 129), 128)
    assert exc.value.message == "etcdserver: too many operations in txn request"
    with pytest.raises(EtcdError) as exc:
        check_txn_request(TxnRequest(success=(None,)), 128)
    assert status_of(exc) == rpctypes.KEY_NOT_FOUND
