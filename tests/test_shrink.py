"""Shrinking below faults: a failure shrinks to fewer client operations and fewer messages held
or delayed, and what it shrinks to is a scenario file that replays exactly."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from other_process import digests_in_other_processes

from etcdcore import bugs
from sim.cluster.config import RunConfig
from sim.cluster.workload import WorkloadConfig
from sim.commands.cli import main
from sim.harness.scenario import Scenario, ScenarioError, run_scenario
from sim.harness.shrink import client_operations, shrink
from sim.world.faults import Fault

S = 1_000_000

# The planted bug tests/test_planted_bugs.py finds at seed 0 with no faults: the first delete of
# a missing key skips a revision.
DELETE_NOTHING = Scenario.from_config(RunConfig(
    seed=0, duration_us=10 * S, faults="none",
    bugs=frozenset({bugs.DELETE_NOTHING_BUMPS_REVISION})))
QUIET = Scenario(seed=3, duration_us=4 * S, faults=(),
                 mix=WorkloadConfig(clients=1, rate=20.0))


def invokes(scenario: Scenario, client: int = 101) -> list[tuple[str, Any, Any]]:
    """The operations `client` issued: name, key and arguments, in order."""
    events = (json.loads(line) for line in run_scenario(scenario).history.splitlines()[1:])
    return [(e["op"], e.get("key"), e["args"]) for e in events
            if e["kind"] == "invoke" and e["client"] == client]


def with_mix(scenario: Scenario, **changes: Any) -> Scenario:
    return replace(scenario, mix=replace(scenario.mix, **changes))


def test_a_skipped_operation_is_drawn_not_issued_and_the_others_draw_what_they_would_have(
) -> None:
    every = invokes(QUIET)
    assert len(every) > 10
    skipping = invokes(with_mix(QUIET, skip=((101, 3),)))
    assert skipping[:20] == (every[:2] + every[3:])[:20]


def test_a_client_issues_no_operation_past_its_cap() -> None:
    capped = with_mix(QUIET, clients=3, max_ops=5)
    for client in (101, 102, 103):
        assert len(invokes(capped, client)) == 5
    assert invokes(capped)[:5] == invokes(with_mix(QUIET, clients=3))[:5]


def test_without_the_new_fields_a_scenario_file_and_its_run_are_as_before() -> None:
    obj = DELETE_NOTHING.to_json()
    assert "max_ops" not in obj["mix"] and "skip" not in obj["mix"]
    plain = Fault(S, "hold", duration_us=S, name="halves")
    assert "count" not in plain.to_json()
    # An explicit "no cap, nothing skipped" is the scenario itself, run for run.
    loaded = Scenario.from_json({**obj, "mix": {**obj["mix"], "max_ops": 0, "skip": []}})
    assert loaded == DELETE_NOTHING


def test_a_scenario_with_skipped_operations_and_counted_faults_round_trips_through_json() -> None:
    # A liveness bound of 1 s puts the heal at 2.8 s: the faults at 1 s strike.
    faults = (Fault(S, "hold", duration_us=S, name="halves", count=9),
              Fault(S, "clog", 1, 2, duration_us=S, count=3),
              Fault(S, "delay", duration_us=S, value=50_000, count=20),
              Fault(S, "delay_spike", 2, duration_us=S, value=S, count=1))
    scenario = replace(with_mix(QUIET, clients=2, max_ops=40, skip=((101, 2), (102, 7))),
                       members=3, liveness_bound_us=S, faults=faults)
    text = scenario.dumps()
    assert Scenario.loads(text) == scenario
    assert json.loads(text)["mix"]["skip"] == [[101, 2], [102, 7]]
    assert '[101, 2]' in text  # a pair on one line, not four


@pytest.mark.parametrize(("mix", "faults", "message"), [
    ({"skip": [[105, 1]]}, [], '"mix.skip" names client 105: the clients are 101..104'),
    ({"skip": [[101, 0]]}, [], '"mix.skip" names operation 0 of client 101'),
    ({"skip": [[102, 1], [101, 1]]}, [], '"mix.skip" must be sorted without repeats'),
    ({"skip": [[101, 1], [101, 1]]}, [], '"mix.skip" must be sorted without repeats'),
    ({"skip": [101, 1]}, [], '"mix.skip" must be a list of [client, operation] pairs'),
    ({"skip": [["101", 1]]}, [], '"mix.skip" must be a list of [client, operation] pairs'),
    ({"skip": "none"}, [], '"mix.skip" must be a list of [client, operation] pairs'),
    ({"max_ops": -1}, [], '"mix.max_ops" must be between 0 and 1000000000, got -1'),
    ({"max_ops": 2.5}, [], '"mix.max_ops" must be a whole number'),
    ({}, [{"kind": "crash", "node": 1, "count": 3}],
     '"faults"[0].count applies only to hold, clog, delay, delay_spike, not crash'),
    ({}, [{"kind": "delay", "value": 5, "count": -1}],
     '"faults"[0].count must be between 0 and 1000000000, got -1'),
    ({}, [{"kind": "delay", "value": 5, "count": "all"}],
     '"faults"[0].count must be a whole number'),
])
def test_a_bad_cap_skip_or_count_is_refused_in_one_line_naming_the_field(
    mix: dict[str, Any], faults: list[dict[str, Any]], message: str,
) -> None:
    obj = Scenario(seed=1).to_json()
    obj = {**obj, "mix": {**obj["mix"], **mix}, "faults": faults}
    with pytest.raises(ScenarioError) as exc:
        Scenario.from_json(obj)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def message_fault_run(fault: Fault) -> tuple[list[int], list[tuple[Any, ...]]]:
    scenario = replace(Scenario(seed=2, duration_us=13 * S, mix=WorkloadConfig(clients=2)),
                       faults=(fault,))
    result = run_scenario(scenario)
    assert result.ok, result.violations
    return result.fault_messages, [tuple(e) for e in result.trace]


@pytest.mark.parametrize("fault", [
    Fault(S, "hold", duration_us=S, name="halves"),
    Fault(S, "clog", 2, 3, duration_us=S, value=1),
    Fault(S, "delay", duration_us=S, value=20_000),
    Fault(S, "delay_spike", 1, duration_us=S, value=300_000),
])
def test_a_fault_with_a_count_holds_or_delays_only_its_first_messages(fault: Fault) -> None:
    every, _ = message_fault_run(fault)
    assert every[0] > 8  # without a count, all the messages of its second
    counted, trace = message_fault_run(replace(fault, count=8))
    assert counted == [8]
    assert [e[2:] for e in trace if e[1] == "net.spent"] == [(fault.kind, 8)]
    if fault.kind in ("hold", "clog"):
        assert sum(1 for e in trace if e[1] == "net.hold") == 8


def test_shrinking_leaves_fewer_client_operations_that_still_fail_the_same_check() -> None:
    found = shrink(DELETE_NOTHING, "linearizable", max_runs=40)
    assert found.ops_before == len(client_operations(DELETE_NOTHING,
                                                     run_scenario(DELETE_NOTHING)))
    assert found.ops_after < found.ops_before // 10
    assert found.scenario.mix.max_ops or found.scenario.mix.skip
    assert any(v["check"] == "linearizable" for v in found.result.violations)
    assert found.runs <= 40
    again = Scenario.loads(found.scenario.dumps())
    assert again == found.scenario
    replayed = run_scenario(again)
    assert replayed.digest == found.result.digest
    assert any(v["check"] == "linearizable" for v in replayed.violations)


def test_a_shrunk_scenario_gives_the_same_digest_in_another_process_and_hash_seed(
    tmp_path: Path,
) -> None:
    scenario = with_mix(DELETE_NOTHING, max_ops=9, skip=((101, 2), (101, 3), (103, 1)))
    # A liveness bound of 2 s puts the heal at 7 s: the faults at 2 and 3 s strike.
    faults = (Fault(2 * S, "delay", duration_us=S, value=30_000, count=15),
              Fault(3 * S, "hold", duration_us=S, name="halves", count=4))
    scenario = replace(scenario, liveness_bound_us=2 * S, faults=faults)
    path = tmp_path / "scenario.json"
    path.write_text(scenario.dumps())
    here = run_scenario(scenario).digest
    assert digests_in_other_processes(path) == {here}


def test_the_shrink_command_says_how_many_operations_and_messages_remain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "scenario.json"
    path.write_text(DELETE_NOTHING.dumps())
    assert main(["shrink", str(path), "--max-runs", "30"]) == 1
    printed = capsys.readouterr().out
    line = next(x for x in printed.splitlines() if x.startswith("shrunk linearizable"))
    assert " operations -> " in line and " held or delayed messages -> " in line
    summary = (tmp_path / "shrunk" / "summary.txt").read_text()
    assert summary.startswith("the smallest linearizable failure of")
    assert " operations -> " in summary.splitlines()[0]
    assert "client operations: at most" in summary
    assert main(["replay", str(tmp_path / "shrunk")]) == 1
    assert "reproduced: digest" in capsys.readouterr().out


# Found by the default sweep of the raft workload at seed 1 and shrunk to one fault: a delay
# spike on the leader's links, with the bug that keeps a follower's conflicting entries.
SPIKED = Scenario(seed=1, duration_us=17_777_777, workload="raft",
                  faults=(Fault(2_101_282, "delay_spike", node=1, duration_us=1_767_000,
                                value=1_163_000, name="leader"),),
                  bugs=frozenset({bugs.KEEP_CONFLICTING_ENTRIES}))


def test_shrinking_lowers_the_messages_a_fault_delays_while_the_same_check_fails() -> None:
    found = shrink(SPIKED, "applied_durable", max_runs=20)
    assert found.messages_before == sum(run_scenario(SPIKED).fault_messages) > 0
    assert found.messages_after < found.messages_before
    (spike,) = found.scenario.faults
    assert 0 < spike.count < found.messages_before
    assert found.result.fault_messages == [found.messages_after] <= [spike.count]
    assert any(v["check"] == "applied_durable" for v in found.result.violations)
    assert run_scenario(Scenario.loads(found.scenario.dumps())).digest == found.result.digest
