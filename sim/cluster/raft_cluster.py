"""A Raft cluster in a world: RaftNodes on every member, a proposer, and the liveness check.

The raft workload of `etcdsim run --workload raft`: entries proposed to whoever leads, at a
fixed rate, retried until applied; after the heal, a fresh entry must reach every live node.
"""

from __future__ import annotations

import heapq
from collections.abc import Generator
from typing import Any

import simpy

from etcdcore.raft.types import Entry, StateType
from etcdcore.server.raft_node import RaftNode
from sim.cluster.config import RunConfig
from sim.cluster.invariants import RaftInvariants
from sim.cluster.liveness import describe_members
from sim.world.node import NodeEnv, NodeStatus
from sim.world.world import World

__all__ = ["LIVENESS_POLL_US", "Cluster"]

_S = 1_000_000
LIVENESS_POLL_US = 10_000
_RETRY_AFTER = 2 * _S


class Cluster:
    """The system under test in its world, with the clients that drive it."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        ids = list(range(1, config.nodes + 1))
        self.world = World(config.seed, ids, self._boot,
                           disk=config.disk_config())
        self.invariants = RaftInvariants(lambda: self.world.now, len(ids))
        self.applied_by: dict[bytes, set[int]] = {}
        self.liveness_marker = b"liveness"
        self.liveness: str = "pending"
        self.liveness_detail = ""
        self.required: list[int] | None = None  # who must make progress after the heal
        self.proposed = 0

    def _boot(self, env: NodeEnv) -> RaftNode:
        node_id = env.node_id

        applied_by = self.applied_by

        def apply(entry: Entry) -> None:
            data = entry.data
            if data:
                nodes = applied_by.get(data)
                if nodes is None:
                    applied_by[data] = {node_id}
                else:
                    nodes.add(node_id)

        raft_node = RaftNode(
            env,  # type: ignore[arg-type]  # NodeEnv's disk returns SimFuture, a Waitable
            self.world.node_ids, self.config.timing, apply=apply, monitor=self.invariants,
            bugs=self.config.bugs, knobs=self.config.knobs,
        )
        raft_node.start()
        return raft_node

    def start_workload(self) -> None:
        """Start the proposer."""
        if self.config.proposals_per_sec > 0:
            self.world.kernel.call_first(_Proposer(self).tick)

    def start_liveness(self, required: list[int] | None = None) -> None:
        """Start the liveness check (at the heal): `required` (default: every live node) must
        apply a fresh entry."""
        self.required = required
        self.world.env.process(self.liveness_check(self.world.env))

    def raft_of(self, node: int) -> RaftNode | None:
        """The node's Raft driver, if it is running."""
        n = self.world.nodes[node]
        service = n.service
        return service if n.status is NodeStatus.UP and isinstance(service, RaftNode) else None

    def leader(self) -> int | None:
        """The running node that leads the highest term, if any."""
        best: tuple[int, int] | None = None
        for i in self.world.live_nodes():
            service = self.world.nodes[i].service
            if (
                isinstance(service, RaftNode)
                and service.state == StateType.LEADER
                and (best is None or service.term > best[0])
            ):
                best = (service.term, i)
        return None if best is None else best[1]

    def propose(self, data: bytes) -> bool:
        """Hand `data` to the leader, as a client co-located with it would."""
        leader = self.leader()
        if leader is None:
            return False
        service = self.world.nodes[leader].service
        return isinstance(service, RaftNode) and service.propose(data)

    def liveness_check(self, env: simpy.Environment) -> Generator[simpy.Event, Any, None]:
        """After the heal: a leader emerges and a fresh entry reaches every live node in time.

        The entry is proposed again each second until some node applies it: a proposal taken by
        a leader that is about to lose its term may be overwritten, as in etcd.
        """
        deadline = self.config.heal_at_us + self.config.liveness_bound_us
        marker = self.liveness_marker
        last_try: int | None = None
        poll = LIVENESS_POLL_US
        while self.world.now <= deadline:
            applied = self.applied_by.get(marker)
            if applied is None:
                if (last_try is None or self.world.now - last_try >= _S) and self.propose(marker):
                    last_try = self.world.now
            else:
                live = set(self.world.live_nodes())
                if self.required is not None:
                    live &= set(self.required)
                if live and live <= applied:
                    self.liveness = "pass"
                    delay = self.world.now - self.config.heal_at_us
                    self.liveness_detail = f"committed on all live nodes {delay}us after heal"
                    self.world.trace.emit("liveness.pass", delay)
                    return
            yield env.timeout(poll)
        self.liveness = "fail"
        waited = [i for i in self.world.live_nodes()
                  if self.required is None or i in self.required]
        missing = sorted(set(waited) - self.applied_by.get(marker, set()))
        self.liveness_detail = (
            f"no fresh entry committed on live nodes {missing} within "
            f"{self.config.liveness_bound_us}us of the heal"
            if last_try is not None else
            f"no leader accepted a proposal within {self.config.liveness_bound_us}us of the heal"
        ) + "; " + describe_members(self.world, self.raft_of, self.required or self.world.node_ids)
        self.world.trace.emit("liveness.fail")


class _Proposer:
    """Submits entries at the configured rate; retries those not applied within 2 s.

    A callback on the world's clock rather than a simpy process: it runs a hundred times a
    simulated second, and a process pays for a Timeout and a generator resume on each.
    Proposals wait in a heap by the time they are due, so a tick costs what it proposes, not
    what is pending: a leaderless stretch or a leader cut off from its quorum leaves thousands
    pending at high rates, and going through all of them on every tick made such runs
    quadratic.
    """

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.kernel = cluster.world.kernel
        self.gap = max(1, _S // cluster.config.proposals_per_sec)
        self.end = cluster.config.duration_us
        self.due: list[tuple[int, int]] = []  # (when it is due, proposal number), a heap
        self.n = 0

    def tick(self, _event: object) -> None:
        cluster = self.cluster
        now = self.kernel.now
        if now >= self.end:
            return
        self.n += 1
        due = self.due
        heapq.heappush(due, (0, self.n))
        # With no leader every proposal is refused, and nothing else happens: skip the tick.
        if due[0][0] <= now and cluster.leader() is not None:
            ready: list[tuple[int, int]] = []
            while due and due[0][0] <= now:
                ready.append(heapq.heappop(due))
            ready.sort(key=lambda item: item[1])  # in proposal order, as they were numbered
            no_leader = False
            for when, k in ready:
                data = b"p%d" % k
                if data in cluster.applied_by:
                    continue
                if no_leader:
                    heapq.heappush(due, (when, k))
                elif cluster.propose(data):
                    heapq.heappush(due, (now + _RETRY_AFTER, k))
                    cluster.proposed += 1
                else:
                    heapq.heappush(due, (when, k))
                    # Nothing in this loop changes who leads: with no leader now, every later
                    # proposal would be refused too, and looking for a leader is what costs.
                    no_leader = cluster.leader() is None
        self.kernel.call_after(self.gap, self.tick)
