"""What a check found: a verdict per part and for the whole history, with its witness."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from sim.lincheck.history import Operation

__all__ = ["CheckResult", "PartResult", "Verdict"]


class Verdict(enum.Enum):
    """The checker's answer; UNKNOWN only when the time limit ran out."""

    LINEARIZABLE = "linearizable"
    NOT_LINEARIZABLE = "not linearizable"
    UNKNOWN = "unknown"


@dataclass
class PartResult:
    """One independent part (e.g. one key) and its witness.

    Linearizable: `order` is a linearization (operation ids; unknown-outcome operations that
    never took effect are left out). Not linearizable: `order` is the longest linearizable
    prefix found, and `stuck` the operations that could not be placed after it.
    """

    name: str  # e.g. the key, or "all"
    ops: list[Operation]
    verdict: Verdict
    order: list[int] = field(default_factory=list)
    stuck: list[int] = field(default_factory=list)
    explored: int = 0  # search states visited


@dataclass
class CheckResult:
    """The verdict on a whole history: linearizable only if every part is."""

    verdict: Verdict
    parts: list[PartResult]
    operations: int
    elapsed: float  # wall seconds

    @property
    def failing_parts(self) -> list[PartResult]:
        """Parts that are not linearizable."""
        return [p for p in self.parts if p.verdict is Verdict.NOT_LINEARIZABLE]
