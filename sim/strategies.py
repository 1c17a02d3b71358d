"""Hypothesis strategies for fault schedules and whole scenarios; they shrink toward fewer,
shorter, earlier faults and smaller runs.

    from hypothesis import given
    from sim.strategies import scenarios

    @given(scenarios())
    def test_etcd_stays_linearizable(sim_run, scenario):  # sim_run: the pytest plugin's
        assert sim_run(scenario).ok
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import strategies as st

from etcdcore.server.backend import DB_PATH
from etcdcore.server.failpoints import REACHABLE
from etcdcore.wal import wal_path
from sim.cluster.workload import WorkloadConfig
from sim.harness.scenario import Scenario
from sim.world.faults import (
    DISK_DAMAGE_KINDS,
    FAULT_KINDS,
    LEADER,
    PARTITION_KINDS,
    TARGETED_KINDS,
    Fault,
)

__all__ = ["fault_schedules", "faults", "scenarios"]

_MS = 1_000


@st.composite
def faults(draw: st.DrawFn, node_ids: list[int], start_us: int, end_us: int) -> Fault:
    """One fault of any kind, starting in [start_us, end_us)."""
    kind = draw(st.sampled_from(FAULT_KINDS))
    at = draw(st.integers(start_us, end_us - 1))
    node = draw(st.sampled_from(node_ids))
    peer = draw(st.sampled_from([i for i in node_ids if i != node] or [node]))
    duration = draw(st.integers(1, 60)) * 100 * _MS
    value = 0
    name = ""
    if kind == "partition":
        name = draw(st.sampled_from(PARTITION_KINDS))
    elif kind == "failpoint":
        value = draw(st.integers(0, 1))  # crash or pause
        name = draw(st.sampled_from(REACHABLE))
    elif kind in ("loss", "duplicate"):
        value = draw(st.integers(1, 500))
    elif kind == "delay":
        value = draw(st.integers(1, 200)) * _MS
    elif kind == "disk_latency":
        value = draw(st.integers(2, 50))
    elif kind == "disk_error":
        value = draw(st.integers(1, 1000))
        name = draw(st.sampled_from(("read", "write", "fsync")))
    elif kind == "clock_jump":
        value = draw(st.integers(-1_000, 1_000)) * _MS
    elif kind == "clock_drift":
        value = draw(st.integers(-50_000, 50_000))
    elif kind in ("clog", "hold"):
        value = draw(st.integers(0, 1))  # released shuffled or in order
        if kind == "hold":
            name = draw(st.sampled_from(PARTITION_KINDS))
    elif kind == "slow_apply":
        value = draw(st.integers(1, 50)) * _MS
    elif kind == "delay_spike":
        value = draw(st.integers(1, 4_000)) * _MS
    elif kind == "clock_skew":
        value = draw(st.integers(-600_000, 600_000))
    elif kind == "clock_leap":
        value = draw(st.integers(-10_000, 10_000)) * _MS
    elif kind == "crash_loop":
        value = draw(st.integers(1, 6))
        duration = draw(st.integers(0, 50)) * _MS  # each crash's down time
    elif kind == "disk_misdirect":
        value = draw(st.integers(1, 1000))
    elif kind == "disk_truncate_wal":
        value = draw(st.integers(1, 8_192))
        name = wal_path()
    elif kind == "disk_bitflip":
        name = DB_PATH
    if kind in TARGETED_KINDS and draw(st.booleans()):
        name = LEADER
    return Fault(at, kind, node, peer, duration, value, name)


@st.composite
def fault_schedules(
    draw: st.DrawFn, node_ids: list[int], start_us: int, end_us: int, max_faults: int = 12
) -> tuple[Fault, ...]:
    """A time-ordered schedule; at most one corrupted disk, and lasting disk damage on one
    member only (none with fewer than 3), so a quorum can always come back."""
    drawn = draw(st.lists(faults(node_ids, start_us, end_us), max_size=max_faults))
    schedule: list[Fault] = []
    corrupted = False
    damaged: int | None = None
    for fault in sorted(drawn, key=lambda f: (f.at_us, FAULT_KINDS.index(f.kind), f.node)):
        if fault.kind == "disk_corrupt":
            if corrupted:
                continue
            corrupted = True
        if fault.kind in DISK_DAMAGE_KINDS:
            if len(node_ids) < 3:
                continue
            damaged = fault.node if damaged is None else damaged
            fault = replace(fault, node=damaged)
        schedule.append(fault)
    return tuple(schedule)


@st.composite
def scenarios(
    draw: st.DrawFn, workload: str = "etcd", bugs: frozenset[str] = frozenset(),
    max_faults: int = 8,
) -> Scenario:
    """A whole scenario; it shrinks toward fewer faults, fewer clients, a lower rate and a
    shorter run (the minimal example: one client, no faults, 12 simulated seconds)."""
    duration = draw(st.integers(12, 40)) * 1_000_000
    mix = WorkloadConfig(clients=draw(st.integers(1, 6)),
                         rate=float(draw(st.integers(10, 150))),
                         keys=draw(st.sampled_from((3, 10, 50))),
                         serializable=draw(st.sampled_from((0.0, 0.2, 0.5))))
    base = Scenario(seed=draw(st.integers(0, 2**32 - 1)), duration_us=duration,
                    workload=workload, mix=mix, bugs=bugs)
    heal = base.heal_at_us
    if heal <= 1_000_000:
        return base
    schedule = draw(fault_schedules([1, 2, 3], 1_000_000, heal, max_faults=max_faults))
    return replace(base, faults=schedule)
