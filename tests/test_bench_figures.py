"""The bench's harness figures are measured, not made up: they run the scenarios they name."""

from __future__ import annotations

import pytest

from sim.commands import bench


def test_the_false_positive_figure_sweeps_the_standard_swarm_scenario(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ETCDSIM_BENCH_SWARM_SEEDS", "2")
    bench.false_positive_figures()
    out = capsys.readouterr().out
    assert "seeds 0-1" in out and "0 failing []" in out


def test_the_standard_scenario_figure_counts_the_seeds_it_ran() -> None:
    line = bench.standard_scenario_figures(range(1))
    assert "seeds/s per core" in line and "median seed" in line


def test_the_leader_pause_case_has_unknown_writes_and_no_hints_and_is_checked() -> None:
    from sim.lincheck.history import Status

    ops = bench.leader_pause_history(duration_s=8, clients=20, rate=300.0)
    unknown = [op for op in ops if op.status is Status.UNKNOWN]
    assert unknown and all(op.applied is None for op in unknown)
    line = bench.leader_pause_figures(duration_s=8)
    assert ": linearizable in " in line and " unknown: " in line


def test_the_edn_parse_figure_reads_a_generated_history_of_the_size_it_names() -> None:
    line = bench.edn_parse_figure(ops=200, repeats=1)
    assert "200 ops" in line and " s (best of 1; CPU " in line
