"""What a run found (RunResult), and its trace read lazily (TraceEvents)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from sim.world.trace import Event, Trace

__all__ = ["RunResult", "TraceEvents", "history_undecided"]

_REPR_DETAIL = 200  # characters of the first violation's detail in a RunResult's repr


def history_undecided(checks: dict[str, str]) -> bool:
    """True when a run's checks say its history got no linearizability verdict in time."""
    return str(checks.get("linearizable", "")).startswith("unknown")


@dataclass
class RunResult:
    """What a run found."""

    seed: int
    digest: str
    sim_seconds: float
    wall_seconds: float
    events: int
    faults: dict[str, int]
    checks: dict[str, str]
    violations: list[dict[str, Any]]
    proposed: int
    committed: int
    leaders: int
    nodes: int
    trace: Sequence[Event] = field(repr=False, default_factory=list)
    workload: str = "raft"
    ops: dict[str, dict[str, int]] = field(default_factory=dict)
    # The etcd workload's history as jsonl text, or what writes it when first read (`history`).
    history_source: str | Callable[[], str] = field(repr=False, default="", compare=False)
    check_seconds: float = 0.0  # wall time of the linearizability check, within wall_seconds
    # The sometimes points the run reached (sim.world.probes.POINTS), name -> hits, by name.
    probes: dict[str, int] = field(default_factory=dict)
    # For each fault of the schedule, the messages it held or delayed (0 for other kinds).
    fault_messages: list[int] = field(default_factory=list)

    @property
    def history(self) -> str:
        """The etcd workload's history, jsonl ("" for the raft workload)."""
        if not isinstance(self.history_source, str):
            self.history_source = self.history_source()
        return self.history_source

    @property
    def ok(self) -> bool:
        """True when no check failed."""
        return not self.violations

    @property
    def undecided(self) -> bool:
        """True when the history's check found no verdict within its time limit."""
        return history_undecided(self.checks)

    @property
    def verdict(self) -> str:
        """PASS, FAIL, or UNDECIDED: no check failed, but the history got no verdict in time."""
        if not self.ok:
            return "FAIL"
        return "UNDECIDED" if self.undecided else "PASS"

    def __repr__(self) -> str:
        # Short: a failing `assert result.ok` shows this, and the fields run to megabytes (each
        # violation carries the trace before it). The artifacts have the rest.
        head = f"RunResult(seed={self.seed}, digest={self.digest!r}"
        if self.ok:
            return f"{head}, ok)"
        first = self.violations[0]
        detail = " ".join(str(first.get("detail", "")).split())
        if len(detail) > _REPR_DETAIL:
            detail = detail[:_REPR_DETAIL - 3] + "..."
        more = len(self.violations) - 1
        return (f"{head}, failed: {first['check']}: {detail}"
                + (f" (and {more} more)" if more else "") + ")")

    def to_json(self) -> dict[str, Any]:
        """The --json form (without the trace)."""
        return {
            "seed": self.seed,
            "nodes": self.nodes,
            "digest": self.digest,
            "sim_seconds": self.sim_seconds,
            "wall_seconds": round(self.wall_seconds, 3),
            "events": self.events,
            "faults": self.faults,
            "checks": self.checks,
            "violations": self.violations,
            "proposed": self.proposed,
            "committed": self.committed,
            "leaders": self.leaders,
            "workload": self.workload,
            **({"ops": self.ops} if self.workload == "etcd" else {}),
            "probes": self.probes,
        }


class TraceEvents(Sequence[Event]):
    """A run's trace events, built into tuples when first read (most runs are never read)."""

    def __init__(self, trace: Trace) -> None:
        self._trace = trace

    def __len__(self) -> int:
        return len(self._trace)

    @overload
    def __getitem__(self, i: int) -> Event: ...

    @overload
    def __getitem__(self, i: slice) -> list[Event]: ...

    def __getitem__(self, i: int | slice) -> Event | list[Event]:
        return self._trace.events[i]

    def __iter__(self) -> Iterator[Event]:
        return iter(self._trace.events)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __reduce__(self) -> tuple[Any, ...]:
        return list, (self._trace.events,)  # a plain list across processes
