"""The Raft state machine: elections, replication and commitment, driven by `step` and `tick`.

Invariants this module keeps:

- `term` never decreases; `vote` is set at most once per term (reset to NONE only with a new term).
- A vote is granted only to a candidate whose log is at least as up to date as ours.
- A leader never truncates its own log; no node ever truncates a committed entry.
- A leader's own `Progress.match` counts only entries the driver has persisted: it moves in
  `on_persisted`, called from `RawNode.advance`, never when the leader appends.
- A leader commits by counting replicas only entries of its own term (Raft paper, Figure 8).
- A follower commits at most up to the last entry it knows matches the leader's log.
- Messages go out in ascending peer id order; nothing here iterates a set or reads a clock.
- A read index is answered only once the leader has committed an entry of its term and a quorum
  has acknowledged a heartbeat sent after the request arrived (etcd's ReadOnlySafe): the index
  handed out is then at least every index committed before the request.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from etcdcore import bugs as planted
from etcdcore.probes import Probes

from . import quorum
from .errors import ProposalDropped, RaftError
from .log import RaftLog
from .progress import Progress, ProgressState
from .quorum import VoteResult
from .read_only import ReadOnly
from .storage import MemoryStorage
from .types import NONE, Entry, HardState, Message, MessageType, ReadState, SoftState, StateType

__all__ = ["Config", "Raft"]

MT = MessageType

# Enum members as module constants: an Enum class attribute costs several times a global's
# lookup, and these are compared on every message.
_MSG_APP = MT.MSG_APP
_MSG_APP_RESP = MT.MSG_APP_RESP
_MSG_BEAT = MT.MSG_BEAT
_MSG_HEARTBEAT = MT.MSG_HEARTBEAT
_MSG_HEARTBEAT_RESP = MT.MSG_HEARTBEAT_RESP
_MSG_HUP = MT.MSG_HUP
_MSG_PRE_VOTE = MT.MSG_PRE_VOTE
_MSG_PRE_VOTE_RESP = MT.MSG_PRE_VOTE_RESP
_MSG_PROP = MT.MSG_PROP
_MSG_READ_INDEX = MT.MSG_READ_INDEX
_MSG_READ_INDEX_RESP = MT.MSG_READ_INDEX_RESP
_MSG_VOTE = MT.MSG_VOTE
_MSG_VOTE_RESP = MT.MSG_VOTE_RESP
_CANDIDATE = StateType.CANDIDATE
_FOLLOWER = StateType.FOLLOWER
_LEADER = StateType.LEADER
_PRE_CANDIDATE = StateType.PRE_CANDIDATE
_PROBE = ProgressState.PROBE
_REPLICATE = ProgressState.REPLICATE

_VOTE_TYPES = (_MSG_VOTE, _MSG_PRE_VOTE)
# Messages whose term is set by the sender explicitly, not stamped with the current term: a
# pre-vote is for a term we have not entered, and a vote answer echoes the request's term.
_EXPLICIT_TERM = (_MSG_VOTE, _MSG_VOTE_RESP, _MSG_PRE_VOTE, _MSG_PRE_VOTE_RESP)


@dataclass(kw_only=True)
class Config:
    """How one Raft node is set up. `peers`: every voter (this node's id is added if absent)."""

    id: int
    peers: list[int]
    rand: random.Random  # draws the randomized election timeouts; nothing else
    election_tick: int = 10
    heartbeat_tick: int = 1
    max_msg_entries: int = 64  # most entries in one MsgApp
    max_inflight: int = 256  # most unacknowledged MsgApps to one follower in REPLICATE state
    pre_vote: bool = True
    check_quorum: bool = True
    applied: int = 0  # the last index already applied to the state machine, on restart
    bugs: frozenset[str] = frozenset()  # planted bugs switched on (etcdcore.bugs)
    probes: Probes | None = None  # where sometimes points are counted (the driver's; else own)

    def validate(self) -> None:
        """Raise ValueError naming the first bad setting."""
        if self.id == NONE:
            raise ValueError("Config.id must not be 0 (NONE)")
        if self.heartbeat_tick <= 0:
            raise ValueError("Config.heartbeat_tick must be greater than 0")
        if self.election_tick <= self.heartbeat_tick:
            raise ValueError("Config.election_tick must be greater than heartbeat_tick")
        if self.max_msg_entries <= 0:
            raise ValueError("Config.max_msg_entries must be greater than 0")
        if self.max_inflight <= 0:
            raise ValueError("Config.max_inflight must be greater than 0")
        if self.applied < 0:
            raise ValueError("Config.applied must not be negative")
        if NONE in self.peers:
            raise ValueError("Config.peers must not contain 0 (NONE)")


class Raft:
    """One node's Raft: feed it `step(message)` and `tick()`; it queues messages in `msgs`."""

    def __init__(self, config: Config, storage: MemoryStorage) -> None:
        config.validate()
        self.id = config.id
        self.voters: tuple[int, ...] = tuple(sorted(set(config.peers) | {config.id}))
        self.others: tuple[int, ...] = tuple(v for v in self.voters if v != config.id)
        self.raft_log = RaftLog(storage)
        self.max_msg_entries = config.max_msg_entries
        self.max_inflight = config.max_inflight
        self.pre_vote = config.pre_vote
        self.check_quorum = config.check_quorum
        self.election_timeout = config.election_tick
        self.heartbeat_timeout = config.heartbeat_tick
        self.rand = config.rand
        # Planted bugs, read once here so that an unarmed one costs nothing per message.
        self.commit_earlier_term = planted.COMMIT_EARLIER_TERM in config.bugs
        self.vote_without_up_to_date_check = planted.VOTE_WITHOUT_UP_TO_DATE_CHECK in config.bugs
        self.follower_commit_unclamped = planted.FOLLOWER_COMMIT_UNCLAMPED in config.bugs
        self.read_index_before_term_commit = planted.READ_INDEX_BEFORE_TERM_COMMIT in config.bugs
        self.raft_log.planted = config.bugs & planted.LOG_BUGS
        self.probes = config.probes if config.probes is not None else Probes()
        self.raft_log.probes = self.probes
        self.forget_vote_same_term = planted.FORGET_VOTE_SAME_TERM in config.bugs
        self.commit_without_quorum = planted.COMMIT_WITHOUT_QUORUM in config.bugs
        self.candidate_counts_stale_vote = planted.CANDIDATE_COUNTS_STALE_VOTE in config.bugs
        self.leader_ignores_higher_term = planted.LEADER_IGNORES_HIGHER_TERM in config.bugs
        self.read_index_without_quorum = planted.READ_INDEX_WITHOUT_QUORUM in config.bugs
        self.follower_accepts_stale_append = planted.FOLLOWER_ACCEPTS_STALE_APPEND in config.bugs

        self.term = 0
        self.vote = NONE
        self.lead = NONE
        self.state = _FOLLOWER
        self.prs: dict[int, Progress] = {}
        self.votes: dict[int, bool] = {}
        self.msgs: list[Message] = []
        self.read_states: list[ReadState] = []  # answered read indexes, for the next Ready
        self.read_only = ReadOnly()
        # Read indexes that arrived before this leader committed an entry of its term.
        self.pending_read_index_messages: list[Message] = []
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = 0
        self._step: Callable[[Message], None] = self.step_follower

        hs = storage.initial_state()
        if hs != HardState():
            self.load_state(hs)
        if config.applied:
            self.raft_log.applied_to(config.applied)
        self.become_follower(self.term, NONE)

    def __repr__(self) -> str:
        return f"Raft(id={self.id} {self.state.name} t{self.term} lead={self.lead} {self.raft_log})"

    # ---- state ---------------------------------------------------------------------------

    @property
    def committed(self) -> int:
        """The commit index."""
        return self.raft_log.committed

    @property
    def applied(self) -> int:
        """The last index the driver confirmed applied."""
        return self.raft_log.applied

    def last_index(self) -> int:
        """The index of the last log entry, persisted or not."""
        return self.raft_log.last_index()

    def term_at(self, index: int) -> int | None:
        """The term of entry `index`; None if this node does not have it."""
        return self.raft_log.term_at(index)

    def soft_state(self) -> SoftState:
        """The volatile state: leader and role."""
        return SoftState(lead=self.lead, raft_state=self.state)

    def hard_state(self) -> HardState:
        """The state to persist: term, vote and commit index."""
        return HardState(term=self.term, vote=self.vote, commit=self.raft_log.committed)

    def load_state(self, hs: HardState) -> None:
        """Restore the persisted hard state on restart."""
        log = self.raft_log
        if hs.commit < log.committed or hs.commit > log.last_index():
            raise RaftError(
                f"persisted commit {hs.commit} is out of range [{log.committed}, "
                f"{log.last_index()}]: the WAL lost entries it had acknowledged"
            )
        log.committed = hs.commit
        self.term = hs.term
        self.vote = hs.vote

    # ---- role changes --------------------------------------------------------------------

    def reset(self, term: int) -> None:
        """Start `term` (clearing the vote if it is new), with fresh timers and progress."""
        if self.term != term:
            self.term = term
            self.vote = NONE
            if self.msgs:
                # Acknowledgements the driver has not taken yet speak of appends from the old
                # term, which the new term's leader may overwrite before the next Ready is
                # persisted: sent after that write, they would acknowledge entries this node
                # never made durable. Dropping them is safe, as any message may be lost (the
                # same rule as canonical/raft's: no answer to an append once the term moved).
                self.msgs = [m for m in self.msgs if m.type != _MSG_APP_RESP or m.reject]
        elif self.forget_vote_same_term:
            self.vote = NONE  # the planted bug: a step-down in the same term forgets the vote
        self.lead = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.reset_randomized_election_timeout()
        self.votes = {}
        next_index = self.raft_log.last_index() + 1
        self.prs = {v: Progress(next_index, self.max_inflight) for v in self.voters}
        # Only what the driver has persisted counts as ours: see on_persisted.
        self.prs[self.id].match = self.raft_log.stable_last_index()
        self.read_only = ReadOnly()
        # etcd keeps postponed requests across a reset; dropping them is equally safe (the
        # requester retries) and keeps a node from answering, in a later term, a stale request.
        self.pending_read_index_messages = []

    def reset_randomized_election_timeout(self) -> None:
        """Draw the next election timeout from [election_timeout, 2 * election_timeout)."""
        self.randomized_election_timeout = self.rand.randrange(
            self.election_timeout, 2 * self.election_timeout
        )

    def become_follower(self, term: int, lead: int) -> None:
        """Follow `lead` (NONE if unknown) in `term`."""
        self._step = self.step_follower
        self.reset(term)
        self.lead = lead
        self.state = _FOLLOWER

    def become_pre_candidate(self) -> None:
        """Ask for pre-votes without touching term or vote."""
        if self.state == _LEADER:
            raise RaftError("invalid transition: leader -> pre-candidate")
        # Term and vote stay: a pre-campaign that fails must leave no trace on anyone.
        self._step = self.step_candidate
        self.votes = {}
        self.lead = NONE
        self.state = _PRE_CANDIDATE

    def become_candidate(self) -> None:
        """Enter the next term, voting for ourselves."""
        if self.state == _LEADER:
            raise RaftError("invalid transition: leader -> candidate")
        self._step = self.step_candidate
        self.reset(self.term + 1)
        self.vote = self.id
        self.state = _CANDIDATE

    def become_leader(self) -> None:
        """Lead the current term: append an empty entry of this term so it can commit."""
        if self.state == _FOLLOWER:
            raise RaftError("invalid transition: follower -> leader")
        self._step = self.step_leader
        self.reset(self.term)
        self.lead = self.id
        self.state = _LEADER
        self.prs[self.id].become_replicate()
        self.prs[self.id].recent_active = True
        log = self.raft_log
        self.probes.sometimes(log.last_index() > log.committed,
                              "raft.leader_elected_uncommitted_tail")
        # Committing this entry commits every earlier one (Figure 8: earlier terms never
        # commit by counting replicas).
        self.append_entry([Entry(term=0, index=0)])

    # ---- ticks ---------------------------------------------------------------------------

    def tick(self) -> None:
        """Advance the logical clock by one tick."""
        if self.state == _LEADER:
            self.tick_heartbeat()
        else:
            self.tick_election()

    def tick_election(self) -> None:
        """Campaign once the randomized election timeout passes without hearing a leader."""
        self.election_elapsed += 1
        if self.election_elapsed >= self.randomized_election_timeout:
            self.election_elapsed = 0
            self.step(Message(_MSG_HUP, frm=self.id))

    def tick_heartbeat(self) -> None:
        """Send heartbeats; with check-quorum, step down if a quorum went quiet."""
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.election_timeout:
            self.election_elapsed = 0
            if self.check_quorum and not self.quorum_active():
                self.probes.hit("raft.check_quorum_step_down")
                self.become_follower(self.term, NONE)
                return
        if self.heartbeat_elapsed >= self.heartbeat_timeout:
            self.heartbeat_elapsed = 0
            self.step(Message(_MSG_BEAT, frm=self.id))

    def quorum_active(self) -> bool:
        """True if a quorum answered since the last check; clears the marks for the next one."""
        active = 0
        for v in self.voters:
            pr = self.prs[v]
            if v == self.id or pr.recent_active:
                active += 1
            if v != self.id:
                pr.recent_active = False
        return active >= quorum.majority(len(self.voters))

    # ---- stepping ------------------------------------------------------------------------

    def send(self, m: Message) -> None:
        """Queue `m` for the driver, stamped with our id and (for most types) our term."""
        m.frm = self.id
        if m.type in _EXPLICIT_TERM:
            if m.term == 0:
                raise RaftError(f"{m.type.name} must carry an explicit term")
        else:
            m.term = self.term
        self.msgs.append(m)

    def step(self, m: Message) -> None:
        """Handle one message: a local one (term 0) or one from a peer."""
        if m.term == 0 or m.term == self.term:
            pass  # a local message, or one of our term: the common case, straight to dispatch
        elif m.term > self.term:
            if self.leader_ignores_higher_term and self.state == _LEADER \
                    and m.type in (_MSG_APP_RESP, _MSG_HEARTBEAT_RESP):
                return  # the planted bug: a follower's newer term does not depose us
            if m.type in _VOTE_TYPES:
                # The lease rule: while we hear from a leader, a vote request (even of a higher
                # term) comes from a node that cannot reach it; ignoring it keeps that node from
                # deposing a healthy leader.
                in_lease = (
                    self.check_quorum
                    and self.lead != NONE
                    and self.election_elapsed < self.election_timeout
                )
                if in_lease:
                    self.probes.hit("raft.vote_ignored_in_lease")
                    return
            if m.type == _MSG_PRE_VOTE or (m.type == _MSG_PRE_VOTE_RESP and not m.reject):
                # A pre-vote is for a term nobody entered yet; a granted answer carries that
                # future term. Neither moves our term.
                pass
            elif m.type in (_MSG_APP, _MSG_HEARTBEAT):
                self.probes.sometimes(self.state == _LEADER, "raft.leader_deposed_by_higher_term")
                self.become_follower(m.term, m.frm)
            else:
                self.probes.sometimes(self.state == _LEADER, "raft.leader_deposed_by_higher_term")
                self.become_follower(m.term, NONE)
        elif m.term < self.term:
            if self.candidate_counts_stale_vote and m.type == _MSG_VOTE_RESP \
                    and self.state == _CANDIDATE:
                self._step(m)  # the planted bug: a vote of an earlier term counts for this one
                return
            if self.follower_accepts_stale_append and m.type == _MSG_APP \
                    and self.state == _FOLLOWER:
                self.handle_append_entries(m)  # the planted bug: a deposed leader still appends
                return
            self.probes.hit("raft.stale_term_message")
            if (self.check_quorum or self.pre_vote) and m.type in (_MSG_APP, _MSG_HEARTBEAT):
                # A stale leader, maybe cut off until now. With check-quorum or pre-vote our
                # term did not grow by disrupting it, so it may never learn the new term
                # otherwise: answer so that it steps down.
                self.send(Message(_MSG_APP_RESP, to=m.frm))
            elif m.type == _MSG_PRE_VOTE:
                # Tell the pre-candidate our term, or it could pre-campaign forever.
                self.send(Message(_MSG_PRE_VOTE_RESP, to=m.frm, term=self.term, reject=True))
            return

        kind = m.type
        if kind == _MSG_HUP:
            self.hup()
        elif kind in _VOTE_TYPES:
            self.handle_vote_request(m)
        else:
            self._step(m)

    def hup(self) -> None:
        """Start an election (a pre-vote first, if enabled) unless we lead."""
        if self.state == _LEADER:
            return
        self.probes.sometimes(self.state == _CANDIDATE, "raft.campaign_again_as_candidate")
        self.campaign(pre=self.pre_vote)

    def campaign(self, *, pre: bool) -> None:
        """Ask every voter for a (pre-)vote; win at once if we are the only voter."""
        if pre:
            self.become_pre_candidate()
            vote_type = _MSG_PRE_VOTE
            term = self.term + 1
        else:
            self.become_candidate()
            vote_type = _MSG_VOTE
            term = self.term
        if self.poll(self.id, granted=True) == VoteResult.WON:
            if pre:
                self.campaign(pre=False)
            else:
                self.become_leader()
            return
        last_index = self.raft_log.last_index()
        last_term = self.raft_log.last_term()
        for to in self.others:
            self.send(Message(vote_type, to=to, term=term, index=last_index, log_term=last_term))

    def poll(self, voter: int, *, granted: bool) -> VoteResult:
        """Record `voter`'s answer (the first one counts) and tally the election."""
        self.votes.setdefault(voter, granted)
        return quorum.vote_result(self.voters, self.votes)

    def handle_vote_request(self, m: Message) -> None:
        """Grant or refuse a (pre-)vote: once per term, and only to an up-to-date log."""
        resp_type = _MSG_VOTE_RESP if m.type == _MSG_VOTE else _MSG_PRE_VOTE_RESP
        can_vote = (
            self.vote == m.frm  # a repeated request: answer the same
            or (self.vote == NONE and self.lead == NONE)
            or (m.type == _MSG_PRE_VOTE and m.term > self.term)
        )
        if can_vote and (
            self.vote_without_up_to_date_check  # the planted bug: any log will do
            or self.raft_log.is_up_to_date(m.index, m.log_term)
        ):
            self.send(Message(resp_type, to=m.frm, term=m.term))
            if m.type == _MSG_VOTE:
                self.election_elapsed = 0
                self.vote = m.frm
        else:
            self.probes.sometimes(can_vote, "raft.vote_rejected_log_behind")
            self.send(Message(resp_type, to=m.frm, term=self.term, reject=True))

    def step_follower(self, m: Message) -> None:
        """A follower's handling of a message of its current term."""
        kind = m.type
        if kind == _MSG_APP:
            self.election_elapsed = 0
            self.lead = m.frm
            self.handle_append_entries(m)
        elif kind == _MSG_HEARTBEAT:
            self.election_elapsed = 0
            self.lead = m.frm
            self.handle_heartbeat(m)
        elif kind == _MSG_PROP:
            if self.lead == NONE:
                self.probes.hit("raft.proposal_dropped")
                raise ProposalDropped(f"node {self.id} is not the leader and knows of none")
            self.forward_to_leader(m)
        elif kind == _MSG_READ_INDEX:
            # With no leader the request is dropped: the caller times out and retries.
            if self.lead != NONE:
                self.forward_to_leader(m)
        elif kind == _MSG_READ_INDEX_RESP and len(m.entries) == 1:
            self.read_states.append(ReadState(m.index, m.entries[0].data))

    def forward_to_leader(self, m: Message) -> None:
        """Pass a proposal or read index on to the leader, as its local input (term 0)."""
        # A copy: `m` may be a peer's message, still referenced by the network.
        self.msgs.append(Message(m.type, to=self.lead, frm=self.id, entries=m.entries))

    def step_candidate(self, m: Message) -> None:
        """A (pre-)candidate's handling of a message of its current term."""
        if m.type == _MSG_PROP:
            self.probes.hit("raft.proposal_dropped")
            raise ProposalDropped(f"node {self.id} is campaigning, not leading")
        if m.type == _MSG_APP:
            self.probes.hit("raft.candidate_yields_to_leader")
            self.become_follower(m.term, m.frm)
            self.handle_append_entries(m)
        elif m.type == _MSG_HEARTBEAT:
            self.probes.hit("raft.candidate_yields_to_leader")
            self.become_follower(m.term, m.frm)
            self.handle_heartbeat(m)
        elif m.type == (
            _MSG_PRE_VOTE_RESP if self.state == _PRE_CANDIDATE else _MSG_VOTE_RESP
        ):
            result = self.poll(m.frm, granted=not m.reject)
            if result == VoteResult.WON:
                if self.state == _PRE_CANDIDATE:
                    self.campaign(pre=False)
                else:
                    self.become_leader()
                    self.bcast_append()
            elif result == VoteResult.LOST:
                self.probes.hit("raft.pre_vote_lost" if self.state == _PRE_CANDIDATE
                                else "raft.election_lost")
                self.become_follower(self.term, NONE)

    def step_leader(self, m: Message) -> None:
        """A leader's handling of a message of its current term."""
        if m.type == _MSG_BEAT:
            self.bcast_heartbeat()
            return
        if m.type == _MSG_PROP:
            # Local, or forwarded by a follower: either way it is appended here.
            if not m.entries:
                raise RaftError("empty proposal")
            self.append_entry(m.entries)
            self.bcast_append()
            return
        pr = self.prs.get(m.frm)
        if pr is None or m.frm == self.id:
            if m.type == _MSG_READ_INDEX:
                self.handle_read_index(m)  # our own (read_index), from no peer's progress
            return
        if m.type == _MSG_APP_RESP:
            self.handle_append_response(m, pr)
        elif m.type == _MSG_HEARTBEAT_RESP:
            pr.recent_active = True
            pr.probe_sent = False
            if pr.state == _REPLICATE and pr.inflights.full():
                pr.inflights.free_first_one()
            if pr.match < self.raft_log.last_index():
                # Also retries a lost append: heartbeats are the leader's retransmission timer.
                self.send_append(m.frm)
            if m.context:
                self.handle_read_ack(m)
        elif m.type == _MSG_READ_INDEX:
            self.handle_read_index(m)  # forwarded by a follower

    # ---- leader: read index --------------------------------------------------------------

    def handle_read_index(self, m: Message) -> None:
        """Answer a read index once an entry of our term is committed: at once (sole voter),
        else after a heartbeat round."""
        if len(m.entries) != 1:
            raise RaftError("a read index request carries exactly one entry (its ctx)")
        if self.raft_log.term_at(self.raft_log.committed) != self.term \
                and not self.read_index_before_term_commit:  # the planted bug reads at once
            # Our commit index may lag what an earlier leader committed until an entry of our
            # own term commits: reading at it now could miss a completed write. A sole voter
            # too: it counts its own entries only once durable, so after a restart its commit
            # index is the WAL's, which may lag what it applied and answered before the crash.
            self.probes.hit("raft.read_index_postponed")
            self.pending_read_index_messages.append(m)
        else:
            self.start_read_index(m)

    def start_read_index(self, m: Message) -> None:
        """Remember the commit index for `m`, ack it ourselves, ask a quorum to confirm (a sole
        voter is its own quorum: it answers at once)."""
        if len(self.voters) == 1 or self.read_index_without_quorum:
            # (The planted bug answers at once with peers too: nobody confirms we still lead.)
            self.respond_to_read_index(m, self.raft_log.committed)
            return
        ctx = m.entries[0].data
        self.read_only.add_request(self.raft_log.committed, m)
        self.read_only.recv_ack(self.id, ctx)
        self.bcast_heartbeat(ctx)

    def release_pending_read_index_messages(self) -> None:
        """We committed an entry of our term: start the postponed read indexes."""
        msgs = self.pending_read_index_messages
        self.pending_read_index_messages = []
        for m in msgs:
            self.start_read_index(m)

    def handle_read_ack(self, m: Message) -> None:
        """A follower echoed a heartbeat's ctx: answer what a quorum has now confirmed."""
        acks = self.read_only.recv_ack(m.frm, m.context)
        if acks is None or len(acks) < quorum.majority(len(self.voters)):
            return
        for rs in self.read_only.advance(m.context):
            self.respond_to_read_index(rs.req, rs.index)

    def respond_to_read_index(self, req: Message, index: int) -> None:
        """Our own request becomes a ReadState; a follower's gets a MsgReadIndexResp."""
        if req.frm == NONE or req.frm == self.id:
            self.read_states.append(ReadState(index, req.entries[0].data))
        else:
            self.send(Message(_MSG_READ_INDEX_RESP, to=req.frm, index=index, entries=req.entries))

    # ---- leader: replication -------------------------------------------------------------

    def append_entry(self, entries: Sequence[Entry]) -> None:
        """Append entries of our term to our log; they count for us only once persisted."""
        li = self.raft_log.last_index()
        self.raft_log.append(
            [Entry(term=self.term, index=li + 1 + k, data=e.data) for k, e in enumerate(entries)]
        )
        # No self match update here: a leader counts itself towards a quorum only once the
        # driver has made these durable (on_persisted), or a crash could lose a committed entry.

    def on_persisted(self) -> None:
        """The driver persisted our log up to its stable index: count ourselves, maybe commit."""
        if self.state != _LEADER:
            return
        if (
            self.prs[self.id].maybe_update(self.raft_log.stable_last_index())
            and self.maybe_commit()
        ):
            self.bcast_append()

    def maybe_commit(self) -> bool:
        """Advance the commit index to what a quorum holds, if that entry is of our term."""
        prs = self.prs
        mci = quorum.committed_index([prs[v].match for v in self.voters])
        if self.commit_without_quorum:
            # The planted bug: the (n/2)-th highest match, one replica short of a majority.
            mci = sorted((prs[v].match for v in self.voters), reverse=True)[
                len(self.voters) // 2 - 1]
        if self.commit_earlier_term and mci > self.raft_log.committed:
            # The planted bug: whatever a quorum holds commits, whatever its term (Figure 8).
            self.raft_log.commit_to(mci)
        elif not self.raft_log.maybe_commit(mci, self.term):
            return False
        if self.pending_read_index_messages:
            self.release_pending_read_index_messages()
        return True

    def bcast_append(self) -> None:
        """Send appends (or at least the commit index) to every follower."""
        for to in self.others:
            self.send_append(to)

    def send_append(self, to: int) -> None:
        """Send entries, or an empty append carrying the commit index, to `to` unless paused."""
        self.maybe_send_append(to, send_if_empty=True)

    def maybe_send_append(self, to: int, *, send_if_empty: bool) -> bool:
        """Send an append to `to` if its progress allows; True if one was sent."""
        pr = self.prs[to]
        probing = pr.state is _PROBE
        if probing:  # Progress.is_paused, inlined
            if pr.probe_sent:
                return False
        elif pr.inflights.full():
            self.probes.hit("raft.inflight_window_full")
            return False
        log = self.raft_log
        if not send_if_empty and pr.next > log.last_index():
            return False  # nothing to send: the common answer after each acknowledgement
        prev_index = pr.next - 1
        prev_term = log.term_at(prev_index)
        if prev_term is None:
            raise RaftError(f"term of {prev_index} unknown: follower {to} would need a snapshot")
        entries = log.entries(pr.next, self.max_msg_entries)
        if not entries and not send_if_empty:
            return False
        if not probing:
            if entries:
                last = entries[-1].index
                pr.next = last + 1  # optimistic_update
                pr.inflights.add(last)
        else:
            pr.probe_sent = True
        self.send(
            Message(
                _MSG_APP,
                to=to,
                index=prev_index,
                log_term=prev_term,
                entries=entries,
                commit=log.committed,
            )
        )
        return True

    def bcast_heartbeat(self, ctx: bytes | None = None) -> None:
        """Send heartbeats carrying `ctx` (default: the newest pending read index's ctx)."""
        if ctx is None:
            ctx = self.read_only.last_pending_request_ctx()
        committed = self.raft_log.committed
        unclamped = self.follower_commit_unclamped
        for to in self.others:
            # A follower may hold a stale tail that does not match ours: it must not commit
            # beyond what we know it shares with us (the planted bug leaves that to it).
            commit = committed if unclamped else min(self.prs[to].match, committed)
            self.send(Message(_MSG_HEARTBEAT, to=to, commit=commit, context=ctx))

    def handle_append_response(self, m: Message, pr: Progress) -> None:
        """Update `pr` from a follower's answer; back off on rejection, commit on success."""
        pr.recent_active = True
        if m.reject:
            next_probe = m.reject_hint
            if m.log_term > 0:
                # The follower's entry at reject_hint has term log_term: skip every entry of
                # ours with a larger term, which cannot match it.
                next_probe, _ = self.raft_log.find_conflict_by_term(m.reject_hint, m.log_term)
                self.probes.sometimes(next_probe < m.reject_hint, "raft.backtrack_by_term")
            if pr.maybe_decr_to(m.index, next_probe):
                self.probes.hit("raft.leader_backtracks")
                if pr.state == _REPLICATE:
                    pr.become_probe()
                self.send_append(m.frm)
            return
        old_paused = pr.is_paused()
        if not pr.maybe_update(m.index):
            return
        if pr.state == _PROBE:
            pr.become_replicate()
        else:
            pr.inflights.free_le(m.index)
        if self.maybe_commit():
            self.bcast_append()
        elif old_paused:
            self.send_append(m.frm)
        # Flow control may now allow several appends (e.g. right after probing succeeded).
        while self.maybe_send_append(m.frm, send_if_empty=False):
            pass

    # ---- follower: replication -----------------------------------------------------------

    def handle_append_entries(self, m: Message) -> None:
        """Append a leader's entries if they follow on from our log; answer either way."""
        log = self.raft_log
        if m.index < log.committed:
            # Stale: everything up to our commit index already matches the leader.
            self.probes.hit("raft.stale_append")
            self.send(Message(_MSG_APP_RESP, to=m.frm, index=log.committed))
            return
        last_new = log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if last_new is not None:
            self.send(Message(_MSG_APP_RESP, to=m.frm, index=last_new))
            return
        self.probes.hit("raft.append_rejected")
        hint_index, hint_term = log.find_conflict_by_term(
            min(m.index, log.last_index()), m.log_term
        )
        self.send(
            Message(
                _MSG_APP_RESP,
                to=m.frm,
                index=m.index,
                reject=True,
                reject_hint=hint_index,
                log_term=hint_term,
            )
        )

    def handle_heartbeat(self, m: Message) -> None:
        """Commit what the leader says we share with it, and answer, echoing its ctx."""
        if self.follower_commit_unclamped:
            # The planted bug: our whole log is taken to match the leader's.
            self.raft_log.commit_to(min(m.commit, self.raft_log.last_index()))
        else:
            self.raft_log.commit_to(m.commit)
        self.send(Message(_MSG_HEARTBEAT_RESP, to=m.frm, context=m.context))
