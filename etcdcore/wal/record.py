"""WAL records: what their bodies hold, and reading a WAL file back.

Records are framed by etcdcore.framing (length, chained crc32, 8-byte alignment), which also tells
a torn tail from corruption. A body is a type byte and a payload: HARD_STATE's payload is term,
vote, commit as u64s; ENTRY's is term and index as u64s followed by the entry's data. Integers
are little-endian.

Errors use etcd's words: a record that fails its checksum is "wal: crc mismatch", a tail cut
short is repaired as etcd repairs an "unexpected EOF".
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from etcdcore.framing import HEADER_SIZE, FrameError, frame_into, scan
from etcdcore.raft.types import Entry, HardState

__all__ = [
    "HEADER_SIZE",
    "Decoded",
    "Record",
    "RecordType",
    "WALCorruptError",
    "decode_all",
    "encode_entry",
    "encode_hard_state",
    "encode_records",
]

_U64X2 = struct.Struct("<QQ")
_U64X3 = struct.Struct("<QQQ")


class RecordType(enum.IntEnum):
    """What a record's payload holds."""

    HARD_STATE = 1
    ENTRY = 2


# The type bytes as ready-made prefixes, so encoding does not build them per record.
_HARD_STATE_TYPE = bytes([RecordType.HARD_STATE])
_ENTRY_TYPE = bytes([RecordType.ENTRY])

Record = Entry | HardState


class WALCorruptError(Exception):
    """A WAL file holds bytes that cannot be a record that was written: the log is unusable."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        super().__init__(f"wal: {reason} (record at offset {offset} in {path})")
        self.path = path
        self.offset = offset
        self.reason = reason


def entry_body(entry: Entry) -> bytes:
    """The body of an ENTRY record."""
    return _ENTRY_TYPE + _U64X2.pack(entry.term, entry.index) + entry.data


def hard_state_body(hs: HardState) -> bytes:
    """The body of a HARD_STATE record."""
    return _HARD_STATE_TYPE + _U64X3.pack(hs.term, hs.vote, hs.commit)


def encode_records(records: list[Record], crc: int = 0) -> tuple[bytes, int]:
    """The bytes of `records` following a record whose checksum is `crc`, and their last one."""
    parts: list[bytes] = []
    for r in records:
        body = entry_body(r) if isinstance(r, Entry) else hard_state_body(r)
        crc = frame_into(parts, body, crc)
    return b"".join(parts), crc


def encode_entry(entry: Entry, crc: int = 0) -> bytes:
    """The bytes of an ENTRY record for `entry` (after a record whose checksum is `crc`)."""
    return encode_records([entry], crc)[0]


def encode_hard_state(hs: HardState, crc: int = 0) -> bytes:
    """The bytes of a HARD_STATE record for `hs` (after a record whose checksum is `crc`)."""
    return encode_records([hs], crc)[0]


@dataclass(frozen=True, slots=True)
class Decoded:
    """A file's records in order, where each starts, where the valid bytes end, the checksum
    to chain the next record to, and why the bytes after the valid ones were cut ("" if none)."""

    records: list[Record]
    offsets: list[int]
    valid_length: int
    crc: int = 0
    torn: str = ""


def _decode_body(body: bytes, path: str, offset: int) -> Record:
    rtype = body[0] if body else 0
    payload = body[1:]
    if rtype == RecordType.ENTRY:
        if len(payload) < _U64X2.size:
            raise WALCorruptError(path, offset, f"entry payload too short ({len(payload)} bytes)")
        term, index = _U64X2.unpack_from(payload)
        return Entry(term=term, index=index, data=payload[_U64X2.size :])
    if rtype == RecordType.HARD_STATE:
        if len(payload) != _U64X3.size:
            raise WALCorruptError(path, offset, f"hard state payload of {len(payload)} bytes")
        term, vote, commit = _U64X3.unpack(payload)
        return HardState(term=term, vote=vote, commit=commit)
    raise WALCorruptError(path, offset, f"unknown record type {rtype}")


def decode_all(data: bytes, path: str) -> Decoded:
    """Walk every record of a file; stop at a torn tail, raise WALCorruptError on corruption."""
    try:
        scanned = scan(data)
    except FrameError as exc:
        raise WALCorruptError(path, exc.offset, exc.reason) from None
    records = [
        _decode_body(body, path, offset)
        for body, offset in zip(scanned.bodies, scanned.offsets, strict=True)
    ]
    return Decoded(records, scanned.offsets, scanned.valid_length, scanned.crc, scanned.torn)
