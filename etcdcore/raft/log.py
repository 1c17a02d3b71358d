"""RaftLog: the log as Raft sees it, stable entries in storage followed by unstable ones.

Invariants: applied <= applying <= committed <= last_index(); entries below `unstable.offset`
are read from storage, entries from it on from `unstable` (storage may still hold a stale
tail there until the driver persists the replacement).
"""

from __future__ import annotations

from collections.abc import Sequence

from etcdcore import bugs as planted
from etcdcore.probes import Probes

from .errors import RaftError
from .log_unstable import Unstable
from .storage import MemoryStorage
from .types import Entry

__all__ = ["RaftLog"]


class RaftLog:
    """Entries, commit index and applied index of one node."""

    __slots__ = ("applied", "applying", "committed", "planted", "probes", "storage", "unstable")

    def __init__(self, storage: MemoryStorage) -> None:
        self.storage = storage
        self.unstable = Unstable(storage.last_index() + 1)
        first = storage.first_index()
        self.committed = first - 1
        # Highest index handed to the driver for applying, and highest it confirmed applied.
        self.applying = first - 1
        self.applied = first - 1
        self.planted: frozenset[str] = frozenset()  # planted bugs of maybe_append (Raft sets it)
        self.probes = Probes()  # where sometimes points are counted (Raft hands its own)

    def __repr__(self) -> str:
        return (
            f"RaftLog(committed={self.committed}, applied={self.applied}, "
            f"unstable.offset={self.unstable.offset}, last={self.last_index()})"
        )

    # ---- reading -------------------------------------------------------------------------

    def first_index(self) -> int:
        """The first readable index."""
        return self.storage.first_index()

    def last_index(self) -> int:
        """The index of the last entry, stable or not."""
        u = self.unstable
        return u.offset + len(u.entries) - 1

    def stable_last_index(self) -> int:
        """The index of the last entry known durable."""
        return self.unstable.offset - 1

    def term_at(self, index: int) -> int | None:
        """The term of entry `index`; None if beyond the last index or compacted."""
        u = self.unstable
        k = index - u.offset
        if k >= 0:
            # Unstable.maybe_term, inlined: this is Raft's most frequent read.
            entries = u.entries
            return entries[k].term if k < len(entries) else None
        return self.storage.term(index)

    def last_term(self) -> int:
        """The term of the last entry (0 for an empty log)."""
        term = self.term_at(self.last_index())
        if term is None:
            raise RaftError(f"term of last index {self.last_index()} unknown: storage out of date")
        return term

    def match_term(self, index: int, term: int) -> bool:
        """True if entry `index` exists and has `term`."""
        return self.term_at(index) == term

    def is_up_to_date(self, last_index: int, term: int) -> bool:
        """True if a log ending at (last_index, term) is at least as up to date as this one."""
        last_term = self.last_term()
        return term > last_term or (term == last_term and last_index >= self.last_index())

    def slice(self, lo: int, hi: int) -> list[Entry]:
        """Entries with index in [lo, hi), a new list; all must exist."""
        u = self.unstable
        offset = u.offset
        if lo < self.first_index() or hi > offset + len(u.entries):
            raise RaftError(
                f"slice [{lo}, {hi}) out of [{self.first_index()}, {self.last_index()}]"
            )
        if lo >= hi:
            return []
        if lo >= offset:
            return u.entries[lo - offset : hi - offset]
        if hi <= offset:
            return self.storage.entries(lo, hi)
        return self.storage.entries(lo, offset) + u.entries[: hi - offset]

    def entries(self, lo: int, max_count: int) -> list[Entry]:
        """At most `max_count` entries from index `lo` on (empty if `lo` is past the end)."""
        u = self.unstable
        hi = min(u.offset + len(u.entries), lo + max_count)
        return self.slice(lo, hi) if lo < hi else []

    # ---- appending -----------------------------------------------------------------------

    def find_conflict(self, entries: Sequence[Entry]) -> int:
        """The first index whose term differs from ours (or that we lack); 0 if none."""
        term_at = self.term_at
        for e in entries:
            if term_at(e.index) != e.term:
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The last index <= `index` whose term is <= `term`, and that term (0 if unknown).

        Used on both sides of a rejection to skip a whole run of entries from a term the other
        log cannot match, rather than backing off one entry per round trip.
        """
        while index > 0:
            our = self.term_at(index)
            if our is None:
                # Unknown (beyond our log or compacted): it may match, so do not skip it.
                return index, 0
            if our <= term:
                return index, our
            index -= 1
        return 0, 0

    def maybe_append(
        self, index: int, log_term: int, committed: int, entries: Sequence[Entry]
    ) -> int | None:
        """Append `entries` that follow (index, log_term); None if we do not have that entry.

        Returns the index of the last new entry. Entries that already match are left alone, so
        a stale or reordered append never truncates anything; the commit index advances to at
        most the last new entry, the only prefix known to match the leader's log.
        """
        if self.term_at(index) != log_term:
            return None
        if self.planted:
            return self._maybe_append_planted(index, committed, entries)
        last_new = index + len(entries)
        conflict = self.find_conflict(entries) if entries else 0
        if conflict:
            if conflict <= self.committed:
                raise RaftError(
                    f"entry {conflict} conflicts with committed entry (committed={self.committed})"
                )
            self.probes.sometimes(conflict <= self.last_index(),
                                  "raft.uncommitted_entries_overwritten")
            self.append(entries[conflict - index - 1 :])
        self.commit_to(min(committed, last_new))
        return last_new

    def _maybe_append_planted(
        self, index: int, committed: int, entries: Sequence[Entry]
    ) -> int:
        """maybe_append with its planted bugs (etcdcore.bugs.LOG_BUGS); (index, term) matched."""
        bugs = self.planted
        last_new = index + len(entries)
        if entries:
            if planted.TRUNCATE_ON_STALE_APPEND in bugs:
                # Truncate after `index` whatever follows: a stale append drops acked entries.
                self.append(entries)
            else:
                conflict = self.find_conflict(entries)
                if conflict:
                    if conflict <= self.committed:
                        raise RaftError(f"entry {conflict} conflicts with committed entry "
                                        f"(committed={self.committed})")
                    if planted.KEEP_CONFLICTING_ENTRIES in bugs:
                        # Only what lies beyond our log is taken; our conflicting entries stay.
                        beyond = self.last_index() - index
                        if beyond < len(entries):
                            self.append(entries[beyond:])
                    else:
                        self.append(entries[conflict - index - 1 :])
        if planted.FOLLOWER_COMMIT_UNCLAMPED in bugs:
            # Our whole log is taken to match the leader's, stale tail included.
            self.commit_to(min(committed, self.last_index()))
        else:
            self.commit_to(min(committed, last_new))
        return last_new

    def append(self, entries: Sequence[Entry]) -> int:
        """Append `entries`, replacing any uncommitted suffix from their first index."""
        u = self.unstable
        if not entries:
            return u.offset + len(u.entries) - 1
        after = entries[0].index - 1
        if after < self.committed:
            raise RaftError(f"append after {after} would truncate committed {self.committed}")
        if after >= u.offset + len(u.entries):
            raise RaftError(f"append after {after} leaves a gap after {self.last_index()}")
        u.truncate_and_append(entries)
        return u.offset + len(u.entries) - 1

    # ---- commit and apply ----------------------------------------------------------------

    def commit_to(self, to_commit: int) -> None:
        """Raise the commit index to `to_commit` (never lowers it)."""
        if to_commit > self.committed:
            u = self.unstable
            if to_commit >= u.offset + len(u.entries):
                raise RaftError(
                    f"commit {to_commit} is beyond the last index {self.last_index()}; "
                    "was the log corrupted, truncated or lost?"
                )
            self.committed = to_commit

    def maybe_commit(self, max_index: int, term: int) -> bool:
        """Commit up to `max_index` if that entry has `term` (Raft paper Figure 8)."""
        if max_index > self.committed and self.term_at(max_index) == term:
            self.commit_to(max_index)
            return True
        return False

    def has_next_committed_entries(self) -> bool:
        """True if committed entries were not handed out for applying yet."""
        return self.committed > self.applying

    def next_committed_entries(self) -> list[Entry]:
        """Committed entries not handed out for applying yet."""
        if self.committed <= self.applying:
            return []
        return self.slice(self.applying + 1, self.committed + 1)

    def accept_applying(self, index: int) -> None:
        """Entries up to `index` were handed to the driver for applying."""
        self.applying = max(self.applying, index)

    def applied_to(self, index: int) -> None:
        """The driver applied entries up to `index`."""
        if index < self.applied or index > self.committed:
            raise RaftError(
                f"applied {index} out of range [applied {self.applied}, committed {self.committed}]"
            )
        self.applied = index
        self.applying = max(self.applying, index)

    # ---- persistence ---------------------------------------------------------------------

    def has_next_unstable_entries(self) -> bool:
        """True if unstable entries were not handed out for persisting yet."""
        return self.unstable.has_next_entries()

    def next_unstable_entries(self) -> list[Entry]:
        """Unstable entries not handed out for persisting yet."""
        return self.unstable.next_entries()

    def accept_unstable(self) -> None:
        """All unstable entries were handed to the driver for persisting."""
        self.unstable.accept_in_progress()

    def stable_to(self, index: int, term: int) -> None:
        """Entries up to (index, term) are durable, unless that entry was replaced meanwhile."""
        self.unstable.stable_to(index, term)
