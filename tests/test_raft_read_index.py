"""ReadIndex (etcd's ReadOnlySafe) and proposal forwarding: when a read may be served, and where."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from raft_net import Filter, RaftNet

from etcdcore.raft import Entry, Message, MessageType, ReadState, Ready, StateType

MT = MessageType


class ReadNet(RaftNet):
    """A RaftNet that keeps the read states each node's Readies hand out."""

    def __init__(self, ids: Iterable[int] = (1, 2, 3), *, check_quorum: bool = True) -> None:
        ids = sorted(ids)
        self.read_states: dict[int, list[ReadState]] = {i: [] for i in ids}
        super().__init__(ids, check_quorum=check_quorum)

    def process(self, node_id: int) -> Ready | None:
        rd = super().process(node_id)
        if rd is not None:
            self.read_states[node_id].extend(rd.read_states)
        return rd


def recording(seen: list[Message], allow: Filter | None = None) -> Filter:
    """A delivery filter that records every message it lets through."""

    def record(m: Message) -> bool:
        if allow is not None and not allow(m):
            return False
        seen.append(m)
        return True

    return record


def heartbeats_sent(net: RaftNet) -> list[Message]:
    """The heartbeats waiting on the wire."""
    return [m for m in net.inflight if m.type == MT.MSG_HEARTBEAT]


# ---- the leader ------------------------------------------------------------------------------


def test_a_single_node_leader_answers_a_read_index_at_once_with_its_commit_index() -> None:
    net = ReadNet((1,))
    leader = net.elect(1)
    net.node(1).read_index(b"r1")
    assert leader.has_ready()
    net.process(1)
    assert net.read_states[1] == [ReadState(leader.committed, b"r1")]
    # Handed out once: the next Ready has none.
    assert not leader.has_ready()


def test_a_restarted_sole_voter_answers_a_read_index_only_once_its_term_has_a_commit() -> None:
    # Its commit index reaches the WAL lazily (no fsync of its own): after a crash it may lag
    # entries it applied and answered. Its new term's entry commits them again, but only once
    # durable; a read answered before that would miss acknowledged writes (etcd#7331's rule).
    net = ReadNet((1,))
    net.elect(1)
    for data in (b"a", b"b"):
        net.propose(1, data)
        net.process(1)
    answered = net.node(1).committed
    disk = net.disks[1]
    disk.set_hard_state(dataclasses.replace(disk.initial_state(), commit=1))
    leader = net.restart(1)
    leader.campaign()
    rd = net.ready(1)  # its empty entry of the new term, not yet durable
    assert leader.state == StateType.LEADER and leader.committed < answered
    leader.read_index(b"r")
    assert rd.read_states == [] and not net.read_states[1]
    net.persist(1, rd)
    net.advance(1, rd)
    net.process(1)
    assert net.read_states[1] == [ReadState(leader.committed, b"r")]
    assert leader.committed > answered


def test_a_leader_answers_a_read_index_only_after_a_quorum_acks_a_heartbeat_with_its_ctx() -> None:
    net = ReadNet((1, 2, 3, 4, 5))
    leader = net.elect(1)
    assert net.propose(1, b"x")
    net.flush()
    assert net.propose(1, b"y")  # appended, not yet committed: not part of the read index
    at_request = leader.committed
    assert leader.last_index() == at_request + 1

    leader.read_index(b"ctx")
    net.process(1)
    assert [m.context for m in heartbeats_sent(net)] == [b"ctx"] * 4
    net.deliver()
    for i in (2, 3, 4, 5):
        net.process(i)
    acks = net.take(lambda m: m.type == MT.MSG_HEARTBEAT_RESP)
    assert [(m.frm, m.context) for m in acks] == [(i, b"ctx") for i in (2, 3, 4, 5)]

    net.flush()  # "y" commits meanwhile, which does not move the request's read index
    assert leader.committed == at_request + 1

    net.send(acks[:1])  # the leader and one follower: 2 of 5
    net.flush()
    assert net.read_states[1] == []
    net.send(acks[1:2])  # 3 of 5
    net.flush()
    assert net.read_states[1] == [ReadState(at_request, b"ctx")]
    net.send(acks[2:])  # late acks answer nothing twice
    net.flush()
    assert net.read_states[1] == [ReadState(at_request, b"ctx")]


def test_an_ack_of_a_later_heartbeat_confirms_every_earlier_read_index() -> None:
    net = ReadNet((1, 2, 3))
    leader = net.elect(1)
    leader.read_index(b"a")
    net.process(1)
    net.take(lambda m: m.type == MT.MSG_HEARTBEAT)  # the heartbeats for "a" are lost
    leader.read_index(b"b")
    net.flush()
    assert net.read_states[1] == [
        ReadState(leader.committed, b"a"),
        ReadState(leader.committed, b"b"),
    ]


def test_a_leader_postpones_read_indexes_until_it_commits_an_entry_of_its_term() -> None:
    net = ReadNet((1, 2, 3))
    net.campaign(1)
    net.flush(allow=lambda m: m.type != MT.MSG_APP)  # elected, but its empty entry is not sent
    leader = net.node(1)
    assert leader.state == StateType.LEADER
    assert leader.term_at(leader.committed) != leader.term

    leader.read_index(b"r")
    net.tick(1)  # a heartbeat round: it must not carry the postponed request
    assert [m.context for m in heartbeats_sent(net)] == [b"", b""]
    seen: list[Message] = []
    net.flush(allow=recording(seen))  # the answers make the leader resend its entry
    assert leader.term_at(leader.committed) == leader.term
    assert any(m.type == MT.MSG_HEARTBEAT and m.context == b"r" for m in seen)
    assert net.read_states[1] == [ReadState(leader.committed, b"r")]


def test_a_read_index_request_is_forgotten_when_the_leader_steps_down() -> None:
    net = ReadNet((1, 2, 3), check_quorum=False)
    net.elect(1)
    net.node(1).read_index(b"old")
    net.process(1)
    net.take(lambda m: m.type == MT.MSG_HEARTBEAT)  # its confirmation round is lost
    net.elect(2)
    assert net.node(1).state == StateType.FOLLOWER
    net.elect(1)  # leading again, in a later term
    net.tick(1, 3)
    assert heartbeats_sent(net)
    assert all(m.context == b"" for m in heartbeats_sent(net))
    net.flush()
    assert net.read_states == {1: [], 2: [], 3: []}


def test_a_partitioned_leader_never_answers_a_read_index() -> None:
    """The minority leader cannot gather a quorum of acks: a read there could miss new writes."""
    net = ReadNet((1, 2, 3, 4, 5))
    net.elect(1)
    minority = {1, 2}

    def same_side(m: Message) -> bool:
        return (m.frm in minority) == (m.to in minority)

    net.node(1).read_index(b"stale?")
    for _ in range(30):
        for i in (1, 2, 3, 4, 5):
            net.tick(i)
        net.flush(allow=same_side)
    new_leader = net.leader()
    assert new_leader in (3, 4, 5)
    assert net.propose(new_leader, b"w")
    net.flush(allow=same_side)
    assert net.read_states[1] == []
    assert net.node(1).state == StateType.FOLLOWER  # check-quorum took it down meanwhile


# ---- followers -------------------------------------------------------------------------------


def test_a_followers_read_index_is_forwarded_and_answered_with_a_read_index_resp() -> None:
    net = ReadNet((1, 2, 3))
    leader = net.elect(1)
    net.node(2).read_index(b"f")
    net.process(2)
    [fwd] = net.inflight
    assert (fwd.type, fwd.to, fwd.term, fwd.entries[0].data) == (MT.MSG_READ_INDEX, 1, 0, b"f")
    seen: list[Message] = []
    net.flush(allow=recording(seen))
    [resp] = [m for m in seen if m.type == MT.MSG_READ_INDEX_RESP]
    assert (resp.frm, resp.to, resp.index) == (1, 2, leader.committed)
    assert net.read_states == {1: [], 2: [ReadState(leader.committed, b"f")], 3: []}


def test_a_follower_with_no_leader_drops_a_read_index() -> None:
    net = ReadNet((1, 2, 3))
    net.node(2).read_index(b"lost")
    assert not net.node(2).has_ready()
    net.elect(1)
    net.flush()
    assert net.read_states == {1: [], 2: [], 3: []}


def test_a_candidate_ignores_a_read_index() -> None:
    net = ReadNet((1, 2, 3))
    net.campaign(2)
    assert net.node(2).state == StateType.PRE_CANDIDATE
    net.process(2)
    net.inflight.clear()
    net.node(2).read_index(b"r")
    assert not net.node(2).has_ready()


# ---- proposal forwarding ---------------------------------------------------------------------


def test_a_follower_forwards_a_proposal_to_its_leader_which_commits_it() -> None:
    net = ReadNet((1, 2, 3))
    net.elect(1)
    assert net.propose(2, b"fwd")
    assert net.node(2).last_index() == 1  # not appended by the follower itself
    net.process(2)
    [fwd] = net.inflight
    assert (fwd.type, fwd.to, fwd.term) == (MT.MSG_PROP, 1, 0)
    net.flush()
    for i in (1, 2, 3):
        assert [e.data for e in net.applied[i]] == [b"", b"fwd"]


def test_a_follower_with_no_leader_or_a_candidate_refuses_a_proposal() -> None:
    net = ReadNet((1, 2, 3))
    assert not net.propose(2, b"x")
    net.campaign(2)
    assert net.node(2).state == StateType.PRE_CANDIDATE
    assert not net.propose(2, b"x")


def test_a_forwarded_proposal_reaching_a_node_with_no_leader_is_dropped_quietly() -> None:
    net = ReadNet((1, 2, 3))
    net.node(1).step(Message(MT.MSG_PROP, to=1, frm=2, entries=[Entry(0, 0, b"x")]))
    assert net.node(1).last_index() == 0
    assert not net.node(1).has_ready()
