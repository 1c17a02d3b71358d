"""Guided sweeps: keep the scenarios that reached something new, and mutate them.

As AFL does with inputs that cover new edges, with sometimes points (etcdcore.probes) as the
edges. A run's features are the points it hit, each point's hit count in one of AFL's buckets
(1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+) and each pair of points hit in the same run. A passing
run with a feature no earlier run had joins the corpus. Later runs are either fresh seeds (the
scenarios a blind sweep of the same seeds runs, in order) or mutations of a corpus scenario,
picked with a weight for its rare features: faults added, removed, moved, stretched or
retargeted; faults spliced in from another corpus scenario; a knob turned; the cluster resized;
the workload changed; the seed changed. A mutation is a whole `Scenario`, so every run of a
guided sweep can be saved and replayed exactly.

Deterministic given the sweep's seed and budget: runs go in generations of a fixed size; every
scenario of a generation is drawn (from the named stream "guided" of the sweep's seed) before
any of them runs, and the results are merged in scenario order, so neither the number of
workers nor the order in which they finish changes a thing.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from etcdcore.knobs import KNOBS, Knobs
from sim.cluster.config import RunConfig
from sim.harness.fault_mix import generate_faults
from sim.harness.scenario import Scenario
from sim.limits import SCENARIO
from sim.world.faults import FAULT_KINDS, Fault
from sim.world.rng import Streams

__all__ = [
    "GENERATION",
    "GuidedOutcome",
    "GuidedRun",
    "Mutator",
    "features",
    "guided_sweep",
]

GENERATION = 8  # runs drawn, then run, together: fixed, so workers never change the results
FRESH_SHARE = 0.25  # the share of a generation that runs fresh seeds while any are left
_S = 1_000_000
_FAULT_START_US = _S  # as the default mix: the first second is fault-free
_MEMBERS = (1, 3, 5)

# Run configs in, run_seed's results (RunResult.to_json and more) out, in the same order.
RunBatch = Callable[[list[RunConfig]], list[dict[str, Any]]]


def _bucket(hits: int) -> str:
    """AFL's hit-count buckets."""
    if hits <= 3:
        return str(hits)
    for top, name in ((7, "4-7"), (15, "8-15"), (31, "16-31"), (127, "32-127")):
        if hits <= top:
            return name
    return "128+"


def features(probes: Mapping[str, int]) -> tuple[str, ...]:
    """What a run covered: each point hit, its bucket, each pair of points hit together (sorted:
    anything computed over them is the same in every process)."""
    hit = sorted(name for name, n in probes.items() if n > 0)
    out = [*hit, *(f"{name}#{_bucket(probes[name])}" for name in hit)]
    out += [f"{a}&{b}" for i, a in enumerate(hit) for b in hit[i + 1:]]
    return tuple(sorted(out))


@dataclass(frozen=True)
class GuidedRun:
    """One run of a guided sweep: its place, scenario, where it came from, and its result."""

    index: int  # 0-based, in the order the sweep drew them
    scenario: Scenario
    origin: str  # "seed 12", or "run 3 mutated: add crash; move partition"
    result: dict[str, Any] = field(repr=False)
    new_features: int = 0  # features no earlier run had (0 for a failing run: not kept)

    @property
    def failed(self) -> bool:
        """True when a check failed."""
        return bool(self.result["violations"])

    @property
    def fresh(self) -> bool:
        """True for a fresh seed's scenario, as a blind sweep runs it (not a mutation)."""
        return self.origin.startswith("seed ")


@dataclass
class GuidedOutcome:
    """Everything a guided sweep ran, in order, and what it kept."""

    runs: list[GuidedRun] = field(default_factory=list)
    corpus: list[int] = field(default_factory=list)  # indexes of the runs kept
    features_seen: int = 0

    @property
    def failures(self) -> list[GuidedRun]:
        """The failing runs, in order."""
        return [r for r in self.runs if r.failed]

    def corpus_runs(self) -> list[GuidedRun]:
        """The runs kept in the corpus, in the order they joined it."""
        return [self.runs[i] for i in self.corpus]


class Mutator:
    """Draws mutations of scenarios from `rng` (faults go between 1 s and the heal)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def mutate(self, scenario: Scenario, donors: Sequence[Scenario] = ()) -> tuple[Scenario, str]:
        """One to three stacked mutations (a donor's faults may be spliced in); the new
        scenario, legal and valid as a scenario file, and what was done."""
        rng = self.rng
        count = 1 + (rng.random() < 0.5) + (rng.random() < 0.25)
        done: list[str] = []
        for _ in range(count):
            ops = self._operators(scenario, donors)
            name, op = ops[rng.randrange(len(ops))]
            scenario = op(scenario)
            scenario = replace(scenario, faults=legal_faults(scenario.faults, scenario.members,
                                                             scenario.heal_at_us))
            done.append(name)
        return scenario, "; ".join(done)

    def _operators(self, s: Scenario, donors: Sequence[Scenario]
                   ) -> list[tuple[str, Callable[[Scenario], Scenario]]]:
        ops: list[tuple[str, Callable[[Scenario], Scenario]]] = []
        if _fault_window(s) is not None:
            ops.append(("add fault", self.add_fault))
            if s.faults:
                ops += [("remove fault", self.remove_fault), ("move fault", self.move_fault),
                        ("stretch fault", self.stretch_fault),
                        ("retarget fault", self.retarget_fault)]
            if donors:
                ops.append(("splice faults", lambda x: self.splice(x, donors)))
        ops += [("turn knob", self.turn_knob), ("resize cluster", self.resize),
                ("change workload", self.change_workload), ("change seed", self.change_seed)]
        return ops

    # ---- faults --------------------------------------------------------------------------

    def add_fault(self, s: Scenario) -> Scenario:
        """One more fault, of a kind drawn at random, drawn as the default mix draws it."""
        window = _fault_window(s)
        assert window is not None
        start, end = window
        kind = self.rng.choice(FAULT_KINDS)
        drawn = generate_faults(self.rng, list(range(1, s.members + 1)), start, end,
                                mean_gap_us=max(1, (end - start) // 3), kinds=(kind,))
        if not drawn:
            return s
        return replace(s, faults=_by_time((*s.faults, self.rng.choice(drawn))))

    def remove_fault(self, s: Scenario) -> Scenario:
        """One fault fewer."""
        k = self.rng.randrange(len(s.faults))
        return replace(s, faults=s.faults[:k] + s.faults[k + 1:])

    def move_fault(self, s: Scenario) -> Scenario:
        """One fault at another time before the heal."""
        window = _fault_window(s)
        assert window is not None
        k = self.rng.randrange(len(s.faults))
        moved = replace(s.faults[k], at_us=self.rng.randrange(*window))
        return replace(s, faults=_by_time((*s.faults[:k], moved, *s.faults[k + 1:])))

    def stretch_fault(self, s: Scenario) -> Scenario:
        """One fault lasting twice as long, or half as long (100 ms at least)."""
        lasting = [k for k, f in enumerate(s.faults) if f.duration_us]
        if not lasting:
            return s
        k = self.rng.choice(lasting)
        f = s.faults[k]
        longer = self.rng.random() < 0.5
        # Never past what a scenario file may hold (sim.limits), so that a replay reads it.
        duration = (min(f.duration_us * 2, int(SCENARIO["faults.duration_us"].high)) if longer
                    else max(100_000, f.duration_us // 2))
        return replace(s, faults=(*s.faults[:k], replace(f, duration_us=duration),
                                  *s.faults[k + 1:]))

    def retarget_fault(self, s: Scenario) -> Scenario:
        """One fault aimed at other members."""
        k = self.rng.randrange(len(s.faults))
        f = s.faults[k]
        ids = list(range(1, s.members + 1))
        node = self.rng.choice(ids)
        peer = self.rng.choice([i for i in ids if i != node] or [node])
        moved = replace(f, node=node if f.node else 0, peer=peer if f.peer else 0)
        return replace(s, faults=(*s.faults[:k], moved, *s.faults[k + 1:]))

    def splice(self, s: Scenario, donors: Sequence[Scenario]) -> Scenario:
        """The faults of a window of time taken from another corpus scenario."""
        window = _fault_window(s)
        assert window is not None
        donor = donors[self.rng.randrange(len(donors))]
        a, b = sorted((self.rng.randrange(*window), self.rng.randrange(*window)))
        kept = [f for f in s.faults if not a <= f.at_us < b]
        taken = [f for f in donor.faults if a <= f.at_us < b]
        return replace(s, faults=_by_time((*kept, *taken)))

    # ---- everything else -----------------------------------------------------------------

    def turn_knob(self, s: Scenario) -> Scenario:
        """One knob to another of its unusual values, or back to etcd's default."""
        name = self.rng.choice(sorted(KNOBS))
        current = getattr(s.knobs, name)
        default = getattr(Knobs(), name)
        choices = [v for v in (*KNOBS[name].unusual, default) if v != current]
        return replace(s, knobs=replace(s.knobs, **{name: self.rng.choice(choices)}))

    def resize(self, s: Scenario) -> Scenario:
        """Another cluster size (faults aimed at members that are gone move to others)."""
        members = self.rng.choice([m for m in _MEMBERS if m != s.members])
        return replace(s, members=members)

    def change_workload(self, s: Scenario) -> Scenario:
        """The raft workload's rate, or one feature of the etcd workload's mix."""
        rng = self.rng
        if s.workload == "raft":
            return replace(s, proposals_per_sec=rng.choice((20, 50, 100, 200)))
        mix = s.mix
        what = rng.choice(("clients", "rate", "keys", "serializable", "weight"))
        if what == "clients":
            mix = replace(mix, clients=rng.choice((1, 2, 4, 8)))
        elif what == "rate":
            mix = replace(mix, rate=float(rng.choice((20, 50, 100, 200))))
        elif what == "keys":
            mix = replace(mix, keys=rng.choice((3, 10, 50)))
        elif what == "serializable":
            mix = replace(mix, serializable=rng.choice((0.0, 0.2, 0.5)))
        else:  # an operation kind switched off, or back on at its default weight
            kind = rng.choice(("range_key", "range_prefix", "delete", "cas", "multi_txn",
                               "compact"))
            default = getattr(type(mix)(), kind)
            weight: dict[str, Any] = {kind: 0 if getattr(mix, kind) else default}
            mix = replace(mix, **weight)
        return replace(s, mix=mix)

    def change_seed(self, s: Scenario) -> Scenario:
        """The same schedule, knobs and workload in another world (every stream redrawn)."""
        return replace(s, seed=self.rng.randrange(2**31))


def _fault_window(s: Scenario) -> tuple[int, int] | None:
    """[start, heal) where faults may go, or None if the run has no time for faults."""
    heal = s.heal_at_us
    return (_FAULT_START_US, heal) if heal > _FAULT_START_US else None


def _by_time(faults: Sequence[Fault]) -> tuple[Fault, ...]:
    """Faults in time order (a stable sort: simultaneous ones keep their order)."""
    return tuple(sorted(faults, key=lambda f: f.at_us))


def legal_faults(faults: Sequence[Fault], members: int, heal_at_us: int) -> tuple[Fault, ...]:
    """`faults` as the default mix would allow them on `members` members: targets within the
    cluster, before the heal, no link from a member to itself, and at most one corrupted disk
    (none under three members: a second, or one of too few, could leave no quorum for good)."""
    out: list[Fault] = []
    corrupted = False
    for f in faults:
        if f.at_us >= heal_at_us:
            continue
        node = (f.node - 1) % members + 1 if f.node else 0
        peer = (f.peer - 1) % members + 1 if f.peer else 0
        if f.kind in ("cut", "clog") and node == peer:
            continue
        kind = f.kind
        if kind == "disk_corrupt":
            if corrupted or members < 3:
                kind = "crash"
            corrupted = corrupted or kind == "disk_corrupt"
        out.append(replace(f, kind=kind, node=node, peer=peer))
    return tuple(out)


@dataclass
class _Entry:
    """A corpus scenario, its run's index and its features."""

    run: int
    scenario: Scenario
    features: tuple[str, ...]


def guided_sweep(
    base: RunConfig,
    seeds: Sequence[int],
    run_batch: RunBatch,
    *,
    guide_seed: int | None = None,
    generation: int = GENERATION,
    stop_at_first_failure: bool = False,
) -> GuidedOutcome:
    """Run `len(seeds)` scenarios: the fresh ones are `base` at each of `seeds` in order, the
    others mutations of the corpus; the mutations draw from stream "guided" of `guide_seed`
    (default: the first seed). `run_batch` runs a generation's configs and gives back their
    results in order (sim.harness.sweep.SeedRunner.run)."""
    budget = len(seeds)
    root = guide_seed if guide_seed is not None else (seeds[0] if seeds else 0)
    rng = Streams(root).get("guided")
    mutator = Mutator(rng)
    outcome = GuidedOutcome()
    corpus: list[_Entry] = []
    seen: dict[str, int] = {}  # feature -> passing runs that had it
    fresh = iter(seeds)
    fresh_left = budget
    while len(outcome.runs) < budget:
        size = min(generation, budget - len(outcome.runs))
        drawn: list[tuple[Scenario, str]] = []
        for _ in range(size):
            if fresh_left and (not corpus or rng.random() < FRESH_SHARE):
                seed = next(fresh)
                fresh_left -= 1
                drawn.append((Scenario.from_config(dataclasses.replace(base, seed=seed)),
                              f"seed {seed}"))
                continue
            parent = _pick(rng, corpus, seen)
            donors = [e.scenario for e in corpus if e is not parent]
            child, what = mutator.mutate(parent.scenario, donors)
            drawn.append((child, f"run {parent.run} mutated: {what}"))
        results = run_batch([s.to_config() for s, _ in drawn])
        for (scenario, origin), result in zip(drawn, results, strict=True):
            index = len(outcome.runs)
            new = 0
            if not result["violations"]:
                feats = features(result.get("probes", {}))
                new = sum(1 for f in feats if f not in seen)
                for f in feats:
                    seen[f] = seen.get(f, 0) + 1
                if new:
                    corpus.append(_Entry(index, scenario, feats))
                    outcome.corpus.append(index)
            outcome.runs.append(GuidedRun(index, scenario, origin, result, new))
        outcome.features_seen = len(seen)
        if stop_at_first_failure and outcome.failures:
            break
    return outcome


def _pick(rng: random.Random, corpus: list[_Entry], seen: dict[str, int]) -> _Entry:
    """A corpus entry, weighted by how rare its features are (each counts 1 / runs having it)."""
    weights = [sum(1.0 / seen[f] for f in entry.features) for entry in corpus]
    return rng.choices(corpus, weights)[0]
