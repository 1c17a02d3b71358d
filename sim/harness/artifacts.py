"""A failure's directory: everything needed to look at it and to replay it.

    scenario.json   the scenario, in full (replaying it gives the same digest)
    result.json     the run's verdicts, digest and figures (what replay compares with)
    history.jsonl   the clients' history (etcd workload), as `etcdsim check` reads it
    trace.jsonl     the whole trace, one event per line
    report.html     the run on one page: members, faults, operations, the violation
    summary.txt     what failed, and the commands that replay it
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sim.cluster.result import RunResult
from sim.harness.scenario import Scenario, ScenarioError, loads_json
from sim.limits import MAX_SCENARIO_BYTES
from sim.world.probes import hit_line, never_hit
from sim.world.trace import write_trace

__all__ = ["failed_checks", "load_recorded", "replay_command", "write_artifacts"]


def replay_command(directory: Path) -> str:
    """The one line that replays the run in `directory`."""
    return f"etcdsim replay {directory}"


def failed_checks(result: RunResult | dict[str, Any]) -> list[str]:
    """The names of the checks a result failed, in order."""
    violations = result.violations if isinstance(result, RunResult) else result["violations"]
    return [str(v["check"]) for v in violations]


def write_artifacts(directory: Path, scenario: Scenario, result: RunResult,
                    shrunk: str = "") -> Path:
    """Write the run's files into `directory` (created if needed); the directory. `shrunk`
    says, for a shrunk failure, what it was shrunk from (summary.txt shows it)."""
    from sim.report import render_run_report

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "scenario.json").write_text(scenario.dumps(), encoding="utf-8")
    (directory / "result.json").write_text(
        json.dumps(result.to_json(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    if result.history:
        (directory / "history.jsonl").write_text(result.history, encoding="utf-8")
    write_trace(directory / "trace.jsonl", result.trace)
    (directory / "report.html").write_text(
        render_run_report(result, scenario.to_config()), encoding="utf-8")
    (directory / "summary.txt").write_text(_summary(directory, scenario, result, shrunk),
                                           encoding="utf-8")
    return directory


def _summary(directory: Path, scenario: Scenario, result: RunResult, shrunk: str) -> str:
    lines = [f"the smallest {shrunk}", ""] if shrunk else []
    lines.append(f"etcdsim run: seed {scenario.seed}, {scenario.members} members, "
                 f"{scenario.duration_us / 1_000_000:g} simulated s, "
                 f"{len(scenario.faults)} faults, workload {scenario.workload}"
                 + (f", bugs {', '.join(sorted(scenario.bugs))}" if scenario.bugs else ""))
    mix = scenario.mix
    if mix.max_ops or mix.skip:
        lines.append(f"client operations: at most {mix.max_ops or 'any number'} a client, "
                     f"{len(mix.skip)} more left out (mix.max_ops, mix.skip)")
    limited = [f for f in scenario.faults if f.count]
    if limited:
        lines.append(f"faults that hold or delay only their first messages: {len(limited)} "
                     f"({sum(result.fault_messages)} messages held or delayed in all)")
    lines += [f"verdict: {result.verdict}", f"digest: {result.digest}", "",
              "checks:"]
    lines += [f"  {name:<22} {outcome}" for name, outcome in result.checks.items()]
    for v in result.violations:
        lines.append(f"violation: {v['check']} on node {v['node']} at t={v['time_us']}us: "
                     f"{v['detail']}")
    lines += ["", f"sometimes points: {hit_line(result.probes)}"]
    lines += [f"  {name:<40} {n}" for name, n in result.probes.items()]
    missed = never_hit(result.probes)
    if missed:
        lines.append("never hit: " + ", ".join(missed))
    lines += ["", "replay:", f"  {replay_command(directory)}", ""]
    return "\n".join(lines)


def load_recorded(path: Path) -> tuple[Scenario, dict[str, Any] | None, Path]:
    """The scenario at `path` (a directory or a scenario.json), the result recorded beside it
    if any, and the directory. Raises ScenarioError (naming the file when it is result.json)
    or OSError."""
    directory = path if path.is_dir() else path.parent
    scenario_path = path / "scenario.json" if path.is_dir() else path
    scenario = Scenario.loads(_read(scenario_path))
    recorded = None
    result_path = directory / "result.json"
    if result_path.exists():
        try:
            recorded = _recorded(loads_json(_read(result_path)))
        except ScenarioError as exc:
            raise ScenarioError(f"{result_path}: {exc}") from None
    return scenario, recorded, directory


def _read(path: Path) -> str:
    """A file of a failure's directory, refused unread if it is larger than any could be."""
    if path.stat().st_size > MAX_SCENARIO_BYTES:
        raise ScenarioError(f"larger than a scenario can be ({MAX_SCENARIO_BYTES} bytes at most)")
    return path.read_text(encoding="utf-8")


def _recorded(obj: Any) -> dict[str, Any]:
    """result.json as replay reads it: the digest and the violations' checks."""
    if not isinstance(obj, dict):
        raise ScenarioError("a result is a JSON object")
    if not isinstance(obj.get("digest"), str):
        raise ScenarioError('"digest" must be a string')
    violations = obj.get("violations")
    if not isinstance(violations, list) or not all(
            isinstance(v, dict) and isinstance(v.get("check"), str) for v in violations):
        raise ScenarioError('"violations" must be a list of objects, each naming its "check"')
    return obj
