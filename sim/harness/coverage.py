"""Sometimes points across many runs: which points each reached, and which none reached.

A run reports its points as name -> hits (RunResult.probes); a sweep adds its runs up here and
prints, at the end, the points never hit and, per point, how many runs reached it and how often.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sim.world.probes import POINTS, hit_line, never_hit

__all__ = ["Coverage"]


class Coverage:
    """Per point: the runs that reached it and the hits in all; `add` one run at a time."""

    def __init__(self) -> None:
        self.runs = 0
        self.runs_hitting: dict[str, int] = {}
        self.hits: dict[str, int] = {}

    def add(self, probes: Mapping[str, int]) -> None:
        """One more run, with its points (name -> hits)."""
        self.runs += 1
        for name, n in probes.items():
            if n > 0:
                self.runs_hitting[name] = self.runs_hitting.get(name, 0) + 1
                self.hits[name] = self.hits.get(name, 0) + n

    def never_hit(self) -> list[str]:
        """The registered points no run reached, by name."""
        return never_hit(self.hits)

    def to_json(self) -> dict[str, Any]:
        """Every registered point (and any unregistered one a run reported) with its figures."""
        names = sorted(set(POINTS) | set(self.hits))
        return {
            "runs": self.runs,
            "registered": len(POINTS),
            "hit": sum(1 for name in POINTS if self.hits.get(name, 0) > 0),
            "never_hit": self.never_hit(),
            "points": {name: {"runs": self.runs_hitting.get(name, 0),
                              "hits": self.hits.get(name, 0)} for name in names},
        }

    def lines(self) -> list[str]:
        """The summary a sweep prints: the line, the points never hit, then every point reached,
        rarest first (runs that reached it, then hits)."""
        out = [f"points      {hit_line(self.hits)} across {self.runs} runs"]
        missed = self.never_hit()
        if missed:
            out.append(f"  never hit ({len(missed)}): " + ", ".join(missed))
        reached = sorted(self.hits, key=lambda name: (self.runs_hitting[name], name))
        if reached:
            out.append(f"  {'point':<40} {'runs':>6} {'hits':>10}")
            out += [f"  {name:<40} {self.runs_hitting[name]:>6} {self.hits[name]:>10,}"
                    + ("" if name in POINTS else "   (not registered)") for name in reached]
        return out
