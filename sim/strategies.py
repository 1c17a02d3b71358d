"""Hypothesis strategies for fault schedules; they shrink toward fewer, shorter, earlier faults."""

from __future__ import annotations

from hypothesis import strategies as st

from etcdcore.server.failpoints import REACHABLE
from sim.faults import FAULT_KINDS, PARTITION_KINDS, Fault

__all__ = ["fault_schedules", "faults"]

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
    return Fault(at, kind, node, peer, duration, value, name)


@st.composite
def fault_schedules(
    draw: st.DrawFn, node_ids: list[int], start_us: int, end_us: int, max_faults: int = 12
) -> tuple[Fault, ...]:
    """A time-ordered schedule; at most one corrupted disk, so a quorum can always come back."""
    drawn = draw(st.lists(faults(node_ids, start_us, end_us), max_size=max_faults))
    schedule: list[Fault] = []
    corrupted = False
    for fault in sorted(drawn, key=lambda f: (f.at_us, FAULT_KINDS.index(f.kind), f.node)):
        if fault.kind == "disk_corrupt":
            if corrupted:
                continue
            corrupted = True
        schedule.append(fault)
    return tuple(schedule)
