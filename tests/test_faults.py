"""Fault schedules: drawn deterministically, applied to the world, undone at their end."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from sim.harness.fault_mix import generate_faults
from sim.world.faults import (
    DISK_DAMAGE_KINDS,
    FAULT_KINDS,
    LEADER,
    TARGETED_KINDS,
    TIMING_KINDS,
    Fault,
    FaultInjector,
)
from sim.world.node import NodeEnv, NodeStatus
from sim.world.world import World

S = 1_000_000


def idle_world() -> World:
    world = World(3, [1, 2, 3], lambda env: None)
    world.start_all()
    return world


def test_a_seed_draws_the_same_schedule_every_time() -> None:
    a = generate_faults(random.Random(9), [1, 2, 3], S, 60 * S)
    b = generate_faults(random.Random(9), [1, 2, 3], S, 60 * S)
    assert a == b
    assert all(S <= f.at_us < 60 * S for f in a)


def test_the_default_mix_draws_every_kind_over_enough_seeds() -> None:
    kinds = set()
    for seed in range(60):
        kinds |= {f.kind for f in generate_faults(random.Random(seed), [1, 2, 3], S, 60 * S)}
    assert kinds == set(FAULT_KINDS)


def test_a_lone_member_is_never_given_a_link_fault_it_has_no_link_for() -> None:
    for seed in range(30):
        schedule = generate_faults(random.Random(seed), [1], S, 60 * S)
        assert not [f for f in schedule if f.kind in ("cut", "clog")]
        assert {f.kind for f in schedule} & set(TIMING_KINDS)


def test_timing_faults_outlast_the_election_timeout_and_half_aim_at_the_leader() -> None:
    drawn = [f for seed in range(40)
             for f in generate_faults(random.Random(seed), [1, 2, 3], S, 60 * S)
             if f.kind in TIMING_KINDS]
    # clock_leap is for scenarios only (sim.world.faults.EXTRA_KINDS says why).
    by_kind = {k: [f for f in drawn if f.kind == k] for k in TIMING_KINDS if k != "clock_leap"}
    assert all(by_kind.values())
    assert not any(f.kind == "clock_leap" for f in drawn)
    election_timeout = 1_000_000  # etcd's default timing
    for kind in ("hold", "long_pause", "clock_skew", "slow_apply"):
        assert any(f.duration_us > election_timeout for f in by_kind[kind]), kind
    assert min(f.duration_us for f in by_kind["long_pause"]) > election_timeout
    assert max(f.value for f in by_kind["delay_spike"]) > election_timeout
    assert all(f.duration_us <= 50_000 and f.value >= 2 for f in by_kind["crash_loop"])
    aimed = [f for f in drawn if f.kind in TARGETED_KINDS]
    assert 0.3 < sum(f.name == LEADER for f in aimed) / len(aimed) < 0.7
    assert {f.value for f in by_kind["hold"]} == {0, 1}  # shuffled and in order


def test_at_most_one_disk_is_corrupted_per_run() -> None:
    for seed in range(50):
        schedule = generate_faults(random.Random(seed), [1, 2, 3], S, 120 * S)
        assert sum(f.kind == "disk_corrupt" for f in schedule) <= 1


def test_all_lasting_disk_damage_of_a_run_strikes_one_member() -> None:
    # A member whose disk is damaged for good is down from its next restart: two such would
    # leave three members without a quorum.
    for seed in range(50):
        schedule = generate_faults(random.Random(seed), [1, 2, 3], S, 120 * S)
        assert len({f.node for f in schedule if f.kind in DISK_DAMAGE_KINDS}) <= 1
        two = generate_faults(random.Random(seed), [1, 2], S, 120 * S)
        assert not [f for f in two if f.kind in DISK_DAMAGE_KINDS]


def wal_world() -> World:
    """Nodes that append a WAL-like file and fsync it every 10 ms, failing on a read error."""
    def boot(env: NodeEnv) -> None:
        try:
            env.disk.read("wal") if env.disk.exists("wal") else env.disk.write("wal", b"")
        except OSError as exc:
            env.fail(str(exc))
            return

        def write() -> None:
            # What the last tick appended is made durable; this tick's stays unsynced a while.
            env.disk.fsync("wal")
            env.disk.append("wal", b"r" * 700)
            env.call_later(10_000, write)

        write()

    world = World(7, [1, 2, 3], boot)
    world.start_all()
    return world


def test_a_truncated_synced_wal_tail_takes_the_member_out_for_good() -> None:
    world = wal_world()
    injector = FaultInjector(world, lambda: None)
    injector.schedule([Fault(S, "disk_truncate_wal", node=2, value=250, name="wal"),
                       Fault(2 * S, "crash", node=2, duration_us=S)], heal_at=5 * S)
    world.run_until(S + 1)
    node = world.nodes[2]
    assert node.status is NodeStatus.FAILED and node.retired
    (cut,) = [e[2:] for e in world.trace if e[1] == "disk.truncate_synced"]
    assert cut[:2] == (2, "wal") and cut[3] == cut[2] - 250 == len(node.disk.read("wal"))
    assert "lost entries it acknowledged" in (node.fail_reason or "")
    world.run_until(6 * S)  # neither the crash's restart nor the heal brings it back
    assert node.status is NodeStatus.FAILED
    kinds = [e[1] for e in world.trace]
    assert kinds.index("disk.truncate_synced") < kinds.index("node.retire")


def test_lost_writes_crash_the_node_and_it_restarts_after_the_fault() -> None:
    world = wal_world()
    FaultInjector(world, lambda: None).schedule(
        [Fault(S + 5_000, "disk_lost_writes", node=1, duration_us=S)], heal_at=9 * S)
    world.run_until(S + 6_000)
    assert world.nodes[1].status is NodeStatus.DOWN
    assert any(e[1] == "disk.lost_writes" and e[2] == 1 for e in world.trace)
    world.run_until(2 * S + 6_000)
    assert world.nodes[1].status is NodeStatus.UP


def test_an_unreadable_sector_stops_the_restart_that_reads_it() -> None:
    world = wal_world()
    FaultInjector(world, lambda: None).schedule(
        [Fault(S, "disk_bad_sector", node=3, duration_us=S, name="wal")], heal_at=9 * S)
    world.run_until(2 * S + 1)
    node = world.nodes[3]
    assert node.status is NodeStatus.FAILED
    assert "input/output error" in (node.fail_reason or "")


def test_a_misdirect_fault_misplaces_appends_only_while_it_lasts() -> None:
    world = wal_world()
    FaultInjector(world, lambda: None).schedule(
        [Fault(S, "disk_misdirect", node=1, duration_us=S, value=500)], heal_at=9 * S)
    world.run_until(4 * S)
    times = [e[0] for e in world.trace if e[1] == "disk.misdirect"]
    assert times and all(S <= t <= 2 * S for t in times)
    assert world.nodes[1].status is NodeStatus.UP


def test_a_bit_flip_fault_flips_a_bit_of_the_named_file_and_restarts_the_node() -> None:
    world = wal_world()
    FaultInjector(world, lambda: None).schedule(
        [Fault(S, "disk_bitflip", node=2, duration_us=S, name="wal")], heal_at=9 * S)
    world.run_until(S + 1)
    assert [e[3] for e in world.trace if e[1] == "disk.bitflip"] == ["wal"]
    assert world.nodes[2].status is NodeStatus.DOWN
    world.run_until(2 * S + 1)
    assert world.nodes[2].status is NodeStatus.UP


def test_a_crash_fault_takes_the_node_down_and_restarts_it_after_its_duration() -> None:
    world = idle_world()
    injector = FaultInjector(world, lambda: None)
    injector.schedule([Fault(S, "crash", node=2, duration_us=2 * S)], heal_at=10 * S)
    world.run_until(2 * S)
    assert world.nodes[2].status is NodeStatus.DOWN
    world.run_until(3 * S + 1)
    assert world.nodes[2].status is NodeStatus.UP
    assert injector.counts["crash"] == 1


def test_a_pause_fault_resumes_after_its_duration() -> None:
    world = idle_world()
    FaultInjector(world, lambda: None).schedule(
        [Fault(S, "pause", node=1, duration_us=S)], heal_at=10 * S)
    world.run_until(S + 1)
    assert world.nodes[1].status is NodeStatus.PAUSED
    world.run_until(2 * S + 1)
    assert world.nodes[1].status is NodeStatus.UP


def test_isolate_leader_cuts_the_node_the_oracle_names() -> None:
    world = idle_world()
    FaultInjector(world, lambda: 3).schedule(
        [Fault(S, "partition", duration_us=S, name="isolate_leader")], heal_at=10 * S)
    world.run_until(S + 1)
    net = world.network
    assert net.is_cut(3, 1) and net.is_cut(1, 3) and net.is_cut(2, 3)
    assert not net.is_cut(1, 2)
    world.run_until(2 * S + 1)
    assert not net.is_cut(3, 1)


def test_a_later_partition_is_not_healed_by_an_earlier_ones_end() -> None:
    world = idle_world()
    FaultInjector(world, lambda: 1).schedule([
        Fault(S, "partition", duration_us=2 * S, name="isolate_leader"),
        Fault(2 * S, "partition", duration_us=5 * S, name="isolate_leader"),
    ], heal_at=20 * S)
    world.run_until(4 * S)
    assert world.network.is_cut(1, 2)


def test_the_heal_ends_every_fault_and_brings_every_node_back() -> None:
    world = idle_world()
    faults = [
        Fault(S, "crash", node=1, duration_us=50 * S),
        Fault(S, "pause", node=2, duration_us=50 * S),
        Fault(S, "partition", duration_us=50 * S, name="halves"),
        Fault(S, "clog", node=1, peer=3, duration_us=50 * S),
        Fault(S, "disk_latency", node=3, duration_us=50 * S, value=10),
        Fault(S, "clock_drift", node=3, value=40_000),
        Fault(S, "slow_apply", node=2, duration_us=50 * S, value=40_000),
        Fault(S, "hold", duration_us=50 * S, name="halves"),
        Fault(S, "delay_spike", node=1, duration_us=50 * S, value=4 * S),
        Fault(S, "clock_skew", node=1, duration_us=50 * S, value=500_000),
        Fault(S, "clock_leap", node=2, duration_us=50 * S, value=-9 * S),
        Fault(2 * S, "long_pause", node=3, duration_us=50 * S),
        Fault(2 * S, "crash_loop", node=1, duration_us=50 * S, value=5),
    ]
    offset = world.nodes[2].local_now() - world.now
    FaultInjector(world, lambda: None).schedule(faults, heal_at=5 * S)
    world.run_until(5 * S + 1)
    assert [world.nodes[i].status for i in (1, 2, 3)] == [NodeStatus.UP] * 3
    links = [(a, b) for a in (1, 2, 3) for b in (1, 2, 3) if a != b]
    assert all(world.network.reachable(a, b) for a, b in links)
    assert world.nodes[3].clock.drift_ppm == world.nodes[3].base_drift_ppm
    assert world.nodes[1].clock.drift_ppm == world.nodes[1].base_drift_ppm
    assert abs(world.nodes[2].local_now() - world.now - offset) < 1_000
    assert world.nodes[2].apply_delay_us == 0
    world.run_until(60 * S)  # the faults' own ends come and go: nothing starts again
    assert [world.nodes[i].status for i in (1, 2, 3)] == [NodeStatus.UP] * 3
    assert not [e for e in world.trace if e[0] > 5 * S and e[1] in ("node.crash", "node.pause")]


def test_a_fault_aimed_at_the_leader_hits_whoever_leads_when_it_starts() -> None:
    world = idle_world()
    leader = {"id": 3}
    FaultInjector(world, lambda: leader["id"]).schedule([
        Fault(S, "long_pause", node=1, duration_us=3 * S, name=LEADER),
        Fault(2 * S, "slow_apply", node=1, duration_us=S, value=5_000, name=LEADER),
        Fault(2 * S, "slow_apply", node=1, duration_us=S, value=7_000),
    ], heal_at=10 * S)
    world.run_until(S + 1)
    assert world.nodes[3].status is NodeStatus.PAUSED
    assert world.nodes[1].status is NodeStatus.UP
    leader["id"] = 2
    world.run_until(2 * S + 1)
    assert [world.nodes[i].apply_delay_us for i in (1, 2, 3)] == [7_000, 5_000, 0]
    assert ("fault.target", "long_pause", 3) in [e[1:] for e in world.trace]
    world.run_until(4 * S + 1)  # a pause of 3 s: three election timeouts
    assert world.nodes[3].status is NodeStatus.UP
    assert [world.nodes[i].apply_delay_us for i in (1, 2, 3)] == [0, 0, 0]


def test_a_fault_aimed_at_the_leader_hits_its_own_member_when_none_leads() -> None:
    world = idle_world()
    FaultInjector(world, lambda: None).schedule(
        [Fault(S, "long_pause", node=2, duration_us=S, name=LEADER)], heal_at=10 * S)
    world.run_until(S + 1)
    assert world.nodes[2].status is NodeStatus.PAUSED


def test_a_crash_loop_crashes_a_member_again_and_again_within_milliseconds() -> None:
    world = idle_world()
    injector = FaultInjector(world, lambda: None)
    injector.schedule([Fault(S, "crash_loop", node=2, duration_us=3_000, value=4)],
                      heal_at=10 * S)
    world.run_until(2 * S)
    crashes = [e[0] for e in world.trace if e[1] == "node.crash" and e[2] == 2]
    starts = [e[0] for e in world.trace if e[1] == "node.start" and e[2] == 2 and e[0] > 0]
    assert len(crashes) == len(starts) == 4
    assert all(start - crash == 3_000 for crash, start in zip(crashes, starts, strict=True))
    assert all(1_000 <= crash - start <= 100_000
               for start, crash in zip(starts, crashes[1:], strict=False))
    assert world.nodes[2].status is NodeStatus.UP
    assert injector.counts["crash_loop"] == 1


def test_a_crash_loop_stops_at_the_heal_and_the_member_stays_up() -> None:
    world = idle_world()
    FaultInjector(world, lambda: None).schedule(
        [Fault(S - 1_000, "crash_loop", node=1, duration_us=50_000, value=1_000)],
        heal_at=S + 10_000)
    world.run_until(30 * S)
    crashes = [e[0] for e in world.trace if e[1] == "node.crash"]
    assert crashes and max(crashes) < S + 10_000
    assert world.nodes[1].status is NodeStatus.UP


def test_a_clock_leap_is_corrected_when_it_ends_or_at_the_heal() -> None:
    world = idle_world()
    FaultInjector(world, lambda: None).schedule([
        Fault(S, "clock_leap", node=1, duration_us=S, value=-5 * S),
        Fault(S, "clock_leap", node=2, duration_us=60 * S, value=7 * S),
    ], heal_at=5 * S)
    before = {i: world.nodes[i].local_now() - world.now for i in (1, 2)}
    world.run_until(S + 1)
    assert world.nodes[1].local_now() - world.now < before[1] - 4 * S
    world.run_until(2 * S + 1)
    assert abs(world.nodes[1].local_now() - world.now - before[1]) < 1_000
    assert world.nodes[2].local_now() - world.now > before[2] + 6 * S
    world.run_until(5 * S + 1)
    assert abs(world.nodes[2].local_now() - world.now - before[2]) < 1_000
    world.run_until(70 * S)  # the leap's own end finds it corrected already
    assert abs(world.nodes[2].local_now() - world.now - before[2]) < 10_000  # ±100 ppm drift


def test_a_clock_skew_runs_one_clock_far_off_then_back_to_its_own_rate() -> None:
    world = idle_world()
    node = world.nodes[3]
    FaultInjector(world, lambda: None).schedule(
        [Fault(S, "clock_skew", node=3, duration_us=2 * S, value=-600_000)], heal_at=10 * S)
    world.run_until(S + 1)
    assert node.clock.drift_ppm == -600_000
    start_local = node.local_now()
    world.run_until(2 * S + 1)
    assert node.local_now() - start_local < S // 2  # 40% speed: a tick takes 2.5 ticks
    world.run_until(3 * S + 1)
    assert node.clock.drift_ppm == node.base_drift_ppm


def test_a_delay_spike_and_a_hold_end_at_their_time() -> None:
    world = idle_world()
    net = world.network
    FaultInjector(world, lambda: 1).schedule([
        Fault(S, "delay_spike", node=2, duration_us=S, value=3 * S, name=LEADER),
        Fault(S, "hold", duration_us=2 * S, value=1, name="isolate_leader"),
    ], heal_at=10 * S)
    world.run_until(S + 1)
    assert not net.reachable(1, 2) and not net.is_cut(1, 2)  # held, not cut
    assert net.reachable(2, 3)
    assert ("net.spike", 1, 3 * S) in [e[1:] for e in world.trace]
    world.run_until(3 * S + 1)
    assert net.reachable(1, 2)
    assert ("net.spike", 1, 0) in [e[1:] for e in world.trace]


def test_a_disk_error_fault_restarts_a_node_that_stopped_on_it() -> None:
    def boot(env: NodeEnv) -> None:
        def write() -> None:
            try:
                env.disk.append("f", b"x")
                env.call_later(10_000, write)
            except OSError as exc:
                env.fail(str(exc))

        write()

    world = World(5, [1, 2, 3], boot)
    world.start_all()
    FaultInjector(world, lambda: None).schedule(
        [Fault(S, "disk_error", node=1, duration_us=S, value=1000, name="write")], heal_at=9 * S)
    world.run_until(S + 20_000)
    assert world.nodes[1].status is NodeStatus.FAILED
    world.run_until(2 * S + 1)
    assert world.nodes[1].status is NodeStatus.UP


def test_a_replaced_disk_brings_a_member_back_empty_and_its_lost_term_is_flagged() -> None:
    from sim.cluster.config import RunConfig
    from sim.harness.fault_mix import generate_faults
    from sim.harness.runner import run
    from sim.world.faults import Fault
    from sim.world.rng import Streams

    s = 1_000_000
    schedule = (Fault(3 * s, "disk_replace", node=2, duration_us=s),)
    result = run(RunConfig(seed=1, duration_us=15 * s, workload="raft", fault_schedule=schedule))
    assert any(e[1] == "disk.wipe" and e[2] == 2 for e in result.trace)
    assert [v["check"] for v in result.violations] == ["durable_state"]
    assert "term went back" in result.violations[0]["detail"]
    # etcd needs an operator for this (remove the member, add it back): never drawn by default.
    drawn = generate_faults(Streams(1).get("faults"), [1, 2, 3], 0, 3_600 * s)
    assert all(f.kind != "disk_replace" for f in drawn)


# A schedule with every fault of timing, some aimed at the leader, on clusters of 5 and 2.
TIMING_SCHEDULE = (
    Fault(1_500_000, "slow_apply", node=2, duration_us=3 * S, value=30_000, name=LEADER),
    Fault(2 * S, "hold", duration_us=2 * S, value=0, name="isolate_leader"),
    Fault(3 * S, "clog", node=1, peer=2, duration_us=1_500_000, value=1),
    Fault(4 * S, "hold", duration_us=1_500_000, value=1, name="halves"),
    Fault(4 * S, "delay_spike", node=1, duration_us=2 * S, value=1_500_000, name=LEADER),
    Fault(5 * S, "clock_skew", node=2, duration_us=3 * S, value=-500_000, name=LEADER),
    Fault(6 * S, "clock_leap", node=1, duration_us=2 * S, value=-4 * S),
    Fault(7 * S, "long_pause", node=2, duration_us=2_500_000, name=LEADER),
    Fault(8 * S, "crash_loop", node=1, duration_us=3_000, value=4, name=LEADER),
)


@pytest.mark.parametrize(("workload", "members"), [("etcd", 5), ("raft", 2)])
def test_faults_of_timing_give_the_same_digest_in_processes_with_other_hash_seeds(
    tmp_path: Path, workload: str, members: int
) -> None:
    from sim.harness.scenario import Scenario, run_scenario

    schedule = tuple(f for f in TIMING_SCHEDULE if max(f.node, f.peer) <= members)
    scenario = replace(Scenario(seed=21, members=members, duration_us=20 * S,
                                workload=workload), faults=schedule)
    here = run_scenario(scenario)
    assert here.ok, [v["detail"] for v in here.violations]
    assert set(here.faults) >= set(TIMING_KINDS)
    path = tmp_path / "scenario.json"
    path.write_text(scenario.dumps())
    for hash_seed in ("1", "987654"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        proc = subprocess.run([sys.executable, "-m", "sim", "replay", str(path), "--json"],
                              capture_output=True, text=True, env=env, check=False)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout.splitlines()[-1])["digest"] == here.digest


@pytest.mark.parametrize("members", range(1, 8))
def test_every_kind_of_fault_works_on_every_cluster_size(members: int) -> None:
    from sim.cluster.config import RunConfig
    from sim.harness.runner import run

    ids = list(range(1, members + 1))
    # One fault of every kind, drawn as the mix draws it for this size, every 1.5 s (they
    # overlap); the etcd workload for odd sizes, the raft workload for even ones.
    rng = random.Random(members)
    missing = {"cut", "clog"} if members == 1 else set()
    missing |= set(DISK_DAMAGE_KINDS) if members < 3 else set()
    schedule: list[Fault] = []
    damaged = 0  # lasting damage on one member only, as the mix keeps it within one run
    for i, kind in enumerate(FAULT_KINDS):
        start = S + i * 1_500_000
        drawn: list[Fault] = []
        while not drawn or (kind not in missing and drawn[0].kind != kind):
            drawn = generate_faults(rng, ids, start, start + 1_500_000, kinds=(kind,))
        fault = drawn[0]
        if fault.kind in DISK_DAMAGE_KINDS:
            damaged = damaged or fault.node
            fault = dataclasses.replace(fault, node=damaged)
        schedule.append(fault)
    kinds = {f.kind for f in schedule}
    assert kinds == set(FAULT_KINDS) - missing  # what a size cannot take is drawn as another
    workload = "etcd" if members % 2 else "raft"
    result = run(RunConfig(seed=members, nodes=members, duration_us=60 * S, workload=workload,
                           fault_schedule=tuple(schedule)))
    assert result.ok, [v["detail"] for v in result.violations]
    assert result.checks["liveness"].startswith("pass")
