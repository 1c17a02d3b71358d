"""`etcdsim run` and `etcdsim sweep`: one seed with its summary, or many with a progress bar."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from sim.cluster.config import RunConfig
from sim.cluster.result import RunResult
from sim.commands.errors import CommandError
from sim.harness.artifacts import replay_command as replay_dir
from sim.harness.artifacts import write_artifacts
from sim.harness.scenario import Scenario, run_scenario
from sim.harness.sweep import SweepError, sweep
from sim.world.probes import hit_line
from sim.world.trace import Event, encode_event, write_trace

__all__ = ["OUTCOMES", "cmd_run", "cmd_sweep", "first_difference", "print_result", "run_config"]

# What the outcomes counted on the operations line mean (as the history's kinds).
OUTCOMES = ("(ok: answered; fail: certainly took no effect; info: outcome unknown, it may "
            "have taken effect, as after a timeout; open: no answer when the run ended)")


EXIT_CODES = {"PASS": 0, "FAIL": 1, "UNDECIDED": 3}  # 3 as `etcdsim check` says unknown


def run_config(args: argparse.Namespace, seed: int) -> RunConfig:
    """The run the command line asks for, at `seed`."""
    return RunConfig(seed=seed, nodes=args.nodes, duration_us=args.duration, faults=args.faults,
                     workload=args.workload, proposals_per_sec=args.proposals,
                     clients=args.clients, ops_per_sec=args.rate,
                     bugs=frozenset(getattr(args, "bug", None) or ()),
                     liveness=getattr(args, "liveness", "all"))


def print_result(result: RunResult, config: RunConfig, replay: str | None = None) -> None:
    """The human summary of a run; `replay` is the command printed for a failure."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    ratio = result.sim_seconds / result.wall_seconds if result.wall_seconds else 0.0
    faults = ", ".join(f"{k} {v}" for k, v in result.faults.items()) or "none"
    verdict = {"PASS": "[bold green]PASS[/]", "FAIL": "[bold red]FAIL[/]",
               "UNDECIDED": "[bold yellow]UNDECIDED[/] (no check failed; the history got no "
                            "linearizability verdict within the check's time limit)"}[
        result.verdict]
    console.print(f"[bold]etcdsim run[/]  seed {result.seed}  nodes {result.nodes}")
    console.print(f"  simulated   {result.sim_seconds:.1f} s   wall {result.wall_seconds:.2f} s"
                  f"   ({ratio:,.0f}x)")
    console.print(f"  events      {result.events:,}")
    console.print(f"  faults      {sum(result.faults.values())}: {faults}")
    if result.workload == "raft":
        console.print(f"  committed   {result.committed:,} entries (proposals sent "
                      f"{result.proposed:,}, leaders elected {result.leaders})")
    else:
        ops = sum(n for kinds in result.ops.values() for n in kinds.values())
        detail = "; ".join(f"{op} " + " ".join(f"{k} {n}" for k, n in kinds.items())
                           for op, kinds in result.ops.items())
        console.print(f"  operations  {ops:,}: {detail}")
        if ops:
            console.print(f"              {OUTCOMES}", markup=False)
        console.print(f"  committed   {result.committed:,} raft entries, leaders elected "
                      f"{result.leaders}")
    console.print(f"  points      {hit_line(result.probes)}", markup=False)
    console.print("  checks")
    for name, outcome in result.checks.items():
        colour = ("green" if outcome.startswith("pass") else
                  "yellow" if outcome.startswith("unknown") else "red")
        console.print(f"    {name:<22} [{colour}]{outcome}[/]")
    for v in result.violations:
        console.print(f"  [red]violation[/]   {v['check']} on node {v['node']} at "
                      f"t={v['time_us']}us: {v['detail']}")
        for event in v.get("trace_tail", [])[-10:]:
            console.print(f"      {encode_event(tuple(event))}", markup=False)
    console.print(f"  verdict     {verdict}")
    console.print(f"  digest      {result.digest}")
    if not result.ok:
        console.print(f"  replay      {replay or config.command_line()}", markup=False)


def _check_determinism(args: argparse.Namespace, result: RunResult) -> int:
    """Rerun in a fresh process with another PYTHONHASHSEED; 0 if the digests agree."""
    ours = os.environ.get("PYTHONHASHSEED", "")
    other = str((int(ours) + 1) % 4_294_967_296) if ours.isdigit() else "1"
    with tempfile.TemporaryDirectory() as tmp:
        trace_path = os.path.join(tmp, "trace.jsonl")
        # The command line that reruns the config, without its leading "etcdsim".
        rerun = run_config(args, args.seed).command_line().split()[1:]
        cmd = [sys.executable, "-m", "sim", *rerun, "--json", "--trace-out", trace_path]
        env = dict(os.environ, PYTHONHASHSEED=other)
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode not in (0, 1):
            print(f"etcdsim: error: the rerun failed: {proc.stderr.strip()}", file=sys.stderr)
            return 1
        theirs = json.loads(proc.stdout)["digest"]
        if theirs == result.digest:
            print(f"deterministic: digest {theirs} (PYTHONHASHSEED {ours or 'random'} and {other})")
            return 0
        print(f"NOT deterministic: {result.digest} here, {theirs} with PYTHONHASHSEED={other}")
        with open(trace_path, encoding="utf-8") as f:
            print(first_difference(result.trace, f.read().splitlines()))
        return 1


def first_difference(ours: Sequence[Event], theirs: Sequence[str]) -> str:
    """Where two traces part: ours as events, theirs as encoded lines."""
    for i in range(max(len(ours), len(theirs))):
        mine = encode_event(ours[i]) if i < len(ours) else "<end of trace>"
        other = theirs[i] if i < len(theirs) else "<end of trace>"
        if mine != other:
            return f"first difference at event {i}:\n  here:  {mine}\n  rerun: {other}"
    return "the traces are identical"


def cmd_run(args: argparse.Namespace) -> int:
    """Run one seed: the summary (or --json), artifacts for a failure; 1 if a check failed."""
    config = run_config(args, args.seed)
    scenario = Scenario.from_config(config)
    result = run_scenario(scenario)
    if args.trace_out:
        write_trace(args.trace_out, result.trace)
    out_dir: Path | None = Path(args.out) if args.out else None
    if out_dir is None and not result.ok:
        out_dir = Path("etcdsim-artifacts") / f"seed-{config.seed}-{result.digest[:8]}"
    replay = None
    if out_dir is not None:
        write_artifacts(out_dir, scenario, result)
        replay = replay_dir(out_dir)
    if args.json:
        from sim.build_select import which_build

        out = result.to_json()
        out["build"] = which_build()  # "compiled" (mypyc) or "source": the same digest either way
        if out_dir is not None:
            out["artifacts"] = str(out_dir)
            if result.history:
                out["history"] = str(out_dir / "history.jsonl")
        print(json.dumps(out, sort_keys=True))
    else:
        print_result(result, config, replay=replay)
        if out_dir is not None:
            print(f"  artifacts   {out_dir}")
    if args.check_determinism and _check_determinism(args, result) != 0:
        return 1
    return EXIT_CODES[result.verdict]


def cmd_sweep(args: argparse.Namespace) -> int:
    """Run many seeds; CommandError when the sweep cannot start (a Dask scheduler away)."""
    if args.swarm and args.guided:
        raise CommandError("--swarm and --guided cannot be combined: a guided sweep draws its "
                           "own scenarios")
    try:
        return sweep(list(args.seeds), run_config(args, 0), args.workers, args.dask,
                     Path(args.out) if args.out else None, guided=args.guided,
                     json_out=args.json, swarm=args.swarm)
    except SweepError as exc:
        raise CommandError(str(exc)) from None
