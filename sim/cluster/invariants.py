"""Raft's safety properties, watched while the run goes.

The driver reports what each node does (RaftMonitor): every persist, every message sent and
stepped, every commit and apply. Each report is checked against what all nodes did before, at the
step where a rule can break (not only across restarts). A violation raises at once, so the run
stops where the rule broke.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from etcdcore.api import rpc
from etcdcore.api.raft_internal import InternalRaftRequest
from etcdcore.raft.types import Entry, HardState, Message, MessageType, StateType
from etcdcore.server.raft_node import RaftNode

__all__ = ["INVARIANTS", "InvariantViolation", "RaftInvariants"]

# Enum members as module constants: an Enum class attribute costs several times a global's
# lookup, and these are compared on every message.
_MSG_APP_RESP = MessageType.MSG_APP_RESP
_MSG_VOTE_RESP = MessageType.MSG_VOTE_RESP
_LEADER = StateType.LEADER

# Messages whose higher term a node may leave unadopted (etcd-io/raft's Step): a pre-vote and a
# granted pre-vote answer carry a term nobody is in yet, and a vote may be ignored while the node
# believes in a live leader (check-quorum's lease). Any other message of a higher term makes the
# receiver a follower of that term before it does anything else.
_TERM_EXEMPT = frozenset({MessageType.MSG_PRE_VOTE, MessageType.MSG_VOTE})
_MSG_PRE_VOTE_RESP = MessageType.MSG_PRE_VOTE_RESP

INVARIANTS = (
    "election_safety",
    "log_matching",
    "leader_completeness",
    "state_machine_safety",
    "commit_monotonic",
    "leader_commit_term",
    "durable_state",
    "durable_before_reply",
    "applied_once",
    "vote_quorum",
    "committed_kept",
    "term_adopted",
    "applied_committed",
    "applied_durable",
    "answered_own_entry",
)


class InvariantViolation(Exception):
    """A safety property broke: which one, where, when, and why."""

    def __init__(self, invariant: str, node: int, time_us: int, detail: str) -> None:
        super().__init__(f"{invariant} violated on node {node} at t={time_us}us: {detail}")
        self.invariant = invariant
        self.node = node
        self.time_us = time_us
        self.detail = detail


@dataclass
class _NodeView:
    """What the watcher remembers of one node."""

    commit: int = 0  # in-memory commit index, this incarnation
    last_applied: int = 0  # this incarnation (the state machine is rebuilt on restart)
    durable: HardState = field(default_factory=HardState)  # survives crashes
    durable_last: int = 0  # last index of the durable log
    log_terms: list[int] = field(default_factory=list)  # the durable log's terms, index i at i-1
    led: int = 0  # the term it last became leader in
    led_from: int = 0  # its commit index then: what it commits later, it commits as leader


class RaftInvariants:
    """Checks every report from every node; counts how often each invariant was checked."""

    def __init__(self, now: Callable[[], int], members: int = 0) -> None:
        self._now = now
        self._majority = members // 2 + 1 if members else 0  # 0: applied_durable not checked
        self._nodes: dict[int, _NodeView] = {}
        self._leaders: dict[int, int] = {}  # term -> leader
        self._entries: dict[tuple[int, int], tuple[bytes, int]] = {}  # (index, term) -> data, prev
        self._applied: dict[int, Entry] = {}  # index -> the entry every node must apply there
        # index -> the store's revision after its request, and when it was first applied
        self._revision_at: dict[int, tuple[int, int]] = {}
        self._max_committed = 0
        # The cluster's committed log as the first node to commit each index held it (term of
        # index i at i-1; 0 where that node's log had no term to tell).
        self._committed_terms: list[int] = []
        self._commit_terms: list[int] = []  # index - 1 -> the term it was first seen committed in
        self._grants: dict[tuple[int, int], set[int]] = {}  # (term, candidate) -> voters
        # node -> request id -> the entry data its waiter proposed (this incarnation)
        self._waiting: dict[int, dict[int, bytes]] = {}
        self.elections: list[tuple[int, int, int]] = []  # (time, term, node) of each win
        self.checked: dict[str, int] = dict.fromkeys(INVARIANTS, 0)

    def _view(self, node: int) -> _NodeView:
        view = self._nodes.get(node)
        if view is None:
            view = self._nodes[node] = _NodeView()
        return view

    def _fail(self, invariant: str, node: int, detail: str) -> None:
        raise InvariantViolation(invariant, node, self._now(), detail)

    # ---- RaftMonitor -------------------------------------------------------------------------

    def restarted(self, node: int, hard_state: HardState, entries: list[Entry]) -> None:
        view = self._view(node)
        before = view.durable
        self.checked["durable_state"] += 1
        if hard_state.term < before.term:
            self._fail("durable_state", node, f"term went back {before.term} -> {hard_state.term}")
        if hard_state.term == before.term and before.vote and hard_state.vote != before.vote:
            self._fail(
                "durable_state", node,
                f"vote in term {before.term} changed {before.vote} -> {hard_state.vote}",
            )
        self.checked["commit_monotonic"] += 1
        if hard_state.commit < before.commit:
            self._fail(
                "commit_monotonic", node,
                f"durable commit went back across restart {before.commit} -> {hard_state.commit}",
            )
        if hard_state.commit > len(entries) or (
            entries and entries[-1].index != len(entries)
        ):
            self._fail(
                "durable_state", node,
                f"commit {hard_state.commit} beyond the {len(entries)} entries replayed",
            )
        view.commit = hard_state.commit
        view.last_applied = 0
        self._waiting.pop(node, None)  # a crash drops the waiters with the process
        view.durable = hard_state
        view.durable_last = len(entries)
        view.log_terms = [e.term for e in entries]

    def became_leader(self, node: int, raft_node: RaftNode) -> None:
        term = raft_node.term
        self.checked["election_safety"] += 1
        other = self._leaders.setdefault(term, node)
        if other != node:
            self._fail("election_safety", node, f"node {other} already led term {term}")
        self.elections.append((self._now(), term, node))
        self.checked["vote_quorum"] += 1
        voters = {v for v in self._grants.get((term, node), ()) if v in raft_node.peers}
        voters.add(node)
        if len(voters) * 2 <= len(raft_node.peers):
            self._fail(
                "vote_quorum", node,
                f"became leader of term {term} with votes from {sorted(voters)} only, of "
                f"{len(raft_node.peers)} voters",
            )
        view = self._nodes.get(node) or self._view(node)
        view.led = term
        view.led_from = raft_node.committed
        # Raft's Leader Completeness: an entry committed in a term before `term` is in this
        # leader's log. One committed in a later term need not be: a candidate may still win
        # `term` with grants sent before its voters moved on (held, or it was paused).
        self.checked["leader_completeness"] += 1
        commit_terms = self._commit_terms
        m = len(commit_terms)
        while m and commit_terms[m - 1] >= term:
            m -= 1
        if m and raft_node.term_at(m) != self._committed_terms[m - 1]:
            self._fail(
                "leader_completeness", node,
                f"leader of term {term} lacks entry {m} (term {self._committed_terms[m - 1]}), "
                f"committed in term {commit_terms[m - 1]}; has term {raft_node.term_at(m)}",
            )

    def committed(self, node: int, commit: int, raft_node: RaftNode) -> None:
        view = self._nodes.get(node) or self._view(node)
        self.checked["commit_monotonic"] += 1
        if commit < view.commit:
            self._fail("commit_monotonic", node, f"commit went back {view.commit} -> {commit}")
        if commit > view.commit and commit > view.led_from and raft_node.state == _LEADER \
                and raft_node.term == view.led:
            # Raft's Figure 8: a leader commits by counting replicas only an entry of its own
            # term; earlier ones become committed with it.
            self.checked["leader_commit_term"] += 1
            term = raft_node.term_at(commit)
            if term != view.led:
                self._fail(
                    "leader_commit_term", node,
                    f"leader of term {view.led} committed index {commit} of term {term} by "
                    f"counting replicas",
                )
        view.commit = commit
        known = self._committed_terms
        if commit > len(known):
            for index in range(len(known) + 1, commit + 1):
                known.append(raft_node.term_at(index) or 0)
                # The term it became committed in: the committing leader's, or the term of the
                # follower it told (the same), or later (a restart replaying its commit index).
                self._commit_terms.append(raft_node.term)

    def persisted(
        self, node: int, hard_state: HardState, entries: list[Entry], prev_term: int
    ) -> None:
        view = self._nodes.get(node) or self._view(node)
        self._durable_moves(node, view.durable, hard_state)
        view.durable = hard_state
        if entries:
            self._log_written(node, view, entries)
        entries_seen = self._entries
        for entry in entries:
            self.checked["log_matching"] += 1
            key = (entry.index, entry.term)
            known = entries_seen.get(key)
            if known is None:
                entries_seen[key] = (entry.data, prev_term)
            elif known != (entry.data, prev_term):
                self._fail(
                    "log_matching", node,
                    f"entry {entry.index} of term {entry.term} differs from another node's "
                    f"(data or preceding term {prev_term} vs {known[1]})",
                )
            prev_term = entry.term

    def _durable_moves(self, node: int, before: HardState, after: HardState) -> None:
        """Every persist: the durable term never goes back, the vote of a term never changes
        once cast, and the durable commit never goes back."""
        self.checked["durable_state"] += 1
        if after.term < before.term:
            self._fail("durable_state", node, f"durable term went back {before.term} -> "
                                              f"{after.term}")
        if after.term == before.term and before.vote and after.vote != before.vote:
            self._fail("durable_state", node, f"durable vote in term {before.term} changed "
                                              f"{before.vote} -> {after.vote}")
        self.checked["commit_monotonic"] += 1
        if after.commit < before.commit:
            self._fail("commit_monotonic", node, f"durable commit went back {before.commit} -> "
                                                 f"{after.commit}")

    def _log_written(self, node: int, view: _NodeView, entries: list[Entry]) -> None:
        """A batch from index k replaces the durable log from k on: a committed entry the node
        held there must survive it, neither removed nor replaced."""
        first = entries[0].index
        last = entries[-1].index
        terms = view.log_terms
        held_to = min(len(terms), len(self._committed_terms))
        if first <= held_to:
            self.checked["committed_kept"] += 1
            committed = self._committed_terms
            for index in range(first, held_to + 1):
                held = terms[index - 1]
                if held == 0 or held != committed[index - 1]:
                    continue  # the node held some other (uncommitted) entry there
                now = entries[index - first].term if index <= last else 0
                if now != held:
                    what = (f"replaced by one of term {now}" if now else
                            f"removed (the write ends at {last})")
                    self._fail(
                        "committed_kept", node,
                        f"committed entry {index} of term {held} {what}",
                    )
        if first - 1 > len(terms):  # a gap the log never had: unknown terms
            terms.extend([0] * (first - 1 - len(terms)))
        del terms[first - 1:]
        terms.extend([e.term for e in entries])
        view.durable_last = last

    def sent(self, node: int, msg: Message) -> None:
        kind = msg.type
        if msg.reject or kind not in (_MSG_VOTE_RESP, _MSG_APP_RESP):
            return
        view = self._nodes.get(node) or self._view(node)
        self.checked["durable_before_reply"] += 1
        if kind == _MSG_VOTE_RESP:
            durable = view.durable
            # A durable term above the grant's is safe: the node can never vote in the grant's
            # term again (one Ready may hold a grant in term t and a later move to term t+1).
            if durable.term < msg.term or (durable.term == msg.term and durable.vote != msg.to):
                self._fail(
                    "durable_before_reply", node,
                    f"granted its vote to {msg.to} in term {msg.term} before persisting it "
                    f"(durable term {durable.term}, vote {durable.vote})",
                )
            grants = self._grants.get((msg.term, msg.to))
            if grants is None:
                self._grants[(msg.term, msg.to)] = grants = set()
            grants.add(node)
        elif msg.index > view.durable_last:
            self._fail(
                "durable_before_reply", node,
                f"acknowledged index {msg.index} to {msg.to} with only {view.durable_last} "
                f"entries durable",
            )

    def stepped(self, node: int, msg: Message, term_before: int, term_after: int) -> None:
        kind = msg.type
        if term_after < term_before:
            self._fail("term_adopted", node, f"term went back {term_before} -> "
                                             f"{term_after} on a {kind.name}")
        if msg.term <= term_before:
            return
        self.checked["term_adopted"] += 1
        if kind in _TERM_EXEMPT or (kind == _MSG_PRE_VOTE_RESP and not msg.reject):
            return
        if term_after != msg.term:
            self._fail(
                "term_adopted", node,
                f"stepped a {kind.name} of term {msg.term} from {msg.frm} in term "
                f"{term_before} and stayed in term {term_after}",
            )

    def applied(self, node: int, entry: Entry) -> None:
        view = self._nodes.get(node) or self._view(node)
        self.checked["applied_committed"] += 1
        if entry.index > view.commit:
            self._fail(
                "applied_committed", node,
                f"applied index {entry.index} beyond its commit index {view.commit}",
            )
        self.checked["applied_once"] += 1
        if entry.index != view.last_applied + 1:
            self._fail(
                "applied_once", node,
                f"applied index {entry.index} after {view.last_applied}",
            )
        view.last_applied = entry.index
        if self._majority:
            self._applied_durable(node, entry)
        self.checked["state_machine_safety"] += 1
        known = self._applied.get(entry.index)
        if known is None:
            self._applied[entry.index] = entry
            if entry.index > self._max_committed:
                self._max_committed = entry.index
        elif known.term != entry.term or known.data != entry.data:
            self._fail(
                "state_machine_safety", node,
                f"applied term {entry.term} at index {entry.index}; another node applied "
                f"term {known.term}",
            )

    def _applied_durable(self, node: int, entry: Entry) -> None:
        # What a member applies, a client may be told: a majority must hold it on disk, or a
        # crash of the ones that do not can lose it (for one member: its own fsync first).
        self.checked["applied_durable"] += 1
        position, term = entry.index - 1, entry.term
        holders = 0
        for view in self._nodes.values():
            terms = view.log_terms
            if position < len(terms) and terms[position] == term:
                holders += 1
        if holders < self._majority:
            self._fail(
                "applied_durable", node,
                f"applied index {entry.index} of term {term} held durably by {holders} "
                f"member(s), fewer than a majority ({self._majority})",
            )

    # ---- ServerMonitor -------------------------------------------------------------------

    def proposed(self, node: int, request_id: int, data: bytes) -> None:
        waiting = self._waiting.get(node)
        if waiting is None:
            waiting = self._waiting[node] = {}
        waiting[request_id] = data

    def answered(self, node: int, request_id: int, entry: Entry, revision: int = 0) -> None:
        if revision and entry.index not in self._revision_at:
            self._revision_at[entry.index] = (revision, self._now())
        # A request's caller is told the result of the entry that carries that very request:
        # the entry names its waiter, and the waiter's own proposal is that entry.
        self.checked["answered_own_entry"] += 1
        carried = InternalRaftRequest.unmarshal(entry.data).id
        if carried != request_id:
            self._fail(
                "answered_own_entry", node,
                f"the waiter on request {request_id:#x} got the result of entry {entry.index}, "
                f"which carries request {carried:#x}",
            )
        proposed = self._waiting.get(node, {}).pop(request_id, None)
        if proposed is not None and proposed != entry.data:
            self._fail(
                "answered_own_entry", node,
                f"request {request_id:#x} got the result of entry {entry.index}, another "
                f"request under the same id",
            )

    # ---- summaries -------------------------------------------------------------------------

    @property
    def max_committed(self) -> int:
        """Highest index any node has applied."""
        return self._max_committed

    def leaders(self) -> dict[int, int]:
        """Term -> leader, for reports."""
        return dict(self._leaders)

    def applied_requests(self) -> Iterator[tuple[rpc.Request, int, int]]:
        """(request, the store's revision right after it, when first applied) of each applied
        entry that carries a request, in log order: what the members' logs say took effect."""
        for index in sorted(self._revision_at):
            revision, when = self._revision_at[index]
            yield InternalRaftRequest.unmarshal(self._applied[index].data).request, revision, when
