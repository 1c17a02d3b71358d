"""One run: a world, a Raft cluster in it, a proposer, faults, invariants, and a liveness check.

`run(RunConfig) -> RunResult` is a pure function of its config: the same config gives the same
trace digest in any process.
"""

from __future__ import annotations

import gc
import time
import traceback
from typing import Any

from etcdcore.raft import RaftError
from sim.cluster.config import RunConfig
from sim.cluster.etcd_cluster import EtcdCluster
from sim.cluster.invariants import INVARIANTS, InvariantViolation
from sim.cluster.liveness import LeaderWatch, describe_members, fail_the_rest, pick_quorum
from sim.cluster.raft_cluster import LIVENESS_POLL_US, Cluster
from sim.cluster.result import RunResult, TraceEvents
from sim.harness.fault_mix import generate_faults
from sim.world.faults import FaultInjector
from sim.world.world import World

__all__ = ["run"]

_S = 1_000_000
TRACE_TAIL = 30


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
    # A run makes millions of short-lived objects, which reference counting frees, and next to
    # no cycles (a finished process frees itself: sim.world.node._Task._end; a crash leaves its
    # incarnation's objects, about a MB). Each collection would walk every object still alive
    # since the last, for nothing: the collector stays off while the world runs, and the
    # caller's settings come back at the end.
    enabled = gc.isenabled()
    threshold = gc.get_threshold()
    # Freezing is the caller's if it froze anything itself (a forking server, a test session):
    # unfreezing at the end would thaw its objects too, so the run then leaves it alone.
    freeze = gc.get_freeze_count() == 0
    gc.disable()
    gc.set_threshold(max(threshold[0], _GC_YOUNG), *threshold[1:])
    try:
        return _run(config, enabled, freeze)
    finally:
        gc.set_threshold(*threshold)
        frozen = gc.get_freeze_count() if freeze else 0
        if freeze:
            gc.unfreeze()  # see _run: what the run built is collectable again once garbage
        if enabled:
            gc.enable()
            _collect_now_and_then(frozen)


_GC_YOUNG = 1_000_000
# A finished world is cyclic garbage (nodes and their envs point at each other), put back in
# the oldest generation, which Python collects only once enough survivors of younger ones
# pile up: a process running many seeds (a sweep worker, the bench, a test session) would
# keep every world it ran. So it collects once the runs since the last collection left this
# many objects; a single `etcdsim run` never pays for it.
_COLLECT_AFTER = 3_000_000
_left_since_collect = [0]


def _collect_now_and_then(frozen: int) -> None:
    _left_since_collect[0] += frozen
    if _left_since_collect[0] >= _COLLECT_AFTER:
        _left_since_collect[0] = 0
        gc.collect()


def _run(config: RunConfig, collect_in_checks: bool = True, freeze: bool = True) -> RunResult:
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
    required = list(world.node_ids)  # who must make progress after the heal
    if config.liveness == "quorum":
        rng = world.streams.get("liveness/quorum")

        def heal_a_quorum() -> None:  # just after the injector's heal
            required[:] = pick_quorum(world, rng)
            fail_the_rest(world, required, rng)

        world.at(heal_at, heal_a_quorum)
    world.at(heal_at, lambda: cluster.start_liveness(required))
    watch = LeaderWatch(world, cluster.raft_of, required, heal_at, config.liveness_bound_us,
                        cluster.invariants.elections,
                        config.timing.election_ticks * config.timing.tick_us)
    world.at(heal_at, watch.start)

    violations: list[dict[str, Any]] = []
    failed_invariant: str | None = None
    # Long enough for the liveness check to reach its verdict, whatever the duration.
    end = max(config.duration_us, heal_at + config.liveness_bound_us + 2 * LIVENESS_POLL_US)
    try:
        world.run_until(config.duration_us)
        while (cluster.liveness == "pending" or watch.settled is None) and world.now < end:
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
        detail = cluster.liveness_detail
        if cluster.liveness == "pending":  # the prober's last try outlasted the bound
            cluster.liveness = "fail"
            detail = (f"no progress within {config.liveness_bound_us}us of the heal; "
                      f"{describe_members(world, cluster.raft_of, required)}")
        unsettled = watch.verdict() if cluster.liveness == "pass" else None
        if unsettled is not None:
            cluster.liveness = "fail"
            detail = f"{unsettled}; {describe_members(world, cluster.raft_of, required)}"
        elif cluster.liveness == "pass":
            detail += f"; {watch.summary()}"
        checks["liveness"] = ("pass" if cluster.liveness == "pass" else "fail") + f" ({detail})"
        if cluster.liveness != "pass":
            violations.append(_violation(world, "liveness", 0, world.now, detail))
    else:
        checks["liveness"] = "not finished"
        if failed_invariant in ("no_exception", "raft_panic"):
            checks[failed_invariant] = "fail"
    check_start = time.perf_counter()
    # What the simulation built lives until the run ends: set it apart from the collector, so
    # the collections the checker's allocations trigger (one per million) do not walk it again.
    if freeze:
        gc.freeze()
    if collect_in_checks:
        gc.enable()
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
        probes=world.probes.sorted_counts(),
        fault_messages=injector.messages(len(schedule)),
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
