"""The backend: etcd's "key" bucket (revision -> key-value) and its batch commits, as bytes.

etcd keeps every version of every key in bbolt, keyed by revision, and commits writes in
batches; after a crash the store is rebuilt from what was committed. Here the bucket lives in
memory, and each commit turns the changes since the last one into one record that the server
appends to the backend file and fsyncs. Restoring replays the records.

Records are framed by etcdcore.framing (length, crc32 chained from record to record, 8-byte
alignment), which also tells a torn tail (an unsynced commit cut short by a crash: ignored, and
the valid length lets the server truncate it) from corruption (BackendCorruptError, in bbolt's
words: "checksum error", "invalid database"). A record's body:

    payload = [i64 current revision][u64 consistent index][u64 term]  op*
    op      = b"P" [i64 main][i64 sub][i64 create][i64 version][i64 lease]
                   [u32 len(key)][u32 len(value)] key value            a new key version
            | b"T" [i64 main][i64 sub][u32 len(key)] key               a tombstone
            | b"C" [i64 revision]                                      a compaction

Integers are little-endian; ops are in the order they happened. Every byte of the file is read
and checked when the store is restored, before anything is served from it (bbolt checks only
its meta pages; a flipped bit in a data page could reach a reader).
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from etcdcore.framing import FrameError, frame_into, scan

from .kv import KeyValue, Revision

__all__ = [
    "Backend",
    "BackendCorruptError",
    "CompactOp",
    "PutOp",
    "Record",
    "Restored",
    "TombstoneOp",
    "decode_records",
    "encode_kv",
    "rev_bytes",
]

_HEADER = struct.Struct("<qQQ")
_PUT = struct.Struct("<qqqqqII")
_TOMBSTONE = struct.Struct("<qqI")
_COMPACT = struct.Struct("<q")
_REV = struct.Struct(">q")  # big-endian, as etcd's revision bytes, so they sort as numbers

_OP_PUT = b"P"[0]
_OP_TOMBSTONE = b"T"[0]
_OP_COMPACT = b"C"[0]


class BackendCorruptError(Exception):
    """The backend file holds a record that fails its checksum or does not parse, and is not a
    torn tail: the database cannot be opened."""


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

    __slots__ = ("_batch", "_order", "_values", "crc")

    def __init__(self) -> None:
        self._values: dict[Revision, tuple[bool, KeyValue]] = {}  # rev -> (tombstone, kv)
        self._order: list[Revision] = []  # the bucket's keys, ascending
        self._batch: list[bytes] = []  # encoded ops since the last commit
        self.crc = 0  # the checksum of the file's last record: the next one chains to it

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
        """The batch as one framed record (chained to the last one), and an empty batch."""
        payload = b"".join([_HEADER.pack(rev, consistent_index, term), *self._batch])
        self._batch.clear()
        parts: list[bytes] = []
        self.crc = frame_into(parts, payload, self.crc)
        return b"".join(parts)


@dataclass(frozen=True, slots=True)
class Restored:
    """A backend file read back: its records, the bytes they take, the checksum to chain the
    next record to, and why the bytes after them were cut ("" if none were)."""

    records: list[Record]
    valid_length: int
    crc: int
    torn: str


def decode_records(data: bytes) -> Restored:
    """The records of a backend file, up to a torn tail.

    A record that fails its checksum or does not parse, and is not torn, raises
    BackendCorruptError naming its offset.
    """
    try:
        scanned = scan(data)
    except FrameError as exc:
        reason = "checksum error" if exc.reason.startswith("crc mismatch") else exc.reason
        raise BackendCorruptError(f"{reason} (record at offset {exc.offset})") from None
    records: list[Record] = []
    for body, off in zip(scanned.bodies, scanned.offsets, strict=True):
        try:
            records.append(_decode_payload(body))
        except (struct.error, ValueError, IndexError) as err:
            raise BackendCorruptError(
                f"invalid database (record at offset {off}: {err})") from None
    return Restored(records, scanned.valid_length, scanned.crc, scanned.torn)


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
