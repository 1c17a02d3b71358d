"""Shrinking: the smallest scenario found that still fails the same check.

Each step proposes a smaller scenario and keeps it if the same check still fails: fewer faults
(delta debugging over the schedule: halves, then quarters, ..., then one fault at a time), a
shorter run (faults past the new heal drop out), fewer clients, a lower rate, shorter faults;
then, once none of those helps, fewer client operations (a cap on each client's, then delta
debugging over those left: `mix.max_ops`, `mix.skip`) and fewer messages held or delayed (each
hold, clog, delay and delay spike's `count`, lowered by bisection). Every candidate is one
deterministic run, so the result is itself replayable.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

from sim.cluster.result import RunResult
from sim.cluster.workload import CLIENT_BASE
from sim.harness.scenario import Scenario, run_scenario
from sim.world.faults import MESSAGE_KINDS

__all__ = ["ShrinkResult", "client_operations", "held_or_delayed", "shrink"]

_S = 1_000_000

Attempt = Callable[[Scenario, str], bool]


@dataclass
class ShrinkResult:
    """The smallest failing scenario found, its run, and how the search went."""

    scenario: Scenario
    result: RunResult
    check: str
    runs: int
    faults_before: int
    wall_seconds: float
    ops_before: int = 0  # client operations issued by the first run (etcd workload)
    messages_before: int = 0  # messages its faults held or delayed

    @property
    def ops_after(self) -> int:
        """Client operations the smallest failing run issued."""
        return len(client_operations(self.scenario, self.result))

    @property
    def messages_after(self) -> int:
        """Messages the smallest failing run's faults held or delayed."""
        return held_or_delayed(self.result)

    def summary(self, before: Scenario) -> str:
        """One line: what shrank, from `before` (the scenario shrunk) to the smallest."""
        s = self.scenario
        clients = (f"{before.mix.clients} clients -> {s.mix.clients}, "
                   f"{self.ops_before} operations -> {self.ops_after}, "
                   if s.workload == "etcd" else "")
        return (f"{self.faults_before} faults -> {len(s.faults)}, "
                f"{before.duration_us / _S:g} s -> {s.duration_us / _S:g} s, {clients}"
                f"{self.messages_before} held or delayed messages -> {self.messages_after}")


def client_operations(scenario: Scenario, result: RunResult) -> list[tuple[int, int]]:
    """The workload clients' operations the run issued, in the order they were invoked: (client
    id, the operation's number), numbered as `mix.skip` names them (the prober's left out)."""
    if scenario.workload != "etcd" or not result.history:
        return []
    skip = frozenset(scenario.mix.skip)
    drawn: dict[int, int] = {}
    out: list[tuple[int, int]] = []
    for line in result.history.splitlines():
        if '"invoke"' not in line:
            continue
        event = json.loads(line)
        client = event.get("client")
        if event.get("kind") != "invoke" or not isinstance(client, int) or client <= CLIENT_BASE:
            continue
        n = drawn.get(client, 0) + 1
        while (client, n) in skip:
            n += 1
        drawn[client] = n
        out.append((client, n))
    return out


def held_or_delayed(result: RunResult) -> int:
    """How many messages the run's faults held or delayed."""
    return sum(result.fault_messages)


def _fails(result: RunResult, check: str) -> bool:
    return any(v["check"] == check for v in result.violations)


class _Search:
    """The smallest failing scenario so far, its run, and the runs left."""

    def __init__(self, scenario: Scenario, result: RunResult, check: str, max_runs: int,
                 progress: Callable[[str], None] | None) -> None:
        self.best = scenario
        self.result = result
        self.check = check
        self.runs = 1
        self.max_runs = max_runs
        self.progress = progress

    @property
    def spent(self) -> bool:
        """No runs left."""
        return self.runs >= self.max_runs

    def attempt(self, candidate: Scenario, what: str) -> bool:
        """Run `candidate`; keep it if it fails the same check."""
        if self.spent or candidate == self.best:
            return False
        self.runs += 1
        result = run_scenario(candidate)
        if not _fails(result, self.check):
            return False
        self.best, self.result = candidate, result
        if self.progress is not None:
            clients = (f"{candidate.mix.clients} clients, "
                       f"{len(client_operations(candidate, result))} operations, "
                       if candidate.workload == "etcd" else "")
            self.progress(f"{what}: {len(candidate.faults)} faults, "
                          f"{candidate.duration_us / _S:g} s, {clients}"
                          f"{held_or_delayed(result)} held or delayed messages")
        return True


def shrink(scenario: Scenario, check: str, max_runs: int = 300,
           progress: Callable[[str], None] | None = None) -> ShrinkResult:
    """Shrink `scenario` while it still fails `check`; ValueError if it does not fail it."""
    start = time.perf_counter()
    first = run_scenario(scenario)
    if not _fails(first, check):
        raise ValueError(f"the scenario does not fail {check!r}: nothing to shrink")
    search = _Search(scenario, first, check, max_runs, progress)
    changed = True
    while changed and not search.spent:
        changed = _drop_faults(search.best, search.attempt)
        for candidate, what in _smaller_runs(search.best):
            if search.attempt(candidate, what):
                changed = True
                break
        if changed:
            continue
        # The finer steps, once the coarse ones find nothing more.
        changed |= _cap_operations(search)
        changed |= _drop_operations(search)
        changed |= _fewer_messages(search)
    return ShrinkResult(search.best, search.result, check, search.runs, len(scenario.faults),
                        time.perf_counter() - start,
                        ops_before=len(client_operations(scenario, first)),
                        messages_before=held_or_delayed(first))


def _drop_faults(scenario: Scenario, attempt: Attempt) -> bool:
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
        clients = s.mix.clients // 2
        skip = tuple(p for p in s.mix.skip if p[0] <= CLIENT_BASE + clients)
        yield replace(s, mix=replace(s.mix, clients=clients, skip=skip)), "fewer clients"
    if s.workload == "etcd" and s.mix.rate > 10:
        yield replace(s, mix=replace(s.mix, rate=max(10.0, s.mix.rate / 2))), "lower rate"
    long = [f for f in s.faults if f.duration_us > 200_000]
    if long:
        halved = tuple(replace(f, duration_us=max(100_000, f.duration_us // 2))
                       if f.duration_us > 200_000 else f for f in s.faults)
        yield replace(s, faults=halved), "shorter faults"


def _capped(s: Scenario, cap: int) -> Scenario:
    skip = tuple(p for p in s.mix.skip if p[1] <= cap)
    return replace(s, mix=replace(s.mix, max_ops=cap, skip=skip))


def _cap_operations(search: _Search) -> bool:
    """Bisect for the lowest cap on each client's operations that still fails."""
    issued = client_operations(search.best, search.result)
    if not issued:
        return False
    lo, hi = 1, max(n for _, n in issued)  # hi fails: no client issued more
    changed = False
    while lo < hi and not search.spent:
        mid = (lo + hi) // 2
        if search.attempt(_capped(search.best, mid), f"at most {mid} operations a client"):
            hi, changed = mid, True
        else:
            lo = mid + 1
    return changed


def _drop_operations(search: _Search) -> bool:
    """Delta debugging over the operations issued: leave out halves, quarters, ..., one."""
    dropped = False
    n = 2
    while not search.spent:
        s = search.best
        ops = client_operations(s, search.result)
        if not ops:
            break
        chunk = max(1, len(ops) // n)
        removed = False
        for i in range(0, len(ops), chunk):
            left_out = ops[i:i + chunk]
            skip = tuple(sorted({*s.mix.skip, *left_out}))
            if search.attempt(replace(s, mix=replace(s.mix, skip=skip)),
                              f"left out {len(left_out)} operation(s)"):
                dropped = removed = True
                n = max(n - 1, 2)
                break
            if search.spent:
                return dropped
        if not removed:
            if chunk == 1:
                break
            n = min(len(ops), n * 2)
    return dropped


def _fewer_messages(search: _Search) -> bool:
    """For each fault that holds or delays messages, bisect for the fewest that still fail."""
    changed = False
    for index, fault in enumerate(search.best.faults):
        if fault.kind not in MESSAGE_KINDS:
            continue
        lo, hi = 1, search.result.fault_messages[index]  # hi fails: it affected no more
        while lo < hi and not search.spent:
            mid = (lo + hi) // 2
            faults = list(search.best.faults)
            faults[index] = replace(fault, count=mid)
            if search.attempt(replace(search.best, faults=tuple(faults)),
                              f"{fault.kind} at {fault.at_us / _S:g} s: at most {mid} "
                              "messages held or delayed"):
                hi, changed = min(mid, search.result.fault_messages[index]), True
            else:
                lo = mid + 1
    return changed
