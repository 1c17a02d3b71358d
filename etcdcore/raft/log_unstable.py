"""Unstable: the tail of the log not yet known to be durable."""

from __future__ import annotations

from collections.abc import Sequence

from .types import Entry

__all__ = ["Unstable"]


class Unstable:
    """Entries at index >= `offset` not yet persisted; `entries[k]` has index `offset + k`.

    Entries in [offset, offset_in_progress) were handed to the driver in a Ready that has not
    been advanced yet: they are being written, and must not be handed out twice.
    """

    __slots__ = ("entries", "offset", "offset_in_progress")

    def __init__(self, offset: int) -> None:
        self.entries: list[Entry] = []
        self.offset = offset
        self.offset_in_progress = offset

    def maybe_last_index(self) -> int | None:
        """The index of the last unstable entry, if any."""
        if self.entries:
            return self.offset + len(self.entries) - 1
        return None

    def maybe_term(self, index: int) -> int | None:
        """The term of entry `index` if it is unstable."""
        k = index - self.offset
        if 0 <= k < len(self.entries):
            return self.entries[k].term
        return None

    def has_next_entries(self) -> bool:
        """True if some entries were not handed out yet."""
        return self.offset_in_progress < self.offset + len(self.entries)

    def next_entries(self) -> list[Entry]:
        """The entries not handed out yet (a new list)."""
        k = self.offset_in_progress - self.offset
        if k >= len(self.entries):
            return []
        return self.entries[k:]

    def accept_in_progress(self) -> None:
        """Mark all current entries as handed out to the driver."""
        self.offset_in_progress = self.offset + len(self.entries)

    def stable_to(self, index: int, term: int) -> None:
        """Entries up to `index` are durable, if entry `index` still has `term`."""
        if self.maybe_term(index) != term:
            # Either already stable, or truncated and replaced after it was handed out: what the
            # driver wrote is no longer our entry at this index.
            return
        del self.entries[: index + 1 - self.offset]
        self.offset = index + 1
        self.offset_in_progress = max(self.offset_in_progress, self.offset)

    def slice(self, lo: int, hi: int) -> list[Entry]:
        """Unstable entries with index in [lo, hi); the caller keeps within bounds."""
        return self.entries[lo - self.offset : hi - self.offset]

    def truncate_and_append(self, entries: Sequence[Entry]) -> None:
        """Append `entries`, first dropping every unstable entry at or after their first index."""
        first = entries[0].index
        if first == self.offset + len(self.entries):
            self.entries.extend(entries)
        elif first <= self.offset:
            # The new entries replace part of the stable log too: reads from `first` on now come
            # from here, not from storage.
            self.entries = list(entries)
            self.offset = first
        else:
            del self.entries[first - self.offset :]
            self.entries.extend(entries)
        # Anything handed out from `first` on is stale; the new entries must be handed out.
        self.offset_in_progress = min(self.offset_in_progress, first)
