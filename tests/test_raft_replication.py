"""Log replication and commitment: log matching, Figure 8, and who counts towards a quorum."""

from __future__ import annotations

import random
from collections.abc import Sequence

from raft_net import RaftNet

from etcdcore.raft import (
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


def follower(terms: Sequence[int], term: int, commit: int = 0) -> RawNode:
    """Node 1 of (1, 2, 3), restarted with entries of `terms` and the given hard state."""
    entries = [Entry(term=t, index=k + 1) for k, t in enumerate(terms)]
    return RawNode(
        Config(id=1, peers=[1, 2, 3], rand=random.Random(0)),
        MemoryStorage(HardState(term=term, commit=commit), entries),
    )


def app(index: int, log_term: int, terms: Sequence[int], commit: int = 0, term: int = 3) -> Message:
    """A MsgApp from leader 2 following (index, log_term), carrying entries of `terms`."""
    entries = [Entry(term=t, index=index + 1 + k) for k, t in enumerate(terms)]
    return Message(
        MT.MSG_APP,
        to=1,
        frm=2,
        term=term,
        index=index,
        log_term=log_term,
        entries=entries,
        commit=commit,
    )


def answer(node: RawNode) -> Message:
    rd = node.ready()
    node.advance(rd)
    (m,) = rd.messages
    return m


def terms_of(node: RawNode) -> list[int | None]:
    return [node.term_at(i) for i in range(1, node.last_index() + 1)]


# ---- Figure 8 --------------------------------------------------------------------------------


def figure8_setup() -> RaftNet:
    """Raft paper Figure 8 (a) to (c), step by step; ends with S1 leading term 4."""
    # The paper's Raft: no pre-vote, no check-quorum. One entry per MsgApp, to place each.
    net = RaftNet((1, 2, 3, 4, 5), pre_vote=False, check_quorum=False, max_msg_entries=1)
    net.elect(1)
    assert all(net.node(i).committed == 1 for i in net.ids)  # index 1, term 1, everywhere

    # (a) S1 leads term 2 and replicates its entry at index 2 to S2 only.
    net.restart(1)
    net.campaign(1)
    net.flush(allow=lambda m: not (m.type == MT.MSG_APP and m.frm == 1 and m.to != 2))
    s1 = net.node(1)
    assert (s1.state, s1.term) == (StateType.LEADER, 2)
    assert net.log_terms(1) == net.log_terms(2) == [1, 2]
    assert net.log_terms(3) == net.log_terms(4) == net.log_terms(5) == [1]
    assert s1.committed == 1

    # (b) S1 crashes; S5 wins term 3 with the votes of S3, S4 and itself, and appends index 2
    # in term 3 (its empty entry), which it persists before crashing in turn.
    net.crash(1)
    net.campaign(5)
    net.flush(allow=lambda m: m.frm != 5 or m.type != MT.MSG_APP)
    s5 = net.node(5)
    assert (s5.state, s5.term) == (StateType.LEADER, 3)
    assert net.log_terms(5) == [1, 3]
    assert net.disks[5].term(2) == 3
    net.crash(5)

    # (c) S1 restarts and wins term 4 (term 3 is taken: S3 and S4 voted for S5) with the
    # votes of S2 and S3; S4 hears nothing from it. It brings S3 up to date with index 2
    # (term 2), so the term-2 entry sits on a majority: S1, S2, S3.
    net.restart(1)
    s1 = net.node(1)

    def keep_s4_out(m: Message) -> bool:
        return 4 not in (m.to, m.frm)

    def keep_index_3_from_s3(m: Message) -> bool:
        # S1's own entry of term 4 (index 3) reaches S2, but not S3 once S3 could take it.
        s3_could_take_it = m.index == 2 and m.log_term == 2 and net.node(3).last_index() == 2
        return keep_s4_out(m) and not (m.to == 3 and s3_could_take_it)

    net.campaign(1)
    net.flush(allow=keep_s4_out)
    assert s1.state == StateType.CANDIDATE and s1.term == 3
    net.campaign(1)
    net.flush(allow=keep_index_3_from_s3)
    assert (s1.state, s1.term) == (StateType.LEADER, 4)
    assert net.log_terms(1) == net.log_terms(2) == [1, 2, 4]
    assert net.log_terms(3) == [1, 2]
    prs = s1.raft.prs
    assert (prs[1].match, prs[2].match, prs[3].match) == (3, 3, 2)

    # The rule: index 2 is on a majority, but it is of term 2, not S1's term 4, so counting
    # replicas does not commit it (S5 could still be elected and overwrite it).
    assert s1.committed == 1
    assert all(len(net.applied[i]) <= 1 for i in (1, 2, 3))
    return net


def test_a_leader_never_commits_an_entry_of_an_earlier_term_by_counting_replicas() -> None:
    figure8_setup()


def test_figure8_branch_a_committing_an_entry_of_its_own_term_commits_the_earlier_one() -> None:
    net = figure8_setup()
    # A heartbeat round later, S1 resends index 3 (term 4) to S3, which now takes it.
    net.tick(1)
    net.flush(allow=lambda m: 4 not in (m.to, m.frm))
    s1 = net.node(1)
    assert s1.committed == 3
    assert [(e.index, e.term) for e in net.applied[1]] == [(1, 1), (2, 2), (3, 4)]
    assert net.node(2).committed == net.node(3).committed == 3
    assert net.log_terms(3) == [1, 2, 4]


def test_figure8_branch_b_an_uncommitted_entry_of_an_earlier_term_can_be_overwritten() -> None:
    net = figure8_setup()
    # (d) S1 crashes before index 3 reaches S3; S5 restarts and is elected: S3 and S4 see its
    # log (last term 3) as more up to date than theirs (last terms 2 and 1).
    net.crash(1)
    net.restart(5)
    s5 = net.node(5)
    net.campaign(5)  # term 4: S2 and S3 already voted in it
    net.flush()
    assert s5.state != StateType.LEADER
    net.campaign(5)  # term 5: S3 and S4 grant, S2 (last term 4) refuses
    net.flush()
    assert (s5.state, s5.term) == (StateType.LEADER, 5)
    # S5 replaced index 2 everywhere; it was never committed anywhere, so that is allowed.
    for i in (2, 3, 4, 5):
        assert net.log_terms(i) == [1, 3, 5]
        assert net.node(i).committed == 3
        assert [(e.index, e.term) for e in net.applied[i]][-2:] == [(2, 3), (3, 5)]


# ---- the leader counts itself only once its write is durable --------------------------------


def test_a_one_node_cluster_commits_only_after_advance() -> None:
    net = RaftNet((1,))
    n1 = net.node(1)
    n1.campaign()
    rd = net.ready(1)
    assert n1.state == StateType.LEADER
    assert [(e.index, e.term) for e in rd.entries] == [(1, 1)]
    assert n1.committed == 0 and not rd.committed_entries
    net.persist(1, rd)
    net.advance(1, rd)
    assert n1.committed == 1
    net.process(1)
    assert n1.propose(b"x")
    rd = net.ready(1)
    assert n1.committed == 1
    net.persist(1, rd)
    net.advance(1, rd)
    assert n1.committed == 2


def test_a_leader_with_one_follower_ack_but_not_its_own_write_does_not_commit() -> None:
    net = RaftNet((1, 2, 3))
    net.elect(1)
    n1 = net.node(1)
    assert n1.propose(b"x")
    rd = net.ready(1)  # the leader sends its MsgApps before its own fsync, as etcd does
    net.deliver(lambda m: m.to == 2)  # node 3 does not get it
    net.process(2)
    net.deliver()  # node 2's ack
    assert n1.raft.prs[2].match == 2
    # Leader + node 2 would be a quorum of 3 only if the leader's copy were durable.
    assert n1.committed == 1
    net.persist(1, rd)
    net.advance(1, rd)
    assert n1.committed == 2


def test_two_follower_acks_commit_before_the_leader_write_is_durable() -> None:
    net = RaftNet((1, 2, 3))
    net.elect(1)
    n1 = net.node(1)
    assert n1.propose(b"x")
    rd = net.ready(1)
    net.deliver()
    net.process(2)
    net.process(3)
    net.deliver()
    # Two durable copies out of three: committed, whatever becomes of the leader's write.
    assert n1.committed == 2
    net.persist(1, rd)
    net.advance(1, rd)
    rd = net.ready(1)
    assert [e.data for e in rd.committed_entries] == [b"x"]


def test_a_leader_that_crashes_before_its_write_is_durable_counted_nothing_of_it() -> None:
    net = RaftNet((1, 2, 3))
    net.elect(1)
    assert net.propose(1, b"x")
    net.ready(1)
    net.deliver(lambda m: m.to == 2)
    net.process(2)
    net.deliver()
    assert net.node(1).committed == 1
    net.restart(1)  # its entry 2 was never written
    assert net.node(1).last_index() == 1


# ---- log matching on the follower ------------------------------------------------------------


def test_a_follower_appends_entries_that_follow_on_from_its_log() -> None:
    node = follower([1, 1], term=1)
    node.step(app(2, 1, [3, 3], commit=1))
    m = answer(node)
    assert (m.type, m.reject, m.index) == (MT.MSG_APP_RESP, False, 4)
    assert terms_of(node) == [1, 1, 3, 3]
    assert node.committed == 1


def test_a_follower_truncates_conflicting_entries() -> None:
    node = follower([1, 1, 2, 2, 2], term=2, commit=1)
    node.step(app(2, 1, [3], commit=1))
    assert answer(node).index == 3
    assert terms_of(node) == [1, 1, 3]


def test_a_stale_or_reordered_append_never_truncates_entries_it_matches() -> None:
    node = follower([1], term=3)
    node.step(app(1, 1, [3, 3, 3, 3]))
    answer(node)
    node.step(app(1, 1, [3, 3]))  # sent earlier, delivered late
    m = answer(node)
    assert (m.reject, m.index) == (False, 3)
    assert terms_of(node) == [1, 3, 3, 3, 3]


def test_an_append_conflicting_with_committed_entries_truncates_nothing() -> None:
    # Only a stale (or broken) leader sends this: it conflicts with committed entry 2. It
    # starts before the commit index, so it is answered with the commit index and ignored.
    # (RaftLog itself refuses such a truncation: see test_raft_log.)
    node = follower([1, 1, 1], term=1, commit=2)
    node.step(app(1, 1, [3, 3], commit=0))
    m = answer(node)
    assert (m.reject, m.index) == (False, 2)
    assert terms_of(node) == [1, 1, 1]


def test_a_follower_commit_is_clamped_to_the_last_new_entry() -> None:
    # Entries 3 and 4 came from an old leader; the new one only vouches for up to index 2.
    node = follower([1, 1, 1, 1], term=1)
    node.step(app(1, 1, [1], commit=4))
    answer(node)
    assert node.committed == 2


def test_a_mismatching_append_is_rejected_with_a_hint() -> None:
    node = follower([1, 1, 2, 2, 2], term=2)
    node.step(app(7, 3, [3]))
    m = answer(node)
    # Our last entry with a term <= 3 is entry 5 (term 2): the leader can skip to there.
    assert (m.reject, m.index, m.reject_hint, m.log_term) == (True, 7, 5, 2)
    assert terms_of(node) == [1, 1, 2, 2, 2]


def test_rejection_hints_let_the_leader_skip_a_divergent_term_in_one_round_trip() -> None:
    net = RaftNet((1, 2, 3))
    net.elect(1)
    # Node 1 keeps leading term 1, cut off, and appends 30 entries nobody else gets.
    net.isolate(1)
    for k in range(30):
        assert net.propose(1, f"lost{k}".encode())
    net.process(1)
    # Nodes 2 and 3 elect a new leader, which commits 20 entries of its own.
    while net.leader() in (None, 1):
        net.tick(2)
        net.tick(3)
        net.flush()
    new_leader = net.leader()
    assert new_leader is not None
    for k in range(20):
        assert net.propose(new_leader, f"kept{k}".encode())
    net.flush()
    net.heal()
    rejections: list[Message] = []
    net.tick(new_leader)
    for _ in range(20):
        rejections += [m for m in net.inflight if m.type == MT.MSG_APP_RESP and m.reject]
        net.deliver()
        for i in net.ids:
            net.process(i)
    assert len(rejections) <= 2
    assert net.log_terms(1) == net.log_terms(new_leader)
    assert net.node(1).committed == net.node(new_leader).committed == 22


# ---- leaders -------------------------------------------------------------------------------


def test_a_new_leader_appends_an_empty_entry_of_its_term() -> None:
    net = RaftNet((1, 2, 3))
    net.elect(1)
    assert net.node(1).term_at(1) == 1
    assert [(e.index, e.term, e.data) for e in net.applied[2]] == [(1, 1, b"")]


def test_proposals_are_dropped_while_nobody_leads() -> None:
    net = RaftNet((1, 2, 3))
    assert not net.propose(1, b"x")  # nobody leads yet
    net.elect(1)
    assert net.propose(1, b"x")


def test_a_proposal_reaches_every_node_and_commits() -> None:
    net = RaftNet((1, 2, 3))
    net.elect(1)
    for k in range(100):
        assert net.propose(1, f"v{k}".encode())
    net.flush()
    for i in net.ids:
        assert net.node(i).committed == 101
        assert [e.data for e in net.applied[i][1:]] == [f"v{k}".encode() for k in range(100)]


def test_a_heartbeat_carries_the_smaller_of_the_follower_match_and_the_commit() -> None:
    net = RaftNet((1, 2, 3))
    net.elect(1)
    net.isolate(3)
    for k in range(3):
        net.propose(1, f"v{k}".encode())
    net.flush()
    assert net.node(1).committed == 4
    assert net.node(1).raft.prs[3].match == 1
    net.heal()
    net.node(1).tick()
    beats = {m.to: m.commit for m in net.ready(1).messages if m.type == MT.MSG_HEARTBEAT}
    assert beats == {2: 4, 3: 1}


def test_a_lost_append_is_resent_after_a_heartbeat_response() -> None:
    net = RaftNet((1, 2, 3))
    net.elect(1)
    net.propose(1, b"x")
    net.flush(allow=lambda m: m.to != 3)
    assert net.node(3).last_index() == 1
    for _ in range(3):
        net.tick(1)
        net.flush()
    assert net.node(3).committed == 2


def test_a_follower_never_acknowledges_appends_a_newer_term_overwrote_before_it_persisted() -> None:
    # Leader 2 of term 3 sends entries 2-3; before the driver takes a Ready, leader 3 of term 4
    # overwrites entry 2. Acknowledging index 3 after persisting would claim entries the node
    # never wrote; the answer to the new leader is the only one to go out.
    node = follower([1], term=3)
    node.step(app(1, 1, [3, 3], term=3))
    node.step(Message(MT.MSG_APP, to=1, frm=3, term=4, index=1, log_term=1,
                      entries=[Entry(term=4, index=2)]))
    rd = node.ready()
    assert terms_of(node) == [1, 4]
    acks = [(m.to, m.term, m.index) for m in rd.messages if m.type is MT.MSG_APP_RESP]
    assert acks == [(3, 4, 2)]
