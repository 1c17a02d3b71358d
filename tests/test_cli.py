"""The etcdsim command: usage errors, output forms, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sim.cluster.config import RunConfig
from sim.commands.cli import main

SHORT = ["--duration", "3", "--nodes", "3"]


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["run", "--seed", "-1"], "argument --seed: must be between 0 and 9223372036854775807"),
        (["run", "--seed", "1", "--bogus"], "unrecognized arguments: --bogus"),
        (["run", "--seed", "1", "--duration", "abc"], "--duration: must be a number, got 'abc'"),
        (["run", "--seed", "1", "--duration", "0"],
         "--duration: must be between 0.000001 and 86400 simulated seconds, got '0'"),
        (["run", "--seed", "1", "--nodes", "0"], "--nodes: must be between 1 and 9, got 0"),
        (["run", "--seed", "x"], "--seed: must be a whole number, got 'x'"),
        (["run"], "--seed"),
        (["sweep", "--seeds", "5:1"], "needs A < B"),
        (["sweep", "--seeds", "5"], "A:B"),
        (["sweep", "--seeds", "0:2", "--workers", "0"], "--workers: must be between 1 and 256"),
        (["frobnicate"], "invalid choice"),
        ([], "command"),
    ],
)
def test_bad_usage_exits_2_with_one_line_naming_the_problem(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("etcdsim: error:")
    assert needle in err


def test_run_json_reports_the_promised_fields(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--seed", "3", *SHORT, "--json"])
    out = json.loads(capsys.readouterr().out)
    for key in ("seed", "digest", "sim_seconds", "wall_seconds", "events", "faults", "checks",
                "violations"):
        assert key in out
    assert out["seed"] == 3
    assert len(out["digest"]) == 64
    assert code == 0 and out["violations"] == []
    assert "election_safety" in out["checks"] and "liveness" in out["checks"]


def test_run_prints_a_readable_summary(capsys: pytest.CaptureFixture[str]) -> None:
    main(["run", "--seed", "2", *SHORT, "--faults", "none"])
    out = capsys.readouterr().out
    for word in ("seed 2", "nodes 3", "simulated", "wall", "events", "faults", "committed",
                 "verdict", "digest"):
        assert word in out


def test_python_dash_m_sim_is_the_same_command() -> None:
    # The sources, whatever state this checkout's build/fast is in (a stale one adds a line).
    env = dict(os.environ, ETCDSIM_BUILD="source")
    proc = subprocess.run([sys.executable, "-m", "sim", "run", "--seed", "-4"],
                          capture_output=True, text=True, check=False, env=env)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().startswith("etcdsim: error:")


def test_the_same_seed_gives_the_same_digest_in_processes_with_other_hash_seeds() -> None:
    digests = set()
    for hash_seed in ("1", "987654"):
        env = dict(os.environ, PYTHONHASHSEED=hash_seed)
        proc = subprocess.run(
            [sys.executable, "-m", "sim", "run", "--seed", "11", "--duration", "20", "--json"],
            capture_output=True, text=True, env=env, check=False,
        )
        assert proc.returncode in (0, 1), proc.stderr
        digests.add(json.loads(proc.stdout)["digest"])
    assert len(digests) == 1


def test_check_determinism_agrees_with_itself(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--seed", "5", *SHORT, "--json", "--check-determinism"])
    out = capsys.readouterr().out
    assert "deterministic: digest" in out
    assert code == 0


def test_sweep_runs_every_seed_and_summarises(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sweep", "--seeds", "0:3", "--workers", "1", *SHORT])
    out = capsys.readouterr().out
    assert "seeds run   3" in out
    assert "failures    0" in out
    assert code == 0


def test_a_sweep_with_a_failure_exits_1_and_prints_the_replay_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sim.harness.sweep

    real = sim.harness.sweep.run_seed

    def failing_seed_1(config: RunConfig) -> dict[str, Any]:
        result = real(config)
        if config.seed == 1:
            result["violations"] = [{"check": "election_safety", "detail": "planted", "node": 1,
                                     "time_us": 0}]
        return result

    monkeypatch.setattr(sim.harness.sweep, "run_seed", failing_seed_1)
    code = main(["sweep", "--seeds", "0:2", "--workers", "1", *SHORT])
    out = capsys.readouterr().out
    assert code == 1
    assert "failures    1" in out
    assert "seed 1: election_safety: planted" in out
    assert "replay: etcdsim run --seed 1 --nodes 3 --duration 3 --faults default" in out


def test_a_swarm_sweep_runs_each_seeds_standard_scenario_and_leaves_a_replayable_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from sim.harness.scenario import Scenario, run_scenario

    code = main(["sweep", "--seeds", "0:2", "--workers", "1", "--swarm", "--duration", "10",
                 "--bug", "delete-nothing-bumps-revision", "--out", str(tmp_path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    failure = out["failures"][0]
    assert failure["check"] == "linearizable"
    directory = Path(failure["replay"].removeprefix("etcdsim replay "))
    scenario = Scenario.loads((directory / "scenario.json").read_text())
    drawn = Scenario.from_seed(failure["seed"], duration_us=10_000_000,
                               bugs=frozenset({"delete-nothing-bumps-revision"}))
    assert scenario == drawn  # the seed's swarm scenario, not `run`'s fixed one
    assert main(["replay", str(directory)]) == 1
    assert run_scenario(drawn).digest in capsys.readouterr().out


def test_a_swarm_sweep_is_not_guided() -> None:
    assert main(["sweep", "--seeds", "0:2", "--swarm", "--guided"]) == 2


def test_a_run_whose_history_got_no_verdict_is_undecided_exit_3_never_pass(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from sim.cluster.etcd_cluster import EtcdCluster

    monkeypatch.setattr(EtcdCluster, "linearizable",
                        lambda self, timeout_s: ("unknown", "9 operations: no verdict"))
    out_dir = tmp_path / "run"
    assert main(["run", "--seed", "1", "--duration", "2", "--out", str(out_dir)]) == 3
    verdict = next(line for line in capsys.readouterr().out.splitlines()
                   if line.strip().startswith("verdict"))
    assert "UNDECIDED" in verdict and "PASS" not in verdict
    assert "verdict: UNDECIDED" in (out_dir / "summary.txt").read_text()


def test_a_sweep_names_the_runs_whose_history_got_no_verdict_apart_from_failures(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sim.harness.sweep

    real = sim.harness.sweep.run_seed

    def slow_check_on_seed_1(config: RunConfig) -> dict[str, Any]:
        result = real(config)
        if config.seed == 1:
            result["checks"]["linearizable"] = "unknown (90 operations: no verdict within 60 s)"
        return result

    monkeypatch.setattr(sim.harness.sweep, "run_seed", slow_check_on_seed_1)
    args = ["sweep", "--seeds", "0:3", "--workers", "1", "--duration", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "failures    0" in out
    assert ("undecided   1 (no linearizability verdict within the check's time limit): seed 1"
            in out.splitlines())
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["undecided"] == ["seed 1"]


def test_sweep_results_do_not_depend_on_the_number_of_workers() -> None:
    from sim.harness.sweep import run_seeds

    configs = [RunConfig(seed=s, duration_us=3_000_000) for s in range(3)]
    one = [r["digest"] for r in run_seeds(configs, 1)]
    two = [r["digest"] for r in run_seeds(configs, 2)]
    assert one == two


def test_a_determinism_failure_names_the_first_differing_event() -> None:
    from sim.commands.run import first_difference

    ours = [(0, "a", 1), (5, "b", 2), (9, "c", 3)]
    theirs = ['[0,"a",1]', '[5,"b",7]', '[9,"c",3]']
    assert first_difference(ours, theirs) == (
        'first difference at event 1:\n  here:  [5,"b",2]\n  rerun: [5,"b",7]')
    assert "event 3" in first_difference([*ours, (10, "d")], ['[0,"a",1]', '[5,"b",2]',
                                                            '[9,"c",3]'])
    assert first_difference(ours[:1], ['[0,"a",1]']) == "the traces are identical"
