"""Leader election: votes, terms, pre-vote, check-quorum and the lease rule."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from raft_net import RaftNet

from etcdcore.raft import (
    NONE,
    Config,
    Entry,
    HardState,
    MemoryStorage,
    Message,
    MessageType,
    RawNode,
    StateType,
)

MT = MessageType


def new_node(
    node_id: int = 1,
    peers: Sequence[int] = (1, 2, 3),
    terms: Sequence[int] = (),
    hard_state: HardState | None = None,
    *,
    pre_vote: bool = True,
    check_quorum: bool = True,
    seed: int = 0,
) -> RawNode:
    """A node restarted from storage holding entries of `terms` (from index 1)."""
    entries = [Entry(term=t, index=k + 1) for k, t in enumerate(terms)]
    hs = hard_state or HardState(term=max(terms, default=0))
    return RawNode(
        Config(
            id=node_id,
            peers=list(peers),
            rand=random.Random(seed),
            pre_vote=pre_vote,
            check_quorum=check_quorum,
        ),
        MemoryStorage(hs, entries),
    )


def vote(frm: int, term: int, last_index: int, last_term: int, pre: bool = False) -> Message:
    return Message(
        MT.MSG_PRE_VOTE if pre else MT.MSG_VOTE,
        to=1,
        frm=frm,
        term=term,
        index=last_index,
        log_term=last_term,
    )


def answers(node: RawNode) -> list[Message]:
    rd = node.ready()
    node.advance(rd)
    return rd.messages


def test_a_vote_is_granted_at_most_once_per_term() -> None:
    node = new_node()
    node.step(vote(2, 1, 0, 0))
    assert [(m.to, m.reject) for m in answers(node)] == [(2, False)]
    node.step(vote(3, 1, 0, 0))
    assert [(m.to, m.reject) for m in answers(node)] == [(3, True)]
    # The same candidate asking again (its answer was lost) gets the same answer.
    node.step(vote(2, 1, 0, 0))
    assert [(m.to, m.reject) for m in answers(node)] == [(2, False)]
    assert (node.term, node.vote) == (1, 2)


def test_a_vote_reaches_the_hard_state_with_must_sync_in_the_ready_that_answers_it() -> None:
    node = new_node()
    node.step(vote(2, 5, 0, 0))
    rd = node.ready()
    assert rd.hard_state == HardState(term=5, vote=2, commit=0)
    assert rd.must_sync
    assert [(m.type, m.term, m.reject) for m in rd.messages] == [(MT.MSG_VOTE_RESP, 5, False)]


@pytest.mark.parametrize(
    ("last_index", "last_term", "granted"),
    [
        (3, 2, True),  # same last term, same length
        (4, 2, True),  # same last term, longer
        (2, 2, False),  # same last term, shorter
        (1, 3, True),  # higher last term wins even when shorter
        (9, 1, False),  # lower last term loses even when longer
    ],
)
def test_a_candidate_with_a_less_up_to_date_log_is_refused(
    last_index: int, last_term: int, granted: bool
) -> None:
    node = new_node(terms=(1, 2, 2), hard_state=HardState(term=2))
    node.step(vote(2, 3, last_index, last_term))
    msgs = answers(node)
    assert [(m.type, m.reject) for m in msgs] == [(MT.MSG_VOTE_RESP, not granted)]
    assert node.vote == (2 if granted else NONE)
    assert node.term == 3  # a higher term is adopted either way


def test_a_node_that_voted_and_restarted_does_not_vote_for_another_candidate_in_that_term() -> None:
    net = RaftNet((1, 2, 3), pre_vote=False)
    net.isolate(2)
    net.campaign(1)
    net.flush()
    assert (net.node(3).term, net.node(3).vote) == (1, 1)
    net.restart(3)
    n3 = net.node(3)
    assert (n3.term, n3.vote, n3.lead) == (1, 1, NONE)
    # Node 2 (cut off until now, its log as long as anyone's) asks for node 3's vote in term 1.
    n3.step(Message(MT.MSG_VOTE, to=3, frm=2, term=1, index=99, log_term=1))
    msgs = net.ready(3).messages
    assert [(m.type, m.to, m.reject) for m in msgs] == [(MT.MSG_VOTE_RESP, 2, True)]
    assert n3.vote == 1


def test_a_vote_not_yet_persisted_was_not_answered() -> None:
    # The driver sends a follower's messages only after persisting: a crash before that loses
    # the vote and the answer together, so nobody counted a vote the node forgot.
    net = RaftNet((1, 2, 3), pre_vote=False)
    net.campaign(1)
    net.process(1)
    net.deliver(lambda m: m.to == 3)
    rd = net.node(3).ready()
    assert rd.must_sync and rd.hard_state is not None and rd.hard_state.vote == 1
    net.restart(3)  # crash before persisting rd
    assert (net.node(3).term, net.node(3).vote) == (0, NONE)


def test_election_timeouts_are_drawn_from_election_tick_up_to_twice_it() -> None:
    seen = set()
    for seed in range(200):
        node = new_node(seed=seed)
        timeout = node.raft.randomized_election_timeout
        assert 10 <= timeout < 20
        seen.add(timeout)
    assert len(seen) > 5


def test_a_follower_campaigns_once_its_election_timeout_passes() -> None:
    node = new_node(pre_vote=False)
    timeout = node.raft.randomized_election_timeout
    for _ in range(timeout - 1):
        node.tick()
    assert node.state == StateType.FOLLOWER
    node.tick()
    assert (node.state, node.term) == (StateType.CANDIDATE, 1)


def test_a_single_node_elects_itself() -> None:
    net = RaftNet((1,))
    net.elect(1)
    assert (net.node(1).term, net.node(1).committed) == (1, 1)


def test_pre_vote_does_not_bump_the_term_of_a_partitioned_node() -> None:
    net = RaftNet((1, 2, 3))
    net.elect(1)
    net.isolate(3)
    net.tick(3, 200)
    assert net.node(3).term == 1
    assert net.node(3).state == StateType.PRE_CANDIDATE
    # Back in the cluster, it disturbs nobody: the leader and its term stay.
    net.heal()
    for _ in range(30):
        for i in net.ids:
            net.tick(i)
        net.flush()
    assert net.leader() == 1
    assert [net.node(i).term for i in net.ids] == [1, 1, 1]
    assert net.node(3).lead == 1


def test_without_pre_vote_a_partitioned_node_bumps_its_term() -> None:
    net = RaftNet((1, 2, 3), pre_vote=False)
    net.elect(1)
    net.isolate(3)
    net.tick(3, 200)
    assert net.node(3).term > 5


def test_check_quorum_makes_an_isolated_leader_step_down() -> None:
    net = RaftNet((1, 2, 3))
    net.elect(1)
    net.isolate(1)
    # Answers from before the cut count for the first check; the second one finds nobody.
    net.tick(1, 19)
    assert net.node(1).state == StateType.LEADER
    net.tick(1)
    assert net.node(1).state == StateType.FOLLOWER
    assert net.node(1).lead == NONE
    assert not net.propose(1, b"x")


def test_without_check_quorum_an_isolated_leader_stays_leader() -> None:
    net = RaftNet((1, 2, 3), check_quorum=False)
    net.elect(1)
    net.isolate(1)
    net.tick(1, 100)
    assert net.node(1).state == StateType.LEADER


def test_a_leader_that_hears_from_a_quorum_stays_leader() -> None:
    net = RaftNet((1, 2, 3))
    net.elect(1)
    net.isolate(3)
    for _ in range(50):
        net.tick(1)
        net.flush()
    assert net.node(1).state == StateType.LEADER


def test_a_follower_with_a_live_leader_ignores_vote_requests() -> None:
    net = RaftNet((1, 2, 3))
    net.elect(1)
    n2 = net.node(2)
    n2.step(Message(MT.MSG_VOTE, to=2, frm=3, term=5, index=99, log_term=1))
    n2.step(Message(MT.MSG_PRE_VOTE, to=2, frm=3, term=5, index=99, log_term=1))
    assert (n2.term, n2.vote, n2.lead) == (1, 1, 1)
    assert not n2.has_ready()
    # Once the leader has been silent for an election timeout, the lease is over.
    for _ in range(10):
        n2.raft.election_elapsed += 1
    n2.step(Message(MT.MSG_VOTE, to=2, frm=3, term=5, index=99, log_term=1))
    assert (n2.term, n2.vote) == (5, 3)


def test_without_check_quorum_there_is_no_lease() -> None:
    net = RaftNet((1, 2, 3), pre_vote=False, check_quorum=False)
    net.elect(1)
    n2 = net.node(2)
    n2.step(Message(MT.MSG_VOTE, to=2, frm=3, term=5, index=99, log_term=1))
    assert (n2.term, n2.vote) == (5, 3)


def test_a_stale_leader_steps_down_when_a_follower_answers_with_its_newer_term() -> None:
    net = RaftNet((1, 2, 3))
    net.elect(1)
    net.isolate(1)
    while net.node(2).state != StateType.LEADER and net.node(3).state != StateType.LEADER:
        net.tick(2)
        net.tick(3)
        net.flush()
    new_leader = 2 if net.node(2).state == StateType.LEADER else 3
    assert net.node(new_leader).term == 2
    assert net.node(1).state == StateType.LEADER  # it heard nothing yet
    net.heal()
    net.tick(1)  # heartbeats in term 1
    net.flush()
    n1 = net.node(1)
    assert (n1.state, n1.term, n1.lead) == (StateType.FOLLOWER, 2, NONE)
    net.tick(new_leader)
    net.flush()
    assert n1.lead == new_leader


def test_a_pre_candidate_learns_a_higher_term_from_a_rejection() -> None:
    node = new_node()
    node.campaign()
    assert node.state == StateType.PRE_CANDIDATE and node.term == 0
    node.step(Message(MT.MSG_PRE_VOTE_RESP, to=1, frm=2, term=4, reject=True))
    assert (node.state, node.term) == (StateType.FOLLOWER, 4)


FATES = ("deliver", "deliver", "drop", "delay", "duplicate")


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    fates=st.lists(st.sampled_from(FATES), min_size=1, max_size=64),
    size=st.sampled_from((3, 5)),
    pre_vote=st.booleans(),
    check_quorum=st.booleans(),
)
def test_at_most_one_leader_per_term_under_random_message_loss(
    seed: int, fates: list[str], size: int, pre_vote: bool, check_quorum: bool
) -> None:
    """Messages meet `fates` in turn (cycled); ticks, proposals and crashes come from `seed`.

    RaftNet checks election safety (one leader per term) and state machine safety after every
    step; nodes also crash between ready() and persisting, and step messages between ready()
    and advance(). Once faults stop, a leader must emerge and every log must converge.
    """
    net = RaftNet(
        range(1, size + 1),
        seed=seed,
        pre_vote=pre_vote,
        check_quorum=check_quorum,
        election_tick=5,
        max_msg_entries=2,
        max_inflight=4,
    )
    rng = random.Random(seed)
    fate = itertools.cycle(fates)

    def step(m: Message) -> None:
        node = net.nodes.get(m.to)
        if node is not None:
            node.step(m)
            net.check(m.to)

    proposed = 0
    for _ in range(200):
        for i in net.ids:
            if i in net.nodes and rng.random() < 0.7:
                net.nodes[i].tick()
                net.check(i)
        leader = net.leader()
        if leader is not None and rng.random() < 0.3:
            proposed += net.propose(leader, f"p{proposed}".encode())
        if rng.random() < 0.03:
            victim = rng.choice(net.ids)
            if victim in net.nodes:
                net.crash(victim)
            else:
                net.restart(victim)
        for i in sorted(net.nodes):
            node = net.nodes[i]
            if not node.has_ready():
                continue
            rd = node.ready()
            if net.inflight and rng.random() < 0.2:
                step(net.inflight.pop(rng.randrange(len(net.inflight))))
            if i not in net.nodes:
                continue
            if rng.random() < 0.02:
                net.restart(i)  # crashed before persisting: rd is lost, messages unsent
                continue
            net.persist(i, rd)
            net.send(rd.messages)
            net.advance(i, rd)
        msgs, net.inflight = net.inflight, []
        for m in msgs:
            match next(fate):
                case "deliver":
                    step(m)
                case "delay":
                    net.inflight.append(m)
                case "duplicate":
                    step(m)
                    step(m)

    # Faults stop: everyone comes back, a leader emerges and all logs converge.
    for i in net.ids:
        if i not in net.nodes:
            net.restart(i)
    for _ in range(100):
        for i in net.ids:
            net.nodes[i].tick()
        net.flush()
    leader = net.leader()
    assert leader is not None
    net.propose(leader, b"final")
    net.flush()
    final = net.nodes[leader].committed
    assert all(net.nodes[i].committed == final for i in net.ids)
    assert all(len(net.applied[i]) == final for i in net.ids)
