"""Records on disk, as the WAL and the backend write them: framing, chained checksums, and
telling a torn tail from corruption when a file is read back.

A record is a 12-byte header, a body, and zero padding to the next multiple of 8 bytes:

    [u32 length | ZEROS][u32 crc32 of that length field][u32 crc32 of the body]  body  pad

Integers are little-endian. The body's checksum is chained, as etcd's WAL chains its records:
it is seeded with the checksum of the record before (0 for a file's first record), so a record
found anywhere but where it was written (a misdirected write) fails its check there. The length
field has a checksum of its own, so that a flipped length reads as corruption, not as a record
running past the end of the file.

What a crash can leave of appends that were not fsynced (sim.world.disk models it, as disks and
page caches do): a prefix of their bytes, or any subset of their 512-byte sectors, written back
in any order; a sector that was not written reads as zeros from where the synced data ended.
Synced bytes are never touched. So a record that does not check out is *torn* -- an unsynced
write cut short, which replay repairs by cutting the file there -- when
- the file ends inside it ("unexpected EOF", as etcd's decoder reports it), or
- from its start, or from a sector boundary inside it, the bytes up to the end of that sector
  are all zero and the file goes on after that sector ("zeroed sectors": a lost sector).
Anything else is corruption, and replay must refuse the file. The rule never takes a synced
record that was damaged for a torn one, because a record as written never holds such a run of
zeros, and one flipped bit or byte cannot make one:
- records start 8-byte aligned, so a record's first 8 bytes (its length field and that field's
  checksum) never straddle a sector; they are never all zero, and always hold two non-zero bytes
  (the one length field whose crc32 is 0 is 0x6dd90a9d, with four);
- a body holding ZERO_RUN zeros in a row, which a run to a sector's end could lie in, carries
  the ZEROS flag, and only the end of the file may tear such a record.
(A misdirected write of data holding long runs of zeros could still fake a lost sector; etcd's
torn-write check has the same limit.)
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

__all__ = [
    "ALIGN",
    "HEADER_SIZE",
    "SECTOR_SIZE",
    "UNEXPECTED_EOF",
    "ZEROED_SECTORS",
    "FrameError",
    "Scanned",
    "frame_into",
    "scan",
]

_HEADER = struct.Struct("<III")
_LENGTH = struct.Struct("<I")

HEADER_SIZE = _HEADER.size
ALIGN = 8
SECTOR_SIZE = 512  # etcd's minSectorSize: the smallest unit a disk writes whole
ZEROS = 1 << 31  # length flag: the body holds a long run of zeros
_LENGTH_MASK = ZEROS - 1
ZERO_RUN = 128  # zeros in a row that set the flag (a sector minus padding, halved, and less)
_ZERO_RUN_BYTES = bytes(ZERO_RUN)
_PADDING = bytes(ALIGN)
_ZERO_SECTOR = bytes(SECTOR_SIZE)

UNEXPECTED_EOF = "unexpected EOF"
ZEROED_SECTORS = "zeroed sectors"

# crc32 of each length field seen: records of a run come in few sizes, so the checksum of the
# length is looked up rather than recomputed per record.
_LENGTH_CRCS: dict[int, int] = {}


def frame_into(parts: list[bytes], body: bytes, crc: int) -> int:
    """Append one record holding `body`, chained to checksum `crc`, to `parts`; its checksum."""
    length = len(body)
    field = length
    if length >= ZERO_RUN and _ZERO_RUN_BYTES in body:
        field |= ZEROS
    length_crc = _LENGTH_CRCS.get(field)
    if length_crc is None:
        length_crc = zlib.crc32(_LENGTH.pack(field))
        if len(_LENGTH_CRCS) < 4096:
            _LENGTH_CRCS[field] = length_crc
    body_crc = zlib.crc32(body, crc)
    parts.append(_HEADER.pack(field, length_crc, body_crc))
    parts.append(body)
    pad = -(HEADER_SIZE + length) % ALIGN
    if pad:
        parts.append(_PADDING[:pad])
    return body_crc


class FrameError(Exception):
    """A record that does not check out and is not torn: the file is corrupt at `offset`."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"{reason} (record at offset {offset})")
        self.offset = offset
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Scanned:
    """A file's records: their bodies and offsets, where the valid bytes end, the checksum to
    chain the next record to, and why the rest was cut ("" if nothing was)."""

    bodies: list[bytes]
    offsets: list[int]
    valid_length: int
    crc: int
    torn: str


def scan(data: bytes) -> Scanned:
    """Every record of a file, up to a torn tail; FrameError on corruption."""
    bodies: list[bytes] = []
    offsets: list[int] = []
    view = memoryview(data)
    end = len(data)
    pos = 0
    crc = 0
    torn = ""
    while pos < end:
        if end - pos < HEADER_SIZE:
            torn = UNEXPECTED_EOF
            break
        field, length_crc, body_crc = _HEADER.unpack_from(view, pos)
        if zlib.crc32(view[pos : pos + 4]) != length_crc:
            if _lost_sector(view, pos, pos + 1):
                torn = ZEROED_SECTORS
                break
            raise FrameError(pos, "crc mismatch in the length field")
        body_start = pos + HEADER_SIZE
        body_end = body_start + (field & _LENGTH_MASK)
        record_end = body_end + (-body_end % ALIGN)
        if record_end > end:
            torn = UNEXPECTED_EOF
            break
        body = view[body_start:body_end]
        if zlib.crc32(body, crc) != body_crc:
            if not field & ZEROS and _lost_sector(view, pos, record_end):
                torn = ZEROED_SECTORS
                break
            raise FrameError(pos, "crc mismatch")
        bodies.append(bytes(body))
        offsets.append(pos)
        crc = body_crc
        pos = record_end
    return Scanned(bodies, offsets, pos, crc, torn)


def _lost_sector(view: memoryview, start: int, stop: int) -> bool:
    """Does a sector overlapping [start, stop) read as zeros from `start` (or from its own
    start, if later) to its end, with more of the file after it?"""
    end = len(view)
    sector = start - start % SECTOR_SIZE
    while sector < stop:
        sector_end = sector + SECTOR_SIZE
        if sector_end >= end:
            return False
        lo = max(start, sector)
        if view[lo:sector_end] == _ZERO_SECTOR[: sector_end - lo]:
            return True
        sector = sector_end
    return False
