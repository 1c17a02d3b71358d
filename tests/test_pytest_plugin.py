"""The pytest plugin: seeds as test items, reproduction lines for failures, a scripted cluster,
hypothesis tests that run scenarios; and in someone else's project it changes nothing it was
not asked to (hypothesis profiles, warnings filters, the collector)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from checkout import build_wheel, checkout_copy, clean_env, pip
from hypothesis import settings

from sim.cluster.scripted import ScriptedCluster

# A scenario that fails (a planted bug: linearizable reads served locally) and one that passes,
# both about a second of work.
FAILING = """Scenario(seed=14, duration_us=20_000_000, mix=WorkloadConfig(clients=2, rate=50.0),
                      bugs=frozenset({bugs.LINEARIZABLE_READ_LOCAL}))"""
PASSING = "Scenario(seed=1, duration_us=12_000_000, mix=WorkloadConfig(clients=1, rate=20.0))"


def _with_imports(body: str) -> str:
    """A test file: the imports FAILING and PASSING need, then `body`."""
    return ("from etcdcore import bugs\nfrom sim import Scenario\n"
            "from sim.cluster.workload import WorkloadConfig\n" + textwrap.dedent(body))


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


def test_the_cluster_fixture_runs_on_each_seed_of_the_options_without_taking_sim_seed(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_scripted(sim_cluster):
            assert sim_cluster.world.seed in (7, 8)
            print("seed", sim_cluster.world.seed)
    """)
    result = pytester.runpytest("--sim-seeds", "7:9", "-v", "-s")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*seed 7*", "*seed 8*"])
    pytester.runpytest("--sim-seed", "8").assert_outcomes(passed=1)


def test_a_test_may_parametrize_sim_seed_itself(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import pytest

        @pytest.mark.parametrize("sim_seed", [11, 12])
        def test_scripted(sim_cluster, sim_seed):
            assert sim_cluster.world.seed == sim_seed
    """)
    pytester.runpytest("--sim-seed", "3").assert_outcomes(passed=2)


def test_a_failing_scenario_test_says_what_failed_in_a_few_lines_and_how_to_replay_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(_with_imports(f"""
        def test_reads_are_fresh(sim_run, sim_seed):
            assert sim_run({PASSING.replace("seed=1", "seed=1 + sim_seed")}).ok
            assert sim_run({FAILING}).ok
    """))
    result = pytester.runpytest("--sim-seed", "0", "--sim-artifacts", "failures")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E * where False = RunResult(seed=14, digest='*', failed: linearizable: * operations: "
        "not linearizable).ok",
        "*failing run: seed 14, checks failed: linearizable*",
        "*reproduce: pytest 'test_a_failing_scenario_test_says_what_failed_in_a_few_lines_and_"
        "how_to_replay_it.py::test_reads_are_fresh?seed0?' --sim-seed 0*",
        "*replay:    etcdsim replay failures/test_reads_are_fresh_seed0_-seed14*",
    ])
    # The result's fields (each violation carries the trace before it) stay in the artifacts.
    out = result.stdout.str()
    assert "trace_tail" not in out and len(out) < 8_000, out
    # (pytest under CI=true shows assertion explanations whole, so the line may come twice)
    shown = [line for line in result.stdout.lines if "where False = RunResult(" in line]
    assert shown and all(len(line) < 300 for line in shown)
    directory = pytester.path / "failures" / "test_reads_are_fresh_seed0_-seed14"
    assert (directory / "scenario.json").exists() and (directory / "summary.txt").exists()
    assert [p.name for p in (pytester.path / "failures").iterdir()] == [directory.name]


def test_the_replay_line_is_printed_even_when_captured_output_is_not_shown(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile(_with_imports(f"""
        def test_reads_are_fresh(sim_run):
            assert sim_run({FAILING}).ok
    """))
    result = pytester.runpytest("--show-capture=no", "--sim-artifacts", "failures")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*replay:    etcdsim replay failures/*-seed14*"])


def test_a_hypothesis_test_runs_scenarios_with_sim_run_and_reports_the_example_it_shrank_to(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(_with_imports(f"""
        from hypothesis import given, settings, strategies as st
        from sim.strategies import scenarios

        QUICK = settings(max_examples=3, database=None, derandomize=True)

        @QUICK
        @given(scenarios())
        def test_drawn_scenarios_pass(sim_run, scenario):
            assert sim_run(scenario).ok

        @QUICK
        @given(st.sampled_from([{PASSING}, {FAILING}]))
        def test_one_fails(sim_run, scenario):
            assert sim_run(scenario).ok
    """))
    result = pytester.runpytest("--sim-artifacts", "failures")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "FailedHealthCheck" not in out and "function-scoped fixture" not in out
    assert out.count("failing run: seed") == 1  # the example it shrank to, not every one
    result.stdout.fnmatch_lines(["*failing run: seed 14, checks failed: linearizable*",
                                 "*replay:    etcdsim replay failures/test_one_fails-seed14*"])
    assert (pytester.path / "failures" / "test_one_fails-seed14" / "scenario.json").exists()


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


def test_etcd_keys_and_values_are_any_bytes_and_come_back_as_they_went_in(
        sim_cluster: ScriptedCluster) -> None:
    key, value = b"\xff\xfe\x00k", b"\x80\x00\xffv\xc3"  # not UTF-8
    assert sim_cluster.put(key, value).header.revision == 2
    assert sim_cluster.put("ключ".encode(), value).header.revision == 3
    (kv,) = sim_cluster.get(key).kvs
    assert (kv.key, kv.value) == (key, value)
    assert sim_cluster.delete(key).deleted == 1
    assert sim_cluster.get(key).kvs == []
    sim_cluster.check()  # the history records them, and the checker reads them back


def test_a_failing_scripted_test_leaves_the_history_the_checker_reads_back(
        pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        def test_scripted(sim_cluster):
            sim_cluster.put(b"\\xffk", b"\\x00\\xfe")
            assert sim_cluster.get(b"\\xffk").kvs[0].value == b"something else"
    """)
    result = pytester.runpytest("--sim-seed", "4", "--sim-artifacts", "failures")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*scripted cluster: seed 4*",
                                 "*artifacts: failures/test_scripted_seed4_-seed4 (history.jsonl,"
                                 " trace.jsonl)*"])
    history = pytester.path / "failures" / "test_scripted_seed4_-seed4" / "history.jsonl"
    checked = subprocess.run([sys.executable, "-m", "sim", "check", str(history)],
                             env=clean_env(), capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("linearizable: 2 operations")


# ---- the plugin in someone else's project ------------------------------------------------------

# A project of its own: its own hypothesis profile, objects it froze for the collector, and a
# test that writes down the global state the plugin could touch.
USER_CONFTEST = """
import gc

from hypothesis import settings

settings.register_profile("mine", max_examples=7)
settings.load_profile("mine")
gc.freeze()
"""
USER_TESTS = """
import gc
import json
import os
import sys
import warnings

from hypothesis import given, settings, strategies as st


def state():
    return {
        "profile": settings.get_current_profile_name(),
        "max_examples": settings.default.max_examples,
        "settings": repr(settings.default),
        "warnings": [repr(f) for f in warnings.filters],
        "gc": [gc.isenabled(), list(gc.get_threshold())],
        "frozen": gc.get_freeze_count(),
        "recursion_limit": sys.getrecursionlimit(),
        "int_max_str_digits": sys.get_int_max_str_digits(),
        "simulator_loaded": sorted(m for m in sys.modules if m.startswith(("sim.", "etcdcore"))
                                   and m != "sim.pytest_plugin"),
    }


EXAMPLES = []


@given(st.integers())
def test_my_own_hypothesis_test(n):
    EXAMPLES.append(n)


def test_state():
    with open(os.environ["STATE_OUT"], "w") as f:
        json.dump({**state(), "examples": len(EXAMPLES)}, f)
"""
USER_TEST_WITH_A_RUN = """
from test_user import state
from sim import Scenario
from sim.cluster.workload import WorkloadConfig


def test_state_after_a_run(sim_run):
    before = state()
    assert sim_run(Scenario(seed=1, duration_us=12_000_000, mix=WorkloadConfig(clients=1))).ok
    after = state()
    assert {**after, "simulator_loaded": []} == {**before, "simulator_loaded": []}
"""


def _user_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "conftest.py").write_text(USER_CONFTEST)
    (root / "test_user.py").write_text(USER_TESTS)
    return root


def _pytest_in(python: Path | str, project: Path, *args: str, **env: str) -> str:
    """Run pytest with `python` in `project`, which must pass; its output."""
    proc = subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project, env=clean_env(**env), capture_output=True, text=True, check=False,
        timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _user_state(python: Path | str, project: Path, *args: str, **env: str) -> dict[str, object]:
    """Run the project's tests; the state its test_state wrote."""
    out = project / "state.json"
    _pytest_in(python, project, *args, STATE_OUT=str(out), **env)
    state: dict[str, object] = json.loads(out.read_text())
    out.unlink()
    return state


@pytest.mark.parametrize("ci", ["", "1"], ids=["local", "CI"])
def test_the_plugin_changes_no_setting_of_the_project_it_runs_in(tmp_path: Path, ci: str) -> None:
    project = _user_project(tmp_path / "project")
    (project / "test_run.py").write_text(USER_TEST_WITH_A_RUN)
    with_plugin = _user_state(sys.executable, project, "test_user.py", CI=ci,
                              HYPOTHESIS_PROFILE="")
    without = _user_state(sys.executable, project, "-p", "no:etcdsim", "test_user.py", CI=ci,
                          HYPOTHESIS_PROFILE="")
    assert (with_plugin["profile"], with_plugin["max_examples"], with_plugin["examples"]) == (
        "mine", 7, 7)
    assert with_plugin.pop("frozen") and without.pop("frozen")  # how many differs, with a plugin
    assert with_plugin == without
    assert with_plugin["simulator_loaded"] == []  # nothing of the simulator until a fixture
    # Nor does a run: the same state before and after (test_run.py compares them).
    _pytest_in(sys.executable, project, "test_run.py", CI=ci, HYPOTHESIS_PROFILE="",
               STATE_OUT=str(project / "unused.json"))


@pytest.mark.parametrize("how", ["option", "environment"])
def test_etcdsims_profiles_are_loaded_when_asked_for(tmp_path: Path, how: str) -> None:
    project = _user_project(tmp_path / "project")
    asked = (["--hypothesis-profile", "etcdsim-ci"], {}) if how == "option" else (
        [], {"HYPOTHESIS_PROFILE": "etcdsim-ci"})
    state = _user_state(sys.executable, project, *asked[0], **asked[1])
    assert (state["profile"], state["max_examples"], state["examples"]) == (
        "etcdsim-ci", 50, 50)


def test_an_unknown_etcdsim_profile_is_a_usage_error(pytester: pytest.Pytester,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPOTHESIS_PROFILE", "etcdsim-quick")
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*HYPOTHESIS_PROFILE=etcdsim-quick: etcdsim's profiles are "
                                 "etcdsim-dev, etcdsim-ci, etcdsim-fuzz*"])


def test_installed_from_its_wheel_into_a_fresh_venv_it_leaves_the_projects_profile_alone(
        tmp_path: Path) -> None:
    """As a user installs it: `pip install` of the wheel (pure: compiling is not the point
    here), not editable, into a venv of its own, with a project that has its own profile."""
    wheel = build_wheel(checkout_copy(tmp_path / "src"), tmp_path / "wheels", ETCDSIM_COMPILE="0")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    pip("--python", python, "install", "--quiet", wheel)
    project = _user_project(tmp_path / "project")
    (project / "test_seeded.py").write_text(
        "def test_seeded(sim_cluster):\n    assert sim_cluster.world.seed == 5\n")
    for ci in ("", "1"):
        state = _user_state(python, project, "--sim-seed", "5", CI=ci, HYPOTHESIS_PROFILE="")
        assert (state["profile"], state["max_examples"], state["examples"]) == ("mine", 7, 7)
    # It is the installed copy that ran, not this checkout.
    where = subprocess.run([python, "-c", "import sim; print(sim.__file__)"], cwd=project,
                           env=clean_env(), capture_output=True, text=True, check=True)
    assert where.stdout.startswith(str(venv))


def test_this_repos_own_tests_run_under_the_etcdsim_profile_the_environment_names() -> None:
    from conftest import _profile  # the repo's own conftest.py: its tests' choice, not the plugin's

    assert _profile({}) == "etcdsim-dev"
    assert _profile({"CI": "true"}) == "etcdsim-ci"  # not hypothesis's own `ci`
    assert _profile({"CI": "true", "HYPOTHESIS_PROFILE": "fuzz"}) == "etcdsim-fuzz"
    assert _profile({"HYPOTHESIS_PROFILE": "etcdsim-ci"}) == "etcdsim-ci"
    assert settings.get_current_profile_name() == _profile(os.environ)
