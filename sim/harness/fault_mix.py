"""The default fault mix: a schedule of every kind of fault, drawn from a seed."""

from __future__ import annotations

import random

from etcdcore.server.backend import DB_PATH
from etcdcore.server.failpoints import REACHABLE
from etcdcore.wal import wal_path
from sim.world.faults import (
    DISK_DAMAGE_KINDS,
    FAULT_KINDS,
    LEADER,
    PARTITION_KINDS,
    TIMING_KINDS,
    Fault,
)

__all__ = ["generate_faults"]

_MS = 1_000
_FAILPOINT_NAMES = REACHABLE


def _duration(rng: random.Random, lo_ms: int, hi_ms: int) -> int:
    return rng.randint(lo_ms, hi_ms) * _MS


def generate_faults(
    rng: random.Random,
    node_ids: list[int],
    start_us: int,
    end_us: int,
    mean_gap_us: int = 1_500_000,
    kinds: tuple[str, ...] = FAULT_KINDS,
) -> list[Fault]:
    """A schedule mixing the fault `kinds` (all by default), in [start_us, end_us), from `rng`."""
    faults: list[Fault] = []
    corrupted = False  # one corrupted disk at most: a second could leave no quorum for good
    damaged: int | None = None  # the one member whose disk may be damaged for good
    halfway = start_us + (end_us - start_us) // 2
    t = start_us
    while True:
        t += max(1, int(rng.expovariate(1.0) * mean_gap_us))
        if t >= end_us:
            break
        kind = rng.choice(kinds)
        node = rng.choice(node_ids)
        if kind == "disk_corrupt":
            if corrupted or len(node_ids) < 3:
                kind = "crash"
            corrupted = corrupted or kind == "disk_corrupt"
        if kind in ("cut", "clog") and len(node_ids) < 2:
            kind = "delay"  # one member: no link between members to cut or clog
        if kind in DISK_DAMAGE_KINDS:
            # Damage a member's disk does not recover from: on one member only (a quorum of
            # sound disks always remains; a member whose disk is damaged counts as down), none
            # with fewer than 3 members; and misdirected writes, bad sectors, bit flips and a
            # cut WAL only once, in the second half of the faults, so that a run first works
            # its whole cluster.
            allowed = kind == "disk_corrupt" or (damaged is None and t >= halfway)
            if len(node_ids) < 3 or not allowed:
                kind = "crash"
            elif damaged is None:
                damaged = node
            else:
                node = damaged
        peer = rng.choice([i for i in node_ids if i != node] or [node])
        fault: Fault
        if kind in TIMING_KINDS:
            fault = _timing_fault(rng, t, kind, node)
        elif kind == "partition":
            fault = Fault(t, kind, duration_us=_duration(rng, 500, 8_000),
                          name=rng.choice(PARTITION_KINDS))
        elif kind in ("cut", "clog"):
            fault = Fault(t, kind, node, peer, _duration(rng, 200, 4_000))
        elif kind in ("loss", "duplicate"):
            fault = Fault(t, kind, duration_us=_duration(rng, 500, 5_000),
                          value=rng.randint(20, 300))
        elif kind == "delay":
            fault = Fault(t, kind, duration_us=_duration(rng, 500, 5_000),
                          value=rng.randint(5, 200) * _MS)
        elif kind == "failpoint":
            # Crash (value 0) or pause (value 1) the node when it next reaches the point.
            fault = Fault(t, kind, node, duration_us=_duration(rng, 100, 5_000),
                          value=int(rng.random() < 0.25), name=rng.choice(_FAILPOINT_NAMES))
        elif kind in ("crash", "pause", "disk_stall"):
            fault = Fault(t, kind, node, duration_us=_duration(rng, 100, 5_000))
        elif kind == "disk_latency":
            fault = Fault(t, kind, node, duration_us=_duration(rng, 500, 5_000),
                          value=rng.randint(2, 50))
        elif kind == "disk_error":
            fault = Fault(t, kind, node, duration_us=_duration(rng, 200, 3_000),
                          value=rng.randint(50, 500), name=rng.choice(("read", "write", "fsync")))
        elif kind in ("disk_corrupt", "disk_full"):
            fault = Fault(t, kind, node, duration_us=_duration(rng, 200, 3_000))
        elif kind in _DISK_FAULTS:
            fault = _disk_fault(rng, t, kind, node)
        elif kind == "clock_jump":
            fault = Fault(t, kind, node, value=rng.choice((-1, 1)) * rng.randint(1, 1_000) * _MS)
        else:  # clock_drift
            fault = Fault(t, kind, node, value=rng.choice((-1, 1)) * rng.randint(100, 50_000))
        faults.append(fault)
    return faults


def _timing_fault(rng: random.Random, t: int, kind: str, node: int) -> Fault:
    """One of TIMING_KINDS. Half of those aimed at a member aim at whoever leads at `t`.

    Holds, pauses and clock faults often outlast the election timeout (1 s by default), so
    a new leader is elected while the old one's messages wait, or while it is stopped.
    """
    if kind == "hold":
        # 0: the backlog is released shuffled (each message with its own latency); 1: in order.
        return Fault(t, kind, duration_us=_duration(rng, 500, 8_000),
                     value=int(rng.random() < 0.5), name=rng.choice(PARTITION_KINDS))
    name = LEADER if rng.random() < 0.5 else ""
    if kind == "slow_apply":  # each entry costs 2..50 ms more to apply: applied lags committed
        return Fault(t, kind, node, duration_us=_duration(rng, 500, 8_000),
                     value=rng.randint(2, 50) * _MS, name=name)
    if kind == "delay_spike":  # seconds of latency on every link from and to the member
        return Fault(t, kind, node, duration_us=_duration(rng, 500, 5_000),
                     value=rng.randint(1_000, 4_000) * _MS, name=name)
    if kind == "clock_skew":  # 10% to 60% fast or slow
        return Fault(t, kind, node, duration_us=_duration(rng, 1_000, 10_000),
                     value=rng.choice((-1, 1)) * rng.randint(100_000, 600_000), name=name)
    if kind == "clock_leap":  # a step of 1..10 s either way, corrected at the fault's end
        return Fault(t, kind, node, duration_us=_duration(rng, 500, 10_000),
                     value=rng.choice((-1, 1)) * rng.randint(1_000, 10_000) * _MS, name=name)
    if kind == "long_pause":  # stopped for longer than an election takes
        return Fault(t, kind, node, duration_us=_duration(rng, 1_500, 10_000), name=name)
    # crash_loop: 2..6 crashes, each down 0..50 ms, up 1..100 ms between them
    return Fault(t, kind, node, duration_us=rng.randint(0, 50_000), value=rng.randint(2, 6),
                 name=name)


_DISK_FAULTS = frozenset(
    {"disk_lost_writes", "disk_misdirect", "disk_bad_sector", "disk_truncate_wal",
     "disk_bitflip"})


def _disk_fault(rng: random.Random, t: int, kind: str, node: int) -> Fault:
    """One of the disk faults beyond the first ones (lost, misplaced, unreadable, cut, flipped)."""
    if kind == "disk_lost_writes":
        return Fault(t, kind, node, duration_us=_duration(rng, 100, 5_000))
    if kind == "disk_misdirect":
        return Fault(t, kind, node, duration_us=_duration(rng, 200, 3_000),
                     value=rng.randint(20, 300))
    if kind == "disk_bad_sector":
        return Fault(t, kind, node, duration_us=_duration(rng, 200, 3_000))
    if kind == "disk_truncate_wal":
        return Fault(t, kind, node, value=rng.randint(1, 4_096), name=wal_path())
    # disk_bitflip: in the backend's file (the raft workload has none: only the crash then)
    return Fault(t, kind, node, duration_us=_duration(rng, 200, 3_000), name=DB_PATH)
