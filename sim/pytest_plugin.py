"""etcdsim's pytest plugin (entry point `pytest11`): seeds, scenario runs, a scripted cluster.

Options:
    --sim-seed N       run every test that takes `sim_seed` with seed N
    --sim-seeds A:B    ... with each of the seeds A..B-1 (one test item per seed)
    --sim-artifacts D  where failing runs leave their files (default .etcdsim-failures)

Fixtures:
    sim_seed      the seed of this test item (0 when no option is given)
    sim_run       sim_run(scenario) -> RunResult; a failing test leaves the run's artifact
                  directory and prints both the pytest line and the `etcdsim replay` line
    sim_cluster   a ScriptedCluster (sim.cluster.scripted) on sim_seed, to script step by step

Hypothesis profiles `dev`, `ci` and `fuzz` are registered here and one is loaded explicitly:
the one named by HYPOTHESIS_PROFILE, else `ci` when CI is set, else `dev` (hypothesis would
otherwise pick its own `ci` profile under CI).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from sim.cluster.result import RunResult
from sim.cluster.scripted import ScriptedCluster
from sim.harness.scenario import Scenario, run_scenario
from sim.world.trace import write_trace

__all__ = ["register_profiles"]

_RUNS = pytest.StashKey[list[tuple[Scenario, RunResult]]]()
_SEEDS = pytest.StashKey[list[int]]()
_CLUSTERS = pytest.StashKey[list[ScriptedCluster]]()


def register_profiles() -> None:
    """Register `dev`, `ci` and `fuzz`, and load the one this environment asks for."""
    settings.register_profile(
        "dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile(
        "ci", max_examples=50, deadline=None,
        derandomize=True,  # a CI failure must replay the same way on a developer's machine
        print_blob=True, suppress_health_check=[HealthCheck.too_slow])
    settings.register_profile(
        "fuzz", max_examples=5_000, deadline=None, suppress_health_check=list(HealthCheck))
    settings.load_profile(
        os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("etcdsim", "deterministic simulation (etcdsim)")
    group.addoption("--sim-seed", type=int, default=None, metavar="N",
                    help="run tests that take sim_seed with seed N")
    group.addoption("--sim-seeds", default=None, metavar="A:B",
                    help="run tests that take sim_seed once per seed A..B-1")
    group.addoption("--sim-artifacts", default=".etcdsim-failures", metavar="DIR",
                    help="where failing runs leave their artifacts")


def pytest_configure(config: pytest.Config) -> None:
    register_profiles()
    config.stash[_SEEDS] = _seeds(config)  # bad values are a usage error before collection


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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "sim_seed" in metafunc.fixturenames:
        seeds = metafunc.config.stash[_SEEDS]
        metafunc.parametrize("sim_seed", seeds, ids=[f"seed{s}" for s in seeds])


@pytest.fixture
def sim_run(request: pytest.FixtureRequest) -> Callable[[Scenario], RunResult]:
    """Run a scenario; remembered, so a failing test can leave its artifacts."""
    runs = request.node.stash.setdefault(_RUNS, [])

    def go(scenario: Scenario) -> RunResult:
        result = run_scenario(scenario)
        runs.append((scenario, result))
        return result

    return go


@pytest.fixture
def sim_cluster(request: pytest.FixtureRequest) -> Generator[ScriptedCluster, None, None]:
    """A 3-member cluster, elected and ready, on this item's seed (sim_seed, else 0)."""
    seed = request.getfixturevalue("sim_seed") if "sim_seed" in request.fixturenames else 0
    cluster = ScriptedCluster(seed=seed)
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
    if report.when != "call" or not report.failed:
        return
    from sim.harness.artifacts import replay_command, write_artifacts

    lines: list[str] = []
    seed = item.callspec.params.get("sim_seed") if hasattr(item, "callspec") else None
    nodeid = item.nodeid
    pytest_line = f"pytest '{nodeid}'" + (f" --sim-seed {seed}" if seed is not None else "")
    for scenario, result in item.stash.get(_RUNS, []):
        if result.ok:
            continue
        directory = _artifact_dir(item, scenario.seed)
        write_artifacts(directory, scenario, result)
        lines += [f"failing run: seed {scenario.seed}, checks failed: "
                  + ", ".join(str(v["check"]) for v in result.violations),
                  f"  artifacts: {directory}", f"  reproduce: {pytest_line}",
                  f"  replay:    {replay_command(directory)}"]
    for cluster in item.stash.get(_CLUSTERS, []):
        directory = _artifact_dir(item, cluster.world.seed)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "history.jsonl").write_text(cluster.cluster.history.dumps())
        write_trace(directory / "trace.jsonl", cluster.world.trace.events)
        lines += [f"scripted cluster: seed {cluster.world.seed}",
                  f"  artifacts: {directory} (history.jsonl, trace.jsonl)",
                  f"  reproduce: {pytest_line}"]
    if lines:
        report.sections.append(("etcdsim", "\n".join(lines)))
