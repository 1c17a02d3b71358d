"""The architecture's rules: layers one way, a standalone checker, etcdcore free of sim, no cycles.

The rules are import-linter contracts in pyproject.toml; `make lint` checks them, and so do
these tests, together with a proof that the contracts do catch a cycle and a wrong-way import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, check=False, timeout=300)


def test_every_architecture_contract_is_kept() -> None:
    out = _lint_imports(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert " 0 broken" in out.stdout


def test_a_cycle_or_an_import_against_the_layers_breaks_a_contract(tmp_path: Path) -> None:
    for package in ("sim", "etcdcore"):
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    clock = tmp_path / "sim" / "world" / "clock.py"  # sim.world.node imports the clock
    clock.write_text(clock.read_text() + "\nimport sim.world.node  # noqa\n")
    raft = tmp_path / "etcdcore" / "raft" / "raft.py"  # a pure core reaching up into sim
    raft.write_text(raft.read_text() + "\nimport sim.harness.runner  # noqa\n")
    out = _lint_imports(tmp_path)
    assert out.returncode != 0
    broken = [line for line in out.stdout.splitlines() if line.endswith("BROKEN")]
    text = out.stdout.replace("\n", " ")
    assert "no import cycles anywhere, at any depth BROKEN" in text, out.stdout
    assert "etcdcore never imports sim BROKEN" in text, out.stdout
    assert len(broken) >= 2


def test_the_check_command_imports_nothing_of_the_simulator() -> None:
    # What `etcdsim check` loads: the command line, the checker and its formats, no more.
    code = (
        "import sys\n"
        "from sim.commands.cli import _parser\n"
        "import sim.commands.check\n"
        "_parser()\n"
        "heavy = sorted(m for m in sys.modules if m.startswith(('sim.world', 'sim.cluster', "
        "'sim.harness', 'sim.report', 'etcdcore', 'simpy', 'rich', 'hypothesis', 'dask')))\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_public_testing_api_is_importable_from_sim_and_costs_nothing_until_used() -> None:
    code = (
        "import sys\n"
        "import sim\n"
        "before = sorted(m for m in sys.modules if m.startswith(('sim.', 'etcdcore')))\n"
        "from sim import (CheckFailed, EtcdStateMachine, RunConfig, RunResult, Scenario,\n"
        "                 ScenarioError, ScriptedCluster, fault_schedules, run, run_scenario,\n"
        "                 scenarios)\n"
        "import sim.cluster.config, sim.harness.runner, sim.harness.scenario, sim.strategies\n"
        "assert Scenario is sim.harness.scenario.Scenario\n"
        "assert run is sim.harness.runner.run and RunConfig is sim.cluster.config.RunConfig\n"
        "assert scenarios is sim.strategies.scenarios\n"
        "assert set(sim.__all__) <= set(dir(sim))\n"
        "try:\n"
        "    sim.no_such_name\n"
        "except AttributeError as exc:\n"
        "    assert 'no_such_name' in str(exc)\n"
        "print(before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
