"""The WAL: what was synced survives a crash, a torn tail is repaired, corruption is not hidden."""

from __future__ import annotations

import struct
import zlib

import pytest
from fakes import MemDisk
from hypothesis import given
from hypothesis import strategies as st

from etcdcore.env import DiskError
from etcdcore.framing import SECTOR_SIZE, UNEXPECTED_EOF, ZEROED_SECTORS
from etcdcore.raft.types import Entry, HardState
from etcdcore.wal import (
    HEADER_SIZE,
    WAL,
    RecordType,
    WALCorruptError,
    decode_all,
    encode_entry,
    encode_hard_state,
    encode_records,
    wal_path,
)

PATH = wal_path()


def entries(first: int, last: int, term: int = 1) -> list[Entry]:
    return [Entry(term=term, index=i, data=f"put k{i}".encode()) for i in range(first, last + 1)]


def fresh() -> tuple[MemDisk, WAL]:
    disk = MemDisk()
    return disk, WAL.create(disk)


def record_offsets(disk: MemDisk) -> list[int]:
    return decode_all(disk.files[PATH], PATH).offsets


# Round trip and durability.


def test_replay_gives_back_exactly_what_was_saved_and_synced() -> None:
    disk, wal = fresh()
    wal.save(HardState(term=1, vote=1, commit=0), entries(1, 3))
    wal.save(HardState(term=2, vote=3, commit=2), [Entry(2, 4, b""), Entry(2, 5, b"\x00" * 300)])
    assert wal.sync().triggered
    disk.crash()
    _, hs, log, info = WAL.open(disk)
    assert hs == HardState(term=2, vote=3, commit=2)
    assert log == [*entries(1, 3), Entry(2, 4, b""), Entry(2, 5, b"\x00" * 300)]
    assert info.records == 7
    assert info.torn_bytes == 0
    assert not info.repaired


def test_an_empty_wal_replays_as_no_hard_state_and_no_entries() -> None:
    disk, _ = fresh()
    disk.crash()
    _, hs, log, info = WAL.open(disk)
    assert (hs, log, info.records) == (HardState(), [], 0)


def test_unsynced_records_vanish_after_a_crash() -> None:
    disk, wal = fresh()
    wal.save(HardState(1, 1, 1), entries(1, 2))
    wal.sync()
    wal.save(HardState(2, 2, 2), entries(3, 4, term=2))
    disk.crash()
    _, hs, log, _ = WAL.open(disk)
    assert hs == HardState(1, 1, 1)
    assert log == entries(1, 2)


def test_save_does_not_sync_and_sync_fsyncs_the_wal_file() -> None:
    disk, wal = fresh()
    wal.save(HardState(1, 1, 0), entries(1, 1))
    assert disk.fsyncs == 0
    assert disk.durable[PATH] == b""
    wal.sync()
    assert disk.durable[PATH] == disk.files[PATH]


def test_a_save_of_nothing_writes_nothing() -> None:
    disk, wal = fresh()
    wal.save(None, [])
    assert disk.files[PATH] == b""


def test_entries_are_written_before_the_hard_state_of_the_same_save() -> None:
    disk, wal = fresh()
    wal.save(HardState(1, 1, 1), entries(1, 1))
    records = decode_all(disk.files[PATH], PATH).records
    assert records == [*entries(1, 1), HardState(1, 1, 1)]


# Torn tails.


def test_a_torn_last_record_is_cut_off_at_every_tear_length_and_appending_after_works() -> None:
    last = Entry(term=2, index=4, data=b"the last one")
    size = len(encode_entry(last))
    for tear in range(1, size):
        disk, wal = fresh()
        wal.save(HardState(1, 1, 2), entries(1, 3))
        wal.sync()
        synced = len(disk.files[PATH])
        wal.save(None, [last])
        disk.crash(torn=tear)
        assert len(disk.files[PATH]) == synced + tear

        wal, hs, log, info = WAL.open(disk)
        assert (hs, log) == (HardState(1, 1, 2), entries(1, 3)), f"tear={tear}"
        assert info.torn_bytes == tear
        assert info.repaired
        assert len(disk.files[PATH]) == synced

        wal.save(HardState(2, 1, 3), [Entry(2, 4, b"again")])
        wal.sync()
        disk.crash()
        _, hs, log, info = WAL.open(disk)
        assert hs == HardState(2, 1, 3)
        assert log == [*entries(1, 3), Entry(2, 4, b"again")]
        assert info.torn_bytes == 0


def test_a_tear_keeps_every_complete_record_before_it() -> None:
    disk, wal = fresh()
    wal.save(HardState(1, 1, 0), entries(1, 3))
    # Tear inside the hard state record that follows the three entries of the same save.
    disk.crash(torn=3 * len(encode_entry(entries(1, 1)[0])) + 5)
    _, hs, log, info = WAL.open(disk)
    assert hs == HardState()
    assert log == entries(1, 3)
    assert info.torn_bytes == 5


def test_a_repaired_tail_is_not_durable_until_the_next_sync() -> None:
    disk, wal = fresh()
    wal.save(None, entries(1, 1))
    disk.crash(torn=HEADER_SIZE)
    WAL.open(disk)
    assert disk.files[PATH] == b""
    # Crash again before any sync: the tear is still on disk and replay repairs it again.
    disk.crash()
    _, _, log, info = WAL.open(disk)
    assert (log, info.torn_bytes) == ([], HEADER_SIZE)


# Corruption.


def three_synced_records() -> tuple[MemDisk, list[int]]:
    disk, wal = fresh()
    wal.save(HardState(1, 1, 0), entries(1, 2))
    wal.sync()
    return disk, record_offsets(disk)


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        (1, HEADER_SIZE + 9, "crc mismatch"),  # the middle record, in its payload
        (2, HEADER_SIZE + 3, "crc mismatch"),  # the last complete record, in its payload
        (1, HEADER_SIZE, "crc mismatch"),  # the type byte
        (1, 8, "crc mismatch"),  # the body checksum
        (1, 0, "crc mismatch in the length field"),  # the length field
        (2, 2, "crc mismatch in the length field"),  # the last record's length field
        (2, 5, "crc mismatch in the length field"),  # the length checksum itself
    ],
)
def test_a_wal_whose_record_fails_its_crc_is_refused_at_restart_naming_the_offset(
    record: int, field: int, reason: str
) -> None:
    disk, offsets = three_synced_records()
    disk.corrupt(PATH, offsets[record] + field)
    expected = f"wal: {reason} (record at offset {offsets[record]} in {PATH})"
    with pytest.raises(WALCorruptError) as info:
        WAL.open(disk)
    assert str(info.value) == expected
    assert info.value.offset == offsets[record]
    assert disk.files[PATH] == disk.durable[PATH], "replay must not truncate a corrupt WAL"


def test_a_corrupted_length_is_corruption_not_a_torn_tail() -> None:
    disk, offsets = three_synced_records()
    # The high byte of the last record's length: its payload would now run far past the end.
    disk.corrupt(PATH, offsets[2] + 3, mask=0x40)
    with pytest.raises(WALCorruptError, match="crc mismatch in the length field"):
        WAL.open(disk)
    assert disk.files[PATH] == disk.durable[PATH], "replay must not truncate a corrupt WAL"


def test_every_single_bit_flip_in_a_synced_wal_is_refused_never_cut_as_torn() -> None:
    disk, wal = fresh()
    wal.save(HardState(1, 1, 0), [Entry(1, 1, b""), Entry(1, 2, b"put k2")])
    wal.save(HardState(2, 0, 2), [Entry(2, 3, b"\x00" * 40)])
    wal.sync()
    synced = disk.files[PATH]
    for bit in range(len(synced) * 8):
        flipped = bytearray(synced)
        flipped[bit // 8] ^= 1 << (bit % 8)
        disk.files[PATH] = disk.durable[PATH] = bytes(flipped)
        if bit // 8 in padding_bytes(synced):
            # The zero padding between records holds no data: a flip there changes nothing.
            _, hs, log, info = WAL.open(disk)
            assert (hs, len(log), info.torn_bytes) == (HardState(2, 0, 2), 3, 0)
            continue
        with pytest.raises(WALCorruptError):
            WAL.open(disk)
        assert disk.files[PATH] == bytes(flipped), f"bit {bit}: replay cut a synced WAL"


def padding_bytes(data: bytes) -> set[int]:
    padding: set[int] = set()
    for offset in decode_all(data, PATH).offsets:
        body_end = offset + HEADER_SIZE + struct.unpack_from("<I", data, offset)[0]
        padding.update(range(body_end, body_end + (-body_end % 8)))
    return padding


def test_a_record_found_at_another_offset_fails_its_chained_crc() -> None:
    # A misdirected write put a later hard state record over an earlier one of the same size:
    # each checks out alone, but not in that place of the chain.
    disk, wal = fresh()
    wal.save(HardState(1, 1, 0), entries(1, 1))
    wal.save(HardState(2, 2, 1), entries(2, 2))
    wal.save(HardState(3, 3, 2), [])
    wal.sync()
    data = disk.files[PATH]
    offsets = record_offsets(disk)
    first_hs, last_hs = offsets[1], offsets[-1]
    moved = data[last_hs:]
    disk.files[PATH] = disk.durable[PATH] = (
        data[:first_hs] + moved + data[first_hs + len(moved):])
    with pytest.raises(WALCorruptError, match=f"crc mismatch \\(record at offset {first_hs} "):
        WAL.open(disk)


def test_an_unknown_record_type_is_corruption() -> None:
    disk, wal = fresh()
    wal.save(None, entries(1, 1))
    offset = len(disk.files[PATH])
    crc = decode_all(disk.files[PATH], PATH).crc
    # A well-formed record whose type byte is unknown: its checksums are valid.
    record = bytearray(encode_hard_state(HardState(1, 1, 1), crc))
    record[HEADER_SIZE] = 9
    length = struct.unpack_from("<I", record)[0]
    body = record[HEADER_SIZE : HEADER_SIZE + length]
    record[8:12] = zlib.crc32(body, crc).to_bytes(4, "little")
    disk.append(PATH, bytes(record))
    with pytest.raises(WALCorruptError, match=f"unknown record type 9 .*offset {offset} "):
        WAL.open(disk)


def test_record_types_are_stable_on_disk() -> None:
    assert (RecordType.HARD_STATE, RecordType.ENTRY) == (1, 2)
    assert encode_hard_state(HardState(1, 2, 3))[HEADER_SIZE] == 1
    # Header, type byte, term and index, data, and zero padding to a multiple of 8 bytes.
    assert len(encode_entry(Entry(1, 1, b"abc"))) == HEADER_SIZE + 1 + 16 + 3 == 32
    assert len(encode_entry(Entry(1, 1, b"abcd"))) == 40
    assert encode_entry(Entry(1, 1, b"abcd")).endswith(bytes(7))


# Writes lost out of order: a crash keeps any subset of the unsynced sectors.


def synced_then_unsynced(unsynced_bytes: int) -> tuple[MemDisk, WAL, int]:
    """A WAL with three synced entries and about `unsynced_bytes` of unsynced ones after."""
    disk, wal = fresh()
    wal.save(HardState(1, 1, 2), entries(1, 3))
    wal.sync()
    index = 4
    while disk.unsynced(PATH) < unsynced_bytes:
        wal.save(HardState(1, 1, 3), [Entry(1, index, b"v" * 100)])
        index += 1
    return disk, wal, len(disk.durable[PATH])


def test_a_lost_sector_followed_by_one_written_back_is_a_torn_tail_cut_at_its_first_record(
) -> None:
    disk, _, synced = synced_then_unsynced(3 * SECTOR_SIZE)
    disk.crash_out_of_order(kept={1, 2})  # the first unsynced sector was never written
    assert disk.files[PATH][synced : synced + HEADER_SIZE] == bytes(HEADER_SIZE)
    _, hs, log, info = WAL.open(disk)
    assert (hs, log) == (HardState(1, 1, 2), entries(1, 3))
    assert info.torn == ZEROED_SECTORS
    assert len(disk.files[PATH]) == synced


def test_a_lost_sector_inside_a_record_is_a_torn_tail() -> None:
    disk, _, synced = synced_then_unsynced(4 * SECTOR_SIZE)
    disk.crash_out_of_order(kept={0, 2, 3})
    _, _, log, info = WAL.open(disk)
    assert info.torn == ZEROED_SECTORS
    assert len(log) >= 3
    assert disk.files[PATH][:synced] == disk.durable[PATH][:synced]


def test_unsynced_sectors_lost_at_the_end_leave_an_unexpected_eof() -> None:
    disk, _, _ = synced_then_unsynced(3 * SECTOR_SIZE)
    disk.crash_out_of_order(kept={0})
    _, _, log, info = WAL.open(disk)
    assert info.torn in (UNEXPECTED_EOF, "")
    assert len(log) >= 3


def test_a_damaged_record_holding_a_sector_of_zeros_is_refused_not_taken_for_a_torn_one(
) -> None:
    # Its data has whole sectors of zeros, as a lost sector has: the record says so in its
    # length field, and only the end of the file may tear it.
    disk, wal = fresh()
    wal.save(HardState(1, 1, 0), entries(1, 1))
    wal.save(None, [Entry(1, 2, bytes(3 * SECTOR_SIZE))])
    wal.save(HardState(1, 1, 2), [])
    wal.sync()
    big = record_offsets(disk)[2]
    disk.corrupt(PATH, big + HEADER_SIZE + 1)
    with pytest.raises(WALCorruptError, match=f"crc mismatch \\(record at offset {big} "):
        WAL.open(disk)


def test_zeros_where_a_synced_record_should_end_the_file_are_refused() -> None:
    # A write that never reached its place (a misdirected one) reads as zeros there; a crash
    # never leaves zeros at the end of a file (a lost last sector shortens it).
    disk, wal = fresh()
    wal.save(HardState(1, 1, 0), entries(1, 2))
    wal.sync()
    end = len(disk.files[PATH])
    assert end + 48 < SECTOR_SIZE  # the zeros do not reach the end of their sector
    disk.append(PATH, bytes(48))
    disk.fsync(PATH)
    with pytest.raises(WALCorruptError, match=f"length field \\(record at offset {end} "):
        WAL.open(disk)


@given(st.data())
def test_unsynced_writes_lost_out_of_order_never_touch_synced_records(
    data: st.DataObject,
) -> None:
    disk, wal = fresh()
    hs, log = HardState(), list[Entry]()
    states: list[tuple[HardState, list[Entry]]] = [(hs, [])]
    synced_records = 0
    for step in range(data.draw(st.integers(1, 14), label="steps")):
        if data.draw(st.booleans(), label="sync?"):
            wal.sync()
            synced_records = len(states) - 1
            continue
        first = data.draw(st.integers(1, len(log) + 1), label="first")
        size = data.draw(st.sampled_from((0, 5, 90, 300, 700)), label="size")
        batch = [Entry(1 + step, i, bytes([65 + i % 26]) * size) for i in range(first, first + 2)]
        wal.save(HardState(1 + step, 1, 0), batch)
        for e in batch:
            del log[e.index - 1 :]
            log.append(e)
            states.append((hs, list(log)))
        hs = HardState(1 + step, 1, 0)
        states.append((hs, list(log)))
    sectors = -(-disk.unsynced(PATH) // SECTOR_SIZE) + 1
    kept = data.draw(st.sets(st.integers(0, sectors)), label="sectors written back")
    disk.crash_out_of_order(kept)
    _, got_hs, got_log, info = WAL.open(disk)
    assert info.records >= synced_records, "a synced record was lost"
    assert (got_hs, got_log) == states[info.records]


# Replay semantics.


def test_an_overwrite_at_a_lower_index_replays_as_a_truncation() -> None:
    disk, wal = fresh()
    wal.save(HardState(1, 1, 1), entries(1, 5, term=1))
    wal.save(HardState(3, 2, 2), entries(3, 4, term=3))
    wal.sync()
    disk.crash()
    wal, hs, log, _ = WAL.open(disk)
    assert hs == HardState(3, 2, 2)
    assert log == [*entries(1, 2, term=1), *entries(3, 4, term=3)]
    assert wal.last_index == 4


def test_an_overwrite_of_the_first_entry_replaces_the_whole_log() -> None:
    disk, wal = fresh()
    wal.save(None, entries(1, 3, term=1))
    wal.save(None, entries(1, 1, term=2))
    wal.sync()
    _, _, log, _ = WAL.open(disk)
    assert log == entries(1, 1, term=2)


def test_the_last_hard_state_wins() -> None:
    disk, wal = fresh()
    wal.save(HardState(1, 1, 0), [])
    wal.save(HardState(5, 3, 0), [])
    wal.save(HardState(5, 3, 4), entries(1, 4))
    wal.save(HardState(4, 2, 9), [])  # even one that looks older: the WAL does not judge
    wal.sync()
    _, hs, _, _ = WAL.open(disk)
    assert hs == HardState(4, 2, 9)


def test_an_index_gap_is_corruption() -> None:
    disk, _ = fresh()
    first = encode_entry(Entry(1, 1))
    disk.append(PATH, encode_records([Entry(1, 1), Entry(1, 3)])[0])
    disk.fsync(PATH)
    with pytest.raises(WALCorruptError, match=f"index 3 does not follow 1 .*offset {len(first)} "):
        WAL.open(disk)


def test_a_first_entry_not_at_index_one_is_corruption() -> None:
    disk, _ = fresh()
    disk.append(PATH, encode_entry(Entry(1, 2)))
    with pytest.raises(WALCorruptError, match=r"index 2 does not follow 0 .*offset 0 "):
        WAL.open(disk)


# Synced bytes lost at the end (a disk that loses acknowledged writes).


def test_a_synced_wal_cut_at_any_byte_replays_as_an_older_wal_nothing_shows_the_loss() -> None:
    # Why the harness takes out a member whose synced WAL tail was cut (disk_truncate_wal):
    # what is left is a valid WAL of an earlier moment, its hard state consistent with its log,
    # so the member cannot know it lost entries and votes it acknowledged (nor could etcd).
    disk, wal = fresh()
    states = [(HardState(), list[Entry]())]
    log: list[Entry] = []
    for i in range(1, 5):
        log = [*log, *entries(i, i, term=i)]
        wal.save(HardState(i, i % 3 + 1, i - 1), entries(i, i, term=i))
        states += [(states[-1][0], list(log)), (HardState(i, i % 3 + 1, i - 1), list(log))]
    wal.sync()
    synced = disk.durable[PATH]
    for cut in range(len(synced) + 1):
        disk.files[PATH] = disk.durable[PATH] = synced[:cut]
        _, hs, got, info = WAL.open(disk)
        assert (hs, got) == states[info.records], f"cut={cut}"
        assert hs.commit <= len(got)


def test_save_refuses_entries_that_would_leave_a_gap() -> None:
    _, wal = fresh()
    wal.save(None, entries(1, 2))
    with pytest.raises(ValueError, match="index 4 does not follow 2"):
        wal.save(None, entries(4, 4))
    with pytest.raises(ValueError, match="not contiguous"):
        wal.save(None, [Entry(1, 3), Entry(1, 5)])


# Files and errors.


def test_exists_is_true_only_after_create() -> None:
    disk = MemDisk()
    assert not WAL.exists(disk)
    WAL.create(disk)
    assert WAL.exists(disk)
    with pytest.raises(FileExistsError):
        WAL.create(disk)


def test_disk_errors_propagate_to_the_caller() -> None:
    disk, wal = fresh()
    disk.broken = True
    with pytest.raises(DiskError):
        wal.save(None, entries(1, 1))
    with pytest.raises(DiskError):
        wal.sync()
    with pytest.raises(DiskError):
        WAL.open(disk)


def test_a_failed_save_does_not_advance_the_last_index() -> None:
    disk, wal = fresh()
    disk.broken = True
    with pytest.raises(DiskError):
        wal.save(None, entries(1, 1))
    disk.broken = False
    wal.save(None, entries(1, 1))
    assert wal.last_index == 1


# The property.

State = tuple[HardState, list[Entry]]


@given(st.data())
def test_replay_after_a_crash_is_a_record_prefix_holding_everything_synced(
    data: st.DataObject,
) -> None:
    disk, wal = fresh()
    hs, log = HardState(), list[Entry]()
    states: list[State] = [(hs, [])]  # the state after each record written
    synced_records = 0
    term = 1
    for _ in range(data.draw(st.integers(0, 12), label="steps")):
        if data.draw(st.booleans(), label="sync?"):
            wal.sync()
            synced_records = len(states) - 1
            continue
        first = data.draw(st.integers(1, len(log) + 1), label="first")
        count = data.draw(st.integers(0, 3), label="count")
        term += data.draw(st.integers(0, 1), label="term bump")
        batch = [
            Entry(term, i, data.draw(st.binary(max_size=20), label="data"))
            for i in range(first, first + count)
        ]
        new_hs = data.draw(
            st.none() | st.builds(HardState, st.just(term), st.integers(0, 3), st.integers(0, 9)),
            label="hard state",
        )
        wal.save(new_hs, batch)
        for e in batch:
            del log[e.index - 1 :]
            log.append(e)
            states.append((hs, list(log)))
        if new_hs is not None:
            hs = new_hs
            states.append((hs, list(log)))

    torn = data.draw(st.none() | st.integers(0, disk.unsynced(PATH)), label="torn")
    disk.crash(torn=torn)
    wal, got_hs, got_log, info = WAL.open(disk)
    assert info.records >= synced_records, "a synced record was lost"
    assert (got_hs, got_log) == states[info.records]
    assert wal.last_index == len(got_log)

    # The repaired WAL takes appends that then survive a crash.
    extra = Entry(term + 1, len(got_log) + 1, b"after")
    wal.save(HardState(term + 1, 1, 0), [extra])
    wal.sync()
    disk.crash(torn=data.draw(st.none() | st.integers(0, 50), label="second torn"))
    _, hs2, log2, info2 = WAL.open(disk)
    assert (hs2, log2) == (HardState(term + 1, 1, 0), [*got_log, extra])
    assert info2.torn_bytes == 0
