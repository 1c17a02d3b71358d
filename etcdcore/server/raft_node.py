"""raft_node: drives the pure Raft inside a node, obeying the Ready contract.

One loop, as etcd's raftNode.start: take a Ready; a leader sends its replication messages at
once (in parallel with its own fsync); persist entries and hard state to the WAL and fsync when
Raft says so; then send the rest (votes and acknowledgements must follow the fsync); hand
committed entries to the apply function; advance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from etcdcore import bugs as planted
from etcdcore.env import DiskError, Env, Future, Process
from etcdcore.knobs import Knobs
from etcdcore.raft import Config, MemoryStorage, RawNode
from etcdcore.raft.types import (
    Entry,
    HardState,
    Message,
    MessageType,
    ReadState,
    Ready,
    StateType,
)
from etcdcore.server import failpoints as fp
from etcdcore.wal import WAL, WALCorruptError

__all__ = ["RaftHooks", "RaftMonitor", "RaftNode", "RaftTiming"]

_BEFORE_SAVE = fp.RAFT_BEFORE_SAVE
_AFTER_SAVE = fp.RAFT_AFTER_SAVE
_BEFORE_LEADER_SEND = fp.RAFT_BEFORE_LEADER_SEND
_BEFORE_FOLLOWER_SEND = fp.RAFT_BEFORE_FOLLOWER_SEND

# Enum members as module constants: an Enum class attribute costs several times a global's
# lookup, and these are compared on every message.
_MSG_APP = MessageType.MSG_APP
_MSG_HEARTBEAT = MessageType.MSG_HEARTBEAT
_FOLLOWER = StateType.FOLLOWER
_LEADER = StateType.LEADER

# Replication traffic a leader may send before its own write is durable (etcd does the same):
# followers acknowledge only what they persisted, and the leader counts itself only after
# advance(), so nothing is committed on the strength of the leader's unsynced write.
_EARLY = frozenset({_MSG_APP, _MSG_HEARTBEAT})


@dataclass(frozen=True)
class RaftTiming:
    """etcd's defaults: a 100 ms tick, heartbeat every tick, election after 10 ticks."""

    tick_us: int = 100_000
    heartbeat_ticks: int = 1
    election_ticks: int = 10

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its fields: compiled by mypyc (etcdsim_build.compiled), a frozen dataclass
        # cannot be unpickled field by field, and sweeps send it to worker processes.
        return type(self), tuple(getattr(self, f.name) for f in dataclasses.fields(self))


class RaftMonitor(Protocol):
    """What an observer (the simulation's invariant watcher) is told by the driver."""

    def restarted(self, node: int, hard_state: HardState, entries: list[Entry]) -> None:
        """The node replayed its WAL into this state."""

    def became_leader(self, node: int, raft_node: RaftNode) -> None:
        """The node just became leader."""

    def committed(self, node: int, commit: int, raft_node: RaftNode) -> None:
        """The node's in-memory commit index is now `commit`."""

    def persisted(
        self, node: int, hard_state: HardState, entries: list[Entry], prev_term: int
    ) -> None:
        """`hard_state` (the last written) and `entries` (following `prev_term`) are durable."""

    def sent(self, node: int, msg: Message) -> None:
        """The node is handing `msg` to the network."""

    def stepped(self, node: int, msg: Message, term_before: int, term_after: int) -> None:
        """The node stepped a peer's `msg`, moving from `term_before` to `term_after`."""

    def applied(self, node: int, entry: Entry) -> None:
        """The node applied `entry` to its state machine."""


class RaftHooks(Protocol):
    """What the server above the Raft loop is handed (etcd's applyc, readStateC, leaderChanged)."""

    def apply(self, entries: list[Entry]) -> None:
        """Committed entries to apply, in order (handed over before the Ready is persisted)."""

    def read_state(self, rs: ReadState) -> None:
        """The last ReadIndex answer of a Ready."""

    def leader_changed(self, lead: int, term: int) -> None:
        """The leader this node knows changed (0: none)."""


class RaftNode:
    """A Raft member living in an Env: WAL on its disk, ticks on its clock, messages on the net."""

    def __init__(
        self,
        env: Env,
        peers: list[int],
        timing: RaftTiming | None = None,
        apply: Callable[[Entry], None] | None = None,
        monitor: RaftMonitor | None = None,
        hooks: RaftHooks | None = None,
        bootstrap_term: int = 0,
        bugs: frozenset[str] = frozenset(),
        knobs: Knobs | None = None,
    ) -> None:
        self.env = env
        self.id = env.node_id
        self.peers = sorted(peers)
        self.timing = timing or RaftTiming()
        self._apply = apply
        self.monitor = monitor
        self.hooks = hooks
        # etcd's StartNode puts a new member at term 1, so its first leader has term 2.
        self.bootstrap_term = bootstrap_term
        self.bugs = bugs  # planted bugs switched on (etcdcore.bugs), handed to Raft's Config
        self.knobs = knobs or Knobs()
        self.ack_before_fsync = planted.ACK_BEFORE_FSYNC in bugs
        self.vote_not_persisted = planted.VOTE_NOT_PERSISTED in bugs
        self.hard_state_commit_only = planted.HARD_STATE_COMMIT_ONLY in bugs
        self.node: RawNode | None = None
        self.wal: WAL | None = None
        self._repaired = False  # a torn tail was cut: make the cut durable before anything else
        self._wake: Future | None = None
        self._written: HardState | None = None
        self.lead = 0
        self.state = _FOLLOWER

    # ---- start -----------------------------------------------------------------------------

    def start(self) -> None:
        """Replay the WAL (or create one), build Raft from it, and spawn the loop."""
        try:
            if WAL.exists(self.env.disk):
                wal, hard_state, entries, info = WAL.open(self.env.disk)
                if info.torn_bytes:
                    self.env.trace("wal.repair", info.torn_bytes, info.torn)
                    self.env.probes.hit("wal.torn_tail_repaired")
                    self._repaired = True
                self.env.probes.sometimes(len(entries) > hard_state.commit,
                                          "wal.replayed_uncommitted_entries")
            else:
                wal, hard_state, entries = WAL.create(self.env.disk), HardState(), []
                if self.bootstrap_term:
                    hard_state = HardState(term=self.bootstrap_term)
                    wal.save(hard_state, [])
                    self._repaired = True  # sync it before anything else
        except WALCorruptError as corrupt:
            self.env.fail(str(corrupt))
            return
        except DiskError as exc:
            self.env.probes.hit("wal.fail_stop_disk_error")
            self.env.fail(f"wal: {exc}")
            return
        self.wal = wal
        self._written = hard_state
        if self.monitor is not None:
            self.monitor.restarted(self.id, hard_state, entries)
        storage = MemoryStorage(hard_state, entries)
        config = Config(
            id=self.id,
            peers=self.peers,
            election_tick=self.timing.election_ticks,
            heartbeat_tick=self.timing.heartbeat_ticks,
            rand=self.env.rand("raft"),
            bugs=self.bugs,
            probes=self.env.probes,
            max_msg_entries=self.knobs.max_msg_entries,
            max_inflight=self.knobs.max_inflight,
        )
        self.node = RawNode(config, storage)
        if self.hooks is None:  # else the server routes Raft's messages to receive()
            self.env.set_receiver(self.receive)
        self.env.call_later(self.timing.tick_us, self._tick)
        self.env.spawn(self.run(), "raft")

    # ---- inputs ----------------------------------------------------------------------------

    def propose(self, data: bytes) -> bool:
        """Propose `data` (a follower forwards it to its leader); False if Raft dropped it."""
        if self.node is None or not self.node.propose(data):
            return False
        self._notify()
        return True

    def read_index(self, ctx: bytes) -> None:
        """Ask for a read index; the answer comes back as a read state carrying `ctx`."""
        if self.node is not None:
            self.node.read_index(ctx)
            self._notify()

    def _tick(self) -> None:
        assert self.node is not None
        self.node.tick()
        self.env.call_later(self.timing.tick_us, self._tick)
        self._notify()

    def receive(self, frm: int, msg: Message) -> None:
        """A Raft message from a peer."""
        node = self.node
        assert node is not None
        monitor = self.monitor
        if monitor is None:
            node.step(msg)
        else:
            before = node.raft.term
            node.step(msg)
            monitor.stepped(self.id, msg, before, node.raft.term)
        self._notify()

    def _notify(self) -> None:
        wake = self._wake
        # Waking the loop only to find nothing ready costs a full resume: check first.
        if wake is not None and self.node is not None and self.node.has_ready():
            self._wake = None
            wake.succeed()

    # ---- the loop --------------------------------------------------------------------------

    def run(self) -> Process:
        """The Raft loop: Ready → (send early) → WAL + fsync → send → apply → advance."""
        node = self.node
        wal = self.wal
        assert node is not None and wal is not None
        env = self.env
        monitor = self.monitor
        apply = self._apply
        raft = node.raft
        node_id = self.id
        send = env.send
        hooks = self.hooks
        armed = env.armed  # the node's live set of armed failpoints: a lookup per point
        ack_before_fsync = self.ack_before_fsync
        vote_not_persisted = self.vote_not_persisted
        if self._repaired:
            try:
                yield wal.sync()
            except DiskError as exc:
                env.probes.hit("wal.fail_stop_disk_error")
                env.fail(f"wal: {exc}")
                return
        while True:
            if not node.has_ready():
                self._wake = wake = env.future()
                yield wake
                continue
            rd = node.ready()
            if rd.soft_state is not None or rd.hard_state is not None:
                self._observe(rd)
            if hooks is not None:
                if rd.committed_entries:
                    hooks.apply(rd.committed_entries)
                    if monitor is not None:  # from here on, clients may see them
                        for entry in rd.committed_entries:
                            monitor.applied(node_id, entry)
                if rd.read_states:
                    hooks.read_state(rd.read_states[-1])
            late = rd.messages
            if late and self.state == _LEADER:
                if _BEFORE_LEADER_SEND in armed:
                    yield env.failpoint(_BEFORE_LEADER_SEND)
                # Replication goes out now, in order; the rest waits for the fsync.
                late = []
                for m in rd.messages:
                    if m.type in _EARLY:
                        if monitor is not None:
                            monitor.sent(node_id, m)
                        send(m.to, m)
                    else:
                        late.append(m)
            elif late and ack_before_fsync:
                # The planted bug: a follower answers before its write is durable.
                for m in late:
                    if monitor is not None:
                        monitor.sent(node_id, m)
                    send(m.to, m)
                late = []
            entries = rd.entries
            hard_state = rd.hard_state
            if vote_not_persisted and hard_state is not None and hard_state.vote:
                # The planted bug: term and commit reach the WAL, the vote never does.
                hard_state = dataclasses.replace(hard_state, vote=0)
            if self.hard_state_commit_only and hard_state is not None:
                # The planted bug: only the commit index reaches the WAL, not term and vote.
                hard_state = HardState(commit=hard_state.commit)
            try:
                if _BEFORE_SAVE in armed:
                    yield env.failpoint(_BEFORE_SAVE)
                if entries or hard_state is not None:
                    wal.save(hard_state, entries)
                    if hard_state is not None:
                        self._written = hard_state
                if rd.must_sync:
                    durable = self._written
                    prev_term = 0
                    if entries and monitor is not None:
                        prev_term = raft.term_at(entries[0].index - 1) or 0
                    yield wal.sync()
                    if monitor is not None and durable is not None:
                        monitor.persisted(node_id, durable, entries, prev_term)
                if _AFTER_SAVE in armed:
                    yield env.failpoint(_AFTER_SAVE)
            except DiskError as exc:
                env.probes.hit("wal.fail_stop_disk_error")
                env.fail(f"wal: {exc}")
                return
            if late and _BEFORE_FOLLOWER_SEND in armed and self.state != _LEADER:
                yield env.failpoint(_BEFORE_FOLLOWER_SEND)
            for m in late:
                if monitor is not None:
                    monitor.sent(node_id, m)
                send(m.to, m)
            if hooks is None:
                for entry in rd.committed_entries:
                    if apply is not None:
                        apply(entry)
                    if monitor is not None:
                        monitor.applied(node_id, entry)
            node.advance(rd)

    def _observe(self, rd: Ready) -> None:
        if rd.soft_state is not None:
            was_leader = self.state == _LEADER
            if rd.soft_state.lead != self.lead and self.hooks is not None:
                self.hooks.leader_changed(rd.soft_state.lead, self.term)
            self.lead = rd.soft_state.lead
            self.state = rd.soft_state.raft_state
            if self.state == _LEADER and not was_leader:
                self.env.trace("raft.leader", self.term)
                if self.monitor is not None:
                    self.monitor.became_leader(self.id, self)
        if rd.hard_state is not None and self.monitor is not None:
            self.monitor.committed(self.id, rd.hard_state.commit, self)

    # ---- what observers read ---------------------------------------------------------------

    @property
    def term(self) -> int:
        """Current term (0 before start)."""
        return self.node.raft.term if self.node is not None else 0

    @property
    def committed(self) -> int:
        """Commit index known to this node."""
        return self.node.raft.committed if self.node is not None else 0

    def term_at(self, index: int) -> int | None:
        """Term of the entry at `index` in this node's log, None if absent."""
        return self.node.raft.term_at(index) if self.node is not None else None

    def last_index(self) -> int:
        """Index of the last entry in this node's log."""
        return self.node.raft.last_index() if self.node is not None else 0
