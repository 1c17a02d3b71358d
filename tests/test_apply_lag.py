"""Applying takes time: the apply loop lags behind commit, and the server stays correct.

etcd applies committed entries in a goroutine of their own (applyAll on a FIFO scheduler)
while Raft goes on: the applied index may trail the committed index by seconds. A read that
must be linearizable waits for the apply; a proposal is refused with "too many requests"
once the gap passes 5000 entries; and a crash in the middle loses or repeats nothing.
"""

from __future__ import annotations

from typing import Any

from etcdcore.api import rpc, rpctypes
from etcdcore.api.raft_internal import InternalRaftRequest
from etcdcore.api.rpctypes import EtcdError
from etcdcore.env import Process
from etcdcore.knobs import Knobs
from etcdcore.server.etcdserver import MAX_GAP_BETWEEN_APPLY_AND_COMMIT_INDEX, EtcdServer
from sim.cluster.config import RunConfig
from sim.cluster.etcd_cluster import EtcdCluster
from sim.harness.runner import run
from sim.world.faults import Fault
from tests.test_etcd_server import Call, roles, start, until, values

S = 1_000_000


def serve(c: EtcdCluster, server: EtcdServer, request: rpc.PutRequest) -> list[Any]:
    """Call `server.put` on its own node, as its gRPC handler would; the answer once it comes."""
    out: list[Any] = []

    def go() -> Process:
        try:
            out.append((yield from server.put(request)))
        except EtcdError as exc:
            out.append(exc)

    server.env.spawn(go(), "test")
    return out


def test_while_a_member_applies_slowly_raft_commits_on_and_its_applied_index_trails() -> None:
    c = start()
    leader, followers = roles(c)
    slow = followers[0]
    c.world.nodes[slow].apply_delay_us = 200_000  # 200 ms an entry
    for i in range(10):
        assert Call(c, leader, rpc.PutRequest(b"k%d" % i, b"v")).wait().error is None
    lagging = c.servers()[slow]
    done = c.servers()[leader].applied_index
    until(c, lambda: lagging.r.committed >= done, 300_000)  # Raft keeps up (a heartbeat)...
    assert lagging.applied_index < lagging.committed_index - 5  # ...the apply does not
    c.world.nodes[slow].apply_delay_us = 0
    until(c, lambda: lagging.applied_index == lagging.r.committed, 3 * S)
    assert lagging.store.hash_by_rev(0) == c.servers()[leader].store.hash_by_rev(0)


def test_a_linearizable_read_on_a_member_that_applies_slowly_waits_for_its_apply() -> None:
    c = start()
    leader, followers = roles(c)
    slow = followers[0]
    c.world.nodes[slow].apply_delay_us = 300_000
    put = Call(c, leader, rpc.PutRequest(b"k", b"v1")).wait()
    assert put.error is None
    lagging = c.servers()[slow]
    stale = Call(c, slow, rpc.RangeRequest(b"k", serializable=True)).wait()
    assert values(stale.result) == []  # a serializable read answers from what is applied
    read = Call(c, slow, rpc.RangeRequest(b"k")).wait()
    assert read.error is None, read.error
    assert values(read.result) == [b"v1"]
    assert read.result.header.member_id == c.server_cfg.member_id(slow)
    assert lagging.store.rev() >= put.result.header.revision


def test_a_member_whose_apply_trails_commit_by_over_5000_entries_refuses_proposals() -> None:
    c = start()
    leader, followers = roles(c)
    server = c.servers()[leader]
    c.world.nodes[leader].apply_delay_us = 10 * S  # the leader's apply all but stops
    for i in range(MAX_GAP_BETWEEN_APPLY_AND_COMMIT_INDEX + 10):
        data = InternalRaftRequest(i + 1, rpc.PutRequest(b"flood", b"%d" % i)).marshal()
        assert server.r.propose(data)
    gap = MAX_GAP_BETWEEN_APPLY_AND_COMMIT_INDEX
    until(c, lambda: server.committed_index > server.applied_index + gap, 5 * S)
    refused = serve(c, server, rpc.PutRequest(b"k", b"v"))
    until(c, lambda: bool(refused), S)
    assert isinstance(refused[0], EtcdError)
    assert refused[0].status == rpctypes.TOO_MANY_REQUESTS
    assert refused[0].message == "etcdserver: too many requests"
    # A follower whose apply keeps up still takes proposals (forwarded to the leader).
    put = Call(c, followers[0], rpc.PutRequest(b"k", b"via-follower")).wait()
    assert put.error is None
    c.world.nodes[leader].apply_delay_us = 0
    until(c, lambda: server.applied_index >= server.committed_index, 10 * S)
    accepted = serve(c, server, rpc.PutRequest(b"k", b"v"))
    until(c, lambda: bool(accepted), 2 * S)
    assert isinstance(accepted[0], rpc.PutResponse)


def test_a_crash_while_the_apply_lags_neither_loses_nor_repeats_an_entry() -> None:
    # The member crashes with a backlog of committed, unapplied entries; it restarts from its
    # backend's consistent index and applies the rest exactly once.
    schedule = (Fault(2 * S, "slow_apply", node=2, duration_us=6 * S, value=40_000),
                Fault(2 * S, "slow_apply", node=3, duration_us=6 * S, value=25_000),
                Fault(5 * S, "crash", node=2, duration_us=50_000),
                Fault(6 * S, "crash_loop", node=3, duration_us=5_000, value=3))
    result = run(RunConfig(seed=3, duration_us=20 * S, fault_schedule=schedule))
    assert result.ok, [v["detail"] for v in result.violations]
    assert result.checks["converged"].startswith("pass (3 members")
    slowed = [e for e in result.trace if e[1] == "node.slow_apply"]
    assert [(e[2], e[3]) for e in slowed] == [(2, 40_000), (3, 25_000), (2, 0), (3, 0)]


def test_the_apply_cost_knobs_make_the_applied_index_trail_and_runs_stay_correct() -> None:
    knobs = Knobs(apply_entry_us=1_000, apply_batch_us=2_000)
    c = EtcdCluster(RunConfig(seed=4, faults="none", clients=0, duration_us=60 * S,
                              knobs=knobs))
    c.world.start_all()
    until(c, lambda: all(s.lead for s in c.servers().values()), 5 * S)
    leader, _ = roles(c)
    server = c.servers()[leader]
    before = server.applied_index
    out = serve(c, server, rpc.PutRequest(b"k", b"v"))
    committed_at = -1
    while not out:
        if committed_at < 0 and server.committed_index > before:
            committed_at = c.world.now
            assert server.applied_index == before  # committed, not yet applied
        c.world.run_until(c.world.now + 100)
    assert c.world.now - committed_at >= 3_000  # one batch and one entry
    result = run(RunConfig(seed=4, duration_us=15 * S, knobs=knobs))
    assert result.ok, [v["detail"] for v in result.violations]

