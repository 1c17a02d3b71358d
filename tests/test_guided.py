"""Guided sweeps: a deterministic corpus, mutations that replay exactly, and bugs found."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from etcdcore import bugs
from etcdcore.knobs import Knobs
from sim.cluster.config import RunConfig
from sim.commands.cli import main
from sim.harness.guided import GuidedOutcome, Mutator, features, guided_sweep, legal_faults
from sim.harness.scenario import Scenario, run_scenario
from sim.harness.sweep import run_seeds
from sim.world.faults import Fault

ROOT = Path(__file__).resolve().parents[1]
S = 1_000_000

# Short runs with room for faults: the heal comes 2.4 s before the end, faults from 1 s on.
BASE = RunConfig(seed=0, duration_us=8 * S, liveness_bound_us=2 * S, workload="raft",
                 proposals_per_sec=50)


def _run_batch(configs: list[RunConfig]) -> list[dict[str, Any]]:
    return run_seeds(configs, 1)


def _fingerprint(outcome: GuidedOutcome) -> dict[str, Any]:
    """What a guided sweep found, as plain data: every run's origin and digest, the corpus."""
    return {
        "runs": [[r.origin, r.scenario.seed, r.result["digest"], r.new_features]
                 for r in outcome.runs],
        "corpus": outcome.corpus,
        "failures": [r.index for r in outcome.failures],
        "features": outcome.features_seen,
    }


def test_features_are_the_points_hit_their_afl_buckets_and_the_pairs_hit_together() -> None:
    feats = features({"b.y": 5, "a.x": 1, "c.z": 0, "d.w": 200})
    assert feats == tuple(sorted((
        "a.x", "b.y", "d.w", "a.x#1", "b.y#4-7", "d.w#128+",
        "a.x&b.y", "a.x&d.w", "b.y&d.w")))
    assert features({}) == ()
    buckets = {n: next(f for f in features({"p.q": n}) if "#" in f).split("#")[1]
               for n in (1, 2, 3, 4, 7, 8, 15, 16, 31, 32, 127, 128, 10_000)}
    assert buckets == {1: "1", 2: "2", 3: "3", 4: "4-7", 7: "4-7", 8: "8-15", 15: "8-15",
                       16: "16-31", 31: "16-31", 32: "32-127", 127: "32-127", 128: "128+",
                       10_000: "128+"}


def _mutants(n: int, seed: int = 7) -> list[tuple[Scenario, str]]:
    """`n` mutations chained from a default scenario, with a donor for splicing."""
    mutator = Mutator(random.Random(seed))
    etcd = Scenario.from_config(RunConfig(seed=3, duration_us=20 * S))
    donor = Scenario.from_config(RunConfig(seed=4, duration_us=20 * S))
    raft = Scenario.from_config(RunConfig(seed=5, duration_us=20 * S, workload="raft"))
    out = []
    current = etcd
    for i in range(n):
        current, what = mutator.mutate(current if i % 5 else (raft if i % 10 else etcd), [donor])
        out.append((current, what))
    return out


def test_every_mutation_is_a_legal_scenario_that_a_scenario_file_holds_exactly() -> None:
    mutants = _mutants(200)
    done = {op for _, what in mutants for op in what.split("; ")}
    assert done == {"add fault", "remove fault", "move fault", "stretch fault", "retarget fault",
                    "splice faults", "turn knob", "resize cluster", "change workload",
                    "change seed"}
    for scenario, what in mutants:
        assert Scenario.loads(scenario.dumps()) == scenario, what
        heal = scenario.heal_at_us
        ids = range(1, scenario.members + 1)
        for f in scenario.faults:
            assert f.at_us < heal
            assert f.node == 0 or f.node in ids
            assert f.peer == 0 or f.peer in ids
            assert not (f.kind in ("cut", "clog") and f.node == f.peer)
        corrupt = [f for f in scenario.faults if f.kind == "disk_corrupt"]
        assert len(corrupt) <= (1 if scenario.members >= 3 else 0)
        assert [f.at_us for f in scenario.faults] == sorted(f.at_us for f in scenario.faults)
    assert {s.members for s, _ in mutants} == {1, 3, 5}
    assert any(s.knobs != Knobs() for s, _ in mutants)


def test_a_mutated_scenario_saved_and_loaded_replays_with_the_same_digest(tmp_path: Path) -> None:
    mutator = Mutator(random.Random(11))
    scenario = Scenario.from_config(dataclasses.replace(BASE, seed=2))
    digests = set()
    for i in range(3):
        scenario, _ = mutator.mutate(scenario)
        path = tmp_path / f"m{i}.json"
        path.write_text(scenario.dumps(), encoding="utf-8")
        loaded = Scenario.loads(path.read_text(encoding="utf-8"))
        first, again = run_scenario(scenario), run_scenario(loaded)
        assert first.digest == again.digest
        assert first.probes == again.probes
        digests.add(first.digest)
    assert len(digests) == 3


def test_legal_faults_keep_targets_in_the_cluster_and_one_corrupted_disk_at_most() -> None:
    faults = [Fault(2 * S, "cut", 1, 2, S), Fault(2 * S, "cut", 1, 4, S),
              Fault(3 * S, "clog", 2, 5, S), Fault(4 * S, "disk_corrupt", 3, 0, S),
              Fault(5 * S, "disk_corrupt", 1, 0, S), Fault(9 * S, "crash", 1, 0, S)]
    three = legal_faults(faults, 3, 8 * S)
    # 4 and 5 wrap round to 1 and 2: a link from a member to itself is no link, and goes.
    assert [(f.kind, f.node, f.peer) for f in three] == [
        ("cut", 1, 2), ("disk_corrupt", 3, 0), ("crash", 1, 0)]
    one = legal_faults(faults, 1, 8 * S)
    assert [(f.kind, f.node) for f in one] == [("crash", 1), ("crash", 1)]
    assert legal_faults(faults, 5, 10 * S) == (*faults[:4], dataclasses.replace(
        faults[4], kind="crash"), faults[5])


def test_the_first_generation_of_a_guided_sweep_is_what_a_blind_sweep_runs() -> None:
    outcome = guided_sweep(BASE, range(4), _run_batch)
    blind = run_seeds([dataclasses.replace(BASE, seed=s) for s in range(4)], 1)
    assert [r.origin for r in outcome.runs] == ["seed 0", "seed 1", "seed 2", "seed 3"]
    assert [r.result["digest"] for r in outcome.runs] == [b["digest"] for b in blind]


_IN_ANOTHER_PROCESS = """
import json, sys
from sim.cluster.config import RunConfig
from sim.harness.guided import guided_sweep
from sim.harness.sweep import SeedRunner
from tests.test_guided import BASE, _fingerprint
with SeedRunner(2) as runner:
    outcome = guided_sweep(BASE, range(20, 36), runner.run)
print(json.dumps(_fingerprint(outcome)))
"""


def test_a_guided_sweep_is_the_same_given_its_seeds_whatever_the_process_or_workers() -> None:
    here = guided_sweep(BASE, range(20, 36), _run_batch)
    env = dict(os.environ, PYTHONHASHSEED="4321")
    out = subprocess.run([sys.executable, "-c", _IN_ANOTHER_PROCESS], capture_output=True,
                         text=True, check=True, env=env, cwd=ROOT)
    assert json.loads(out.stdout) == json.loads(json.dumps(_fingerprint(here)))
    assert len(here.runs) == 16
    assert any(not r.fresh for r in here.runs)  # mutations ran
    assert here.corpus and all(here.runs[i].new_features > 0 for i in here.corpus)
    other_seeds = guided_sweep(BASE, range(40, 56), _run_batch)
    assert _fingerprint(other_seeds) != _fingerprint(here)


def test_guided_finds_a_bug_that_the_same_budget_of_fault_free_seeds_never_shows() -> None:
    # Applying again what the backend holds shows only after a restart: no fault-free seed
    # restarts anything, but a mutation adds the crash.
    base = RunConfig(seed=0, duration_us=12 * S, liveness_bound_us=3 * S, faults="none",
                     bugs=frozenset({bugs.APPLY_BELOW_CONSISTENT_INDEX}))
    budget = range(24)
    outcome = guided_sweep(base, budget, _run_batch, stop_at_first_failure=True)
    assert outcome.failures, "guided found nothing"
    found = outcome.failures[0]
    assert not found.fresh and found.result["violations"][0]["check"] in ("converged",
                                                                         "linearizable")
    blind = run_seeds([dataclasses.replace(base, seed=s) for s in budget[:found.index + 1]], 1)
    assert not any(r["violations"] for r in blind)
    # The failing mutation replays as a scenario file, and fails there too.
    again = run_scenario(Scenario.loads(found.scenario.dumps()))
    assert again.digest == found.result["digest"] and not again.ok


def test_etcdsim_sweep_guided_reports_its_corpus_and_writes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "out"
    args = ["sweep", "--guided", "--seeds", "0:10", "--workers", "1", "--duration", "14",
            "--workload", "raft", "--out", str(out_dir)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "runs        10 in " in text and "mutations" in text
    assert "corpus      " in text and "never hit (" in text
    files = sorted((out_dir / "corpus").iterdir())
    assert files and all(Scenario.loads(f.read_text()) for f in files)
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "guided" and report["runs"] == 10
    assert len(report["corpus"]) == len(files)
    assert report["coverage"]["runs"] == 10


def test_a_failing_mutation_leaves_its_artifacts_as_a_failing_seed_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sim.harness.sweep

    real = sim.harness.sweep.run_seed
    base = RunConfig(seed=0, duration_us=14 * S, workload="raft")

    def mutations_fail(config: RunConfig) -> dict[str, Any]:
        result = real(config)
        fresh = Scenario.from_config(dataclasses.replace(base, seed=config.seed))
        if Scenario.from_config(config) != fresh:
            result["violations"] = [{"check": "election_safety", "detail": "planted",
                                     "node": 1, "time_us": 0}]
        return result

    monkeypatch.setattr(sim.harness.sweep, "run_seed", mutations_fail)
    monkeypatch.chdir(tmp_path)
    code = main(["sweep", "--guided", "--seeds", "0:9", "--workers", "1", "--duration", "14",
                 "--workload", "raft"])
    out = capsys.readouterr().out
    assert code == 1
    assert "failures    1" in out
    line = next(x for x in out.splitlines() if x.startswith("  run 8 (seed "))
    assert "mutated" in line and line.endswith(": election_safety: planted")
    replay = next(x for x in out.splitlines() if x.startswith("    replay: etcdsim replay "))
    directory = tmp_path / replay.split("etcdsim replay ")[1]
    assert directory.parent.name == "etcdsim-artifacts"
    assert (directory / "summary.txt").exists()
    assert Scenario.loads((directory / "scenario.json").read_text()) != Scenario.from_config(
        dataclasses.replace(base, seed=int(line.split("seed ")[1].split(",")[0])))
