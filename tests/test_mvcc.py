"""etcd's MVCC store: revisions, versions, ranges, compaction, hashing, and batch commits."""

from __future__ import annotations

import struct
import zlib

import pytest

from etcdcore.mvcc import (
    BackendCorruptError,
    ErrCompacted,
    ErrFutureRev,
    KeyValue,
    MvccError,
    RangeOptions,
    RangeResult,
    Store,
)


def put(s: Store, key: bytes, value: bytes, lease: int = 0) -> int:
    txn = s.write()
    rev = txn.put(key, value, lease)
    txn.end()
    return rev


def delete(s: Store, key: bytes, end: bytes | None = None) -> tuple[int, int]:
    txn = s.write()
    out = txn.delete_range(key, end)
    txn.end()
    return out


def rng(s: Store, key: bytes, end: bytes | None = None, *, limit: int = 0, rev: int = 0,
        count: bool = False) -> RangeResult:
    return s.read().range(key, end, RangeOptions(limit, rev, count))


def keys(r: RangeResult) -> list[bytes]:
    return [kv.key for kv in r.kvs]


def restored(s: Store) -> Store:
    """A store restored from everything `s` committed, after committing what is pending."""
    data = s.commit()
    return Store.restore(data)[0]


def store_with(*pairs: tuple[bytes, bytes]) -> Store:
    s = Store()
    for k, v in pairs:
        put(s, k, v)
    return s


# Revisions.


def test_an_empty_store_is_at_revision_1() -> None:
    s = Store()
    assert s.rev() == 1
    assert s.compact_rev() == -1
    assert rng(s, b"a", b"") == RangeResult([], 1, 0)


def test_each_write_txn_that_changes_something_bumps_the_revision_once() -> None:
    s = Store()
    assert put(s, b"a", b"1") == 2
    txn = s.write()
    assert txn.put(b"b", b"1") == 3
    assert txn.put(b"c", b"1") == 3
    assert txn.delete_range(b"a") == (1, 3)
    txn.end()
    assert s.rev() == 3
    assert [kv.mod_revision for kv in rng(s, b"a", b"").kvs] == [3, 3]


def test_a_delete_that_deletes_nothing_does_not_bump_the_revision() -> None:
    s = store_with((b"a", b"1"))
    assert delete(s, b"zz") == (0, 2)
    assert s.rev() == 2


def test_a_write_txn_of_only_reads_does_not_bump_the_revision() -> None:
    s = store_with((b"a", b"1"))
    txn = s.write()
    assert txn.range(b"a").rev == 2
    txn.end()
    assert s.rev() == 2
    assert s.commit() != b""  # the put; now nothing is pending
    assert s.commit() == b""


def test_a_delete_of_nothing_after_a_write_in_the_same_txn_answers_with_the_txn_revision() -> None:
    s = Store()
    txn = s.write()
    txn.put(b"a", b"1")
    assert txn.delete_range(b"zz") == (0, 2)
    txn.end()


def test_range_inside_a_write_txn_sees_its_earlier_writes_at_the_txn_revision() -> None:
    s = store_with((b"a", b"1"))
    txn = s.write()
    assert txn.range(b"b").kvs == []
    txn.put(b"b", b"2")
    r = txn.range(b"a", b"")
    assert keys(r) == [b"a", b"b"] and r.rev == 3
    txn.delete_range(b"a")
    assert keys(txn.range(b"a", b"")) == [b"b"]
    # Until it ends, other readers still see the revision before it.
    assert keys(s.read().range(b"a", b"")) == [b"a"]
    txn.end()
    assert keys(rng(s, b"a", b"")) == [b"b"]


def test_a_write_txn_reports_its_changes_with_deletes_as_empty_versions() -> None:
    s = store_with((b"a", b"1"))
    txn = s.write()
    txn.put(b"b", b"2", lease=7)
    txn.delete_range(b"a")
    assert txn.changes() == [KeyValue(b"b", 3, 3, 1, b"2", 7), KeyValue(b"a", 0, 3, 0, b"")]
    txn.end()


def test_only_one_write_txn_is_open_at_a_time() -> None:
    s = Store()
    txn = s.write()
    with pytest.raises(RuntimeError):
        s.write()
    with pytest.raises(RuntimeError):
        s.commit()
    txn.end()
    with pytest.raises(RuntimeError):
        txn.put(b"a", b"1")


# Versions.


def test_a_key_is_created_at_version_1_and_each_put_adds_one() -> None:
    s = Store()
    put(s, b"a", b"1")
    put(s, b"b", b"x")
    put(s, b"a", b"2")
    assert rng(s, b"a").kvs == [KeyValue(b"a", 2, 4, 2, b"2")]


def test_version_starts_again_at_1_after_delete() -> None:
    s = store_with((b"a", b"1"), (b"a", b"2"))
    delete(s, b"a")
    assert rng(s, b"a").kvs == []
    put(s, b"a", b"3")
    assert rng(s, b"a").kvs == [KeyValue(b"a", 5, 5, 1, b"3")]


def test_two_puts_of_one_key_in_one_txn_count_two_versions() -> None:
    s = Store()
    txn = s.write()
    txn.put(b"a", b"1")
    txn.put(b"a", b"2")
    txn.end()
    assert rng(s, b"a").kvs == [KeyValue(b"a", 2, 2, 2, b"2")]


def test_put_keeps_the_lease_it_is_given() -> None:
    s = Store()
    put(s, b"a", b"1", lease=42)
    assert rng(s, b"a").kvs[0].lease == 42


# Ranges.


def test_range_with_no_end_is_the_single_key() -> None:
    s = store_with((b"a", b"1"), (b"ab", b"2"))
    assert keys(rng(s, b"a")) == [b"a"]


def test_range_with_empty_end_is_every_key_from_key_on() -> None:
    s = store_with((b"c", b"3"), (b"a", b"1"), (b"b", b"2"))
    assert keys(rng(s, b"b", b"")) == [b"b", b"c"]
    assert keys(rng(s, b"\0", b"")) == [b"a", b"b", b"c"]


def test_range_with_end_is_half_open_and_sorted_by_key() -> None:
    s = store_with((b"c", b"3"), (b"a", b"1"), (b"b", b"2"), (b"d", b"4"))
    assert keys(rng(s, b"a", b"c")) == [b"a", b"b"]
    assert keys(rng(s, b"c", b"a")) == []


def test_limit_truncates_and_count_counts_before_the_limit() -> None:
    s = store_with((b"a", b"1"), (b"b", b"2"), (b"c", b"3"))
    r = rng(s, b"a", b"", limit=2)
    assert keys(r) == [b"a", b"b"] and r.count == 3 and r.rev == 4


def test_count_only_returns_the_count_and_no_keys() -> None:
    s = store_with((b"a", b"1"), (b"b", b"2"))
    delete(s, b"a")
    assert rng(s, b"a", b"", count=True) == RangeResult([], 4, 1)
    assert rng(s, b"a", b"", count=True, rev=3) == RangeResult([], 4, 2)


def test_range_at_an_older_revision_sees_the_versions_of_then() -> None:
    s = store_with((b"a", b"1"), (b"a", b"2"), (b"b", b"x"))
    delete(s, b"a")
    assert rng(s, b"a", b"", rev=2).kvs == [KeyValue(b"a", 2, 2, 1, b"1")]
    r = rng(s, b"a", b"", rev=4)
    assert r.kvs == [KeyValue(b"a", 2, 3, 2, b"2"), KeyValue(b"b", 4, 4, 1, b"x")]
    assert r.rev == 5  # a range answers with the current revision, not the one it read at
    assert keys(rng(s, b"a", b"", rev=5)) == [b"b"]  # tombstoned keys are absent


def test_future_revision() -> None:
    s = store_with((b"a", b"1"))
    with pytest.raises(ErrFutureRev) as exc:
        rng(s, b"a", rev=3)
    assert str(exc.value) == "mvcc: required revision is a future revision"
    assert isinstance(exc.value, MvccError)


def test_range_below_compaction_is_compacted() -> None:
    s = store_with((b"a", b"1"), (b"a", b"2"), (b"a", b"3"))
    s.compact(3)
    with pytest.raises(ErrCompacted) as exc:
        rng(s, b"a", rev=2)
    assert str(exc.value) == "mvcc: required revision has been compacted"
    assert isinstance(exc.value, MvccError)


def test_range_at_the_compact_revision_still_reads() -> None:
    s = store_with((b"a", b"1"), (b"a", b"2"), (b"a", b"3"))
    s.compact(3)
    assert rng(s, b"a", rev=3).kvs == [KeyValue(b"a", 2, 3, 2, b"2")]


# Compaction.


def test_compaction_keeps_the_latest_version_at_or_below_the_revision_and_all_above() -> None:
    s = store_with((b"a", b"1"), (b"a", b"2"), (b"b", b"x"), (b"a", b"3"))
    s.compact(4)
    assert rng(s, b"a", b"", rev=4).kvs == [KeyValue(b"a", 2, 3, 2, b"2"),
                                           KeyValue(b"b", 4, 4, 1, b"x")]
    assert rng(s, b"a", rev=5).kvs == [KeyValue(b"a", 2, 5, 3, b"3")]
    assert s.compact_rev() == 4 and s.rev() == 5


def test_compaction_drops_a_deleted_key_entirely() -> None:
    s = store_with((b"a", b"1"), (b"b", b"1"))
    delete(s, b"a")
    s.compact(4)
    assert keys(rng(s, b"a", b"", rev=4)) == [b"b"]
    # The key's history is gone from the index: a new put starts a new life.
    put(s, b"a", b"2")
    assert rng(s, b"a").kvs == [KeyValue(b"a", 5, 5, 1, b"2")]


def test_compaction_below_a_delete_keeps_the_version_that_was_live() -> None:
    s = store_with((b"a", b"1"), (b"b", b"1"))
    delete(s, b"a")
    s.compact(3)
    assert keys(rng(s, b"a", b"", rev=3)) == [b"a", b"b"]
    assert keys(rng(s, b"a", b"")) == [b"b"]


def test_compaction_keeps_a_key_deleted_and_created_again_in_one_txn() -> None:
    s = store_with((b"a", b"1"))
    txn = s.write()
    txn.delete_range(b"a")
    txn.put(b"a", b"2")
    txn.end()
    s.compact(3)
    assert rng(s, b"a", rev=3).kvs == [KeyValue(b"a", 3, 3, 1, b"2")]
    assert restored(s).hash_by_rev(3) == s.hash_by_rev(3)


def test_compact_at_or_below_the_compact_revision_is_compacted() -> None:
    s = store_with((b"a", b"1"), (b"a", b"2"))
    s.compact(2)
    with pytest.raises(ErrCompacted):
        s.compact(2)
    with pytest.raises(ErrCompacted):
        s.compact(1)


def test_compact_above_the_current_revision_is_a_future_revision() -> None:
    s = store_with((b"a", b"1"))
    with pytest.raises(ErrFutureRev):
        s.compact(3)
    s.compact(2)  # the current revision is fine


# Hashing.


def history(s: Store, last: bytes) -> Store:
    put(s, b"a", b"1")
    put(s, b"b", b"2")
    delete(s, b"a")
    put(s, b"c", last)
    return s


def test_hash_is_equal_for_equal_histories() -> None:
    one, two = history(Store(), b"3"), history(Store(), b"3")
    assert one.hash_by_rev(0) == two.hash_by_rev(0)
    assert one.hash_by_rev(3) == two.hash_by_rev(3)
    assert one.hash_by_rev(0)[1:] == (5, -1)


def test_hash_differs_after_a_different_write() -> None:
    one, two = history(Store(), b"3"), history(Store(), b"4")
    assert one.hash_by_rev(0)[0] != two.hash_by_rev(0)[0]
    assert one.hash_by_rev(4) == two.hash_by_rev(4)  # before the writes differ


def test_hash_at_a_revision_ignores_later_writes() -> None:
    s = history(Store(), b"3")
    h = s.hash_by_rev(4)
    put(s, b"d", b"4")
    assert s.hash_by_rev(4)[0] == h[0]


def test_hash_is_equal_for_equal_histories_after_the_same_compaction() -> None:
    one, two = history(Store(), b"3"), history(Store(), b"3")
    before = one.hash_by_rev(5)
    one.compact(3)
    two.compact(3)
    assert one.hash_by_rev(5) == two.hash_by_rev(5)
    # What a compaction deleted is no longer hashed (peers compare equal compact revisions).
    assert one.hash_by_rev(5)[0] != before[0] and one.hash_by_rev(5)[2] == 3


def test_hash_of_a_compacted_or_future_revision_fails() -> None:
    s = history(Store(), b"3")
    s.compact(4)
    with pytest.raises(ErrCompacted):
        s.hash_by_rev(3)
    s.hash_by_rev(4)
    with pytest.raises(ErrFutureRev):
        s.hash_by_rev(6)


# Persistence.


def test_restore_after_commit_gives_back_the_same_store() -> None:
    s = history(Store(), b"3")
    s.set_consistent_index(9, 2)
    data = s.commit()
    put(s, b"a", b"again")
    s.compact(4)
    data += s.commit()
    r, valid = Store.restore(data)
    assert valid == len(data)
    assert (r.rev(), r.compact_rev(), r.consistent_index, r.term) == (6, 4, 9, 2)
    assert rng(r, b"\0", b"") == rng(s, b"\0", b"")
    assert rng(r, b"\0", b"", rev=4) == rng(s, b"\0", b"", rev=4)
    assert r.hash_by_rev(0) == s.hash_by_rev(0)
    # The restored store goes on as the original does.
    assert put(r, b"a", b"x") == put(s, b"a", b"x")
    assert rng(r, b"a") == rng(s, b"a")


def test_restore_of_an_empty_file_is_an_empty_store() -> None:
    r, valid = Store.restore(b"")
    assert valid == 0 and r.rev() == 1 and r.compact_rev() == -1 and r.consistent_index == 0


def test_uncommitted_writes_are_lost_on_restore() -> None:
    s = store_with((b"a", b"1"))
    data = s.commit()
    put(s, b"a", b"2")
    s.set_consistent_index(5, 1)
    r, _ = Store.restore(data)
    assert r.rev() == 2 and rng(r, b"a").kvs[0].value == b"1" and r.consistent_index == 0


def test_consistent_index_survives_restore() -> None:
    s = Store()
    s.set_consistent_index(3, 1)
    txn = s.write()
    txn.put(b"a", b"1")
    txn.end()
    first = s.commit()
    s.set_consistent_index(4, 2)  # an entry that changed nothing still moves the index
    second = s.commit()
    assert second != b""
    r, _ = Store.restore(first + second)
    assert (r.consistent_index, r.term, r.rev()) == (4, 2, 2)


def test_a_torn_tail_is_ignored_and_its_length_reported() -> None:
    s = store_with((b"a", b"1"))
    first = s.commit()
    put(s, b"b", b"2")
    second = s.commit()
    for cut in range(1, len(second)):
        r, valid = Store.restore(first + second[:cut])
        assert valid == len(first)
        assert r.rev() == 2 and keys(rng(r, b"\0", b"")) == [b"a"]


def test_a_corrupt_record_is_an_error_naming_its_offset() -> None:
    s = store_with((b"a", b"1"))
    first = s.commit()
    put(s, b"b", b"2")
    second = bytearray(s.commit())
    second[20] ^= 0xFF  # a flipped byte in the payload
    with pytest.raises(BackendCorruptError,
                       match=f"^checksum error \\(record at offset {len(first)}\\)$"):
        Store.restore(first + bytes(second))


def test_a_corrupt_length_is_an_error_not_a_torn_tail() -> None:
    s = store_with((b"a", b"1"))
    data = bytearray(s.commit())
    data[0:4] = struct.pack("<I", 10_000)  # would run past the end of the file
    with pytest.raises(BackendCorruptError, match="offset 0"):
        Store.restore(bytes(data))


def test_a_record_is_framed_by_its_length_and_a_crc32_chained_from_the_record_before() -> None:
    s = store_with((b"a", b"1"))
    first = s.commit()
    put(s, b"b", b"2")
    second = s.commit()
    for data in (first, second):
        length, length_crc, _ = struct.unpack_from("<III", data)
        assert len(data) == 12 + length + (-(12 + length) % 8)  # zero padding to 8 bytes
        assert length_crc == zlib.crc32(data[:4])
    length = struct.unpack_from("<I", first)[0]
    first_crc = zlib.crc32(first[12:12 + length])
    assert struct.unpack_from("<I", first, 8)[0] == first_crc
    length = struct.unpack_from("<I", second)[0]
    assert struct.unpack_from("<I", second, 8)[0] == zlib.crc32(second[12:12 + length], first_crc)


def two_commits() -> bytes:
    s = store_with((b"a", b"1"))
    s.set_consistent_index(2, 1)
    first = s.commit()
    put(s, b"b", b"")
    txn = s.write()
    txn.delete_range(b"a")
    txn.end()
    s.compact(2)
    return first + s.commit()


def test_every_single_bit_flip_in_a_backend_file_is_detected_before_the_store_is_restored(
) -> None:
    data = two_commits()
    padding: set[int] = set()
    offset = 0
    while offset < len(data):
        body_end = offset + 12 + struct.unpack_from("<I", data, offset)[0]
        padding.update(range(body_end, body_end + (-body_end % 8)))
        offset = body_end + (-body_end % 8)
    for bit in range(len(data) * 8):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        if bit // 8 in padding:
            continue  # zero padding between records: no data there
        with pytest.raises(BackendCorruptError, match="checksum error"):
            Store.restore(bytes(flipped))


def test_a_backend_record_found_at_another_offset_fails_its_chained_checksum() -> None:
    # Two commits of nothing but the consistent index have the same size: swapped, each is
    # a sound record alone, but not where it now is.
    s = store_with((b"a", b"1"))
    base = s.commit()
    s.set_consistent_index(7, 2)
    first = s.commit()
    s.set_consistent_index(8, 2)
    second = s.commit()
    assert len(first) == len(second)
    with pytest.raises(BackendCorruptError, match=f"offset {len(base)}"):
        Store.restore(base + second + first)


def test_a_backend_whose_unsynced_sectors_were_lost_out_of_order_restores_what_was_synced(
) -> None:
    s = store_with((b"a", b"1"))
    synced = s.commit()
    unsynced = b""
    for i in range(12):
        put(s, b"k%d" % i, b"v" * 90)
        unsynced += s.commit()
    assert len(unsynced) > 3 * 512
    # A crash wrote back the unsynced sectors but the first: it reads as zeros.
    first_sector_end = (len(synced) // 512 + 1) * 512
    lost = bytes(first_sector_end - len(synced)) + unsynced[first_sector_end - len(synced):]
    r, valid = Store.restore(synced + lost)
    assert valid == len(synced)
    assert r.torn == "zeroed sectors"
    assert keys(rng(r, b"\0", b"")) == [b"a"]


def test_a_restored_store_chains_its_next_commit_to_the_file() -> None:
    data = two_commits()
    r, valid = Store.restore(data + b"\x07\x00")  # a torn tail, cut
    assert valid == len(data) and r.torn == "unexpected EOF"
    put(r, b"c", b"3")
    more = r.commit()
    again, _ = Store.restore(data + more)
    assert keys(rng(again, b"\0", b"")) == [b"b", b"c"]


def test_a_compaction_survives_restore_with_what_it_kept() -> None:
    s = store_with((b"a", b"1"), (b"b", b"2"))
    delete(s, b"a")
    put(s, b"b", b"3")
    s.compact(4)
    r = restored(s)
    assert r.compact_rev() == 4 and r.rev() == 5
    with pytest.raises(ErrCompacted):
        rng(r, b"a", rev=3)
    assert rng(r, b"\0", b"", rev=4) == rng(s, b"\0", b"", rev=4)
    assert r.hash_by_rev(4) == s.hash_by_rev(4)


def test_restore_keeps_the_compact_revision_when_everything_below_it_was_deleted() -> None:
    s = store_with((b"a", b"1"))
    delete(s, b"a")
    s.compact(3)
    r = restored(s)
    assert (r.rev(), r.compact_rev()) == (3, 3)
    assert put(r, b"a", b"2") == 4
