"""etcdsim: a whole etcd cluster on a simulated clock, network and disk, checked as it runs.

The public testing API, importable from here (each name is loaded on first use, so that
`import sim` costs nothing and `etcdsim check` never loads the simulator):

    Scenario, run_scenario, ScenarioError   one serializable run, and running it (sim.harness)
    RunConfig, RunResult, run               a run's flat config, its result (sim.cluster)
    ScriptedCluster, CheckFailed            a cluster driven step by step (sim.cluster.scripted)
    scenarios, fault_schedules              hypothesis strategies (sim.strategies)
    EtcdStateMachine                        a hypothesis state machine (sim.state_machine)

The pytest plugin is sim.pytest_plugin (loaded through its pytest11 entry point).
"""

from __future__ import annotations

import os
from importlib import import_module
from typing import TYPE_CHECKING, Any

# ETCDSIM_BUILD=source runs the sources even where compiled modules are installed beside them
# (sim.build_select, which says why the environment may choose). It must act before any other
# module of sim or etcdcore is imported; unset, `import sim` still imports nothing more.
if os.environ.get("ETCDSIM_BUILD"):
    import_module("sim.build_select").prefer_sources_if_asked()

__all__ = [
    "CheckFailed",
    "EtcdStateMachine",
    "RunConfig",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "ScriptedCluster",
    "fault_schedules",
    "run",
    "run_scenario",
    "scenarios",
]

_WHERE = {
    "Scenario": "sim.harness.scenario",
    "ScenarioError": "sim.harness.scenario",
    "run_scenario": "sim.harness.scenario",
    "RunConfig": "sim.cluster.config",
    "RunResult": "sim.cluster.result",
    "run": "sim.harness.runner",
    "ScriptedCluster": "sim.cluster.scripted",
    "CheckFailed": "sim.cluster.scripted",
    "scenarios": "sim.strategies",
    "fault_schedules": "sim.strategies",
    "EtcdStateMachine": "sim.state_machine",
}

if TYPE_CHECKING:
    from sim.cluster.config import RunConfig
    from sim.cluster.result import RunResult
    from sim.cluster.scripted import CheckFailed, ScriptedCluster
    from sim.harness.runner import run
    from sim.harness.scenario import Scenario, ScenarioError, run_scenario
    from sim.state_machine import EtcdStateMachine
    from sim.strategies import fault_schedules, scenarios


def __getattr__(name: str) -> Any:
    """Load a public name's module on first use (PEP 562)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    value = getattr(import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
