"""One run: a world, a Raft cluster in it, a proposer, faults, invariants, and a liveness check.

`run(RunConfig) -> RunResult` is a pure function of its config: the same config gives the same
trace digest in any process.
"""

from __future__ import annotations

import gc
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from etcdcore.knobs import Knobs
from etcdcore.raft import RaftError
from etcdcore.server.raft_node import RaftTiming
from sim.disk import DiskConfig
from sim.etcd_cluster import EtcdCluster
from sim.faults import Fault, FaultInjector, generate_faults
from sim.invariants import INVARIANTS, InvariantViolation
from sim.raft_cluster import LIVENESS_POLL_US, Cluster
from sim.trace import Event, Trace
from sim.workload import WorkloadConfig
from sim.world import World

__all__ = ["Cluster", "RunConfig", "RunResult", "TraceEvents", "run"]

_S = 1_000_000
LIVENESS_BOUND_US = 10 * _S  # ten election timeouts of etcd's default timing
TRACE_TAIL = 30


@dataclass(frozen=True)
class RunConfig:
    """Everything a run depends on."""

    seed: int
    nodes: int = 3
    duration_us: int = 60 * _S
    faults: str = "default"  # "none" | "default"
    workload: str = "etcd"  # "etcd": KV clients on an etcd cluster | "raft": a Raft proposer
    proposals_per_sec: int = 100  # the raft workload's rate
    clients: int = 4  # the etcd workload's clients and their rate, all together
    ops_per_sec: int = 100
    bugs: frozenset[str] = frozenset()  # planted bugs switched on (etcdcore.bugs)
    check_timeout_s: float = 60.0  # wall-time budget of the linearizability check
    workload_mix: WorkloadConfig | None = None  # the etcd workload in full (clients, rate, mix)
    knobs: Knobs = field(default_factory=Knobs)  # unusual-but-legal values (etcdcore.knobs)
    timing: RaftTiming = field(default_factory=RaftTiming)
    liveness_bound_us: int = LIVENESS_BOUND_US
    fault_schedule: tuple[Fault, ...] | None = None  # overrides the drawn one (tests, shrinking)

    def disk_config(self) -> DiskConfig:
        """The members' disks, with the fsync latency the knobs set (jitter at most half)."""
        base = self.knobs.fsync_base_us
        return DiskConfig(fsync_base_us=base, fsync_jitter_us=min(500, base // 2))

    @property
    def heal_at_us(self) -> int:
        """When faults stop: the last 30% of the run, and at least the liveness bound, is quiet."""
        quiet = max(self.liveness_bound_us, self.duration_us * 3 // 10)
        return max(0, self.duration_us - quiet)


@dataclass
class RunResult:
    """What a run found."""

    seed: int
    digest: str
    sim_seconds: float
    wall_seconds: float
    events: int
    faults: dict[str, int]
    checks: dict[str, str]
    violations: list[dict[str, Any]]
    proposed: int
    committed: int
    leaders: int
    nodes: int
    trace: Sequence[Event] = field(repr=False, default_factory=list)
    workload: str = "raft"
    ops: dict[str, dict[str, int]] = field(default_factory=dict)
    # The etcd workload's history as jsonl text, or what writes it when first read (`history`).
    history_source: str | Callable[[], str] = field(repr=False, default="", compare=False)
    check_seconds: float = 0.0  # wall time of the linearizability check, within wall_seconds

    @property
    def history(self) -> str:
        """The etcd workload's history, jsonl ("" for the raft workload)."""
        if not isinstance(self.history_source, str):
            self.history_source = self.history_source()
        return self.history_source

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        """The --json form (without the trace)."""
        return {
            "seed": self.seed,
            "nodes": self.nodes,
            "digest": self.digest,
            "sim_seconds": self.sim_seconds,
            "wall_seconds": round(self.wall_seconds, 3),
            "events": self.events,
            "faults": self.faults,
            "checks": self.checks,
            "violations": self.violations,
            "proposed": self.proposed,
            "committed": self.committed,
            "leaders": self.leaders,
            "workload": self.workload,
            **({"ops": self.ops} if self.workload == "etcd" else {}),
        }


class TraceEvents(Sequence[Event]):
    """A run's trace events, built into tuples when first read (most runs are never read)."""

    def __init__(self, trace: Trace) -> None:
        self._trace = trace

    def __len__(self) -> int:
        return len(self._trace)

    @overload
    def __getitem__(self, i: int) -> Event: ...

    @overload
    def __getitem__(self, i: slice) -> list[Event]: ...

    def __getitem__(self, i: int | slice) -> Event | list[Event]:
        return self._trace.events[i]

    def __iter__(self) -> Iterator[Event]:
        return iter(self._trace.events)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __reduce__(self) -> tuple[Any, ...]:
        return list, (self._trace.events,)  # a plain list across processes


def _violation(
    world: World, check: str, node: int, time_us: int, detail: str, **extra: str
) -> dict[str, Any]:
    """One entry of RunResult.violations, with the trace leading up to it."""
    return {
        "check": check, "node": node, "time_us": time_us, "detail": detail, **extra,
        "trace_tail": [list(e) for e in world.trace.tail(TRACE_TAIL)],
    }


def run(config: RunConfig) -> RunResult:
    """Run one seed to the end, or to the first violation."""
    # A run makes millions of short-lived objects, which reference counting frees, and few
    # cycles (about 100,000 objects' worth in a minute of the etcd workload). Each young
    # collection walks every object still alive since the last, for next to nothing: at the
    # default (700) they cost a tenth of a run. One per million allocations bounds what cycles
    # can hold, a few hundred MB at most, and leaves most runs with none.
    threshold = gc.get_threshold()
    gc.set_threshold(max(threshold[0], _GC_YOUNG), *threshold[1:])
    try:
        return _run(config)
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()  # see _run: what the run built is collectable again once it is garbage


_GC_YOUNG = 1_000_000


def _run(config: RunConfig) -> RunResult:
    wall_start = time.perf_counter()
    cluster: Cluster | EtcdCluster = (
        Cluster(config) if config.workload == "raft" else EtcdCluster(config))
    world = cluster.world
    heal_at = config.heal_at_us
    if config.fault_schedule is not None:
        schedule = list(config.fault_schedule)
    elif config.faults == "default":
        schedule = generate_faults(world.streams.get("faults"), world.node_ids, _S, heal_at)
    else:
        schedule = []
    injector = FaultInjector(world, cluster.leader)
    injector.schedule(schedule, heal_at)
    world.start_all()
    cluster.start_workload()
    world.at(heal_at, cluster.start_liveness)

    violations: list[dict[str, Any]] = []
    failed_invariant: str | None = None
    # Long enough for the liveness check to reach its verdict, whatever the duration.
    end = max(config.duration_us, heal_at + config.liveness_bound_us + 2 * LIVENESS_POLL_US)
    try:
        world.run_until(config.duration_us)
        while cluster.liveness == "pending" and world.now < end:
            world.run_until(min(end, world.now + 100_000))
    except InvariantViolation as v:
        failed_invariant = v.invariant
        violations.append(_violation(world, v.invariant, v.node, v.time_us, v.detail))
    except RaftError as exc:  # Raft caught a broken rule itself, as etcd-io/raft panics
        failed_invariant = "raft_panic"
        violations.append(_violation(world, "raft_panic", 0, world.now, str(exc),
                                     traceback=traceback.format_exc()))
    except Exception as exc:  # a bug in the simulator or the system under test
        failed_invariant = "no_exception"
        detail = "".join(traceback.format_exception_only(exc)).strip()
        violations.append(_violation(world, "no_exception", 0, world.now, detail,
                                     traceback=traceback.format_exc()))

    checks: dict[str, str] = {}
    for name in INVARIANTS:
        if name == failed_invariant:
            checks[name] = "fail"
        elif failed_invariant is None:
            checks[name] = f"pass ({cluster.invariants.checked[name]} checks)"
        else:
            checks[name] = "not finished"
    if failed_invariant is None:
        checks["liveness"] = (
            "pass" if cluster.liveness == "pass" else "fail"
        ) + f" ({cluster.liveness_detail})"
        if cluster.liveness != "pass":
            violations.append(
                _violation(world, "liveness", 0, world.now, cluster.liveness_detail))
    else:
        checks["liveness"] = "not finished"
        if failed_invariant in ("no_exception", "raft_panic"):
            checks[failed_invariant] = "fail"
    check_start = time.perf_counter()
    # What the simulation built lives until the run ends: set it apart from the collector, so
    # the full collections the checker's allocations trigger do not walk it again and again.
    gc.freeze()
    if isinstance(cluster, EtcdCluster):
        _etcd_checks(cluster, config, failed_invariant, checks, violations)
    check_seconds = time.perf_counter() - check_start

    if isinstance(cluster, Cluster):
        committed = sum(
            1 for data, nodes in cluster.applied_by.items()
            if data.startswith(b"p") and len(nodes) * 2 > config.nodes
        )
    else:
        committed = max((s.committed_index for s in cluster.servers().values()), default=0)
    digest = world.trace.digest()
    return RunResult(
        seed=config.seed,
        digest=digest,
        sim_seconds=world.now / _S,
        wall_seconds=time.perf_counter() - wall_start,
        events=len(world.trace),
        faults=dict(sorted(injector.counts.items())),
        checks=checks,
        violations=violations,
        proposed=cluster.proposed,
        committed=committed,
        leaders=len(cluster.invariants.leaders()),
        nodes=config.nodes,
        trace=TraceEvents(world.trace),
        workload=config.workload,
        ops=cluster.ops() if isinstance(cluster, EtcdCluster) else {},
        history_source=cluster.history.dumps if isinstance(cluster, EtcdCluster) else "",
        check_seconds=check_seconds,
    )


def _etcd_checks(cluster: EtcdCluster, config: RunConfig, failed: str | None,
                 checks: dict[str, str], violations: list[dict[str, Any]]) -> None:
    """The etcd workload's end checks: equal members, then a linearizable history."""
    world = cluster.world
    if failed is not None:
        checks["converged"] = checks["linearizable"] = "not finished"
        return
    try:
        ok, detail = cluster.converge()
    except InvariantViolation as v:
        checks[v.invariant] = "fail"
        violations.append(_violation(world, v.invariant, v.node, v.time_us, v.detail))
        checks["converged"] = checks["linearizable"] = "not finished"
        return
    checks["converged"] = ("pass" if ok else "fail") + f" ({detail})"
    if not ok:
        violations.append(_violation(world, "converged", 0, world.now, detail))
    verdict, detail = cluster.linearizable(config.check_timeout_s)
    checks["linearizable"] = f"{verdict} ({detail})"
    if verdict == "fail":
        violations.append(_violation(world, "linearizable", 0, world.now, detail))
