"""MemoryStorage: the entries and hard state a node has made durable, as Raft reads them back.

`RawNode.advance` records each Ready's entries and hard state here once the driver says they
are durable; on restart the driver builds one from what its WAL replays.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import RaftError
from .types import Entry, HardState

__all__ = ["MemoryStorage"]


class MemoryStorage:
    """Persisted entries (contiguous, from index 1) and the persisted hard state, in memory."""

    __slots__ = ("_ents", "hard_state")

    def __init__(self, hard_state: HardState | None = None, entries: Sequence[Entry] = ()) -> None:
        """Start empty, or from a replayed WAL: its last hard state and its entries from index 1."""
        self.hard_state = hard_state if hard_state is not None else HardState()
        # _ents[0] is a dummy standing for the compaction point, so that term(0) == 0 and
        # _ents[i - offset] is entry i. Nothing is ever compacted here (there are no snapshots).
        self._ents: list[Entry] = [Entry(term=0, index=0)]
        if entries:
            if entries[0].index != 1:
                raise RaftError(f"replayed entries must start at index 1, not {entries[0].index}")
            self.append(entries)

    def initial_state(self) -> HardState:
        """The hard state Raft restarts from."""
        return self.hard_state

    def set_hard_state(self, hard_state: HardState) -> None:
        """Record the hard state the driver has just made durable."""
        self.hard_state = hard_state

    def first_index(self) -> int:
        """The first index that may be read."""
        return self._ents[0].index + 1

    def last_index(self) -> int:
        """The index of the last persisted entry (0 if none)."""
        return self._ents[0].index + len(self._ents) - 1

    def term(self, index: int) -> int | None:
        """The term of entry `index`, or None if it is compacted or not stored."""
        k = index - self._ents[0].index
        if k < 0 or k >= len(self._ents):
            return None
        return self._ents[k].term

    def entries(self, lo: int, hi: int) -> list[Entry]:
        """Entries with index in [lo, hi), which must all be stored."""
        offset = self._ents[0].index
        if lo <= offset or hi > self.last_index() + 1 or lo > hi:
            raise RaftError(
                f"entries [{lo}, {hi}) out of range [{offset + 1}, {self.last_index()}]"
            )
        return self._ents[lo - offset : hi - offset]

    def append(self, entries: Sequence[Entry]) -> None:
        """Persist `entries` (contiguous); any stored suffix from their first index is replaced."""
        if not entries:
            return
        offset = self._ents[0].index
        first = entries[0].index
        if first - offset > len(self._ents):
            raise RaftError(f"append at {first} leaves a gap after last index {self.last_index()}")
        # Entries before `first` stay; a WAL replay likewise lets a later record overwrite a tail.
        del self._ents[first - offset :]
        self._ents.extend(entries)
