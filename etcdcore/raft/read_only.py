"""A leader's pending read-index requests (etcd's ReadOnlySafe): each waits for a quorum of acks.

A request is keyed by its ctx (the data of the MsgReadIndex's one entry). The leader records the
commit index it had when the request arrived, then confirms it still leads by a round of
heartbeats carrying the ctx; once a quorum of voters echoed it, that request and every one queued
before it are answered (an ack for a later heartbeat also proves leadership at the earlier time).

The queue is a list, so requests are released in arrival order; the dict is for lookup only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .types import Message

__all__ = ["ReadIndexStatus", "ReadOnly"]


@dataclass(slots=True)
class ReadIndexStatus:
    """One pending request: the message, the commit index at its arrival, who acked it."""

    req: Message
    index: int
    acks: set[int] = field(default_factory=set)  # only counted, never iterated


class ReadOnly:
    """Read-index requests waiting for a quorum to confirm the leader's heartbeat."""

    __slots__ = ("pending", "queue")

    def __init__(self) -> None:
        self.pending: dict[bytes, ReadIndexStatus] = {}
        self.queue: list[bytes] = []

    def add_request(self, index: int, m: Message) -> None:
        """Record `m` (a MsgReadIndex) as read at commit `index`; a repeated ctx is ignored."""
        ctx = m.entries[0].data
        if ctx in self.pending:
            return
        self.pending[ctx] = ReadIndexStatus(m, index)
        self.queue.append(ctx)

    def recv_ack(self, frm: int, ctx: bytes) -> set[int] | None:
        """Count `frm`'s echo of `ctx`; the voters that acked it so far (None if not pending)."""
        rs = self.pending.get(ctx)
        if rs is None:
            return None
        rs.acks.add(frm)
        return rs.acks

    def advance(self, ctx: bytes) -> list[ReadIndexStatus]:
        """Release the request `ctx` and every one queued before it; [] if `ctx` is not queued."""
        if ctx not in self.pending:
            return []
        n = self.queue.index(ctx) + 1
        released = [self.pending.pop(c) for c in self.queue[:n]]
        del self.queue[:n]
        return released

    def last_pending_request_ctx(self) -> bytes:
        """The newest pending ctx (b"" if none): a heartbeat carrying it confirms them all."""
        return self.queue[-1] if self.queue else b""
