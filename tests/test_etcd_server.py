"""Rules of the etcd server in a simulated cluster: reads, failover, crashes at failpoints."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from etcdcore import bugs
from etcdcore.api import rpc, rpctypes
from etcdcore.api.rpctypes import EtcdError
from etcdcore.client import DEADLINE_EXCEEDED, Client, outcome_known
from etcdcore.env import Process
from etcdcore.knobs import Knobs
from etcdcore.raft.types import StateType
from etcdcore.server.etcdserver import EtcdServer
from etcdcore.server.failpoints import REACHABLE
from sim.cluster.config import RunConfig
from sim.cluster.etcd_cluster import EtcdCluster
from sim.cluster.scripted import ScriptedCluster
from sim.cluster.workload import History
from sim.harness.runner import run
from sim.lincheck.formats import parse_text
from sim.lincheck.history import Status
from sim.world.faults import Fault
from sim.world.node import NodeStatus

S = 1_000_000


def start(nodes: int = 3, bug: str | None = None, seed: int = 1) -> EtcdCluster:
    """A quiet cluster with only the prober client, run until every member has a leader."""
    config = RunConfig(seed=seed, nodes=nodes, faults="none", clients=0, duration_us=60 * S,
                       bugs=frozenset({bug} if bug else set()))
    c = EtcdCluster(config)
    c.world.start_all()
    until(c, lambda: all(s.lead for s in c.servers().values()), 5 * S)
    return c


def until(c: EtcdCluster, cond: Callable[[], bool], within_us: int) -> None:
    limit = c.world.now + within_us
    while not cond():
        assert c.world.now < limit, "condition not reached in time"
        c.world.run_until(c.world.now + 1_000)


class Call:
    """One client call in flight: its result or error once it returns."""

    def __init__(self, c: EtcdCluster, member: int, request: rpc.Request) -> None:
        self.done = False
        self.result: Any = None
        self.error: EtcdError | None = None
        self.returned_at = -1
        client = c.clients[c.prober_id]
        client.pinned = client.endpoints.index(member)
        self._c = c
        client.env.spawn(self._run(client, request), "test")

    def _run(self, client: Client, request: rpc.Request) -> Process:
        try:
            self.result = yield from client.do(request)
        except EtcdError as exc:
            self.error = exc
        self.done = True
        self.returned_at = self._c.world.now

    def wait(self, within_us: int = 10 * S) -> Call:
        until(self._c, lambda: self.done, within_us)
        return self


def roles(c: EtcdCluster) -> tuple[int, list[int]]:
    leader = c.leader()
    assert leader is not None
    return leader, [i for i in c.servers() if i != leader]


def slow_apply(c: EtcdCluster, server: EtcdServer, delay_us: int,
               applied_at: list[tuple[int, int]]) -> None:
    """Make `server`'s apply loop lag by `delay_us` (a slow backend); note (time, revision)
    after each batch it applies."""
    apply_all = server.apply_all

    def lagging(entries: list[Any]) -> Process:
        yield server.env.sleep(delay_us)
        yield from apply_all(entries)
        applied_at.append((c.world.now, server.store.rev()))

    server.apply_all = lagging  # type: ignore[method-assign]


def values(resp: Any) -> list[bytes]:
    assert isinstance(resp, rpc.RangeResponse)
    return [kv.value for kv in resp.kvs]


def test_a_followers_linearizable_read_waits_until_it_has_applied_the_read_index() -> None:
    c = start()
    leader, followers = roles(c)
    follower = c.servers()[followers[0]]
    applied_at: list[tuple[int, int]] = []
    slow_apply(c, follower, S // 2, applied_at)
    put = Call(c, leader, rpc.PutRequest(b"k", b"v1")).wait()
    assert put.error is None
    stale = Call(c, followers[0], rpc.RangeRequest(b"k", serializable=True)).wait()
    assert values(stale.result) == []  # a serializable read may lag: it answers at once
    read = Call(c, followers[0], rpc.RangeRequest(b"k")).wait()
    assert read.error is None, read.error
    assert values(read.result) == [b"v1"]
    put_applied = min(t for t, rev in applied_at if rev >= put.result.header.revision)
    assert read.returned_at >= put_applied
    assert follower.applied_index >= follower.r.committed - 1


def test_serving_linearizable_reads_locally_returns_what_the_follower_has() -> None:
    c = start(bug=bugs.LINEARIZABLE_READ_LOCAL)
    leader, followers = roles(c)
    slow_apply(c, c.servers()[followers[0]], S // 2, [])
    assert Call(c, leader, rpc.PutRequest(b"k", b"v1")).wait().error is None
    read = Call(c, followers[0], rpc.RangeRequest(b"k")).wait()
    assert values(read.result) == []  # stale: the write completed before the read began


def test_a_write_proposed_on_a_follower_is_forwarded_to_the_leader() -> None:
    c = start()
    _, followers = roles(c)
    put = Call(c, followers[0], rpc.PutRequest(b"k", b"via-follower")).wait()
    assert put.error is None and put.result.header.revision == 2
    assert put.result.header.member_id == c.server_cfg.member_id(followers[0])
    read = Call(c, followers[1], rpc.RangeRequest(b"k")).wait()
    assert values(read.result) == [b"via-follower"]


def isolate(c: EtcdCluster, member: int) -> None:
    others = [i for i in c.world.node_ids if i != member]
    for other in others:
        c.world.network.cut(member, other)
        c.world.network.cut(other, member)
    # Its election timer fires and its pre-vote fails: it no longer knows a leader.
    until(c, lambda: c.servers()[member].lead == 0, 10 * S)


def test_an_isolated_member_refuses_writes_and_the_client_does_not_retry_them() -> None:
    c = start()
    _, followers = roles(c)
    isolate(c, followers[0])
    put = Call(c, followers[0], rpc.PutRequest(b"k", b"v")).wait()
    assert put.error is not None and put.error.status == rpctypes.NO_LEADER
    client = c.clients[c.prober_id]
    assert client.endpoint != followers[0]  # moved on, but did not send the put again
    assert all(s.store.rev() == 1 for s in c.servers().values())


def test_a_read_on_an_isolated_member_is_retried_on_another_member() -> None:
    c = start()
    leader, followers = roles(c)
    assert Call(c, leader, rpc.PutRequest(b"k", b"v")).wait().error is None
    isolate(c, followers[0])
    read = Call(c, followers[0], rpc.RangeRequest(b"k")).wait()
    assert read.error is None and values(read.result) == [b"v"]
    assert read.result.header.member_id != c.server_cfg.member_id(followers[0])


def test_a_single_member_cluster_starts_at_etcds_first_revision_and_term() -> None:
    c = start(nodes=1)
    put = Call(c, 1, rpc.PutRequest(b"foo", b"bar")).wait()
    header = put.result.header
    assert (header.revision, header.raft_term) == (2, 2)
    assert (header.cluster_id, header.member_id) == (14841639068965178418, 10276657743932975437)


def failpoint_hits(trace: list[Any], name: str) -> int:
    return sum(1 for e in trace if e[1] == "failpoint" and e[3] == name)


@pytest.mark.parametrize("name", REACHABLE)
def test_a_crash_at_each_failpoint_neither_loses_nor_repeats_an_applied_entry(name: str) -> None:
    # Every member is armed; whoever reaches the point first crashes there and restarts 1 s
    # later from its WAL and backend. Equal revisions and hashes at the end, and a
    # linearizable history, mean no entry was applied twice or skipped.
    schedule = tuple(Fault(1 * S, "failpoint", node, duration_us=1 * S, name=name)
                     for node in (1, 2, 3))
    result = run(RunConfig(seed=2, duration_us=20 * S, fault_schedule=schedule))
    assert failpoint_hits(result.trace, name) >= 1
    assert result.ok, [v["detail"] for v in result.violations]
    assert result.checks["converged"].startswith("pass")
    assert result.checks["linearizable"].startswith("pass")


def test_a_restarted_member_skips_entries_its_backend_already_has() -> None:
    c = start()
    leader, followers = roles(c)
    for i in range(5):
        assert Call(c, leader, rpc.PutRequest(b"k%d" % i, b"v")).wait().error is None
    member = followers[0]
    until(c, lambda: c.servers()[member].store.rev() == 6, 2 * S)
    c.world.run_until(c.world.now + S)  # the batch commit interval passes: all on disk
    before = c.servers()[member].store.hash_by_rev(0)
    c.world.nodes[member].crash()
    c.world.nodes[member].start()
    until(c, lambda: member in c.servers() and c.servers()[member].r.node is not None
          and c.servers()[member].applied_index >= c.servers()[leader].applied_index, 5 * S)
    restarted = c.servers()[member]
    assert restarted.store.consistent_index >= 6  # restored, not rebuilt from scratch
    assert restarted.store.hash_by_rev(0) == before  # the replayed entries were skipped
    assert restarted.r.state == StateType.FOLLOWER


def test_a_member_that_cannot_read_its_backend_stops_itself_with_the_reason() -> None:
    c = start()
    node = c.world.nodes[2]
    node.crash()
    node.disk.set_error_rate("read", 1.0)
    node.start()
    c.world.run_until(c.world.now + 100_000)
    assert node.status is NodeStatus.FAILED
    assert node.fail_reason is not None
    assert node.fail_reason.startswith("backend: failed to open database member/snap/db")


@pytest.mark.parametrize(("status", "known"), [
    (rpctypes.NO_LEADER, True), (rpctypes.PROPOSAL_DROPPED, True), (rpctypes.EMPTY_KEY, True),
    (rpctypes.DUPLICATE_KEY, True), (rpctypes.COMPACTED, True), (rpctypes.TOO_MANY_REQUESTS, True),
    (rpctypes.TIMEOUT, False), (rpctypes.TIMEOUT_DUE_TO_LEADER_FAIL, False),
    (rpctypes.LEADER_CHANGED, False), (rpctypes.STOPPED, False), (DEADLINE_EXCEEDED, False),
])
def test_the_client_knows_which_errors_prove_nothing_happened(
    status: rpctypes.Status, known: bool
) -> None:
    assert outcome_known(status.err()) is known


def test_the_history_records_store_errors_as_answers_and_timeouts_as_unknown() -> None:
    h = History(lambda: 7)
    h.failed(1, "range", rpctypes.COMPACTED.err())
    h.failed(2, "put", rpctypes.TIMEOUT.err())
    h.failed(3, "range", rpctypes.TIMEOUT.err())
    h.failed(4, "txn", rpctypes.NO_LEADER.err())
    kinds = [(e["client"], e["kind"], e.get("result")) for e in h.events]
    assert kinds == [(1, "ok", {"error": rpctypes.COMPACTED.message}), (2, "info", None),
                     (3, "fail", None), (4, "fail", None)]


def test_a_compaction_answers_with_the_revision_when_it_returns_as_etcds_compact_does() -> None:
    # Cut off, the leader queues a compaction and two puts; once healed they commit and apply
    # in one batch, and the compaction's waiter reads the store's revision only after the puts
    # (EtcdServer.Compact: resp.Header.Revision = s.kv.Rev()). The checker's model allows it.
    c = ScriptedCluster(seed=2, clients=3)
    for i in range(3):
        c.put(b"a", b"v%d" % i)
    lead = c.leader()
    assert lead is not None
    c.partition([lead], c.followers())
    c.world.env.kernel.call_after(300_000, lambda _: c.heal())
    answers = c.race((rpc.CompactionRequest(3), lead), (rpc.PutRequest(b"b", b"x"), lead),
                     (rpc.PutRequest(b"c", b"y"), lead))
    applied_at = [rev for req, rev, _ in c.cluster.invariants.applied_requests()
                  if isinstance(req, rpc.CompactionRequest)]
    revisions = [a.header.revision for a in answers if isinstance(a, rpc.CompactionResponse)]
    assert applied_at == [4] and revisions == [6]
    c.check()


def test_each_unknown_outcome_takes_the_first_equal_entry_applied_after_its_call() -> None:
    now = [0]
    h = History(lambda: now[0])
    late, twin, lost = (rpc.PutRequest(b"k", b"a"), rpc.DeleteRangeRequest(b"k"),
                        rpc.PutRequest(b"k", b"never"))
    for client, req, at in ((1, twin, 10), (2, late, 20), (3, twin, 30), (4, lost, 40)):
        now[0] = at
        h.invoke(client, "put", {}, None)
        h.failed(client, "put", rpctypes.TIMEOUT.err(), request=req)
    # Log order: an equal delete applied before the first unknown one was called (someone
    # else's), then the put, then the two deletes the unknown ones may have been.
    h.hint([(twin, 5, 1), (late, 6, 25), (twin, 7, 26), (twin, 8, 35)])
    assert [e.get("applied_revision") for e in h.events if e["kind"] == "info"] == [7, 6, 8, 0]


def test_an_unknown_outcome_never_takes_the_entry_its_ok_twin_was_answered_with() -> None:
    now = [0]
    h = History(lambda: now[0])
    twin = rpc.DeleteRangeRequest(b"k")
    h.invoke(1, "delete_range", {}, None)
    now[0] = 10
    h.failed(1, "delete_range", rpctypes.TIMEOUT.err(), request=twin)
    h.invoke(2, "delete_range", {}, None)
    now[0] = 30
    h.complete(2, "delete_range", "ok", {"deleted": 1, "revision": 5}, twin)
    # The ok one took revision 5, applied first; the unknown one's is the later entry.
    h.hint([(twin, 5, 20), (twin, 9, 40)])
    assert [e.get("applied_revision") for e in h.events if e["kind"] == "info"] == [9]


def test_a_runs_unknown_outcomes_carry_the_logs_word_and_read_back_from_its_history() -> None:
    result = run(RunConfig(seed=4, duration_us=20 * S))
    infos = [json.loads(line) for line in result.history.splitlines()
             if '"kind":"info"' in line.replace(" ", "")]
    assert result.ok and infos
    writes = [e for e in infos if e["op"] != "compact"]  # a compaction is never hinted
    assert all(isinstance(e.get("applied_revision"), int) for e in writes)
    assert {e["applied_revision"] > 0 for e in writes} == {True, False}
    # (an operation still open at the end has no info line, so no word from the logs)
    ops = [o for o in parse_text(result.history, "jsonl").ops
           if o.status is Status.UNKNOWN and o.applied is not None]
    assert sorted(o.applied for o in ops) == sorted(e["applied_revision"] for e in writes)


def test_the_liveness_prober_keeps_clientv3s_deadline_whatever_the_workload_clients_use() -> None:
    # A patient workload client is a knob to turn; the prober must still be able to try
    # every member within the liveness bound when one of them cannot answer.
    c = EtcdCluster(RunConfig(seed=1, faults="none", clients=2, duration_us=10 * S,
                              knobs=Knobs(client_timeout_us=5 * S)))
    c.world.start_all()
    assert c.clients[c.prober_id].cfg.timeout_us == 1 * S
    assert {c.clients[i].cfg.timeout_us for i in c.clients if i != c.prober_id} == {5 * S}
