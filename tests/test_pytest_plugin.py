"""The pytest plugin: seeds as test items, reproduction lines for failures, a scripted cluster."""

from __future__ import annotations

import pytest


def test_sim_seeds_make_one_item_per_seed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_seeded(sim_seed):
            assert 3 <= sim_seed < 6
    """)
    result = pytester.runpytest("--sim-seeds", "3:6", "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*test_seeded?seed3?*PASSED*", "*test_seeded?seed5?*PASSED*"])


def test_a_bad_seed_range_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_seeded(sim_seed):\n    pass\n")
    result = pytester.runpytest("--sim-seeds", "5:1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--sim-seeds must look like A:B with A < B*"])


def test_a_failing_scenario_test_prints_both_reproduction_lines_and_leaves_artifacts(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("""
        from etcdcore import bugs
        from sim.harness.scenario import Scenario
        from sim.cluster.workload import WorkloadConfig

        def test_reads_are_fresh(sim_run, sim_seed):
            scenario = Scenario(seed=14 + sim_seed, duration_us=20_000_000,
                                mix=WorkloadConfig(clients=2, rate=50.0),
                                bugs=frozenset({bugs.LINEARIZABLE_READ_LOCAL}))
            result = sim_run(scenario)
            assert result.ok
    """)
    result = pytester.runpytest("--sim-seed", "0", "--sim-artifacts", "failures")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*failing run: seed 14, checks failed: linearizable*",
        "*reproduce: pytest 'test_a_failing_scenario_test_prints_both_reproduction_lines_and_"
        "leaves_artifacts.py::test_reads_are_fresh?seed0?' --sim-seed 0*",
        "*replay:    etcdsim replay failures/test_reads_are_fresh_seed0_-seed14*",
    ])
    assert (pytester.path / "failures" / "test_reads_are_fresh_seed0_-seed14" /
            "scenario.json").exists()


def test_the_cluster_fixture_scripts_a_partition_and_checks_the_history(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("""
        from etcdcore.api import rpctypes

        def test_a_minority_member_refuses_writes(sim_cluster):
            c = sim_cluster
            assert c.put(b"k", b"v1").header.revision == 2
            lonely = c.followers()[0]
            c.isolate(lonely)
            c.run_for(3_000_000)
            refused = c.put(b"k", b"v2", member=lonely)
            assert refused.status == rpctypes.NO_LEADER
            c.heal()
            assert c.get(b"k").kvs[0].value == b"v1"
            c.check()
    """)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_the_plugin_loads_the_ci_profile_under_ci(pytester: pytest.Pytester,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("HYPOTHESIS_PROFILE", raising=False)
    pytester.makepyfile("""
        from hypothesis import settings

        def test_profile():
            assert settings.default.derandomize and settings.default.max_examples == 50
    """)
    pytester.runpytest_subprocess().assert_outcomes(passed=1)
