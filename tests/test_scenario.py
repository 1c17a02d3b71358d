"""Scenarios: one JSON value per run; a failure's directory replays and shrinks."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import find, given, settings

from etcdcore import bugs
from sim.cluster.config import RunConfig
from sim.cluster.workload import KINDS, WorkloadConfig
from sim.commands.cli import main
from sim.harness.runner import run
from sim.harness.scenario import Scenario, ScenarioError, run_scenario
from sim.harness.shrink import shrink
from sim.strategies import scenarios
from sim.world.faults import FAULT_KINDS, LEADER, Fault

S = 1_000_000

# A failure found by a sweep: linearizable reads served locally, shrunk to no faults at all.
STALE_READS = Scenario(seed=14, duration_us=20 * S, mix=WorkloadConfig(clients=2, rate=50.0),
                       bugs=frozenset({bugs.LINEARIZABLE_READ_LOCAL}))


def test_a_scenario_round_trips_through_json() -> None:
    scenario = Scenario.from_seed(5, duration_us=30 * S)
    assert Scenario.loads(scenario.dumps()) == scenario
    assert json.loads(scenario.dumps())["format"] == "etcdsim-scenario"


def test_the_same_seed_draws_the_same_scenario_and_swarm_seeds_switch_kinds_off() -> None:
    assert Scenario.from_seed(3) == Scenario.from_seed(3)
    kind_sets = {frozenset(f.kind for f in Scenario.from_seed(s).faults) for s in range(12)}
    assert len(kind_sets) > 6  # seeds differ in which kinds they use at all
    assert all(len(kinds) < len(FAULT_KINDS) for kinds in kind_sets)


def test_a_run_config_and_its_scenario_give_the_same_digest() -> None:
    config = RunConfig(seed=6, duration_us=12 * S)
    scenario = Scenario.from_config(config)
    assert scenario.faults  # the drawn schedule, written out
    assert run_scenario(scenario).digest == run(config).digest


@pytest.mark.parametrize(("edit", "message"), [
    ({"format": "other"}, '"format" must be "etcdsim-scenario"'),
    ({"members": 0}, '"members" must be between 1 and 9'),
    ({"seed": "x"}, '"seed" must be a whole number'),
    ({"colour": 1}, "unknown field 'colour'"),
    ({"faults": [{"kind": "meteor"}]}, '"faults"[0].kind must be one of'),
    ({"faults": [{"kind": "crash", "node": 7}]}, '"faults"[0].node must be a member (1..3)'),
    ({"bugs": ["no-such-bug"]}, "unknown bug 'no-such-bug'"),
    ({"mix": {"keys": 1}}, '"mix.keys" must be between 2 and 10000, got 1'),
    ({"mix": {"clients": "4"}}, '"mix.clients" must be a whole number, got \'4\''),
    ({"faults": [{"kind": "hold", "name": "everything"}]}, '"faults"[0].name must be one of'),
    ({"faults": [{"kind": "hold", "name": "halves", "value": 2}]},
     '"faults"[0].value (0: release shuffled, 1: in order) must be between 0 and 1, got 2'),
    ({"faults": [{"kind": "clog", "node": 1, "peer": 1}]},
     "needs two different members as node and peer"),
    ({"members": 1, "faults": [{"kind": "cut", "node": 1, "peer": 1}]},
     "a cut needs two members, the cluster has one"),
    ({"faults": [{"kind": "crash_loop", "node": 1, "value": 0}]},
     '"faults"[0].value (number of crashes) must be between 1 and 1000'),
    ({"faults": [{"kind": "long_pause", "node": 1, "name": "follower"}]},
     '"faults"[0].name must be "" or "leader"'),
    ({"faults": [{"kind": "slow_apply", "name": "leader"}]}, '"faults"[0].node must be a member'),
    ({"faults": [{"kind": "clock_skew", "node": 2, "value": -1_000_000}]},
     "(drift in ppm) must be between -999999 and 1000000"),
    ({"faults": [{"kind": "delay_spike", "node": 2, "value": -5}]},
     "(microseconds) must be between 0 and 86400000000 µs, got -5"),
    ({"faults": [{"kind": "loss", "value": 1001}]}, "(per mille) must be between 0 and 1000"),
    ({"faults": [{"kind": "disk_misdirect", "node": 1, "value": 0}]},
     '"faults"[0].value (appends misdirected, per mille) must be between 1 and 1000, got 0'),
    ({"faults": [{"kind": "disk_truncate_wal", "node": 2, "value": 10}]},
     '"faults"[0].name must be the WAL file to cut'),
    ({"faults": [{"kind": "disk_truncate_wal", "node": 2, "name": "wal/0.log"}]},
     '"faults"[0].value (synced bytes to cut) must be between 1 and 2147483648, got 0'),
    ({"faults": [{"kind": "disk_bitflip", "name": "member/snap/db"}]},
     '"faults"[0].node must name the member whose disk it strikes'),
    ({"mix": {"pinned": 2}}, '"mix.pinned" must be between 0 and 1, got 2'),
    ({"mix": {"read_heavy": 1.5}}, '"mix.read_heavy" must be between 0 and 1, got 1.5'),
    ({"mix": {key: 0 for key in KINDS}}, '"mix": at least one operation kind needs a weight'),
])
def test_a_bad_scenario_is_refused_naming_the_field(edit: dict[str, object], message: str) -> None:
    obj = {**Scenario(seed=1).to_json(), **edit}
    with pytest.raises(ScenarioError) as exc:
        Scenario.from_json(obj)
    assert message in str(exc.value)


def test_faults_of_timing_round_trip_through_a_scenario_file() -> None:
    faults = (Fault(S, "slow_apply", node=2, duration_us=S, value=20_000, name=LEADER),
              Fault(S, "hold", duration_us=3 * S, value=1, name="isolate_leader"),
              Fault(S, "clog", node=1, peer=2, duration_us=S, value=1),
              Fault(S, "delay_spike", node=3, duration_us=S, value=2 * S),
              Fault(S, "clock_skew", node=1, duration_us=S, value=-400_000, name=LEADER),
              Fault(S, "clock_leap", node=1, duration_us=S, value=-3 * S),
              Fault(S, "long_pause", node=2, duration_us=4 * S, name=LEADER),
              Fault(S, "crash_loop", node=3, duration_us=2_000, value=4))
    scenario = replace(Scenario(seed=1), faults=faults)
    assert Scenario.loads(scenario.dumps()) == scenario


def test_swarm_seeds_draw_every_cluster_size_from_one_to_seven() -> None:
    drawn = [Scenario.from_seed(s) for s in range(60)]
    assert {sc.members for sc in drawn} == set(range(1, 8))
    assert {sc.members for sc in (Scenario.from_seed(s, swarm=False) for s in range(5))} == {3}
    for sc in drawn:
        assert all(f.node <= sc.members and f.peer <= sc.members for f in sc.faults)
        assert Scenario.loads(sc.dumps()) == sc  # every drawn fault validates for its size


def failing_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "in"
    path.mkdir()
    (path / "scenario.json").write_text(STALE_READS.dumps())
    out = tmp_path / "failure"
    assert main(["replay", str(path / "scenario.json")]) == 1
    capsys.readouterr()
    from sim.harness.artifacts import write_artifacts
    write_artifacts(out, STALE_READS, run_scenario(STALE_READS))
    return out


def test_a_failure_directory_holds_everything_to_look_at_and_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = failing_dir(tmp_path, capsys)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["history.jsonl", "report.html", "result.json", "scenario.json",
                     "summary.txt", "trace.jsonl"]
    summary = (out / "summary.txt").read_text()
    assert "violation: linearizable" in summary and f"etcdsim replay {out}" in summary
    assert main(["check", str(out / "history.jsonl")]) == 1  # the checker agrees, alone


def test_replay_confirms_the_same_digest_and_the_same_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = failing_dir(tmp_path, capsys)
    assert main(["replay", str(out)]) == 1
    assert "reproduced: digest" in capsys.readouterr().out
    recorded = json.loads((out / "result.json").read_text())
    (out / "result.json").write_text(json.dumps({**recorded, "digest": "0" * 64}))
    assert main(["replay", str(out)]) == 1
    assert "NOT reproduced" in capsys.readouterr().out


def test_shrink_removes_the_faults_that_do_not_matter() -> None:
    noisy = Scenario.from_seed(7, duration_us=20 * S, swarm=False,
                               bugs=frozenset({bugs.LINEARIZABLE_READ_LOCAL}))
    found = shrink(noisy, "linearizable", max_runs=12)
    assert found.faults_before == len(noisy.faults) == 4
    assert len(found.scenario.faults) <= 2
    assert any(v["check"] == "linearizable" for v in found.result.violations)
    assert run_scenario(found.scenario).digest == found.result.digest  # replayable as it is


def test_shrink_command_writes_the_smallest_failure_with_its_artifacts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = failing_dir(tmp_path, capsys)
    assert main(["shrink", str(out), "--max-runs", "8"]) == 1
    printed = capsys.readouterr().out
    assert "shrunk linearizable" in printed
    shrunk = Scenario.loads((out / "shrunk" / "scenario.json").read_text())
    assert shrunk.mix.clients <= STALE_READS.mix.clients
    assert main(["replay", str(out / "shrunk")]) == 1


def test_a_failing_run_writes_its_artifacts_without_being_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.json").write_text(STALE_READS.dumps())
    assert main(["run", "--seed", "2", "--duration", "5", "--faults", "none"]) == 0
    assert not (tmp_path / "etcdsim-artifacts").exists()  # a passing run leaves nothing
    assert main(["run", "--seed", "2", "--duration", "5", "--faults", "none", "--json",
                 "--out", "run2"]) == 0
    out = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert out["artifacts"] == "run2" and Path("run2/scenario.json").exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["replay", "/nonexistent"], "/nonexistent: no such file or directory"),
    (["shrink", "/nonexistent"], "/nonexistent: no such file or directory"),
])
def test_replay_and_shrink_refuse_bad_paths_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_replay_names_the_field_of_a_broken_scenario_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps({**Scenario(seed=1).to_json(), "members": -1}))
    assert main(["replay", str(path)]) == 2
    assert '"members" must be between 1 and 9' in capsys.readouterr().err


@given(scenarios(max_faults=4))
@settings(max_examples=5)
def test_any_drawn_scenario_is_safe_linearizable_and_replays_to_the_same_digest(
    scenario: Scenario,
) -> None:
    result = run_scenario(scenario)
    assert result.ok, [v["detail"] for v in result.violations]
    assert Scenario.loads(scenario.dumps()) == scenario


def test_the_scenario_strategy_shrinks_to_a_small_run() -> None:
    smallest = find(scenarios(), lambda s: len(s.faults) >= 2,
                    settings=settings(database=None, max_examples=200))
    assert len(smallest.faults) == 2
    assert smallest.mix.clients == 1 and smallest.duration_us == 12 * S


def test_knobs_round_trip_and_a_bad_knob_is_refused() -> None:
    from etcdcore.knobs import Knobs

    scenario = replace(Scenario(seed=1), knobs=Knobs(max_msg_entries=1, fsync_base_us=20_000))
    assert Scenario.loads(scenario.dumps()) == scenario
    obj = scenario.to_json()
    obj["knobs"] = {**obj["knobs"], "max_inflight": 0}
    with pytest.raises(ScenarioError, match=r'"knobs\.max_inflight" must be between 1 and 100000'):
        Scenario.from_json(obj)


def test_swarm_seeds_turn_knobs_to_unusual_values_and_runs_obey_them() -> None:
    from etcdcore.knobs import Knobs

    turned = [s for s in range(20) if Scenario.from_seed(s).knobs != Knobs()]
    assert 5 <= len(turned) < 20
    tiny = replace(Scenario(seed=3, duration_us=12 * S), knobs=Knobs(max_msg_entries=1))
    labels = [e[5] for e in run_scenario(tiny).trace if e[1] == "net.send"]
    assert any(" n1" in str(label) for label in labels)
    assert not any(f" n{k}" in str(label) for label in labels for k in range(2, 10))
