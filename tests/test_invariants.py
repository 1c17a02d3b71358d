"""The invariant watcher catches each kind of safety violation it is told about."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import pytest

from etcdcore.api import rpc
from etcdcore.api.raft_internal import InternalRaftRequest
from etcdcore.raft import Config, MemoryStorage, RawNode
from etcdcore.raft.types import Entry, HardState, Message, MessageType, StateType
from sim.cluster.config import RunConfig
from sim.cluster.invariants import InvariantViolation, RaftInvariants
from sim.harness.runner import run


@dataclass
class FakeLeader:
    term: int
    log: dict[int, int] = field(default_factory=dict)  # index -> term
    committed: int = 0
    state: StateType = StateType.LEADER
    peers: list[int] = field(default_factory=lambda: [1, 2, 3])

    def term_at(self, index: int) -> int | None:
        return self.log.get(index)


FOLLOWER: Any = FakeLeader(0, state=StateType.FOLLOWER)


def watcher() -> RaftInvariants:
    return RaftInvariants(lambda: 42)


def violated(name: str) -> Any:
    return pytest.raises(InvariantViolation, match=f"^{name} violated")


def grant(w: RaftInvariants, voter: int, candidate: int, term: int) -> None:
    """`voter` persists its vote for `candidate` in `term`, then sends the grant."""
    w.persisted(voter, HardState(term, candidate, 0), [], prev_term=0)
    w.sent(voter, Message(MessageType.MSG_VOTE_RESP, to=candidate, frm=voter, term=term))


def apply(w: RaftInvariants, node: int, entry: Entry) -> None:
    """`node` learns `entry` is committed, then applies it."""
    w.committed(node, max(entry.index, w._nodes[node].commit if node in w._nodes else 0),
                FOLLOWER)
    w.applied(node, entry)


def elect(w: RaftInvariants, node: int, leader: FakeLeader) -> None:
    """`node` wins `leader.term` with its own vote and one other voter's of three."""
    grant(w, 3 if node != 3 else 2, node, leader.term)
    w.became_leader(node, leader)  # type: ignore[arg-type]


def test_two_leaders_in_one_term_break_election_safety() -> None:
    w = watcher()
    elect(w, 1, FakeLeader(3))
    with violated("election_safety"):
        w.became_leader(2, FakeLeader(3))  # type: ignore[arg-type]


def test_one_leader_per_term_is_fine_across_terms() -> None:
    w = watcher()
    elect(w, 1, FakeLeader(3))
    elect(w, 2, FakeLeader(4))
    assert w.leaders() == {3: 1, 4: 2}


def test_same_index_and_term_with_other_data_breaks_log_matching() -> None:
    w = watcher()
    w.persisted(1, HardState(2), [Entry(2, 1, b"a")], prev_term=0)
    with violated("log_matching"):
        w.persisted(2, HardState(2), [Entry(2, 1, b"b")], prev_term=0)


def test_same_index_and_term_after_another_term_breaks_log_matching() -> None:
    w = watcher()
    w.persisted(1, HardState(3), [Entry(3, 5, b"a")], prev_term=2)
    with violated("log_matching"):
        w.persisted(2, HardState(3), [Entry(3, 5, b"a")], prev_term=1)


def test_a_leader_missing_a_committed_entry_breaks_leader_completeness() -> None:
    w = watcher()
    apply(w, 1, Entry(1, 1, b"x"))
    with violated("leader_completeness"):
        elect(w, 2, FakeLeader(2, {1: 2}))


def test_a_leader_need_not_hold_an_entry_committed_in_a_later_term_than_its_own() -> None:
    # Node 3 wins term 4 with grants sent before its voters moved to term 5, in which entry 1
    # was committed: Leader Completeness speaks of entries committed in earlier terms only.
    w = watcher()
    w.committed(1, 1, FakeLeader(5, {1: 5}))
    w.applied(1, Entry(5, 1, b"x"))
    elect(w, 3, FakeLeader(4))
    with violated("leader_completeness"):
        elect(w, 2, FakeLeader(6))


def test_two_nodes_applying_different_entries_at_one_index_break_state_machine_safety() -> None:
    w = watcher()
    apply(w, 1, Entry(1, 1, b"x"))
    with violated("state_machine_safety"):
        apply(w, 2, Entry(2, 1, b"y"))


def test_applying_an_index_twice_is_caught() -> None:
    w = watcher()
    apply(w, 1, Entry(1, 1, b"x"))
    with violated("applied_once"):
        apply(w, 1, Entry(1, 1, b"x"))


def test_a_restart_starts_applying_from_the_beginning_again() -> None:
    w = watcher()
    apply(w, 1, Entry(1, 1, b"x"))
    w.restarted(1, HardState(1, 1, 1), [Entry(1, 1, b"x")])
    apply(w, 1, Entry(1, 1, b"x"))


def test_commit_going_back_in_memory_is_caught() -> None:
    w = watcher()
    w.committed(1, 5, FOLLOWER)
    with violated("commit_monotonic"):
        w.committed(1, 4, FOLLOWER)


def test_a_leader_never_commits_an_entry_of_an_earlier_term_by_counting_replicas() -> None:
    w = watcher()
    leader = FakeLeader(4, {1: 1, 2: 2, 3: 4}, committed=1)
    elect(w, 1, leader)
    with violated("leader_commit_term"):
        w.committed(1, 2, leader)  # type: ignore[arg-type]


def test_earlier_entries_commit_with_the_leaders_own_and_followers_learn_any_commit() -> None:
    w = watcher()
    leader = FakeLeader(4, {1: 1, 2: 2, 3: 4}, committed=1)
    elect(w, 1, leader)
    w.committed(1, 3, leader)  # type: ignore[arg-type]
    w.committed(2, 2, FOLLOWER)  # a follower's commit comes from the leader
    # What a node learnt as a follower before it won is not its own counting.
    elect(w, 3, FakeLeader(5, {1: 1, 2: 2, 3: 4}, committed=2))
    w.committed(3, 2, FakeLeader(5, {1: 1, 2: 2, 3: 4}, committed=2))  # type: ignore[arg-type]
    assert w.checked["leader_commit_term"] == 1


def test_durable_commit_going_back_across_a_restart_is_caught() -> None:
    w = watcher()
    entries = [Entry(1, i) for i in range(1, 4)]
    w.persisted(1, HardState(1, 1, 3), entries, prev_term=0)
    with violated("commit_monotonic"):
        w.restarted(1, HardState(1, 1, 2), entries)


def test_a_lost_vote_is_caught_on_restart() -> None:
    w = watcher()
    w.persisted(1, HardState(4, 2, 0), [], prev_term=0)
    with violated("durable_state"):
        w.restarted(1, HardState(4, 3, 0), [])
    w2 = watcher()
    w2.persisted(1, HardState(4, 2, 0), [], prev_term=0)
    with violated("durable_state"):
        w2.restarted(1, HardState(3, 2, 0), [])


def test_a_vote_granted_before_it_is_durable_is_caught() -> None:
    w = watcher()
    w.persisted(1, HardState(3, 0, 0), [], prev_term=0)
    with violated("durable_before_reply"):
        w.sent(1, Message(MessageType.MSG_VOTE_RESP, to=2, frm=1, term=4))


def test_an_acknowledgement_beyond_the_durable_log_is_caught() -> None:
    w = watcher()
    w.persisted(1, HardState(1, 2, 0), [Entry(1, 1), Entry(1, 2)], prev_term=0)
    w.sent(1, Message(MessageType.MSG_APP_RESP, to=2, frm=1, term=1, index=2))
    with violated("durable_before_reply"):
        w.sent(1, Message(MessageType.MSG_APP_RESP, to=2, frm=1, term=1, index=3))


def test_votes_and_rejections_that_follow_the_rules_pass() -> None:
    w = watcher()
    w.persisted(1, HardState(4, 2, 0), [], prev_term=0)
    w.sent(1, Message(MessageType.MSG_VOTE_RESP, to=2, frm=1, term=4))
    w.sent(1, Message(MessageType.MSG_VOTE_RESP, to=3, frm=1, term=4, reject=True))
    w.sent(1, Message(MessageType.MSG_APP_RESP, to=2, frm=1, term=4, index=9, reject=True))
    assert w.checked["durable_before_reply"] == 1


# ---- a false positive, fixed: a grant may go out after a later term is durable -------------


def test_a_grant_may_be_sent_after_a_later_term_and_vote_are_durable() -> None:
    # One Ready can hold a grant in term 5 and a later move to term 6 with another vote: the
    # node persists (6, 2) and then sends the term-5 grant. It can never vote in term 5 again.
    w = watcher()
    w.persisted(1, HardState(6, 2, 0), [], prev_term=0)
    w.sent(1, Message(MessageType.MSG_VOTE_RESP, to=4, frm=1, term=5))
    w.sent(1, Message(MessageType.MSG_VOTE_RESP, to=2, frm=1, term=6))
    with violated("durable_before_reply"):
        w.sent(1, Message(MessageType.MSG_VOTE_RESP, to=3, frm=1, term=6))


def test_raft_granting_in_two_terms_in_one_ready_passes_the_watcher() -> None:
    # The real Raft: a vote request of term 5, then one of term 6, before the node's next Ready.
    w = watcher()
    storage = MemoryStorage(HardState(4, 0, 0), [])
    node = RawNode(Config(id=1, peers=[1, 2, 3, 4], rand=random.Random(0), pre_vote=False,
                          check_quorum=False), storage)
    node.step(Message(MessageType.MSG_VOTE, to=1, frm=4, term=5))
    node.step(Message(MessageType.MSG_VOTE, to=1, frm=2, term=6))
    rd = node.ready()
    assert rd.hard_state == HardState(6, 2, 0)
    grants = [m for m in rd.messages if m.type == MessageType.MSG_VOTE_RESP and not m.reject]
    assert [(m.to, m.term) for m in grants] == [(4, 5), (2, 6)]
    w.persisted(1, rd.hard_state, rd.entries, prev_term=0)
    for m in rd.messages:
        w.sent(1, m)
    assert w.checked["durable_before_reply"] == 2


def test_seed_106_of_the_raft_workload_passes() -> None:
    # Reported: `etcdsim run --seed 106 --workload raft --duration 30` failed the old rule with
    # "granted its vote to 2 in term 2 before persisting it (durable term 3, vote 1)".
    result = run(RunConfig(seed=106, workload="raft", duration_us=30_000_000))
    assert result.violations == []


# ---- rules checked at every step ------------------------------------------------------------


def test_the_durable_vote_of_a_term_never_changes_at_any_persist() -> None:
    w = watcher()
    w.persisted(1, HardState(4, 2, 0), [], prev_term=0)
    w.persisted(1, HardState(4, 2, 3), [], prev_term=0)  # the commit may move
    with violated("durable_state"):
        w.persisted(1, HardState(4, 3, 3), [], prev_term=0)


def test_the_durable_term_never_goes_back_at_any_persist() -> None:
    w = watcher()
    w.persisted(1, HardState(4, 2, 0), [], prev_term=0)
    with violated("durable_state"):
        w.persisted(1, HardState(3, 0, 0), [], prev_term=0)


def test_the_durable_commit_never_goes_back_at_any_persist() -> None:
    w = watcher()
    w.persisted(1, HardState(4, 2, 5), [Entry(4, i) for i in range(1, 6)], prev_term=0)
    with violated("commit_monotonic"):
        w.persisted(1, HardState(4, 2, 4), [], prev_term=0)


def committed_log(w: RaftInvariants, terms: list[int]) -> None:
    """Node 1 led and committed entries of `terms` (from index 1)."""
    log = dict(enumerate(terms, start=1))
    w.persisted(1, HardState(max(terms), 1, 0), [Entry(t, i) for i, t in log.items()], 0)
    w.committed(1, len(terms), FakeLeader(max(terms), log, state=StateType.FOLLOWER))


def test_a_committed_entry_a_node_held_is_never_replaced() -> None:
    w = watcher()
    committed_log(w, [1, 1, 2])
    w.persisted(2, HardState(2, 1, 0), [Entry(1, 1), Entry(1, 2), Entry(2, 3)], prev_term=0)
    with violated("committed_kept"):
        w.persisted(2, HardState(3, 1, 0), [Entry(3, 3, b"other")], prev_term=1)


def test_a_committed_entry_a_node_held_is_never_removed() -> None:
    w = watcher()
    committed_log(w, [1, 1, 2])
    w.persisted(2, HardState(2, 1, 0), [Entry(1, 1), Entry(1, 2), Entry(2, 3)], prev_term=0)
    with violated("committed_kept"):
        w.persisted(2, HardState(2, 1, 0), [Entry(1, 2)], prev_term=1)  # the log ends at 2


def test_a_node_may_replace_an_uncommitted_entry_at_a_committed_index() -> None:
    # Node 2 held a stale entry of term 1 at index 3, where the cluster committed one of term 2.
    w = watcher()
    committed_log(w, [1, 1, 2])
    w.persisted(2, HardState(1, 1, 0), [Entry(1, 1), Entry(1, 2), Entry(1, 3)], prev_term=0)
    w.persisted(2, HardState(2, 1, 0), [Entry(2, 3)], prev_term=1)
    assert w.checked["committed_kept"] == 1


def test_a_node_adopts_a_higher_term_before_it_acts() -> None:
    w = watcher()
    app = Message(MessageType.MSG_APP, to=1, frm=2, term=5)
    w.stepped(1, app, 3, 5)
    with violated("term_adopted"):
        w.stepped(1, app, 3, 3)


def test_pre_votes_and_ignored_votes_may_leave_the_term_as_it_is() -> None:
    w = watcher()
    w.stepped(1, Message(MessageType.MSG_PRE_VOTE, to=1, frm=2, term=5), 3, 3)
    w.stepped(1, Message(MessageType.MSG_PRE_VOTE_RESP, to=1, frm=2, term=4), 3, 3)
    w.stepped(1, Message(MessageType.MSG_VOTE, to=1, frm=2, term=5), 3, 3)  # in a lease
    with violated("term_adopted"):  # a refused pre-vote of a higher term is a new term
        w.stepped(1, Message(MessageType.MSG_PRE_VOTE_RESP, to=1, frm=2, term=5,
                             reject=True), 3, 3)


def test_a_term_never_goes_back_when_a_message_is_stepped() -> None:
    w = watcher()
    with violated("term_adopted"):
        w.stepped(1, Message(MessageType.MSG_HEARTBEAT, to=1, frm=2, term=2), 3, 2)


def test_a_leader_won_grants_from_a_majority_of_distinct_voters() -> None:
    w = watcher()
    leader = FakeLeader(4, peers=[1, 2, 3, 4, 5])
    grant(w, 2, 1, 4)
    grant(w, 2, 1, 4)  # a duplicated grant counts once
    with violated("vote_quorum"):
        w.became_leader(1, leader)  # type: ignore[arg-type]
    w2 = watcher()
    grant(w2, 2, 1, 4)
    grant(w2, 3, 1, 4)
    w2.became_leader(1, leader)  # type: ignore[arg-type]
    assert w2.checked["vote_quorum"] == 1


def test_a_grant_for_another_term_or_candidate_does_not_count() -> None:
    w = watcher()
    grant(w, 2, 1, 3)  # an earlier term
    grant(w, 3, 2, 4)  # another candidate
    with violated("vote_quorum"):
        w.became_leader(1, FakeLeader(4))  # type: ignore[arg-type]


def test_a_member_never_applies_beyond_its_commit_index() -> None:
    w = watcher()
    w.committed(1, 1, FOLLOWER)
    w.applied(1, Entry(1, 1, b"x"))
    with violated("applied_committed"):
        w.applied(1, Entry(1, 2, b"y"))


def test_a_member_applies_only_what_a_majority_holds_durably() -> None:
    w = RaftInvariants(lambda: 42, members=3)
    entry = Entry(2, 1, b"a")
    w.persisted(1, HardState(2), [entry], prev_term=0)
    with violated("applied_durable"):
        apply(w, 1, entry)  # one of three holds it: a crash of that one can lose it
    w = RaftInvariants(lambda: 42, members=3)
    for node in (1, 3):
        w.persisted(node, HardState(2), [entry], prev_term=0)
    apply(w, 2, entry)  # two of three hold it; the member applying it need not yet
    assert w.checked["applied_durable"] == 1


def test_a_sole_member_applies_only_what_its_own_fsync_made_durable() -> None:
    w = RaftInvariants(lambda: 42, members=1)
    entry = Entry(2, 1, b"a")
    with violated("applied_durable"):
        apply(w, 1, entry)
    w = RaftInvariants(lambda: 42, members=1)
    w.persisted(1, HardState(2), [entry], prev_term=0)
    apply(w, 1, entry)


def test_an_entry_held_in_another_term_does_not_count_as_durable() -> None:
    w = RaftInvariants(lambda: 42, members=3)
    w.persisted(1, HardState(3), [Entry(3, 1, b"a")], prev_term=0)
    w.persisted(2, HardState(2), [Entry(2, 1, b"b")], prev_term=0)
    with violated("applied_durable"):
        apply(w, 1, Entry(3, 1, b"a"))


def request_entry(index: int, request_id: int, key: bytes) -> Entry:
    """An entry as the KV server proposes it: the waiter's request id and its request."""
    return Entry(2, index, InternalRaftRequest(request_id, rpc.PutRequest(key, b"v")).marshal())


def test_a_waiting_request_gets_the_result_of_the_entry_that_carries_it() -> None:
    w = watcher()
    mine = request_entry(1, 7, b"a")
    w.proposed(1, 7, mine.data)
    w.answered(1, 7, mine)
    assert w.checked["answered_own_entry"] == 1


def test_a_waiter_answered_with_another_requests_entry_is_caught() -> None:
    w = watcher()
    w.proposed(1, 7, request_entry(1, 7, b"a").data)
    with violated("answered_own_entry"):
        w.answered(1, 7, request_entry(2, 8, b"b"))


def test_a_request_id_reused_for_another_request_is_caught() -> None:
    # An entry from before a restart carries the same id as a new request of this incarnation:
    # the new caller must not be told the old entry's result.
    w = watcher()
    w.proposed(1, 7, request_entry(5, 7, b"new").data)
    with violated("answered_own_entry"):
        w.answered(1, 7, request_entry(3, 7, b"old"))


def test_a_restart_forgets_the_waiters_of_the_incarnation_before() -> None:
    w = watcher()
    w.proposed(1, 7, request_entry(1, 7, b"a").data)
    w.restarted(1, HardState(2), [])
    w.answered(1, 7, request_entry(1, 7, b"other"))  # nobody waits on 7 in this incarnation


def test_an_etcd_run_checks_every_answer_and_every_durable_apply() -> None:
    result = run(RunConfig(seed=2, duration_us=5_000_000))
    assert result.ok
    for name in ("answered_own_entry", "applied_durable"):
        verdict = result.checks[name]
        assert verdict.startswith("pass (") and not verdict.startswith("pass (0 "), verdict
