"""The write-ahead log: Raft's entries and hard state on the node's disk."""

from etcdcore.wal.record import (
    HEADER_SIZE,
    RecordType,
    WALCorruptError,
    decode_all,
    encode_entry,
    encode_hard_state,
    encode_records,
)
from etcdcore.wal.wal import WAL, ReplayInfo, wal_path

__all__ = [
    "HEADER_SIZE",
    "WAL",
    "RecordType",
    "ReplayInfo",
    "WALCorruptError",
    "decode_all",
    "encode_entry",
    "encode_hard_state",
    "encode_records",
    "wal_path",
]
