"""Whatever faults hypothesis draws, Raft stays safe, and it recovers once they stop."""

from __future__ import annotations

from hypothesis import given

from sim.cluster.config import RunConfig
from sim.harness.runner import run
from sim.strategies import fault_schedules
from sim.world.faults import Fault

S = 1_000_000
DURATION = 20 * S
HEAL_AT = RunConfig(seed=0, duration_us=DURATION).heal_at_us


def describe(result_violations: list[dict[str, object]]) -> str:
    return "\n".join(f"{v['check']}: {v['detail']}" for v in result_violations)


@given(fault_schedules([1, 2, 3], S, HEAL_AT))
def test_invariants_hold_and_the_cluster_recovers_under_any_fault_schedule(
    schedule: tuple[Fault, ...],
) -> None:
    config = RunConfig(seed=0, duration_us=DURATION, workload="raft", proposals_per_sec=50,
                       fault_schedule=schedule)
    result = run(config)
    assert result.ok, describe(result.violations)
    assert result.checks["liveness"].startswith("pass")


@given(fault_schedules([1, 2, 3, 4, 5], S, HEAL_AT, max_faults=8))
def test_a_five_node_cluster_stays_safe_and_live_under_any_fault_schedule(
    schedule: tuple[Fault, ...],
) -> None:
    config = RunConfig(seed=1, nodes=5, duration_us=DURATION, workload="raft", proposals_per_sec=20,
                       fault_schedule=schedule)
    result = run(config)
    assert result.ok, describe(result.violations)


def test_the_heal_leaves_the_last_stretch_of_every_run_fault_free() -> None:
    config = RunConfig(seed=3, duration_us=60 * S)
    assert config.heal_at_us == 42 * S
    short = RunConfig(seed=3, duration_us=5 * S)
    assert short.heal_at_us == 0
