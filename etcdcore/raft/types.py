"""Raft's data: entries, hard and soft state, messages and the Ready batch.

Field names follow etcd-io/raft's raftpb (snake_case); `frm` stands for `From`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

__all__ = [
    "NONE",
    "Entry",
    "HardState",
    "Message",
    "MessageType",
    "ReadState",
    "Ready",
    "SoftState",
    "StateType",
]

NONE = 0  # "no node": node ids start at 1, as in etcd-io/raft


class StateType(enum.IntEnum):
    """A node's role."""

    FOLLOWER = 0
    CANDIDATE = 1
    LEADER = 2
    PRE_CANDIDATE = 3


class MessageType(enum.IntEnum):
    """Message kinds; HUP and BEAT never cross the network (PROP and READ_INDEX are forwarded)."""

    MSG_HUP = 0
    MSG_BEAT = 1
    MSG_PROP = 2
    MSG_APP = 3
    MSG_APP_RESP = 4
    MSG_VOTE = 5
    MSG_VOTE_RESP = 6
    MSG_HEARTBEAT = 8
    MSG_HEARTBEAT_RESP = 9
    MSG_READ_INDEX = 15
    MSG_READ_INDEX_RESP = 16
    MSG_PRE_VOTE = 17
    MSG_PRE_VOTE_RESP = 18


@dataclass(slots=True)
class Entry:
    """One log entry. Treated as immutable once created."""

    term: int
    index: int
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be durable before a node speaks: current term, vote, commit index."""

    term: int = 0
    vote: int = NONE
    commit: int = 0


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state worth reporting: the known leader and this node's role."""

    lead: int = NONE
    raft_state: StateType = StateType.FOLLOWER


# Enum .name is a descriptor call; labels are built for every message sent.
_SHORT_NAMES = {t: t.name[4:] for t in MessageType}


@dataclass(slots=True)
class Message:
    """A Raft message between two nodes."""

    type: MessageType
    to: int = NONE
    frm: int = NONE
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: list[Entry] = field(default_factory=list)
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    context: bytes = b""  # a heartbeat's (and its answer's) read-index request ctx

    @property
    def duplicable(self) -> bool:
        """May a network deliver this twice? Not a forwarded proposal: a second copy would be
        appended, and applied, twice; etcd's TCP transport never hands one over twice."""
        return self.type != MessageType.MSG_PROP

    def label(self) -> str:
        """A short description for the trace: type, term, index and entry count."""
        text = (
            f"{_SHORT_NAMES[self.type]} t{self.term} i{self.index} lt{self.log_term} c{self.commit}"
        )
        if self.entries:
            text += f" n{len(self.entries)}"
        if self.reject:
            text += " reject"
        if self.context:
            text += " ctx"
        return text


@dataclass(frozen=True, slots=True)
class ReadState:
    """A read index: reads issued as `request_ctx` may be served once `index` is applied."""

    index: int
    request_ctx: bytes


@dataclass(slots=True)
class Ready:
    """What the driver must do next: persist, send, apply; then call `advance`.

    `entries` and `hard_state` must be durable before `messages` that acknowledge them are sent;
    `committed_entries` may be applied once persisted.
    """

    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    committed_entries: list[Entry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)  # answered read_index requests
    # True when entries or the term or vote changed: the WAL must be fsynced before replying.
    # A change of commit index alone may be written lazily, as in etcd-io/raft's MustSync.
    must_sync: bool = False
