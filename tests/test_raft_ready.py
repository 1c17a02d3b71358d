"""The Ready contract between Raft and its driver, and restarting from storage."""

from __future__ import annotations

import random

import pytest
from raft_net import RaftNet

from etcdcore.raft import (
    Config,
    Entry,
    HardState,
    MemoryStorage,
    Message,
    MessageType,
    RaftError,
    RawNode,
    SoftState,
    StateType,
)

MT = MessageType


def config(node_id: int = 1, applied: int = 0) -> Config:
    return Config(id=node_id, peers=[1, 2, 3], rand=random.Random(0), applied=applied)


def test_a_fresh_node_has_nothing_ready() -> None:
    node = RawNode(config(), MemoryStorage())
    assert not node.has_ready()
    assert (node.term, node.vote, node.committed, node.applied) == (0, 0, 0, 0)
    assert node.last_index() == 0


def test_entries_and_messages_are_handed_out_once() -> None:
    net = RaftNet((1, 2, 3))
    net.elect(1)
    n1 = net.node(1)
    n1.propose(b"a")
    rd = n1.ready()
    assert [e.data for e in rd.entries] == [b"a"]
    assert len(rd.messages) == 2
    n1.propose(b"b")  # between ready and advance
    net.persist(1, rd)
    n1.advance(rd)
    rd = n1.ready()
    assert [e.data for e in rd.entries] == [b"b"]
    n1.advance(rd)
    assert not n1.has_ready()


def test_ready_twice_without_advance_is_refused() -> None:
    node = RawNode(config(), MemoryStorage())
    node.campaign()
    node.ready()
    with pytest.raises(RaftError):
        node.ready()


def test_soft_state_is_reported_when_it_changes() -> None:
    net = RaftNet((1, 2, 3))
    n1 = net.node(1)
    n1.campaign()
    rd = net.ready(1)
    assert rd.soft_state == SoftState(lead=0, raft_state=StateType.PRE_CANDIDATE)
    n1.advance(rd)
    net.deliver()
    net.process(2)
    net.process(3)
    net.deliver()
    rd = net.ready(1)
    assert rd.soft_state == SoftState(lead=0, raft_state=StateType.CANDIDATE)
    assert rd.hard_state == HardState(term=1, vote=1, commit=0) and rd.must_sync


def test_a_commit_change_alone_needs_no_sync() -> None:
    node = RawNode(config(), MemoryStorage(HardState(term=1), [Entry(1, 1)]))
    node.step(Message(MT.MSG_HEARTBEAT, to=1, frm=2, term=1, commit=1))
    rd = node.ready()
    assert rd.hard_state == HardState(term=1, vote=0, commit=1)
    assert not rd.must_sync
    assert rd.committed_entries == [Entry(1, 1)]


def test_committed_entries_may_be_in_the_same_ready_as_their_persisting() -> None:
    node = RawNode(config(), MemoryStorage())
    node.step(
        Message(MT.MSG_APP, to=1, frm=2, term=1, entries=[Entry(1, 1), Entry(1, 2)], commit=2)
    )
    rd = node.ready()
    assert rd.entries == rd.committed_entries == [Entry(1, 1), Entry(1, 2)]
    assert rd.must_sync
    node.advance(rd)
    assert (node.applied, node.committed) == (2, 2)


def test_a_step_between_ready_and_advance_may_replace_entries_which_then_stay_unstable() -> None:
    node = RawNode(config(), MemoryStorage(HardState(term=1), [Entry(1, 1)]))
    node.step(
        Message(
            MT.MSG_APP, to=1, frm=2, term=1, index=1, log_term=1, entries=[Entry(1, 2), Entry(1, 3)]
        )
    )
    rd = node.ready()
    assert [(e.index, e.term) for e in rd.entries] == [(2, 1), (3, 1)]
    # Before advance, a new leader replaces entry 3.
    node.step(Message(MT.MSG_APP, to=1, frm=3, term=2, index=2, log_term=1, entries=[Entry(2, 3)]))
    node.advance(rd)
    log = node.raft.raft_log
    assert log.stable_last_index() == 2  # entry 2 is durable; the old entry 3 is not ours
    assert node.term_at(3) == 2
    rd = node.ready()
    assert [(e.index, e.term) for e in rd.entries] == [(3, 2)]
    node.advance(rd)
    assert log.stable_last_index() == 3
    assert log.storage.term(3) == 2


def test_advance_records_the_persisted_ready_in_storage() -> None:
    storage = MemoryStorage()
    node = RawNode(Config(id=1, peers=[1], rand=random.Random(0)), storage)
    node.campaign()
    node.advance(node.ready())
    assert storage.last_index() == 1
    assert storage.initial_state() == HardState(term=1, vote=1, commit=0)


def test_a_restarted_node_reapplies_committed_entries_from_the_start() -> None:
    net = RaftNet((1, 2, 3))
    net.elect(1)
    for k in range(5):
        net.propose(1, f"v{k}".encode())
    net.flush()
    net.restart(2)
    n2 = net.node(2)
    assert (n2.term, n2.vote, n2.committed, n2.applied) == (1, 1, 6, 0)
    rd = n2.ready()
    assert [e.index for e in rd.committed_entries] == [1, 2, 3, 4, 5, 6]
    assert rd.hard_state is None and not rd.entries and not rd.must_sync


def test_a_restart_with_config_applied_skips_what_was_applied() -> None:
    storage = MemoryStorage(HardState(term=1, commit=3), [Entry(1, 1), Entry(1, 2), Entry(1, 3)])
    node = RawNode(config(applied=2), storage)
    assert node.applied == 2
    assert [e.index for e in node.ready().committed_entries] == [3]


def test_a_restart_with_commit_beyond_the_persisted_entries_is_refused() -> None:
    with pytest.raises(RaftError, match="WAL lost entries"):
        RawNode(config(), MemoryStorage(HardState(term=1, commit=2), [Entry(1, 1)]))


def test_stepping_a_local_message_is_refused() -> None:
    node = RawNode(config(), MemoryStorage())
    with pytest.raises(RaftError):
        node.step(Message(MT.MSG_HUP))
    with pytest.raises(RaftError):
        node.step(Message(MT.MSG_BEAT))


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="election_tick"):
        RawNode(Config(id=1, peers=[1], rand=random.Random(0), election_tick=1), MemoryStorage())
