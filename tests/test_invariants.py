"""The invariant watcher catches each kind of safety violation it is told about."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from etcdcore.raft.types import Entry, HardState, Message, MessageType, StateType
from sim.cluster.invariants import InvariantViolation, RaftInvariants


@dataclass
class FakeLeader:
    term: int
    log: dict[int, int] = field(default_factory=dict)  # index -> term
    committed: int = 0
    state: StateType = StateType.LEADER

    def term_at(self, index: int) -> int | None:
        return self.log.get(index)


FOLLOWER: Any = FakeLeader(0, state=StateType.FOLLOWER)


def watcher() -> RaftInvariants:
    return RaftInvariants(lambda: 42)


def violated(name: str) -> Any:
    return pytest.raises(InvariantViolation, match=f"^{name} violated")


def test_two_leaders_in_one_term_break_election_safety() -> None:
    w = watcher()
    w.became_leader(1, FakeLeader(3))  # type: ignore[arg-type]
    with violated("election_safety"):
        w.became_leader(2, FakeLeader(3))  # type: ignore[arg-type]


def test_one_leader_per_term_is_fine_across_terms() -> None:
    w = watcher()
    w.became_leader(1, FakeLeader(3))  # type: ignore[arg-type]
    w.became_leader(2, FakeLeader(4))  # type: ignore[arg-type]
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
    w.applied(1, Entry(1, 1, b"x"))
    with violated("leader_completeness"):
        w.became_leader(2, FakeLeader(2, {1: 2}))  # type: ignore[arg-type]


def test_two_nodes_applying_different_entries_at_one_index_break_state_machine_safety() -> None:
    w = watcher()
    w.applied(1, Entry(1, 1, b"x"))
    with violated("state_machine_safety"):
        w.applied(2, Entry(2, 1, b"y"))


def test_applying_an_index_twice_is_caught() -> None:
    w = watcher()
    w.applied(1, Entry(1, 1, b"x"))
    with violated("applied_once"):
        w.applied(1, Entry(1, 1, b"x"))


def test_a_restart_starts_applying_from_the_beginning_again() -> None:
    w = watcher()
    w.applied(1, Entry(1, 1, b"x"))
    w.restarted(1, HardState(1, 1, 1), [Entry(1, 1, b"x")])
    w.applied(1, Entry(1, 1, b"x"))


def test_commit_going_back_in_memory_is_caught() -> None:
    w = watcher()
    w.committed(1, 5, FOLLOWER)
    with violated("commit_monotonic"):
        w.committed(1, 4, FOLLOWER)


def test_a_leader_never_commits_an_entry_of_an_earlier_term_by_counting_replicas() -> None:
    w = watcher()
    leader = FakeLeader(4, {1: 1, 2: 2, 3: 4}, committed=1)
    w.became_leader(1, leader)  # type: ignore[arg-type]
    with violated("leader_commit_term"):
        w.committed(1, 2, leader)  # type: ignore[arg-type]


def test_earlier_entries_commit_with_the_leaders_own_and_followers_learn_any_commit() -> None:
    w = watcher()
    leader = FakeLeader(4, {1: 1, 2: 2, 3: 4}, committed=1)
    w.became_leader(1, leader)  # type: ignore[arg-type]
    w.committed(1, 3, leader)  # type: ignore[arg-type]
    w.committed(2, 2, FOLLOWER)  # a follower's commit comes from the leader
    # What a node learnt as a follower before it won is not its own counting.
    w.became_leader(3, FakeLeader(5, {1: 1, 2: 2}, committed=2))  # type: ignore[arg-type]
    w.committed(3, 2, FakeLeader(5, {1: 1, 2: 2}, committed=2))  # type: ignore[arg-type]
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


def test_a_grant_sent_once_a_later_term_is_durable_passes_but_a_grant_not_durable_fails() -> None:
    # One Ready may carry a grant of term 2 and the hard state of term 3 (the node voted again
    # while its disk stalled): term 3 durable forbids any other vote in term 2 after a restart.
    w = watcher()
    w.persisted(1, HardState(3, 3, 0), [], prev_term=0)
    w.sent(1, Message(MessageType.MSG_VOTE_RESP, to=3, frm=1, term=2))
    with violated("durable_before_reply"):
        w.sent(1, Message(MessageType.MSG_VOTE_RESP, to=2, frm=1, term=3))
