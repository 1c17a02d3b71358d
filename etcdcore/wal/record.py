"""WAL records: encoding, decoding, and telling a torn tail from corruption.

A record is a 12-byte header and a body:

    [u32 payload length][u32 crc32 of the length field][u32 crc32 of body]  [u8 type][payload]

The body is the type byte and the payload, so a record takes HEADER_SIZE + 1 + length bytes.
Integers are little-endian. HARD_STATE's payload is term, vote, commit as u64s; ENTRY's is term
and index as u64s followed by the entry's data.

Invariants the decoder relies on:
- Only the last, unsynced appends of a file can tear, and a tear keeps a prefix of the bytes
  written. So an incomplete record at the end of the file is a tear; anything else is corruption.
- The length field has its own checksum, so a flipped length is reported as corruption rather than
  read as "the payload runs past the end of file" (which would look like a tear and silently
  drop every record after it).
"""

from __future__ import annotations

import enum
import struct
import zlib
from dataclasses import dataclass

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
]

_HEADER = struct.Struct("<III")
_LENGTH = struct.Struct("<I")
_U64X2 = struct.Struct("<QQ")
_U64X3 = struct.Struct("<QQQ")

HEADER_SIZE = _HEADER.size


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
        super().__init__(f"wal: corrupted record at offset {offset} in {path}: {reason}")
        self.path = path
        self.offset = offset
        self.reason = reason


# crc32 of each length field seen: records of a run come in few sizes (a hard state is always
# 24 bytes), so the checksum of the length is looked up rather than recomputed per record.
_LENGTH_CRCS: dict[int, int] = {}


def _frame(body: bytes) -> bytes:
    length = len(body) - 1
    length_crc = _LENGTH_CRCS.get(length)
    if length_crc is None:
        length_crc = zlib.crc32(_LENGTH.pack(length))
        if len(_LENGTH_CRCS) < 4096:
            _LENGTH_CRCS[length] = length_crc
    return _HEADER.pack(length, length_crc, zlib.crc32(body)) + body


def encode_entry(entry: Entry) -> bytes:
    """The bytes of an ENTRY record for `entry`."""
    return _frame(_ENTRY_TYPE + _U64X2.pack(entry.term, entry.index) + entry.data)


def encode_hard_state(hs: HardState) -> bytes:
    """The bytes of a HARD_STATE record for `hs`."""
    return _frame(_HARD_STATE_TYPE + _U64X3.pack(hs.term, hs.vote, hs.commit))


@dataclass(frozen=True, slots=True)
class Decoded:
    """A file's records in order, with where each starts and where the valid bytes end."""

    records: list[Record]
    offsets: list[int]
    valid_length: int


def _decode_body(rtype: int, payload: bytes, path: str, offset: int) -> Record:
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
    records: list[Record] = []
    offsets: list[int] = []
    view = memoryview(data)
    pos = 0
    end = len(data)
    while pos < end:
        if end - pos < HEADER_SIZE:
            break  # torn inside the header
        length, length_crc, body_crc = _HEADER.unpack_from(view, pos)
        if zlib.crc32(view[pos : pos + 4]) != length_crc:
            raise WALCorruptError(path, pos, "length checksum mismatch")
        body_start = pos + HEADER_SIZE
        body_end = body_start + 1 + length
        if body_end > end:
            break  # a valid header whose body was cut short: torn
        body = view[body_start:body_end]
        if zlib.crc32(body) != body_crc:
            raise WALCorruptError(path, pos, "checksum mismatch")
        records.append(_decode_body(body[0], bytes(body[1:]), path, pos))
        offsets.append(pos)
        pos = body_end
    return Decoded(records=records, offsets=offsets, valid_length=pos)
