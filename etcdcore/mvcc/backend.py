"""The backend: etcd's "key" bucket (revision -> key-value) and its batch commits, as bytes.

etcd keeps every version of every key in bbolt, keyed by revision, and commits writes in
batches; after a crash the store is rebuilt from what was committed. Here the bucket lives in
memory, and each commit turns the changes since the last one into one record that the server
appends to the backend file and fsyncs. Restoring replays the records.

A record is a 12-byte frame and a payload:

    [u32 payload length][u32 crc32 of the length field][u32 crc32 of the payload]  [payload]

    payload = [i64 current revision][u64 consistent index][u64 term]  op*
    op      = b"P" [i64 main][i64 sub][i64 create][i64 version][i64 lease]
                   [u32 len(key)][u32 len(value)] key value            a new key version
            | b"T" [i64 main][i64 sub][u32 len(key)] key               a tombstone
            | b"C" [i64 revision]                                      a compaction

Integers are little-endian; ops are in the order they happened. Only the unsynced tail of a file
can tear, and a tear keeps a prefix of what was written: so an incomplete record at the end is a
tear (ignored; the valid length lets the server truncate it) and anything else is corruption.
The length field has its own checksum so that a flipped length reads as corruption, not as a
record running past the end of the file.
"""

from __future__ import annotations

import bisect
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from .kv import KeyValue, Revision

__all__ = [
    "Backend",
    "BackendCorruptError",
    "CompactOp",
    "PutOp",
    "Record",
    "TombstoneOp",
    "decode_records",
    "encode_kv",
    "rev_bytes",
]

_FRAME = struct.Struct("<III")
_LENGTH = struct.Struct("<I")
_HEADER = struct.Struct("<qQQ")
_PUT = struct.Struct("<qqqqqII")
_TOMBSTONE = struct.Struct("<qqI")
_COMPACT = struct.Struct("<q")
_REV = struct.Struct(">q")  # big-endian, as etcd's revision bytes, so they sort as numbers

_OP_PUT = b"P"[0]
_OP_TOMBSTONE = b"T"[0]
_OP_COMPACT = b"C"[0]


class BackendCorruptError(Exception):
    """The backend file holds a complete record that fails its checksum or does not parse."""


@dataclass(frozen=True, slots=True)
class PutOp:
    """A new version of a key at `rev`."""

    rev: Revision
    kv: KeyValue


@dataclass(frozen=True, slots=True)
class TombstoneOp:
    """A key deleted at `rev`."""

    rev: Revision
    key: bytes


@dataclass(frozen=True, slots=True)
class CompactOp:
    """A compaction at `rev` (etcd's scheduledCompactRev, force-committed)."""

    rev: int


Op = PutOp | TombstoneOp | CompactOp


@dataclass(frozen=True, slots=True)
class Record:
    """One batch commit: the store's revision and consistent index then, and its changes."""

    rev: int
    consistent_index: int
    term: int
    ops: tuple[Op, ...]


def rev_bytes(rev: Revision, tombstone: bool) -> bytes:
    """etcd's bucket key for a revision: main, b"_", sub, and b"t" for a tombstone."""
    return _REV.pack(rev.main) + b"_" + _REV.pack(rev.sub) + (b"t" if tombstone else b"")


def encode_kv(kv: KeyValue) -> bytes:
    """A key-value's bytes, as its bucket value (for hashing)."""
    return _PUT.pack(kv.mod_revision, 0, kv.create_revision, kv.version, kv.lease,
                     len(kv.key), len(kv.value)) + kv.key + kv.value


class Backend:
    """The key bucket in memory, in revision order, and the batch of changes not yet committed."""

    __slots__ = ("_batch", "_order", "_values")

    def __init__(self) -> None:
        self._values: dict[Revision, tuple[bool, KeyValue]] = {}  # rev -> (tombstone, kv)
        self._order: list[Revision] = []  # the bucket's keys, ascending
        self._batch: list[bytes] = []  # encoded ops since the last commit

    # Writes, each also appended to the batch.

    def seq_put(self, rev: Revision, kv: KeyValue) -> None:
        """Store a new version; revisions only grow, so it goes at the end."""
        self._store(rev, False, kv)
        self._batch.append(b"P" + _PUT.pack(rev.main, rev.sub, kv.create_revision, kv.version,
                                            kv.lease, len(kv.key), len(kv.value))
                           + kv.key + kv.value)

    def seq_put_tombstone(self, rev: Revision, key: bytes) -> None:
        """Store a tombstone for `key` (etcd stores KeyValue{Key: key} under a marked revision)."""
        self._store(rev, True, KeyValue(key, 0, 0, 0, b""))
        self._batch.append(b"T" + _TOMBSTONE.pack(rev.main, rev.sub, len(key)) + key)

    def set_scheduled_compact(self, rev: int) -> None:
        self._batch.append(b"C" + _COMPACT.pack(rev))

    def _store(self, rev: Revision, tombstone: bool, kv: KeyValue) -> None:
        if self._order and rev <= self._order[-1]:
            raise AssertionError(f"revision {rev} written after {self._order[-1]}")
        self._values[rev] = (tombstone, kv)
        self._order.append(rev)

    def compact(self, rev: int, keep: set[Revision]) -> None:
        """scheduleCompaction: delete the revisions at or below `rev` that `keep` does not hold."""
        end = bisect.bisect_left(self._order, Revision(rev + 1, 0))
        gone = [r for r in self._order[:end] if r not in keep]
        for r in gone:
            del self._values[r]
        self._order = [r for r in self._order[:end] if r in keep] + self._order[end:]

    # Reads.

    def get(self, rev: Revision) -> KeyValue:
        return self._values[rev][1]

    def for_each(self, upper: int) -> Iterator[tuple[Revision, bool, KeyValue]]:
        """(revision, tombstone, kv) for every revision with main <= upper, in revision order."""
        end = bisect.bisect_left(self._order, Revision(upper + 1, 0))
        for r in self._order[:end]:
            tombstone, kv = self._values[r]
            yield r, tombstone, kv

    # Commit.

    def pending(self) -> bool:
        return bool(self._batch)

    def discard_batch(self) -> None:
        """Forget the batch (after a restore replayed what was committed already)."""
        self._batch.clear()

    def commit(self, rev: int, consistent_index: int, term: int) -> bytes:
        """The batch as one framed record, and an empty batch."""
        payload = b"".join([_HEADER.pack(rev, consistent_index, term), *self._batch])
        self._batch.clear()
        length = _LENGTH.pack(len(payload))
        return _FRAME.pack(len(payload), zlib.crc32(length), zlib.crc32(payload)) + payload


def decode_records(data: bytes) -> tuple[list[Record], int]:
    """The complete records of a backend file, and how many bytes they take.

    An incomplete record at the end is a torn write and is left out; a complete one that fails
    its checksum raises BackendCorruptError naming its offset.
    """
    records: list[Record] = []
    off = 0
    view = memoryview(data)
    while off < len(data):
        if len(data) - off < _FRAME.size:
            break  # a torn frame
        length, length_crc, crc = _FRAME.unpack_from(data, off)
        if zlib.crc32(data[off:off + _LENGTH.size]) != length_crc:
            raise BackendCorruptError(f"backend record at offset {off}: length checksum mismatch")
        start = off + _FRAME.size
        if len(data) - start < length:
            break  # a torn payload
        payload = bytes(view[start:start + length])
        if zlib.crc32(payload) != crc:
            raise BackendCorruptError(f"backend record at offset {off}: checksum mismatch")
        try:
            records.append(_decode_payload(payload))
        except (struct.error, ValueError) as exc:
            raise BackendCorruptError(f"backend record at offset {off}: {exc}") from None
        off = start + length
    return records, off


def _decode_payload(payload: bytes) -> Record:
    rev, ci, term = _HEADER.unpack_from(payload, 0)
    ops: list[Op] = []
    pos = _HEADER.size
    while pos < len(payload):
        kind = payload[pos]
        pos += 1
        if kind == _OP_PUT:
            main, sub, create, version, lease, klen, vlen = _PUT.unpack_from(payload, pos)
            pos += _PUT.size
            key, value = payload[pos:pos + klen], payload[pos + klen:pos + klen + vlen]
            pos += klen + vlen
            ops.append(PutOp(Revision(main, sub),
                             KeyValue(key, create, main, version, value, lease)))
        elif kind == _OP_TOMBSTONE:
            main, sub, klen = _TOMBSTONE.unpack_from(payload, pos)
            pos += _TOMBSTONE.size
            ops.append(TombstoneOp(Revision(main, sub), payload[pos:pos + klen]))
            pos += klen
        elif kind == _OP_COMPACT:
            (crev,) = _COMPACT.unpack_from(payload, pos)
            pos += _COMPACT.size
            ops.append(CompactOp(crev))
        else:
            raise ValueError(f"unknown op {kind!r} at payload byte {pos - 1}")
        if pos > len(payload):
            raise ValueError("an op runs past the end of the record")
    return Record(rev, ci, term, tuple(ops))
