"""RawNode: the driver's handle on Raft — tick, step, propose; then ready, persist, advance.

The driver's loop, as in etcd's raft_node:

    if node.has_ready():
        rd = node.ready()
        # persist rd.hard_state and rd.entries (fsync if rd.must_sync); send rd.messages (a
        # leader may send before its own fsync, any other node only after); apply
        # rd.committed_entries; serve the reads in rd.read_states once their index is applied.
        # (advance records rd in the MemoryStorage itself.)
        node.advance(rd)

`step` may be called between `ready` and `advance`; only one Ready may be outstanding.
"""

from __future__ import annotations

from .errors import ProposalDropped, RaftError
from .raft import Config, Raft
from .storage import MemoryStorage
from .types import Entry, HardState, Message, MessageType, Ready, SoftState, StateType

__all__ = ["RawNode"]

# Enum members as module constants: an Enum class attribute costs several times a global's
# lookup, and these are compared on every message.
_MSG_BEAT = MessageType.MSG_BEAT
_MSG_HUP = MessageType.MSG_HUP
_MSG_PROP = MessageType.MSG_PROP
_MSG_READ_INDEX = MessageType.MSG_READ_INDEX
_LEADER = StateType.LEADER

# Never from a peer. MsgProp and MsgReadIndex are local too, but a follower forwards them to its
# leader, so they do arrive through step.
_LOCAL = (_MSG_HUP, _MSG_BEAT)


class RawNode:
    """One Raft node. Restart it by building it again from the storage the WAL replayed into."""

    __slots__ = ("_outstanding", "_prev_hard", "_prev_soft", "raft")

    def __init__(self, config: Config, storage: MemoryStorage) -> None:
        self.raft = Raft(config, storage)
        self._prev_soft: SoftState = self.raft.soft_state()
        # What the driver already has: the restored hard state is durable, so not reported.
        self._prev_hard = self.raft.hard_state()
        self._outstanding = False

    def __repr__(self) -> str:
        return f"RawNode({self.raft!r})"

    # ---- inputs --------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance the logical clock by one tick (elections, heartbeats, check-quorum)."""
        self.raft.tick()

    def campaign(self) -> None:
        """Start an election now (a pre-vote first, if enabled)."""
        self.raft.step(Message(_MSG_HUP, frm=self.raft.id))

    def propose(self, data: bytes) -> bool:
        """Append `data` (leader) or forward it to the leader (follower); False if neither.

        True promises nothing: a forwarded proposal may be lost on the way or by a leader that
        loses its term, and the caller learns of it only by a timeout, as in etcd.
        """
        try:
            self.raft.step(
                Message(_MSG_PROP, frm=self.raft.id, entries=[Entry(0, 0, data)])
            )
        except ProposalDropped:
            return False
        return True

    def read_index(self, ctx: bytes) -> None:
        """Ask for a read index; it comes back as `ReadState(index, ctx)` in a later Ready.

        `ctx` should be unique per request. Nothing comes back if the request is lost (no
        leader, a leader change, a partition): the caller retries after a timeout.
        """
        self.raft.step(Message(_MSG_READ_INDEX, frm=self.raft.id, entries=[Entry(0, 0, ctx)]))

    def step(self, m: Message) -> None:
        """Handle a message from a peer (never a local one: use tick, campaign, propose)."""
        if m.type in _LOCAL:
            raise RaftError(f"cannot step local message {m.type.name}")
        # Not contextlib.suppress: this is the hottest call, and a bare try costs nothing.
        try:  # noqa: SIM105
            self.raft.step(m)
        except ProposalDropped:
            pass  # a forwarded proposal that reached a node with no leader: its sender retries

    # ---- outputs -------------------------------------------------------------------------

    def has_ready(self) -> bool:
        """True if `ready()` would return something to persist, send or apply."""
        # Called after every input: fields are read directly rather than through RaftLog's and
        # Unstable's accessors (has_next_unstable_entries, has_next_committed_entries).
        r = self.raft
        if r.msgs or r.read_states:
            return True
        log = r.raft_log
        u = log.unstable
        if u.offset_in_progress < u.offset + len(u.entries) or log.committed > log.applying:
            return True
        soft, hard = self._prev_soft, self._prev_hard
        return (
            r.lead != soft.lead
            or r.state != soft.raft_state
            or r.term != hard.term
            or r.vote != hard.vote
            or log.committed != hard.commit
        )

    def ready(self) -> Ready:
        """Everything to do now; the caller must `advance(rd)` before the next `ready()`."""
        if self._outstanding:
            raise RaftError("ready() called again before advance() of the previous Ready")
        r = self.raft
        log = r.raft_log
        u = log.unstable
        # Unstable.next_entries and RaftLog.next_committed_entries, inlined (the hot path).
        k = u.offset_in_progress - u.offset
        unstable = u.entries
        entries = unstable[k:] if k < len(unstable) else []
        committed = log.committed
        applying = log.applying
        committed_entries = log.slice(applying + 1, committed + 1) if committed > applying else []
        rd = Ready(
            entries=entries,
            committed_entries=committed_entries,
            messages=r.msgs,
            read_states=r.read_states,
        )
        r.msgs = []
        r.read_states = []
        soft = self._prev_soft
        if r.lead != soft.lead or r.state != soft.raft_state:
            rd.soft_state = self._prev_soft = r.soft_state()
        prev = self._prev_hard
        term_or_vote_changed = r.term != prev.term or r.vote != prev.vote
        if term_or_vote_changed or committed != prev.commit:
            rd.hard_state = self._prev_hard = HardState(r.term, r.vote, committed)
        # A vote or term must be durable before the messages that rely on it (MsgVoteResp)
        # go out; a commit index alone may be written lazily.
        rd.must_sync = term_or_vote_changed or bool(entries)
        u.offset_in_progress = u.offset + len(unstable)  # accept_unstable
        if committed_entries:
            log.applying = committed  # accept_applying: committed_entries end at `committed`
        self._outstanding = True
        return rd

    def advance(self, rd: Ready) -> None:
        """The driver persisted `rd.entries` and hard state, and applied `rd.committed_entries`.

        Records them in the MemoryStorage (the driver need not), then lets a leader count its
        own now-durable entries towards commitment.
        """
        if not self._outstanding:
            raise RaftError("advance() without an outstanding Ready")
        self._outstanding = False
        r = self.raft
        log = r.raft_log
        # A step between ready() and advance() may have replaced a suffix of rd.entries: what
        # still matches our log (same index and term) is durable, the rest is not ours anymore.
        entries = rd.entries
        if entries:
            n = len(entries)
            for k in range(n - 1, -1, -1):
                e = entries[k]
                if log.term_at(e.index) == e.term:
                    # Storage mirrors what the driver made durable; etcd leaves this append to
                    # the driver, doing it here means a driver cannot forget it (appending
                    # twice is harmless).
                    if k == n - 1:
                        log.storage.append(entries)
                    else:
                        r.probes.hit("raft.entries_replaced_before_persist")
                        log.storage.append(entries[: k + 1])
                    log.unstable.stable_to(e.index, e.term)
                    break
            else:
                r.probes.hit("raft.entries_replaced_before_persist")
        if rd.hard_state is not None:
            log.storage.hard_state = rd.hard_state
        if rd.committed_entries:
            log.applied_to(rd.committed_entries[-1].index)
        if r.state == _LEADER:
            r.on_persisted()

    # ---- read-only views -----------------------------------------------------------------

    @property
    def id(self) -> int:
        """This node's id."""
        return self.raft.id

    @property
    def term(self) -> int:
        """The current term."""
        return self.raft.term

    @property
    def vote(self) -> int:
        """Whom this node voted for in the current term (NONE if nobody)."""
        return self.raft.vote

    @property
    def state(self) -> StateType:
        """This node's role."""
        return self.raft.state

    @property
    def lead(self) -> int:
        """The leader this node knows of in the current term (NONE if none)."""
        return self.raft.lead

    @property
    def committed(self) -> int:
        """The commit index."""
        return self.raft.raft_log.committed

    @property
    def applied(self) -> int:
        """The last index the driver confirmed applied (through advance)."""
        return self.raft.raft_log.applied

    def last_index(self) -> int:
        """The index of the last log entry, persisted or not."""
        return self.raft.raft_log.last_index()

    def term_at(self, index: int) -> int | None:
        """The term of entry `index`; None if this node does not have it."""
        return self.raft.raft_log.term_at(index)
