"""The simulated world's sometimes points (network, disk, faults), and the registry of them all.

etcdcore.probes registers the points of the system under test; the world's own are here, where
their code is. `POINTS` is every point a run can report, by name. A run's counter lives beside
its trace (`Trace.probes`), so every part of the world reaches it; it is never digested.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from etcdcore.probes import POINTS as ETCDCORE_POINTS
from etcdcore.probes import Point, Probes
from sim.world.network import Network

__all__ = ["POINTS", "WORLD_POINTS", "hit_line", "never_hit", "record_partition"]

_WORLD = (
    Point("net.duplicated", "the network delivered a message twice"),
    Point("net.held_released_shuffled",
          "a clogged link released several held messages, in a new order"),
    Point("disk.crash_during_fsync", "a node crashed while an fsync of one of its files was "
                                     "in flight"),
    Point("fault.crash_hit_leader", "a crash fault hit the member that was leading"),
    Point("fault.partition_cut_off_leader",
          "a partition left the leader's messages reaching less than a majority"),
    Point("fault.failpoint_reached", "a member reached an armed failpoint and crashed or paused "
                                     "there"),
)

WORLD_POINTS: dict[str, Point] = {p.name: p for p in _WORLD}
POINTS: dict[str, Point] = {**ETCDCORE_POINTS, **WORLD_POINTS}


def hit_line(counts: Mapping[str, int]) -> str:
    """One line: how many of the registered points `counts` (name -> hits) reached."""
    hit = sum(1 for name in POINTS if counts.get(name, 0) > 0)
    return f"hit {hit} of {len(POINTS)} sometimes points"


def never_hit(counts: Mapping[str, int]) -> list[str]:
    """The registered points `counts` never reached, by name."""
    return sorted(name for name in POINTS if counts.get(name, 0) <= 0)


def record_partition(probes: Probes, network: Network, members: Sequence[int],
                     leader: int | None) -> None:
    """After a partition is applied: does the leader still reach a majority?"""
    if leader is None:
        return
    reached = sum(1 for n in members if n == leader or not network.is_cut(leader, n))
    probes.sometimes(reached <= len(members) // 2, "fault.partition_cut_off_leader")
