"""Progress: what a leader knows of one follower's log, and how fast it may send to it."""

from __future__ import annotations

import enum
from collections import deque

__all__ = ["Inflights", "Progress", "ProgressState"]


class ProgressState(enum.IntEnum):
    """PROBE: one append at a time until a match is found; REPLICATE: stream optimistically."""

    PROBE = 0
    REPLICATE = 1


# Enum members as module constants: an Enum class attribute costs several times a global's
# lookup, and these are compared on every message.
_PROBE = ProgressState.PROBE
_REPLICATE = ProgressState.REPLICATE


class Inflights:
    """Last indexes of appends sent in REPLICATE state and not yet acknowledged, oldest first."""

    __slots__ = ("_queue", "size")

    def __init__(self, size: int) -> None:
        self.size = size
        self._queue: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def full(self) -> bool:
        """True if no more appends may be sent."""
        return len(self._queue) >= self.size

    def add(self, last_index: int) -> None:
        """An append ending at `last_index` was sent."""
        self._queue.append(last_index)

    def free_le(self, index: int) -> None:
        """Appends ending at or before `index` were acknowledged."""
        q = self._queue
        while q and q[0] <= index:
            q.popleft()

    def free_first_one(self) -> None:
        """Forget the oldest append, so a follower that answers heartbeats is never stuck."""
        if self._queue:
            self._queue.popleft()

    def reset(self) -> None:
        """Forget every append."""
        self._queue.clear()


class Progress:
    """A follower's `match` (highest index known replicated) and `next` (next index to send)."""

    __slots__ = ("inflights", "match", "next", "probe_sent", "recent_active", "state")

    def __init__(self, next_index: int, max_inflight: int, match: int = 0) -> None:
        self.match = match
        self.next = next_index
        self.state = _PROBE
        # In PROBE, an append is outstanding: wait for its answer (or a heartbeat response).
        self.probe_sent = False
        self.inflights = Inflights(max_inflight)
        # Set when the follower answers; check-quorum reads and clears it every election timeout.
        self.recent_active = False

    def __repr__(self) -> str:
        return (
            f"Progress({self.state.name} match={self.match} next={self.next} "
            f"inflight={len(self.inflights)} paused={self.is_paused()})"
        )

    def become_probe(self) -> None:
        """Go back to probing from just after the known match."""
        self.state = _PROBE
        self.next = self.match + 1
        self.probe_sent = False
        self.inflights.reset()

    def become_replicate(self) -> None:
        """The follower's log matches up to `match`: stream from there."""
        self.state = _REPLICATE
        self.next = self.match + 1
        self.probe_sent = False
        self.inflights.reset()

    def maybe_update(self, index: int) -> bool:
        """The follower acknowledged up to `index`; True if that raised `match`."""
        updated = False
        if self.match < index:
            self.match = index
            self.probe_sent = False
            updated = True
        self.next = max(self.next, index + 1)
        return updated

    def optimistic_update(self, last_index: int) -> None:
        """Entries up to `last_index` were sent in REPLICATE state."""
        self.next = last_index + 1

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """The follower rejected an append after `rejected`; False if the rejection is stale."""
        if self.state == _REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            # An answer to an earlier probe: the current one is still outstanding.
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.probe_sent = False
        return True

    def is_paused(self) -> bool:
        """True if no append may be sent to this follower now."""
        if self.state == _PROBE:
            return self.probe_sent
        return self.inflights.full()
