"""A cluster to script step by step: faults by hand, client calls that block, checks at the end.

    c = ScriptedCluster(seed=1)                 # 3 members, elected and ready
    c.put(b"k", b"v")                           # through a client, like clientv3
    c.race((req_a, 1), (req_b, 2))              # clients=2: both at once, to members 1, 2
    c.partition([c.leader()], others)           # or c.isolate(n), c.crash(n), c.pause(n)
    c.run_for(2_000_000)
    c.heal()
    c.check()                                   # converged, linearizable; raises CheckFailed

Every call goes into the history, so `check()` judges the whole script. Raft's invariants are
watched all along: a broken one raises InvariantViolation from the step that broke it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from etcdcore.api import rpc
from etcdcore.api.rpctypes import EtcdError
from etcdcore.env import Process
from etcdcore.raft.types import StateType
from etcdcore.server.etcdserver import EtcdServer
from sim.cluster.config import RunConfig
from sim.cluster.etcd_cluster import EtcdCluster
from sim.cluster.workload import (
    OP_NAMES,
    WorkloadConfig,
    history_key,
    is_read_only,
    request_args,
    response_result,
)
from sim.world import partitions
from sim.world.node import NodeStatus

__all__ = ["CheckFailed", "ScriptedCluster"]

_S = 1_000_000
_STEP_US = 1_000


class CheckFailed(AssertionError):
    """A check at the end of a script failed; the message says which and why."""


class ScriptedCluster:
    """An etcd cluster in a world with no workload of its own: the script drives it."""

    def __init__(self, seed: int = 0, members: int = 3, bugs: frozenset[str] = frozenset(),
                 clients: int = 0, pinned: bool = False) -> None:
        # Beside the default client, `clients` more that issue nothing of their own; `pinned`:
        # they never leave their member (no failover), as a Go client given one endpoint.
        mix = WorkloadConfig(clients=clients, rate=0.0, pinned=1.0 if pinned else 0.0)
        config = RunConfig(seed=seed, nodes=members, faults="none", clients=clients,
                           duration_us=3600 * _S, bugs=bugs, workload_mix=mix)
        self.cluster = EtcdCluster(config)
        self.world = self.cluster.world
        self.world.start_all()
        self._client = self.cluster.clients[self.cluster.prober_id]
        self.wait_for(self.ready, 10 * _S, "no leader was elected")

    # ---- time -------------------------------------------------------------------------------

    @property
    def now(self) -> int:
        """Global simulated time, in microseconds."""
        return self.world.now

    def run_for(self, us: int) -> None:
        """Let `us` simulated microseconds pass."""
        self.world.run_until(self.world.now + us)

    def wait_for(self, cond: Callable[[], bool], within_us: int, what: str) -> None:
        """Run until `cond()` holds; AssertionError naming `what` if it does not in time."""
        limit = self.world.now + within_us
        while not cond():
            if self.world.now >= limit:
                raise AssertionError(f"{what} within {within_us}us")
            self.world.run_until(self.world.now + _STEP_US)

    # ---- the members ------------------------------------------------------------------------

    @property
    def probes(self) -> dict[str, int]:
        """The sometimes points reached so far (sim.world.probes.POINTS), name -> hits."""
        return self.world.probes.sorted_counts()

    @property
    def members(self) -> list[int]:
        """Member ids."""
        return list(self.world.node_ids)

    def servers(self) -> dict[int, EtcdServer]:
        """The running members' servers."""
        return self.cluster.servers()

    def leader(self) -> int | None:
        """The running member leading the highest term, if any."""
        return self.cluster.leader()

    def followers(self) -> list[int]:
        """Running members that are not the leader."""
        return [i for i, s in sorted(self.servers().items()) if s.r.state != StateType.LEADER]

    def ready(self) -> bool:
        """Every running member knows a leader."""
        servers = self.servers()
        return bool(servers) and all(s.lead for s in servers.values())

    # ---- faults -----------------------------------------------------------------------------

    def partition(self, *groups: Sequence[int]) -> None:
        """Cut the groups off from each other (members in no group form one more group)."""
        named = [sorted(g) for g in groups]
        rest = sorted(set(self.members) - {m for g in named for m in g})
        sides = [g for g in [*named, rest] if g]
        cuts: list[tuple[int, int]] = []
        for i, a in enumerate(sides):
            for b in sides[i + 1:]:
                cuts += partitions.between(a, b)
        self.world.network.apply_partition("script", cuts)

    def isolate(self, member: int) -> None:
        """Cut one member off from the others."""
        self.partition([member])

    def heal(self) -> None:
        """Undo every network fault; restart stopped members, resume paused ones."""
        self.world.network.heal()
        for node in self.world.nodes.values():
            if node.id in self.world.node_ids:
                if node.status is NodeStatus.PAUSED:
                    node.resume()
                elif not node.is_up:
                    node.start()

    def crash(self, member: int) -> None:
        """Crash a member: memory gone, unsynced writes lost."""
        self.world.nodes[member].crash()

    def restart(self, member: int) -> None:
        """Start a crashed member from its disk."""
        self.world.nodes[member].start()

    def pause(self, member: int) -> None:
        """Freeze a member."""
        self.world.nodes[member].pause()

    def resume(self, member: int) -> None:
        """Unfreeze a member."""
        self.world.nodes[member].resume()

    # ---- clients ----------------------------------------------------------------------------

    def call(self, request: rpc.Request, member: int | None = None,
             within_us: int = 10 * _S, client: int = 0) -> rpc.Response | EtcdError:
        """One call by `client` (0: the default one; 1.. the extra ones) to `member` (the
        client's current one if None), run to its end: the response or the error."""
        out: list[rpc.Response | EtcdError] = []
        self._start(request, member, client, out)
        self.wait_for(lambda: bool(out), within_us, f"no answer to {OP_NAMES[type(request)]}")
        return out[0]

    def race(self, *calls: tuple[rpc.Request, int | None],
             within_us: int = 10 * _S) -> list[rpc.Response | EtcdError]:
        """Calls started at the same instant, the i-th by extra client i + 1 to its member
        (None: the client's current one), run to their ends; their answers in order."""
        if len(calls) > len(self.cluster.clients) - 1:
            raise ValueError(f"{len(calls)} calls need as many extra clients: ScriptedCluster"
                             f"(clients={len(calls)})")
        outs: list[list[rpc.Response | EtcdError]] = [[] for _ in calls]
        for i, (request, member) in enumerate(calls):
            self._start(request, member, i + 1, outs[i])
        self.wait_for(lambda: all(outs), within_us, "no answer to every call")
        return [out[0] for out in outs]

    def _start(self, request: rpc.Request, member: int | None, client: int,
               out: list[rpc.Response | EtcdError]) -> None:
        client_id = self.cluster.prober_id + client
        c = self.cluster.clients[client_id]
        if member is not None:
            c.pinned = c.endpoints.index(member)
        op = OP_NAMES[type(request)]
        history = self.cluster.history
        history.invoke(client_id, op, request_args(request), history_key(request))

        def go() -> Process:
            try:
                resp = yield from c.do(request)
            except EtcdError as err:
                history.failed(client_id, op, err, is_read_only(request), request)
                out.append(err)
                return
            history.complete(client_id, op, "ok", response_result(request, resp), request)
            out.append(resp)

        c.env.spawn(go(), "script")

    def put(self, key: bytes, value: bytes, member: int | None = None) -> Any:
        """Put; the response or the error."""
        return self.call(rpc.PutRequest(key, value), member)

    def get(self, key: bytes, member: int | None = None, serializable: bool = False) -> Any:
        """Range over one key; the response or the error."""
        return self.call(rpc.RangeRequest(key, serializable=serializable), member)

    def delete(self, key: bytes, member: int | None = None) -> Any:
        """Delete one key; the response or the error."""
        return self.call(rpc.DeleteRangeRequest(key), member)

    # ---- checks -----------------------------------------------------------------------------

    def check(self, timeout_s: float = 60.0) -> None:
        """Heal, let the members catch up, then: equal revisions and hashes, and a
        linearizable history. CheckFailed says which failed."""
        self.heal()
        self.wait_for(self.ready, 30 * _S, "no leader after the heal")
        ok, detail = self.cluster.converge()
        if not ok:
            raise CheckFailed(f"converged: {detail}")
        verdict, detail = self.cluster.linearizable(timeout_s)
        if verdict != "pass":
            raise CheckFailed(f"linearizable: {verdict}: {detail}")
