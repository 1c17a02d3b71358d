"""etcdsim's pytest plugin (entry point `pytest11`): seeds, scenario runs, a scripted cluster.

Options:
    --sim-seed N       run every test that takes `sim_seed` (or `sim_cluster`) with seed N
    --sim-seeds A:B    ... with each of the seeds A..B-1 (one test item per seed)
    --sim-artifacts D  where failing runs leave their files (default .etcdsim-failures)

Fixtures:
    sim_seed      the seed of this test item (0 when no option is given)
    sim_run       sim_run(scenario) -> RunResult; a failing test leaves the artifact directory
                  of its failing run and prints the `etcdsim replay` line. Not function-scoped,
                  so a hypothesis test may take it: `@given(scenarios())` reports the last
                  failing example, the one hypothesis shrank to
    sim_cluster   a ScriptedCluster (sim.cluster.scripted) on sim_seed, to script step by step;
                  one a test (a hypothesis test builds a ScriptedCluster in each example)

Hypothesis profiles `etcdsim-dev`, `etcdsim-ci` (derandomized) and `etcdsim-fuzz` are
registered, and loaded only when asked: `pytest --hypothesis-profile etcdsim-ci`, or
HYPOTHESIS_PROFILE=etcdsim-ci. The plugin changes no other setting of the project it runs in.
"""

from __future__ import annotations

import os
import re
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # the simulator is imported when a fixture is first used, not with pytest
    from sim.cluster.result import RunResult
    from sim.cluster.scripted import ScriptedCluster
    from sim.harness.scenario import Scenario

__all__ = ["PROFILES", "ScenarioRunner", "register_profiles"]

PROFILES = ("etcdsim-dev", "etcdsim-ci", "etcdsim-fuzz")
_PREFIX = "etcdsim-"

_RUNS = pytest.StashKey[list[tuple["Scenario", "RunResult"]]]()
_SEEDS = pytest.StashKey[list[int]]()
_CLUSTERS = pytest.StashKey[list["ScriptedCluster"]]()
_CURRENT = pytest.StashKey["pytest.Item | None"]()


def register_profiles() -> None:
    """Register etcdsim's hypothesis profiles (PROFILES); load none of them."""
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "etcdsim-dev", max_examples=25, deadline=None,
        suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile(
        "etcdsim-ci", max_examples=50, deadline=None,
        derandomize=True,  # a CI failure must replay the same way on a developer's machine
        print_blob=True, suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile(
        "etcdsim-fuzz", max_examples=5_000, deadline=None,
        suppress_health_check=list(HealthCheck))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("etcdsim", "deterministic simulation (etcdsim)")
    group.addoption("--sim-seed", type=int, default=None, metavar="N",
                    help="run tests that take sim_seed with seed N")
    group.addoption("--sim-seeds", default=None, metavar="A:B",
                    help="run tests that take sim_seed once per seed A..B-1")
    group.addoption("--sim-artifacts", default=".etcdsim-failures", metavar="DIR",
                    help="where failing runs leave their artifacts")


@pytest.hookimpl(tryfirst=True)  # before hypothesis's own, which loads --hypothesis-profile
def pytest_configure(config: pytest.Config) -> None:
    register_profiles()
    asked = os.environ.get("HYPOTHESIS_PROFILE", "")
    if asked.startswith(_PREFIX):  # only etcdsim's names: any other is the project's business
        if asked not in PROFILES:
            raise pytest.UsageError(
                f"HYPOTHESIS_PROFILE={asked}: etcdsim's profiles are {', '.join(PROFILES)}")
        from hypothesis import settings

        settings.load_profile(asked)
    config.stash[_SEEDS] = _seeds(config)  # bad values are a usage error before collection
    config.stash[_CURRENT] = None


def _seeds(config: pytest.Config) -> list[int]:
    one = config.getoption("--sim-seed")
    many = config.getoption("--sim-seeds")
    if one is not None and many is not None:
        raise pytest.UsageError("give --sim-seed or --sim-seeds, not both")
    if one is not None:
        if one < 0:
            raise pytest.UsageError(f"--sim-seed must be >= 0, got {one}")
        return [one]
    if many is not None:
        match = re.fullmatch(r"(\d+):(\d+)", many)
        if match is None or int(match[2]) <= int(match[1]):
            raise pytest.UsageError(f"--sim-seeds must look like A:B with A < B, got {many!r}")
        return list(range(int(match[1]), int(match[2])))
    return [0]


def _parametrized_by_hand(metafunc: pytest.Metafunc, name: str) -> bool:
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        if isinstance(names, str):
            names = [n.strip() for n in names.split(",")]
        if name in names:
            return True
    return False


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # `sim_seed` is in the closure of every test that takes it or sim_cluster.
    if "sim_seed" in metafunc.fixturenames and not _parametrized_by_hand(metafunc, "sim_seed"):
        seeds = metafunc.config.stash[_SEEDS]
        metafunc.parametrize("sim_seed", seeds, ids=[f"seed{s}" for s in seeds])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[
        None, object, object]:
    # sim_run lives for the session: its runs belong to the item running now.
    item.config.stash[_CURRENT] = item
    try:
        return (yield)
    finally:
        item.config.stash[_CURRENT] = None


class ScenarioRunner:
    """What `sim_run` is: run a scenario, and keep a failing run for the test's report."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config

    def __repr__(self) -> str:
        return "sim_run"  # as a failing `assert sim_run(scenario).ok` shows it

    def __call__(self, scenario: Scenario) -> RunResult:
        """Run `scenario` to its end; its RunResult."""
        from sim.harness.scenario import run_scenario

        result = run_scenario(scenario)
        item = self._config.stash.get(_CURRENT, None)
        if item is not None and not result.ok:
            runs = item.stash.setdefault(_RUNS, [])
            if _in_hypothesis_example():
                # Each example runs again: only the last failing one, which hypothesis shrank
                # to and replays at the end, is reported (and a trace is kept for one run).
                runs.clear()
            runs.append((scenario, result))
        return result


def _in_hypothesis_example() -> bool:
    from hypothesis import currently_in_test_context

    return currently_in_test_context()


@pytest.fixture
def sim_seed() -> int:
    """This item's seed: 0, or each of `--sim-seed(s)` (the plugin parametrizes it)."""
    return 0


@pytest.fixture(scope="session")
def sim_run(pytestconfig: pytest.Config) -> ScenarioRunner:
    """sim_run(scenario) -> RunResult; a failing test leaves its failing run's artifacts."""
    return ScenarioRunner(pytestconfig)


@pytest.fixture
def sim_cluster(request: pytest.FixtureRequest, sim_seed: int) -> Generator[
        ScriptedCluster, None, None]:
    """A 3-member cluster, elected and ready, on this item's seed (`--sim-seed(s)`, else 0)."""
    from sim.cluster.scripted import ScriptedCluster

    cluster = ScriptedCluster(seed=sim_seed)
    request.node.stash.setdefault(_CLUSTERS, []).append(cluster)
    yield cluster


def _artifact_dir(item: pytest.Item, seed: int) -> Path:
    base = Path(item.config.getoption("--sim-artifacts"))
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name)
    return base / f"{name}-seed{seed}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[
        None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call":
        return
    # Taken off the item either way: items live to the end of the session, runs and worlds
    # must not.
    runs = item.stash.get(_RUNS, [])
    clusters = item.stash.get(_CLUSTERS, [])
    item.stash[_RUNS] = []
    item.stash[_CLUSTERS] = []
    if not report.failed:
        return
    lines = _failure_lines(item, runs, clusters)
    if not lines:
        return
    if hasattr(report.longrepr, "addsection"):  # printed with the failure, whatever -s says
        report.longrepr.addsection("etcdsim", "\n".join(lines))
    else:
        report.sections.append(("etcdsim", "\n".join(lines)))


def _failure_lines(item: pytest.Item, runs: list[tuple[Scenario, RunResult]],
                   clusters: list[ScriptedCluster]) -> list[str]:
    """Write the failing runs' artifacts; the lines that say where, and how to reproduce."""
    from sim.harness.artifacts import failed_checks, replay_command, write_artifacts
    from sim.world.trace import write_trace

    lines: list[str] = []
    seed = item.callspec.params.get("sim_seed") if hasattr(item, "callspec") else None
    pytest_line = f"pytest '{item.nodeid}'" + (f" --sim-seed {seed}" if seed is not None else "")
    for scenario, result in runs:
        directory = _artifact_dir(item, scenario.seed)
        write_artifacts(directory, scenario, result)
        lines += [f"failing run: seed {scenario.seed}, checks failed: "
                  + ", ".join(failed_checks(result)),
                  f"  artifacts: {directory}", f"  reproduce: {pytest_line}",
                  f"  replay:    {replay_command(directory)}"]
    for cluster in clusters:
        directory = _artifact_dir(item, cluster.world.seed)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "history.jsonl").write_text(cluster.cluster.history.dumps())
        write_trace(directory / "trace.jsonl", cluster.world.trace.events)
        lines += [f"scripted cluster: seed {cluster.world.seed}",
                  f"  artifacts: {directory} (history.jsonl, trace.jsonl)",
                  f"  reproduce: {pytest_line}"]
    return lines
