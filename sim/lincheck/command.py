"""`etcdsim check FILE`: the verdict on one history file.

Exit codes: 0 linearizable, 1 not linearizable, 3 unknown (the time limit ran out), 2 bad usage
or bad input (one line naming the file and line).
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from sim.lincheck.history import History, HistoryError

__all__ = ["EXIT", "add_check_parser", "cmd_check"]

EXIT = {"linearizable": 0, "not linearizable": 1, "unknown": 3}
STUCK_SHOWN = 5


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"timeout must be a number of seconds, got {text!r}")\
            from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"timeout must be > 0 seconds, got {text!r}")
    return value


def add_check_parser(sub: argparse._SubParsersAction[Any]) -> None:
    """Register `check` and its options."""
    from sim.lincheck.formats import FORMATS
    from sim.lincheck.models import MODELS

    p = sub.add_parser("check", help="check a history for linearizability")
    p.add_argument("file", metavar="FILE", help="the history file")
    p.add_argument("--format", choices=("auto", *FORMATS), default="auto",
                   help="history format (default: detect from the content)")
    p.add_argument("--model", choices=sorted(MODELS),
                   help="the model (default: what the format implies; etcd for jsonl)")
    p.add_argument("--timeout", type=_timeout, metavar="SECONDS",
                   help="give up after this long: the verdict is then unknown (exit 3)")
    p.add_argument("--html", metavar="OUT.html", help="write a self-contained report")


def _model_name(history: History, chosen: str | None) -> str:
    if chosen:
        return chosen
    if history.model_hint:
        return history.model_hint
    return "etcd" if history.format == "jsonl" else "kv"


def cmd_check(args: argparse.Namespace) -> int:
    """Run the check; print the verdict; write the report if asked."""
    from sim.lincheck.checker import check
    from sim.lincheck.formats import load
    from sim.lincheck.models import MODELS

    try:
        history = load(args.file, args.format)
    except HistoryError as exc:
        print(f"etcdsim: error: {exc}", file=sys.stderr)
        return 2
    name = _model_name(history, args.model)
    if name not in MODELS:
        print(f"etcdsim: error: {args.file}: unknown model {name!r} named in the file",
              file=sys.stderr)
        return 2
    model = MODELS[name]()
    try:
        result = check(history.ops, model, timeout=args.timeout)
    except HistoryError as exc:  # a model that cannot read an operation's arguments
        print(f"etcdsim: error: {exc}", file=sys.stderr)
        return 2
    verdict = result.verdict.value
    parts = len(result.parts)
    print(f"{verdict}: {result.operations} operations in {parts} part{'s' * (parts != 1)}, "
          f"model {name}, checked in {result.elapsed:.3f} s")
    for part in result.failing_parts:
        by_id = {op.id: op for op in part.ops}
        print(f"  part {part.name}: longest linearizable prefix has {len(part.order)} "
              f"operations; none of these can follow it:")
        for op_id in part.stuck[:STUCK_SHOWN]:
            op = by_id[op_id]
            print(f"    line {op.line}: client {op.client}: {model.describe_operation(op)}")
        if len(part.stuck) > STUCK_SHOWN:
            print(f"    … and {len(part.stuck) - STUCK_SHOWN} more")
    if args.html:
        from sim.lincheck.report_html import render_html

        with open(args.html, "w", encoding="utf-8") as f:
            f.write(render_html(result, model, title=args.file))
        print(f"report: {args.html}")
    return EXIT[verdict]
