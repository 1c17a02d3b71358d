"""Every value a user can set is bounded, and scenario.json and the command line accept the
same values: one table (sim.limits), one line naming the field or flag, exit 2, nothing
written."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etcdcore.knobs import KNOBS
from sim.commands.cli import UsageError, _parser, main
from sim.harness.scenario import Scenario, ScenarioError
from sim.limits import MAX_RATE, SCENARIO
from sim.world.faults import Fault

S = 1_000_000
BASE = Scenario(seed=1, duration_us=20 * S).to_json()


def _edited(edit: dict[str, Any]) -> dict[str, Any]:
    """BASE with each dotted path set to its value."""
    obj: dict[str, Any] = json.loads(json.dumps(BASE))
    for path, value in edit.items():
        where = obj
        *parents, last = path.split(".")
        for name in parents:
            where = where.setdefault(name, {})
        where[last] = value
    return obj


def _file_takes(edit: dict[str, Any]) -> bool:
    obj = _edited(edit)
    try:
        Scenario.from_json(obj)
    except ScenarioError as exc:
        assert "\n" not in str(exc)
        return False
    return True


def _flag_takes(flag: str, text: str) -> bool:
    try:
        _parser().parse_args(["run", "--seed", "1", flag, text])
    except UsageError as exc:
        assert "\n" not in str(exc)
        return False
    return True


# Each flag and the scenario field it sets.
FLAGS = [("--seed", "seed"), ("--nodes", "members"), ("--clients", "mix.clients"),
         ("--proposals", "proposals_per_sec")]
_edges = st.sampled_from([-1, 0, 1, 2, 9, 10, 64, 65, MAX_RATE, MAX_RATE + 1, 2**63 - 1, 2**63])
_wholes = st.one_of(_edges, st.integers(), st.integers(-(10**40), 10**40))


@pytest.mark.parametrize(("flag", "field"), FLAGS)
@given(value=_wholes)
def test_a_whole_number_flag_takes_what_its_scenario_field_takes(
    flag: str, field: str, value: int
) -> None:
    assert _flag_takes(flag, str(value)) == _file_takes({field: value})


@given(value=st.one_of(st.floats(allow_nan=False), st.floats(0, 2 * MAX_RATE),
                       st.sampled_from([0, 0.0009, 0.001, 12.5, MAX_RATE, MAX_RATE + 0.5]),
                       st.integers(-5, 2 * MAX_RATE)))
def test_rate_takes_what_mix_rate_takes(value: float) -> None:
    assert _flag_takes("--rate", repr(value)) == _file_takes({"mix.rate": value})


@given(micros=st.one_of(st.integers(-S, 100_000 * S),
                        st.sampled_from([0, 1, 86_400 * S, 86_400 * S + 1])))
def test_duration_in_seconds_takes_what_duration_us_takes(micros: int) -> None:
    seconds = format(Decimal(micros) / S, "f")
    assert _flag_takes("--duration", seconds) == _file_takes({"duration_us": micros})


def test_no_flag_takes_a_decimal_where_the_field_takes_whole_numbers_only() -> None:
    assert not _flag_takes("--clients", "2.0") and not _file_takes({"mix.clients": 2.0})
    assert not _flag_takes("--duration", "0.0000001")  # no whole number of microseconds


def test_every_knob_is_bounded_above_and_below() -> None:
    for name, knob in KNOBS.items():
        field = f"knobs.{name}"
        assert _file_takes({field: knob.low}) and _file_takes({field: knob.high})
        assert not _file_takes({field: knob.low - 1}) and not _file_takes({field: knob.high + 1})


def test_every_numeric_scenario_field_is_bounded() -> None:
    for path, bound in SCENARIO.items():
        if "*" in path or path.startswith("faults") or path == "mix.skip":
            continue
        assert not _file_takes({path: bound.high + 1}), path
        assert not _file_takes({path: "1"}), path


@pytest.mark.parametrize(("edit", "message"), [
    ({"timing.tick_us": 0}, '"timing.tick_us" must be between 1000 and 10000000 µs, got 0'),
    ({"timing.election_ticks": 0}, '"timing.election_ticks" must be between 2 and 50000'),
    ({"timing.heartbeat_ticks": 10}, 'must be more than "timing.heartbeat_ticks"'),
    ({"timing.election_ticks": 10_000}, "election timeout (election_ticks x tick_us) must be at "
                                        "most 50000000 µs"),
    ({"mix.clients": 0}, '"mix.clients" must be between 1 and 64, got 0'),
    ({"mix.rate": 20_000}, '"mix.rate" must be 0 or between 0.001 and 10000'),
    ({"mix.rate": 1e-320}, '"mix.rate" must be 0 or between 0.001 and 10000'),
    ({"proposals_per_sec": 100_000}, '"proposals_per_sec" must be between 0 and 10000'),
    ({"faults": [Fault(30 * S, "crash", node=1, duration_us=S).to_json()]},
     '"faults"[0].at_us must be before the heal at 10000000 µs, got 30000000'),
    ({"faults": [{"at_us": S, "kind": "disk_error", "node": 1, "value": 10}]},
     '"faults"[0].name must be the operation that fails, one of read, write, fsync'),
    ({"faults": [{"at_us": S, "kind": "disk_latency", "node": 1}]},
     '"faults"[0].value (factor on fsync latency) must be between 1 and 1000, got 0'),
    ({"faults": [{"at_us": S, "kind": "failpoint", "node": 1, "value": 2,
                  "name": "raftBeforeSave"}]},
     '"faults"[0].value (0: crash, 1: pause) must be between 0 and 1, got 2'),
    ({"faults": [{"at_us": S, "kind": "crash", "node": 1, "value": 5}]},
     '"faults"[0].value must be 0: a crash takes no value, got 5'),
    ({"faults": [{"at_us": S, "kind": "crash", "node": 1, "name": "leader"}]},
     '"faults"[0].name must be "": a crash takes no name'),
    ({"faults": [{"at_us": S, "kind": "pause", "node": 1, "duration_us": 10**20}]},
     '"faults"[0].duration_us must be between 0 and 86400000000 µs'),
    ({"mix.keys": 10**6}, '"mix.keys" must be between 2 and 10000'),
    ({"mix.put": 10**7}, '"mix.put" must be between 0 and 1000000'),
    ({"knobs.batch_interval_us": 1}, '"knobs.batch_interval_us" must be between 1000 and '
                                     "10000000 µs, got 1"),
])
def test_a_value_that_would_hang_or_crash_a_run_is_refused_naming_its_field(
    edit: dict[str, Any], message: str
) -> None:
    with pytest.raises(ScenarioError) as exc:
        Scenario.from_json(_edited(edit))
    assert message in str(exc.value)


@pytest.mark.parametrize(("text", "message"), [
    (json.dumps(BASE).replace('"seed": 1', '"seed": ' + "9" * 5000),
     '"seed" must be between 0 and 9223372036854775807, got a number of 5000 digits'),
    (json.dumps(BASE).replace('"seed": 1', '"seed": NaN'), "not JSON: NaN is not a JSON number"),
    ("[" * 100_000, "nested too deeply"),
    ("{" + " " * (17 * 1024 * 1024) + "}", "larger than a scenario can be"),
])
def test_a_scenario_text_beyond_what_json_or_a_scenario_holds_is_refused(
    text: str, message: str
) -> None:
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Scenario.loads(text)


# ---- the command line: exit 2, one line, nothing written --------------------------------------


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path,
             words: str) -> None:
    before = sorted(tmp_path.rglob("*"))
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("etcdsim: error:") and captured.err.count("\n") == 1
    assert words in captured.err, captured.err
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


@pytest.mark.parametrize(("argv", "words"), [
    (["run", "--seed", "1", "--workload", "raft", "--proposals", "100000", "--duration", "1"],
     "--proposals: must be between 0 and 10000 proposals per simulated second, got 100000"),
    (["run", "--seed", "1", "--rate", "1e9"], "--rate: must be 0 or between 0.001 and 10000"),
    (["run", "--seed", "1", "--clients", "0"], "--clients: must be between 1 and 64, got 0"),
    (["sweep", "--seeds", "0:1", "--workers", "1000"], "--workers: must be between 1 and 256"),
    (["sweep", "--seeds", "0:100000000"], "a sweep runs at most 1000000 seeds"),
    (["run", "--seed", "1" + "0" * 5000], "--seed: must be between 0 and 9223372036854775807, "
                                           "got a number of 5001 digits"),
    (["shrink", "x", "--max-runs", "0"], "--max-runs: must be between 1 and 100000, got 0"),
])
def test_a_flag_out_of_its_bounds_exits_2_with_one_line_and_writes_nothing(
    argv: list[str], words: str, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    _refused([*argv, "--out", str(tmp_path / "out")] if argv[0] in ("run", "sweep") else argv,
             capsys, tmp_path, words)


@pytest.mark.parametrize(("edit", "words"), [
    ({"timing.tick_us": 0}, '"timing.tick_us" must be between 1000 and 10000000 µs, got 0'),
    ({"timing.election_ticks": 0}, '"timing.election_ticks" must be between 2 and 50000, got 0'),
    ({"mix.clients": 0}, '"mix.clients" must be between 1 and 64, got 0'),
    ({"faults": [Fault(25 * S, "crash", node=1, duration_us=S).to_json()]},
     '"faults"[0].at_us must be before the heal at 10000000 µs, got 25000000'),
])
@pytest.mark.parametrize("command", ["replay", "shrink"])
def test_a_scenario_file_out_of_its_bounds_exits_2_with_one_line_and_writes_nothing(
    command: str, edit: dict[str, Any], words: str, capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    (tmp_path / "scenario.json").write_text(json.dumps(_edited(edit)))
    _refused([command, str(tmp_path)], capsys, tmp_path, words)


def test_a_rate_of_0_leaves_the_clients_idle_from_the_file_and_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--seed", "1", "--rate", "0", "--duration", "12", "--json"]) == 0
    from_flag = json.loads(capsys.readouterr().out)
    (tmp_path / "scenario.json").write_text(
        json.dumps({**BASE, "duration_us": 12 * S, "mix": {**BASE["mix"], "rate": 0}}))
    assert main(["replay", str(tmp_path / "scenario.json"), "--json"]) == 0
    from_file = json.loads(capsys.readouterr().out)
    # Only the liveness prober puts, after the heal.
    for out in (from_flag, from_file):
        assert set(out["ops"]) == {"put"}


def test_a_sweep_starts_no_more_workers_than_seeds(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", "--seeds", "0:1", "--workers", "64", "--duration", "2",
                 "--faults", "none"]) == 0
    assert "1 workers" in capsys.readouterr().out
