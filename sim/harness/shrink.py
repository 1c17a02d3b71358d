"""Shrinking: the smallest scenario found that still fails the same check.

Each step proposes a smaller scenario and keeps it if the same check still fails: fewer faults
(delta debugging over the schedule: halves, then quarters, ..., then one fault at a time), a
shorter run (faults past the new heal drop out), fewer clients, a lower rate, shorter faults.
Every candidate is one deterministic run, so the result is itself replayable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from sim.cluster.result import RunResult
from sim.harness.scenario import Scenario, run_scenario

__all__ = ["ShrinkResult", "shrink"]

_S = 1_000_000


@dataclass
class ShrinkResult:
    """The smallest failing scenario found, its run, and how the search went."""

    scenario: Scenario
    result: RunResult
    check: str
    runs: int
    faults_before: int
    wall_seconds: float


def _fails(result: RunResult, check: str) -> bool:
    return any(v["check"] == check for v in result.violations)


def shrink(scenario: Scenario, check: str, max_runs: int = 300,
           progress: Callable[[str], None] | None = None) -> ShrinkResult:
    """Shrink `scenario` while it still fails `check`; ValueError if it does not fail it."""
    start = time.perf_counter()
    best_result = run_scenario(scenario)
    if not _fails(best_result, check):
        raise ValueError(f"the scenario does not fail {check!r}: nothing to shrink")
    best = scenario
    runs = 1
    faults_before = len(scenario.faults)

    def attempt(candidate: Scenario, what: str) -> bool:
        nonlocal best, best_result, runs
        if runs >= max_runs or candidate == best:
            return False
        runs += 1
        result = run_scenario(candidate)
        if _fails(result, check):
            best, best_result = candidate, result
            if progress is not None:
                progress(f"{what}: {len(best.faults)} faults, {best.duration_us / _S:g} s, "
                         f"{best.mix.clients} clients")
            return True
        return False

    changed = True
    while changed and runs < max_runs:
        changed = False
        changed |= _drop_faults(best, attempt)
        for candidate, what in _smaller_runs(best):
            if attempt(candidate, what):
                changed = True
                break
    return ShrinkResult(best, best_result, check, runs, faults_before,
                        time.perf_counter() - start)


def _drop_faults(scenario: Scenario, attempt: Callable[[Scenario, str], bool]) -> bool:
    """Delta debugging over the fault schedule; True if anything was dropped."""
    faults = list(scenario.faults)
    dropped = False
    n = 2
    while len(faults) >= 1:
        chunk = max(1, len(faults) // n)
        removed_one = False
        for i in range(0, len(faults), chunk):
            rest = faults[:i] + faults[i + chunk:]
            if attempt(replace(scenario, faults=tuple(rest)), f"dropped {chunk} fault(s)"):
                faults, dropped, removed_one = rest, True, True
                scenario = replace(scenario, faults=tuple(rest))
                n = max(n - 1, 2)
                break
        if not removed_one:
            if chunk == 1:
                break
            n = min(len(faults), n * 2)
    return dropped


def _smaller_runs(s: Scenario) -> Iterator[tuple[Scenario, str]]:
    """Candidates one step smaller than `s` in something other than the fault list."""
    if s.duration_us > 12 * _S:
        duration = max(12 * _S, s.duration_us * 2 // 3)
        shorter = replace(s, duration_us=duration)
        heal = shorter.heal_at_us
        yield replace(shorter, faults=tuple(f for f in s.faults if f.at_us < heal)), "shorter run"
    if s.workload == "etcd" and s.mix.clients > 1:
        yield replace(s, mix=replace(s.mix, clients=s.mix.clients // 2)), "fewer clients"
    if s.workload == "etcd" and s.mix.rate > 10:
        yield replace(s, mix=replace(s.mix, rate=max(10.0, s.mix.rate / 2))), "lower rate"
    long = [f for f in s.faults if f.duration_us > 200_000]
    if long:
        halved = tuple(replace(f, duration_us=max(100_000, f.duration_us // 2))
                       if f.duration_us > 200_000 else f for f in s.faults)
        yield replace(s, faults=halved), "shorter faults"
