"""What a run prints says what happened, in words a user can act on."""

from __future__ import annotations

import argparse
import re
from dataclasses import replace
from pathlib import Path

import pytest

from etcdcore.wal import wal_path
from sim.commands.cli import _parser, main
from sim.commands.run import OUTCOMES
from sim.harness.scenario import Scenario, run_scenario
from sim.world.faults import Fault

S = 1_000_000


def test_converged_names_a_member_down_for_good_and_why() -> None:
    cut = Fault(5 * S, "disk_truncate_wal", node=3, value=100, name=wal_path())
    result = run_scenario(Scenario(seed=1, duration_us=20 * S, faults=(cut,)))
    converged = result.checks["converged"]
    assert converged.startswith("pass (2 members at revision")
    assert "member 3 down: disk: wal/0.log lost its last 100 synced bytes" in converged


def test_converged_names_the_members_the_quorum_mode_left_failed_at_the_heal() -> None:
    result = run_scenario(replace(Scenario(seed=2, duration_us=20 * S), liveness="quorum"))
    converged = result.checks["converged"]
    assert re.search(r"member \d left (crashed|paused|cut off) for good at the heal "
                     r"\(liveness quorum\)", converged), converged


@pytest.mark.parametrize("seed", [7, 8])
def test_the_summary_counts_the_operations_the_linearizability_check_counts(seed: int) -> None:
    result = run_scenario(Scenario.from_seed(seed, duration_us=15 * S, swarm=False))
    counted = sum(n for kinds in result.ops.values() for n in kinds.values())
    match = re.search(r"(\d+) operations", result.checks["linearizable"])
    assert match is not None and int(match[1]) == counted


def test_an_operation_with_no_answer_at_the_end_is_counted_open() -> None:
    # Seed 7's run ends with ranges still waiting for their answer.
    result = run_scenario(Scenario.from_seed(7, duration_us=20 * S, swarm=False))
    assert result.ops["range"].get("open", 0) > 0


def test_the_outcomes_are_explained_on_the_line_after_the_first_that_prints_them(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # where a failing run would leave its artifacts
    main(["run", "--seed", "7", "--duration", "20"])
    lines = capsys.readouterr().out.splitlines()
    first = next(i for i, line in enumerate(lines) if " info " in line or " open " in line)
    assert lines[first].lstrip().startswith("operations")
    assert lines[first + 1].strip() == OUTCOMES
    assert "info: outcome unknown" in OUTCOMES


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_rate_help_says_it_is_a_target_for_closed_loop_clients(command: str) -> None:
    subcommands = next(a for a in _parser()._actions
                       if isinstance(a, argparse._SubParsersAction))
    rate = next(a for a in subcommands.choices[command]._actions if "--rate" in a.option_strings)
    assert rate.help is not None
    assert "target" in rate.help and "closed-loop" in rate.help
