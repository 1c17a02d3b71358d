"""The `etcdsim` command: run one seed, sweep many, or check a history.

Exit codes: 0 clean, 1 a check failed, 2 bad usage (one line on stderr, no traceback);
`check` also exits 3 when its time limit ran out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import NoReturn

from etcdcore import bugs
from sim.gateway_command import GatewayInputError, add_gateway_parser, cmd_gateway
from sim.lincheck.command import add_check_parser, cmd_check
from sim.runner import RunConfig, RunResult
from sim.scenario_commands import (
    CommandInputError,
    add_scenario_parsers,
    cmd_replay,
    cmd_shrink,
)
from sim.trace import Event, encode_event, write_trace

__all__ = ["main"]

_S = 1_000_000
MAX_NODES = 9


class UsageError(Exception):
    """Bad usage: printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _whole(name: str, low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [low, high], with a message naming `name`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{name} must be a whole number, got {text!r}") from None
        if high is not None and not low <= value <= high:
            raise argparse.ArgumentTypeError(
                f"{name} must be between {low} and {high}, got {value}")
        if value < low:
            raise argparse.ArgumentTypeError(f"{name} must be >= {low}, got {value}")
        return value

    return parse


_seed = _whole("seed", 0)
_nodes = _whole("nodes", 1, MAX_NODES)
_workers = _whole("workers", 1)
_rate = _whole("rate", 0)
_clients = _whole("clients", 1, 64)


def _duration(text: str) -> int:
    """Simulated seconds (decimals allowed) as integer microseconds."""
    try:
        seconds = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(
            f"duration must be a number of simulated seconds, got {text!r}") from None
    if not seconds.is_finite() or seconds <= 0:
        raise argparse.ArgumentTypeError(f"duration must be > 0 seconds, got {text!r}")
    if seconds > 86_400:
        raise argparse.ArgumentTypeError(f"duration must be at most 86400 seconds, got {text!r}")
    return int(seconds * _S)


def _seed_range(text: str) -> range:
    parts = text.split(":")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"seeds must look like A:B, got {text!r}")
    a, b = (_seed(p) for p in parts)
    if b <= a:
        raise argparse.ArgumentTypeError(f"seeds A:B needs A < B (B excluded), got {text!r}")
    return range(a, b)


def _add_cluster_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nodes", type=_nodes, default=3, help="cluster size (default 3)")
    p.add_argument("--duration", type=_duration, default=60 * _S, metavar="SIM_SECONDS",
                   help="simulated seconds (default 60)")
    p.add_argument("--faults", choices=("none", "default"), default="default",
                   help="fault mix drawn from the seed (default: default)")
    p.add_argument("--workload", choices=("etcd", "raft"), default="etcd",
                   help="etcd: KV clients on etcd servers (default); raft: a Raft proposer")
    p.add_argument("--clients", type=_clients, default=4,
                   help="etcd workload: concurrent clients (default 4)")
    p.add_argument("--rate", type=_rate, default=100, metavar="PER_SECOND",
                   help="etcd workload: client operations per simulated second (default 100)")
    p.add_argument("--proposals", type=_rate, default=100, metavar="PER_SECOND",
                   help="raft workload: entries proposed per simulated second (default 100)")
    p.add_argument("--bug", type=_bug_name, action="append", default=[], metavar="NAME",
                   help="switch on a planted bug (repeatable; `etcdsim bugs` lists them)")


def _bug_name(text: str) -> str:
    """An argparse type: the name of a planted bug."""
    try:
        bugs.check_names(frozenset({text}))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _bug_flags(config: RunConfig) -> list[str]:
    """`--bug NAME` for each planted bug the config switches on, sorted."""
    return [flag for name in sorted(config.bugs) for flag in ("--bug", name)]


def _cmd_bugs() -> int:
    """List the planted bugs: name, what it does, the rule it breaks."""
    for bug in bugs.BUGS.values():
        print(f"{bug.name}\n    {bug.description}\n    breaks: {bug.rule}")
    return 0


def _parser() -> _Parser:
    parser = _Parser(prog="etcdsim", description="Deterministic simulation of an etcd cluster.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p_run = sub.add_parser("run", help="run one seed")
    p_run.add_argument("--seed", type=_seed, required=True)
    _add_cluster_options(p_run)
    p_run.add_argument("--json", action="store_true", help="print one JSON object")
    p_run.add_argument("--check-determinism", action="store_true",
                       help="run again in a fresh process with another PYTHONHASHSEED")
    p_run.add_argument("--trace-out", metavar="FILE", help="write the trace, one JSON event a line")
    p_run.add_argument("--out", metavar="DIR",
                       help="write the run's artifacts there (scenario.json, history.jsonl, "
                            "trace.jsonl, report.html, summary.txt); a failing run writes them "
                            "to etcdsim-artifacts/seed-N-DIGEST when --out is not given")
    p_sweep = sub.add_parser("sweep", help="run many seeds")
    p_sweep.add_argument("--seeds", type=_seed_range, required=True, metavar="A:B",
                         help="seeds A to B-1")
    p_sweep.add_argument("--workers", type=_workers, default=os.cpu_count() or 1)
    p_sweep.add_argument("--dask", metavar="SCHEDULER_ADDRESS",
                         help="run the seeds on a Dask cluster (e.g. tcp://host:8786)")
    p_sweep.add_argument("--out", metavar="DIR",
                         help="leave an artifact directory per failure there")
    _add_cluster_options(p_sweep)
    add_check_parser(sub)
    add_gateway_parser(sub)
    add_scenario_parsers(sub)
    sub.add_parser("bugs", help="list the planted bugs --bug can switch on")
    return parser


def _config(args: argparse.Namespace, seed: int) -> RunConfig:
    return RunConfig(seed=seed, nodes=args.nodes, duration_us=args.duration, faults=args.faults,
                     workload=args.workload, proposals_per_sec=args.proposals,
                     clients=args.clients, ops_per_sec=args.rate,
                     bugs=frozenset(getattr(args, "bug", None) or ()))


def _workload_flags(config: RunConfig) -> list[str]:
    if config.workload == "raft":
        return ["--workload", "raft", "--proposals", str(config.proposals_per_sec)]
    return ["--workload", "etcd", "--clients", str(config.clients),
            "--rate", str(config.ops_per_sec)]


def replay_command(config: RunConfig) -> str:
    """The exact command that reruns `config`."""
    seconds = Decimal(config.duration_us) / _S
    return (f"etcdsim run --seed {config.seed} --nodes {config.nodes} --duration {seconds} "
            f"--faults {config.faults} " + " ".join(_workload_flags(config) + _bug_flags(config)))


def print_result(result: RunResult, config: RunConfig, replay: str | None = None) -> None:
    """The human summary of a run; `replay` is the command printed for a failure."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    ratio = result.sim_seconds / result.wall_seconds if result.wall_seconds else 0.0
    faults = ", ".join(f"{k} {v}" for k, v in result.faults.items()) or "none"
    verdict = "[bold green]PASS[/]" if result.ok else "[bold red]FAIL[/]"
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
        console.print(f"  committed   {result.committed:,} raft entries, leaders elected "
                      f"{result.leaders}")
    console.print("  checks")
    for name, outcome in result.checks.items():
        colour = "green" if outcome.startswith("pass") else "red"
        console.print(f"    {name:<22} [{colour}]{outcome}[/]")
    for v in result.violations:
        console.print(f"  [red]violation[/]   {v['check']} on node {v['node']} at "
                      f"t={v['time_us']}us: {v['detail']}")
        for event in v.get("trace_tail", [])[-10:]:
            console.print(f"      {encode_event(tuple(event))}", markup=False)
    console.print(f"  verdict     {verdict}")
    console.print(f"  digest      {result.digest}")
    if not result.ok:
        console.print(f"  replay      {replay or replay_command(config)}", markup=False)


def _check_determinism(args: argparse.Namespace, result: RunResult) -> int:
    """Rerun in a fresh process with another PYTHONHASHSEED; 0 if the digests agree."""
    ours = os.environ.get("PYTHONHASHSEED", "")
    other = str((int(ours) + 1) % 4_294_967_296) if ours.isdigit() else "1"
    with tempfile.TemporaryDirectory() as tmp:
        trace_path = os.path.join(tmp, "trace.jsonl")
        cmd = [sys.executable, "-m", "sim", "run", "--seed", str(args.seed),
               "--nodes", str(args.nodes), "--duration", str(Decimal(args.duration) / _S),
               "--faults", args.faults, *_workload_flags(_config(args, args.seed)),
               *_bug_flags(_config(args, args.seed)),
               "--json", "--trace-out", trace_path]
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


def _cmd_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sim.artifacts import replay_command as replay_dir
    from sim.artifacts import write_artifacts
    from sim.scenario import Scenario, run_scenario

    config = _config(args, args.seed)
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
        out = result.to_json()
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
    return 0 if result.ok else 1


def _cmd_sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sim.sweep import SweepError, sweep

    try:
        return sweep(list(args.seeds), _config(args, 0), args.workers, args.dask,
                     Path(args.out) if args.out else None)
    except SweepError as exc:
        raise CommandInputError(str(exc)) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `etcdsim` console script."""
    try:
        args = _parser().parse_args(argv)
    except UsageError as exc:
        print(f"etcdsim: error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "run":
            return _cmd_run(args)
        if args.command == "check":
            return cmd_check(args)
        if args.command == "gateway":
            return cmd_gateway(args)
        if args.command == "replay":
            return cmd_replay(args)
        if args.command == "shrink":
            return cmd_shrink(args)
        if args.command == "bugs":
            return _cmd_bugs()
        return _cmd_sweep(args)
    except (GatewayInputError, CommandInputError) as exc:
        print(f"etcdsim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("etcdsim: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"etcdsim: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
