"""The `etcdsim` command: its options, and each subcommand run from its own module.

Exit codes: 0 clean, 1 a check failed, 2 bad usage (one line on stderr, no traceback), 3 no
check failed but a history got no verdict in time (`run`'s UNDECIDED; `check`'s unknown).
A subcommand's module is imported only when it runs, so `etcdsim check` loads the checker and
nothing of the simulator.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, NoReturn

from sim.commands.errors import CommandError
from sim.limits import MAX_RATE, MAX_WORKERS, SCENARIO, SWEEP, Bound, HugeNumber, parse_number, show

__all__ = ["main"]

_S = 1_000_000


class UsageError(Exception):
    """Bad usage: printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _flag(bound: Bound, scale: int = 1, unit: str | None = None) -> Callable[[str], Any]:
    """An argparse type: a number within `bound` (sim.limits, the table scenario.json's loader
    reads too); with `scale`, the flag gives the number in `unit`s `scale` times larger
    (seconds for microseconds), and it must come out whole in the field's own."""

    def parse(text: str) -> int | float:
        value = parse_number(text, whole=bound.whole and scale == 1)
        if value is None:
            kind = "a whole number" if bound.whole and scale == 1 else "a number"
            raise argparse.ArgumentTypeError(f"must be {kind}, got {show(text)}")
        if scale != 1 and not isinstance(value, HugeNumber):
            given = Decimal(text.strip())  # exact, and finite: parse_number read it
            if not Decimal(bound.low) / scale <= given <= Decimal(bound.high) / scale:
                raise argparse.ArgumentTypeError(
                    f"must be {bound.span(scale, unit)}, got {show(text.strip())}")
            exact = given * scale
            if exact != exact.to_integral_value():
                raise argparse.ArgumentTypeError(
                    f"must be {bound.span(scale, unit)}, to the microsecond, got {show(text)}")
            value = int(exact)
        problem = bound.problem(value, scale, unit)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        assert not isinstance(value, HugeNumber)
        return value

    return parse


_seed = _flag(SCENARIO["seed"])
_nodes = _flag(SCENARIO["members"])
_workers = _flag(SWEEP["workers"])
_rate = _flag(SCENARIO["mix.rate"])
_proposals = _flag(SCENARIO["proposals_per_sec"])
_clients = _flag(SCENARIO["mix.clients"])
_duration = _flag(SCENARIO["duration_us"], scale=_S, unit="simulated seconds")
_max_runs = _flag(SWEEP["max_runs"])


def _seed_range(text: str) -> range:
    parts = text.split(":")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"seeds must look like A:B, got {show(text)}")
    a, b = (_seed(p) for p in parts)
    if b <= a:
        raise argparse.ArgumentTypeError(f"seeds A:B needs A < B (B excluded), got {show(text)}")
    most = int(SWEEP["seeds"].high)
    if b - a > most:
        raise argparse.ArgumentTypeError(f"a sweep runs at most {most} seeds, got {b - a}")
    return range(a, b)


def _add_cluster_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--nodes", type=_nodes, default=3, help="cluster size, 1 to 9 (default 3)")
    p.add_argument("--duration", type=_duration, default=60 * _S, metavar="SIM_SECONDS",
                   help="simulated seconds, to the microsecond, at most 86400 (default 60)")
    p.add_argument("--faults", choices=("none", "default"), default="default",
                   help="fault mix drawn from the seed (default: default)")
    p.add_argument("--workload", choices=("etcd", "raft"), default="etcd",
                   help="etcd: KV clients on etcd servers (default); raft: a Raft proposer")
    p.add_argument("--clients", type=_clients, default=4,
                   help="etcd workload: concurrent clients, 1 to 64 (default 4)")
    p.add_argument("--rate", type=_rate, default=100, metavar="PER_SECOND",
                   help="etcd workload: the target of client operations per simulated second, "
                        f"all clients together, 0 (idle) to {MAX_RATE} (default 100). The clients "
                        "are closed-loop: each waits for its answer before it thinks and calls "
                        "again, so slow answers (faults, a lost leader) make the rate reached "
                        "lower; the summary counts what was done")
    p.add_argument("--proposals", type=_proposals, default=100, metavar="PER_SECOND",
                   help=f"raft workload: entries proposed per simulated second, 0 to {MAX_RATE} "
                        "(default 100)")
    p.add_argument("--bug", type=_bug_name, action="append", default=[], metavar="NAME",
                   help="switch on a planted bug (repeatable; `etcdsim bugs` lists them)")
    p.add_argument("--liveness", choices=("all", "quorum"), default="all",
                   help="at the heal, every member comes back (all, default), or a random "
                        "majority does and the rest stay failed for good (quorum)")


def _bug_name(text: str) -> str:
    """An argparse type: the name of a planted bug."""
    from etcdcore import bugs

    try:
        bugs.check_names(frozenset({text}))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _cmd_bugs() -> int:
    """List the planted bugs: name, what it does, the rule it breaks."""
    from etcdcore import bugs

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
    p_sweep.add_argument("--workers", type=_workers, default=os.cpu_count() or 1,
                         help=f"worker processes, 1 to {MAX_WORKERS} (default: one per CPU); "
                              "never more are started than there are seeds")
    p_sweep.add_argument("--dask", metavar="SCHEDULER_ADDRESS",
                         help="run the seeds on a Dask cluster (e.g. tcp://host:8786)")
    p_sweep.add_argument("--out", metavar="DIR",
                         help="leave an artifact directory per failure there (and, with "
                              "--guided, the corpus in DIR/corpus)")
    p_sweep.add_argument("--guided", action="store_true",
                         help="as many runs as seeds, steered by the sometimes points: fresh "
                              "seeds in order, and mutations of the scenarios that reached new "
                              "points or combinations (deterministic given the seeds)")
    p_sweep.add_argument("--json", action="store_true",
                         help="no progress bar; one JSON object at the end (failures, the "
                              "points hit and never hit, and with --guided the corpus)")
    p_sweep.add_argument("--swarm", action="store_true",
                         help="the standard swarm scenario of each seed (members 1-7, fault "
                              "kinds, workload mix and knobs drawn from it; --duration and "
                              "--bug apply, the other cluster options do not); not with "
                              "--guided")
    _add_cluster_options(p_sweep)
    _add_check_parser(sub)
    p = sub.add_parser("gateway", help="etcd's JSON gateway over a one-member simulated cluster")
    p.add_argument("--requests", required=True, metavar="FILE|-",
                   help='one {"path": "/v3/kv/put", "body": {...}} per line; - for stdin')
    p.add_argument("--seed", type=_seed, default=0, help=argparse.SUPPRESS)
    p = sub.add_parser("replay", help="rerun a failure's directory (or a scenario.json)")
    p.add_argument("path", metavar="DIR|scenario.json")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p = sub.add_parser("shrink", help="shrink a failure to the smallest scenario that still fails")
    p.add_argument("path", metavar="DIR|scenario.json")
    p.add_argument("--max-runs", type=_max_runs, default=300,
                   help="runs to try at most (default 300)")
    p.add_argument("--check", help="the check that must keep failing (default: the first "
                                   "failed check recorded)")
    p.add_argument("--out", metavar="DIR", help="where to write the smallest (default DIR/shrunk)")
    sub.add_parser("bugs", help="list the planted bugs --bug can switch on")
    return parser


def _timeout(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"timeout must be a number of seconds, got {text!r}")\
            from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"timeout must be > 0 seconds, got {text!r}")
    return value


def _add_check_parser(sub: argparse._SubParsersAction[Any]) -> None:
    from sim.lincheck.formats import FORMATS
    from sim.lincheck.models import MODELS

    p = sub.add_parser("check", help="check history files for linearizability")
    p.add_argument("files", nargs="+", metavar="FILE", help="history files, checked in order")
    p.add_argument("--format", choices=("auto", *FORMATS), default="auto",
                   help="history format (default: detect from the content)")
    p.add_argument("--model", choices=sorted(MODELS),
                   help="the model (default: what the format implies; etcd for jsonl)")
    p.add_argument("--timeout", type=_timeout, metavar="SECONDS",
                   help="give up on a file after this long: its verdict is then unknown (exit 3)")
    p.add_argument("--html", metavar="OUT.html",
                   help="write a self-contained report (with several files: one per file, "
                        "named OUT-N.html)")


def _dispatch(args: argparse.Namespace) -> int:
    """Run the subcommand, importing only the modules it needs."""
    command = args.command
    if command == "check":
        from sim.commands.check import cmd_check

        return cmd_check(args)
    if command == "bugs":
        return _cmd_bugs()
    if command == "gateway":
        from sim.commands.gateway import cmd_gateway

        return cmd_gateway(args)
    if command in ("replay", "shrink"):
        from sim.commands.scenario import cmd_replay, cmd_shrink

        return cmd_replay(args) if command == "replay" else cmd_shrink(args)
    from sim.commands.run import cmd_run, cmd_sweep

    return cmd_run(args) if command == "run" else cmd_sweep(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `etcdsim` console script."""
    try:
        args = _parser().parse_args(argv)
    except UsageError as exc:
        print(f"etcdsim: error: {exc}", file=sys.stderr)
        return 2
    try:
        return _dispatch(args)
    except CommandError as exc:
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
