"""Fault schedules: drawn deterministically, applied to the world, undone at their end."""

from __future__ import annotations

import random

from sim.harness.fault_mix import generate_faults
from sim.world.faults import DISK_DAMAGE_KINDS, FAULT_KINDS, Fault, FaultInjector
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
    for seed in range(20):
        kinds |= {f.kind for f in generate_faults(random.Random(seed), [1, 2, 3], S, 60 * S)}
    assert kinds == set(FAULT_KINDS)


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
    ]
    FaultInjector(world, lambda: None).schedule(faults, heal_at=5 * S)
    world.run_until(5 * S + 1)
    assert [world.nodes[i].status for i in (1, 2, 3)] == [NodeStatus.UP] * 3
    assert not any(world.network.is_cut(a, b) for a in (1, 2, 3) for b in (1, 2, 3) if a != b)
    assert world.nodes[3].clock.drift_ppm == world.nodes[3].base_drift_ppm


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
