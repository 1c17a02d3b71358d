"""Liveness after the heal, as TigerBeetle's VOPR checks it: a healed cluster (or a healed
quorum, the rest failed for good) settles on a leader within a bound, with few elections, and
makes progress; a failure names what each member was doing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from etcdcore.server.raft_node import RaftTiming
from sim.cluster.config import RunConfig
from sim.cluster.liveness import (
    MAX_ELECTIONS,
    SETTLE_TIMEOUTS,
    LeaderWatch,
    fail_the_rest,
    pick_quorum,
)
from sim.cluster.raft_cluster import Cluster
from sim.harness.runner import run
from sim.harness.scenario import Scenario, ScenarioError
from sim.world.node import NodeStatus

S = 1_000_000


def failed_for_good(result: Any) -> list[tuple[int, str]]:
    return [(int(e[2]), str(e[3])) for e in result.trace if e[1] == "liveness.fail_for_good"]


@pytest.mark.parametrize("workload", ["raft", "etcd"])
def test_a_healed_quorum_makes_progress_while_the_rest_stays_failed(workload: str) -> None:
    for seed in range(3):
        result = run(RunConfig(seed=seed, nodes=5, workload=workload, duration_us=30 * S,
                               liveness="quorum"))
        assert result.violations == [], result.violations
        down = failed_for_good(result)
        assert len(down) == 2  # five members: a quorum of three comes back
        assert all(how in ("crash", "pause", "isolate") for _, how in down)
        assert result.checks["liveness"].startswith("pass")


def test_the_members_outside_the_quorum_never_come_back() -> None:
    config = RunConfig(seed=4, nodes=3, workload="raft", duration_us=30 * S, liveness="quorum")
    world = Cluster(config).world  # by hand, to look at the world afterwards
    world.start_all()
    world.run_until(5 * S)
    quorum = pick_quorum(world, world.streams.get("liveness/quorum"))
    fail_the_rest(world, quorum, world.streams.get("liveness/quorum"))
    world.run_until(20 * S)
    (outside,) = sorted(set(world.node_ids) - set(quorum))
    node = world.nodes[outside]
    isolated = all(world.network.is_cut(outside, j) for j in world.node_ids if j != outside)
    assert node.status in (NodeStatus.DOWN, NodeStatus.PAUSED) or isolated


def test_a_cluster_that_elects_no_leader_in_time_fails_liveness_with_evidence() -> None:
    # An election timeout of 30 s: nobody campaigns before the bound runs out.
    config = RunConfig(seed=1, workload="raft", duration_us=30 * S, faults="none",
                       timing=RaftTiming(election_ticks=300))
    result = run(config)
    (violation,) = result.violations
    assert violation["check"] == "liveness"
    detail = violation["detail"]
    assert "no leader accepted a proposal" in detail
    for member in (1, 2, 3):  # what each member was doing
        assert f"n{member} follower t" in detail


def watch(elections: list[tuple[int, int, int]]) -> LeaderWatch:
    return LeaderWatch(world=None, raft_of=lambda _i: None,  # type: ignore[arg-type]
                       required=[1, 2, 3], heal_us=10 * S, bound_us=10 * S,
                       elections=elections, election_us=S)


def test_more_elections_after_the_heal_than_the_bound_fail_liveness() -> None:
    w = watch([(10 * S + k * S, 5 + k, 1 + k % 3) for k in range(MAX_ELECTIONS + 1)])
    problem = w.verdict()
    assert problem is not None and f"{MAX_ELECTIONS + 1} elections after the heal" in problem


def test_elections_before_the_heal_do_not_count() -> None:
    w = watch([(k * S, k + 2, 1) for k in range(8)])  # all before the heal at 10 s
    assert w.won_since_heal() == []


def test_a_leader_settled_too_late_fails_liveness() -> None:
    w = watch([])
    problem = w.verdict()
    assert problem is not None and "settled on a leader never" in problem
    assert f"{SETTLE_TIMEOUTS} election timeouts" in problem


def test_quorum_liveness_replays_with_the_same_digest_under_other_hash_seeds() -> None:
    digests = set()
    for hash_seed in ("3", "4242"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, ETCDSIM_BUILD="source")
        proc = subprocess.run(
            [sys.executable, "-m", "sim", "run", "--seed", "2", "--duration", "20", "--nodes", "5",
             "--liveness", "quorum", "--json"],
            capture_output=True, text=True, env=env, check=False)
        assert proc.returncode in (0, 1), proc.stderr
        digests.add(json.loads(proc.stdout)["digest"])
    assert len(digests) == 1


def test_a_scenario_carries_its_liveness_mode_and_refuses_an_unknown_one() -> None:
    scenario = Scenario(seed=3, liveness="quorum")
    again = Scenario.loads(scenario.dumps())
    assert again.liveness == "quorum"
    assert again.to_config().liveness == "quorum"
    obj = scenario.to_json()
    obj["liveness"] = "most"
    with pytest.raises(ScenarioError, match='"liveness" must be one of all, quorum'):
        Scenario.from_json(obj)


def test_the_replay_command_of_a_quorum_run_names_the_mode() -> None:
    assert "--liveness quorum" in RunConfig(seed=1, liveness="quorum").command_line()
    assert "--liveness" not in RunConfig(seed=1).command_line()
