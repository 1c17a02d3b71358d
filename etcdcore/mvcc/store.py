"""The MVCC store: etcd's store (kvstore.go) and its read and write txns (kvstore_txn.go).

Every change is a new revision of the whole store. A write txn's changes all carry revision
current + 1 (sub-revisions order them inside the txn); the store moves to that revision when
the txn ends, and only if the txn changed something. The index (key -> revisions) answers
"which version of this key at revision r"; the backend bucket (revision -> key-value) holds the
versions; commit() turns what changed since the last commit into one backend record.

Invariants:
- current_rev >= 1 and compact_main_rev <= current_rev (compact_main_rev is -1 until the first
  compaction);
- the index and the bucket hold the same revisions;
- at most one write txn is open, and commit / compact / hash wait for none to be.
"""

from __future__ import annotations

from etcdcore import bugs as planted
from etcdcore.probes import Probes

from .backend import Backend, CompactOp, PutOp, TombstoneOp, decode_records
from .hash import unsafe_hash_by_rev
from .key_index import TreeIndex
from .kv import ErrCompacted, ErrFutureRev, KeyValue, RangeOptions, RangeResult, Revision

__all__ = ["ReadTxn", "Store", "WriteTxn"]

_DEFAULT_OPTIONS = RangeOptions()


class Store:
    """etcd's mvcc store: revisions, ranges at any uncompacted revision, compaction, hashing.

    Ranges take etcd's (key, end): `end is None` is the single key, `end == b""` every key
    >= key, anything else [key, end).
    """

    def __init__(self, bugs: frozenset[str] = frozenset()) -> None:
        self.bugs = bugs  # planted bugs switched on (etcdcore.bugs)
        self._delete_nothing_bumps = planted.DELETE_NOTHING_BUMPS_REVISION in bugs
        self._compact_off_by_one = planted.COMPACT_OFF_BY_ONE in bugs
        self._count_within_limit = planted.RANGE_COUNT_WITHIN_LIMIT in bugs
        self._serve_compacted = planted.RANGE_COMPACTED_REVISION in bugs
        self._index = TreeIndex()
        self._backend = Backend()
        self._current_rev = 1  # the revision of the last completed write txn
        self._compact_main_rev = -1
        self._consistent_index = 0
        self._term = 0
        self._meta_dirty = False  # the consistent index changed since the last commit
        self._writing: WriteTxn | None = None
        self.probes = Probes()  # where sometimes points are counted (the server hands its own)
        self.torn = ""  # why restore() cut the file's tail ("" if it did not)

    # Revisions and the consistent index.

    def rev(self) -> int:
        """The current revision."""
        return self._current_rev

    def compact_rev(self) -> int:
        """The revision of the last compaction, -1 if none."""
        return self._compact_main_rev

    @property
    def consistent_index(self) -> int:
        """The index of the last raft entry applied to this store (as committed with it)."""
        return self._consistent_index

    @property
    def term(self) -> int:
        """The term of that entry."""
        return self._term

    def set_consistent_index(self, index: int, term: int) -> None:
        """Record the raft entry being applied; it is committed in the same batch as its writes."""
        self._consistent_index = index
        self._term = term
        self._meta_dirty = True

    # Txns.

    def read(self) -> ReadTxn:
        """A read txn at the current revision."""
        return ReadTxn(self)

    def write(self) -> WriteTxn:
        """The write txn; end() it before opening another or committing."""
        if self._writing is not None:
            raise RuntimeError("a write txn is already open: end() it first")
        self._writing = WriteTxn(self)
        return self._writing

    def _range_keys(self, key: bytes, end: bytes | None, cur_rev: int,
                    ro: RangeOptions) -> RangeResult:
        """storeTxnCommon.rangeKeys: the keys at ro.rev (or cur_rev), answered at cur_rev."""
        rev = ro.rev
        if rev > cur_rev:
            raise ErrFutureRev()
        if rev <= 0:
            rev = cur_rev
        if rev < self._compact_main_rev and not self._serve_compacted:
            raise ErrCompacted()  # (the planted bug reads what compaction left of rev)
        if ro.count:
            return RangeResult([], cur_rev, self._index.count_revisions(key, end, rev))
        revpairs, total = self._index.revisions(key, end, rev, ro.limit)
        kvs = [self._backend.get(r) for r in revpairs]
        if self._count_within_limit:
            total = len(kvs)  # the planted bug: what was fetched, not what the range holds
        return RangeResult(kvs, cur_rev, total)

    # Compaction and hashing.

    def compact(self, rev: int) -> None:
        """Compact at `rev`: keep each key's last live version at or below it, and all above.

        As in etcd, which force-commits the scheduled compaction, the caller should commit()
        right after.
        """
        self._check_idle("compact")
        if rev <= self._compact_main_rev:
            self.probes.hit("mvcc.compact_already_compacted")
            raise ErrCompacted()
        if rev > self._current_rev:
            raise ErrFutureRev()
        self._compact_main_rev = rev
        self._backend.set_scheduled_compact(rev)
        # Compactions are rare: what they meet is worth a look at the index (sometimes points).
        probes = self.probes
        probes.sometimes(any(r.main == rev for r in self._index.keep(rev)),
                         "mvcc.compact_at_live_key_revision")
        keys = len(self._index)
        self._do_compact(rev)
        probes.sometimes(len(self._index) < keys, "mvcc.compact_removes_deleted_key")

    def _do_compact(self, rev: int) -> None:
        keep = self._index.compact(rev, drop_at_rev=self._compact_off_by_one)
        self._backend.compact(rev, keep)

    def hash_by_rev(self, rev: int = 0) -> tuple[int, int, int]:
        """(hash of the versions up to `rev` (0: current), current revision, compact revision)."""
        self._check_idle("hash")
        compact_rev, current_rev = self._compact_main_rev, self._current_rev
        if rev > 0 and rev < compact_rev:
            raise ErrCompacted()
        if rev > current_rev:
            raise ErrFutureRev()
        if rev <= 0:
            rev = current_rev
        keep = self._index.keep(rev)
        return unsafe_hash_by_rev(self._backend, compact_rev, rev, keep), current_rev, compact_rev

    # Persistence.

    @property
    def dirty(self) -> bool:
        """Has anything changed since the last commit?"""
        return self._backend.pending() or self._meta_dirty

    def commit(self) -> bytes:
        """One backend record of everything changed since the last commit; b"" if nothing did.

        The server appends it to the backend file and fsyncs; what was not committed is lost on
        a crash, as with etcd's batch tx.
        """
        self._check_idle("commit")
        if not self.dirty:
            return b""
        self._meta_dirty = False
        return self._backend.commit(self._current_rev, self._consistent_index, self._term)

    @classmethod
    def restore(cls, data: bytes, bugs: frozenset[str] = frozenset()) -> tuple[Store, int]:
        """The store as of the last valid record in `data`, and the bytes those records take.

        A torn tail is ignored (truncate the file to the returned length; `torn` says why it was
        cut); a record that fails its checksum and is not torn raises BackendCorruptError.
        """
        restored = decode_records(data)
        s = cls(bugs)
        for record in restored.records:
            for op in record.ops:
                if isinstance(op, PutOp):
                    s._backend.seq_put(op.rev, op.kv)
                    s._index.put(op.kv.key, op.rev)
                elif isinstance(op, TombstoneOp):
                    s._backend.seq_put_tombstone(op.rev, op.key)
                    s._index.tombstone(op.key, op.rev)
                elif isinstance(op, CompactOp):
                    s._compact_main_rev = op.rev
                    s._do_compact(op.rev)
            s._current_rev = record.rev
            s._consistent_index, s._term = record.consistent_index, record.term
        s._backend.discard_batch()  # what was replayed is committed already
        s._backend.crc = restored.crc
        s.torn = restored.torn
        return s, restored.valid_length

    def _check_idle(self, what: str) -> None:
        if self._writing is not None:
            raise RuntimeError(f"cannot {what} while a write txn is open: end() it first")


class ReadTxn:
    """A read txn: ranges answer with the revision current when it began."""

    __slots__ = ("_rev", "_s")

    def __init__(self, s: Store) -> None:
        self._s = s
        self._rev = s._current_rev

    @property
    def bugs(self) -> frozenset[str]:
        """The store's planted bugs (etcdcore.bugs), for the requests run against it."""
        return self._s.bugs

    def rev(self) -> int:
        """The revision the txn reads at."""
        return self._rev

    def range(self, key: bytes, end: bytes | None = None,
              opts: RangeOptions = _DEFAULT_OPTIONS) -> RangeResult:
        """The keys of the range as of opts.rev (<= 0: the txn's revision); see Store."""
        return self._s._range_keys(key, end, self._rev, opts)

    def end(self) -> None:
        """Nothing to release: there are no locks here."""


class WriteTxn:
    """The write txn: puts and deletes at revision begin + 1, which ranges inside it see."""

    __slots__ = ("_begin_rev", "_bumped", "_changes", "_ended", "_s")

    def __init__(self, s: Store) -> None:
        self._s = s
        self._begin_rev = s._current_rev
        self._changes: list[KeyValue] = []
        self._ended = False
        self._bumped = False  # the planted bug: a delete of nothing moved the revision

    def rev(self) -> int:
        """The revision the txn began at (its writes carry rev() + 1)."""
        return self._begin_rev

    def _cur_rev(self) -> int:
        # Once the txn has changed something its reads see its writes, at its own revision.
        return self._begin_rev + 1 if self._changes else self._begin_rev

    def range(self, key: bytes, end: bytes | None = None,
              opts: RangeOptions = _DEFAULT_OPTIONS) -> RangeResult:
        """As ReadTxn.range, seeing this txn's earlier writes."""
        self._check_open()
        return self._s._range_keys(key, end, self._cur_rev(), opts)

    def put(self, key: bytes, value: bytes, lease: int = 0) -> int:
        """Write a new version of `key`; the txn's revision."""
        self._check_open()
        rev = self._begin_rev + 1
        created, ver = rev, 0
        got = self._s._index.get(key, rev)
        if got is not None:  # the key exists: keep its create revision, count on
            created, ver = got[1].main, got[2]
        idx_rev = Revision(rev, len(self._changes))
        kv = KeyValue(key, created, rev, ver + 1, value, lease)
        self._s._backend.seq_put(idx_rev, kv)
        self._s._index.put(key, idx_rev)
        self._changes.append(kv)
        return rev

    def delete_range(self, key: bytes, end: bytes | None = None) -> tuple[int, int]:
        """Delete the live keys of the range: (how many, the revision to answer with)."""
        self._check_open()
        keys, _ = self._s._index.range(key, end, self._cur_rev())
        for k in keys:
            self._delete(k)
        if keys or self._changes:
            return len(keys), self._begin_rev + 1
        self._s.probes.hit("mvcc.delete_nothing")
        if self._s._delete_nothing_bumps:
            self._bumped = True
            return 0, self._begin_rev + 1
        return 0, self._begin_rev

    def _delete(self, key: bytes) -> None:
        idx_rev = Revision(self._begin_rev + 1, len(self._changes))
        self._s._backend.seq_put_tombstone(idx_rev, key)
        self._s._index.tombstone(key, idx_rev)
        # As the watchable store reports a delete: no create revision or version.
        self._changes.append(KeyValue(key, 0, idx_rev.main, 0, b""))

    def changes(self) -> list[KeyValue]:
        """The versions written so far, in order; a delete has create_revision and version 0."""
        return list(self._changes)

    def end(self) -> None:
        """Finish the txn: the store moves to its revision if it changed anything."""
        self._check_open()
        self._ended = True
        if self._changes or self._bumped:
            self._s._current_rev += 1
        self._s._writing = None

    def _check_open(self) -> None:
        if self._ended:
            raise RuntimeError("the write txn has ended")
