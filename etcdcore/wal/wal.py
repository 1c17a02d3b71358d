"""The write-ahead log: Raft's entries and hard state, appended to one file on the node's disk.

`save` appends without syncing; `sync` makes everything saved so far durable. Nothing saved may be
acknowledged to another node before the `sync` after it has resolved. Replay (`WAL.open`) rebuilds
the log: the last hard state wins, and an entry at or below the current last index truncates the
log there first, which is how a conflict truncation is persisted. DiskError propagates.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from etcdcore.env import Disk, Waitable
from etcdcore.framing import frame_into
from etcdcore.raft.types import Entry, HardState
from etcdcore.wal.record import (
    WALCorruptError,
    decode_all,
    entry_body,
    hard_state_body,
)

__all__ = ["WAL", "ReplayInfo", "wal_path"]

_FILE_NAME = "0.log"


def wal_path(dir: str = "wal") -> str:
    """The path of the WAL file in `dir`."""
    return f"{dir}/{_FILE_NAME}"


@dataclass(frozen=True, slots=True)
class ReplayInfo:
    """What replay found: records read, valid bytes kept, torn bytes cut off and why."""

    path: str
    records: int
    valid_bytes: int
    torn_bytes: int
    torn: str = ""  # "unexpected EOF" or "zeroed sectors" (etcdcore.framing) if any were cut

    @property
    def repaired(self) -> bool:
        """True if a torn tail was cut off; the WAL must be synced before acknowledging appends."""
        return self.torn_bytes > 0


class WAL:
    """An open write-ahead log; obtain one with `WAL.create` or `WAL.open`."""

    def __init__(self, disk: Disk, path: str, last_index: int, crc: int = 0) -> None:
        self.disk = disk
        self.path = path
        self.last_index = last_index
        self._crc = crc  # the last record's checksum: the next one chains to it

    @staticmethod
    def exists(disk: Disk, dir: str = "wal") -> bool:
        """True if a WAL was created in `dir` (and its creation survived)."""
        return disk.exists(wal_path(dir))

    @classmethod
    def create(cls, disk: Disk, dir: str = "wal") -> WAL:
        """Start an empty WAL in `dir`; FileExistsError if one is there."""
        path = wal_path(dir)
        if disk.exists(path):
            raise FileExistsError(f"wal: {path} already exists")
        disk.write(path, b"")
        return cls(disk, path, last_index=0)

    @classmethod
    def open(cls, disk: Disk, dir: str = "wal") -> tuple[WAL, HardState, list[Entry], ReplayInfo]:
        """Replay the WAL in `dir`: its hard state, its log, and what replay repaired.

        A torn tail is truncated away (not yet synced: see ReplayInfo.repaired), as etcd repairs
        an unexpected EOF; corruption or an index gap raises WALCorruptError. A tail cut off
        cleanly between records cannot be told from a shorter log: nothing in a WAL says how
        long it was (etcd is no different).
        """
        path = wal_path(dir)
        data = disk.read(path)
        decoded = decode_all(data, path)
        hard_state = HardState()
        log: list[Entry] = []
        for offset, record in zip(decoded.offsets, decoded.records, strict=True):
            if isinstance(record, HardState):
                hard_state = record
                continue
            # Indexes start at 1 (no snapshots), so log[k].index == k + 1 throughout.
            if record.index < 1 or record.index > len(log) + 1:
                raise WALCorruptError(
                    path, offset, f"entry index {record.index} does not follow {len(log)}"
                )
            del log[record.index - 1 :]
            log.append(record)
        torn = len(data) - decoded.valid_length
        if torn:
            disk.truncate(path, decoded.valid_length)
        info = ReplayInfo(
            path=path,
            records=len(decoded.records),
            valid_bytes=decoded.valid_length,
            torn_bytes=torn,
            torn=decoded.torn,
        )
        return cls(disk, path, last_index=len(log), crc=decoded.crc), hard_state, log, info

    def save(self, hard_state: HardState | None, entries: list[Entry]) -> None:
        """Append `entries`, then `hard_state` if given, as one write; not durable until `sync`.

        Entries must be contiguous and start at or below last_index + 1 (lower overwrites).
        """
        if entries:
            first = entries[0].index
            # A gap would make the file unreplayable; refuse it here, where the caller is.
            if first < 1 or first > self.last_index + 1:
                raise ValueError(f"wal: entry index {first} does not follow {self.last_index}")
            if len(entries) > 1:
                for prev, nxt in itertools.pairwise(entries):
                    if nxt.index != prev.index + 1:
                        raise ValueError(f"wal: entries not contiguous at index {nxt.index}")
            parts: list[bytes] = []
            crc = self._crc
            for e in entries:
                crc = frame_into(parts, entry_body(e), crc)
            if hard_state is not None:
                crc = frame_into(parts, hard_state_body(hard_state), crc)
            self.disk.append(self.path, b"".join(parts))
            self._crc = crc
            self.last_index = entries[-1].index
        elif hard_state is not None:
            parts = []
            crc = frame_into(parts, hard_state_body(hard_state), self._crc)
            self.disk.append(self.path, b"".join(parts))
            self._crc = crc

    def sync(self) -> Waitable:
        """Make everything saved so far durable; resolves when the fsync completes."""
        return self.disk.fsync(self.path)
