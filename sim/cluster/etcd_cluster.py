"""An etcd cluster in a world: members running EtcdServer, client machines running the workload.

The run's end checks live here too: a put succeeds after the heal (liveness), every live member
reaches the same revision and hash once it has caught up, and the history is linearizable
under the checker's `etcd` model.
"""

from __future__ import annotations

from typing import Any

from etcdcore.api import rpc
from etcdcore.api.rpctypes import EtcdError
from etcdcore.client import Client, ClientConfig
from etcdcore.embed import new_member
from etcdcore.env import Process
from etcdcore.raft.types import StateType
from etcdcore.server.etcdserver import EtcdServer, ServerConfig
from etcdcore.server.raft_node import RaftNode
from sim.cluster.config import RunConfig
from sim.cluster.invariants import RaftInvariants
from sim.cluster.liveness import describe_members
from sim.cluster.workload import (
    CLIENT_BASE,
    History,
    Phases,
    WorkloadConfig,
    client_loop,
    request_args,
    response_result,
)
from sim.lincheck.checker import check
from sim.lincheck.formats.jsonl import parse_objects
from sim.lincheck.models.etcd import EtcdModel
from sim.lincheck.result import Verdict
from sim.world.node import NodeEnv, NodeStatus
from sim.world.world import World

__all__ = ["CLIENT_BASE", "EtcdCluster"]

_S = 1_000_000
CONVERGE_LIMIT_US = 10 * _S
# How liveness's quorum mode leaves a member it fails for good (sim.cluster.liveness).
_LEFT_IN = {NodeStatus.DOWN: "crashed", NodeStatus.PAUSED: "paused", NodeStatus.UP: "cut off"}
POLL_US = 10_000


class EtcdCluster:
    """Members 1..n running etcd, clients 101.. issuing the workload, one liveness prober."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        members = list(range(1, config.nodes + 1))
        self.prober_id = CLIENT_BASE
        n_clients = config.workload_mix.clients if config.workload_mix else config.clients
        clients = [CLIENT_BASE + i for i in range(n_clients + 1)]
        self.server_cfg = ServerConfig(peers=tuple(members), timing=config.timing,
                                       bugs=config.bugs, knobs=config.knobs)
        self.workload = config.workload_mix or WorkloadConfig(clients=config.clients,
                                                              rate=config.ops_per_sec)
        self.client_cfg = ClientConfig(timeout_us=config.knobs.client_timeout_us)
        # The first workload clients stay on their member, as a Go client given one endpoint
        # (and no WithRequireLeader) does: consecutive ids start on consecutive members, so they
        # cover as many as they can, and a partition that isolates a member leaves its clients
        # talking to a minority (their serializable reads answered, stale as etcd allows).
        self.pinned_cfg = ClientConfig(timeout_us=config.knobs.client_timeout_us, failover=False,
                                       require_leader=False)
        self.pinned_ids = frozenset(CLIENT_BASE + 1 + i
                                    for i in range(self.workload.pinned_clients()))
        self.world = World(config.seed, members, self._boot, client_ids=clients,
                           disk=config.disk_config(),
                           client_boot=self._boot_client)
        self.invariants = RaftInvariants(lambda: self.world.now, len(members))
        self.history = History(lambda: self.world.now)
        self.phases = Phases(self.workload.read_heavy, self.world.streams.get("workload/phases"),
                             lambda: self.world.now)
        self.clients: dict[int, Client] = {}
        self.liveness = "pending"
        self.liveness_detail = ""
        self.required: list[int] | None = None  # who must make progress after the heal
        self.proposed = 0

    # ---- booting ----------------------------------------------------------------------------

    def _boot(self, env: NodeEnv) -> EtcdServer:
        server = new_member(env, self.server_cfg, monitor=self.invariants)  # type: ignore[arg-type]
        server.start()
        return server

    def _boot_client(self, env: NodeEnv) -> Client:
        # The prober asks whether the healed cluster makes progress within the bound, so it
        # keeps clientv3's usual deadline whatever the workload's clients were given: two
        # patient tries at members that cannot answer (one failed for good, one whose
        # forwarded proposal a deposed leader dropped) would use up the bound by themselves.
        if env.node_id == self.prober_id:
            cfg = ClientConfig()
        elif env.node_id in self.pinned_ids:
            cfg = self.pinned_cfg
        else:
            cfg = self.client_cfg
        client = Client(env, self.world.node_ids, cfg,  # type: ignore[arg-type]
                        pinned=env.node_id, bugs=self.config.bugs)
        self.clients[env.node_id] = client
        if env.node_id != self.prober_id:
            def until() -> bool:
                return self.world.now >= self.config.duration_us

            env.spawn(client_loop(client, env.node_id, self.workload, self.history,
                                  env.rand("workload"), until, self.phases), "workload")
        return client

    # ---- what the runner asks -----------------------------------------------------------------

    def servers(self) -> dict[int, EtcdServer]:
        """The running members' servers."""
        out: dict[int, EtcdServer] = {}
        for i in self.world.live_nodes():
            service = self.world.nodes[i].service
            if isinstance(service, EtcdServer):
                out[i] = service
        return out

    def leader(self) -> int | None:
        """The running member that leads the highest term, if any."""
        best: tuple[int, int] | None = None
        for i, s in self.servers().items():
            if s.r.state == StateType.LEADER and (best is None or s.term > best[0]):
                best = (s.term, i)
        return None if best is None else best[1]

    def start_workload(self) -> None:
        """Nothing to do: each client machine starts its loop when it boots."""

    def start_liveness(self, required: list[int] | None = None) -> None:
        """At the heal: the prober puts until one put succeeds, within the bound; a failure names
        what the `required` members (default: all) were doing."""
        self.required = required
        env = self.clients[self.prober_id].env
        env.spawn(self._probe(), "liveness")

    def raft_of(self, node: int) -> RaftNode | None:
        """The member's Raft driver, if it is running."""
        n = self.world.nodes[node]
        service = n.service
        return service.r if n.status is NodeStatus.UP and isinstance(service, EtcdServer) else None

    def _applied(self, node: int) -> int:
        service = self.world.nodes[node].service
        return service.applied_index if isinstance(service, EtcdServer) else 0

    def _probe(self) -> Process:
        client = self.clients[self.prober_id]
        heal_at = self.config.heal_at_us
        deadline = heal_at + self.config.liveness_bound_us
        attempt = 0
        last = ""
        while self.world.now < deadline:
            attempt += 1
            req = rpc.PutRequest(b"liveness", f"probe-{attempt}".encode())
            self.history.invoke(self.prober_id, "put", request_args(req), "liveness")
            try:
                resp = yield from client.do(req)
            except EtcdError as err:
                self.history.failed(self.prober_id, "put", err, request=req)
                last = err.message
                yield client.env.sleep(100_000)
                continue
            self.history.complete(self.prober_id, "put", "ok", response_result(req, resp), req)
            delay = self.world.now - heal_at
            if self.world.now <= deadline:
                self.liveness = "pass"
                self.liveness_detail = f"a put succeeded {delay}us after heal"
                self.world.trace.emit("liveness.pass", delay)
                return
        self.liveness = "fail"
        members = describe_members(self.world, self.raft_of, self.required or self.world.node_ids,
                                   self._applied)
        self.liveness_detail = (f"no put succeeded within {self.config.liveness_bound_us}us "
                                f"of the heal ({attempt} tries; last error: {last or 'none'}); "
                                f"{members}")
        self.world.trace.emit("liveness.fail")

    # ---- end checks -------------------------------------------------------------------------

    def converge(self) -> tuple[bool, str]:
        """Let the live members catch up, then compare their revisions and hashes (only those
        that came back at the heal, when the others stay failed for good)."""
        world = self.world
        limit = world.now + CONVERGE_LIMIT_US
        required = self.required
        while True:
            servers = {i: s for i, s in self.servers().items() if required is None or i in required}
            if not servers:
                return False, "no member is running"
            applied = {s.applied_index for s in servers.values()}
            committed = max(s.r.committed for s in servers.values())
            caught_up = len(applied) == 1 and applied == {committed}
            if caught_up or world.now >= limit:
                break
            world.run_until(world.now + POLL_US)
        states = {i: (s.store.rev(), *s.store.hash_by_rev(0)[:1]) for i, s in servers.items()}
        summary = ", ".join(f"member {i}: revision {rev} hash {h:08x}"
                            for i, (rev, h) in sorted(states.items()))
        absent = "".join(f"; {why}" for why in self._absent(set(servers)))
        if not caught_up:
            return False, (f"members did not catch up within {CONVERGE_LIMIT_US}us: {summary}"
                           f"{absent}")
        if len(set(states.values())) != 1:
            return False, f"members differ after catching up: {summary}{absent}"
        rev, h = next(iter(states.values()))
        return True, f"{len(states)} members at revision {rev}, hash {h:08x}{absent}"

    def _absent(self, compared: set[int]) -> list[str]:
        """Why each member left out of the comparison is: the reason it stopped itself, or the
        failure it was left in at the heal."""
        out = []
        for i in self.world.node_ids:
            if i in compared:
                continue
            node = self.world.nodes[i]
            if node.status is NodeStatus.FAILED:
                out.append(f"member {i} down: {node.fail_reason or 'failed'}")
            elif self.required is not None and i not in self.required:
                how = _LEFT_IN.get(node.status, node.status.value)
                out.append(f"member {i} left {how} for good at the heal (liveness quorum)")
            else:
                out.append(f"member {i} {node.status.value}")
        return out

    def linearizable(self, timeout_s: float) -> tuple[str, str]:
        """The history's verdict under the etcd model: pass, fail or unknown; and a detail."""
        if not self.history.events:
            return "pass", "no operations"
        # Unknown outcomes, as the members' logs settled them: the search tries those first.
        self.history.hint(self.invariants.applied_requests())
        # The events as the jsonl text would read back (a test holds the two equal), without
        # writing the text and decoding it again.
        history = parse_objects(self.history.objects(), "<run>")
        result = check(history.ops, EtcdModel(), timeout=timeout_s)
        n = len(history.ops)
        if result.verdict is Verdict.LINEARIZABLE:
            return "pass", f"{n} operations linearizable"
        if result.verdict is Verdict.UNKNOWN:
            return "unknown", f"{n} operations: no verdict within {timeout_s:g} s"
        return "fail", f"{n} operations: not linearizable"

    def ops(self) -> dict[str, dict[str, int]]:
        """Operations by kind and outcome."""
        return self.history.ops_by_kind()

    def summary(self) -> dict[str, Any]:
        """Figures for the result."""
        return {"ops": self.ops()}
