"""`etcdsim check FILE...`: the verdict on each history file, in one process.

One file: its verdict, and for a history that is not linearizable, the longest linearizable
prefix and the operations that cannot follow it. Several files: one line each, then a total.
Exit codes: 0 linearizable, 1 not linearizable, 3 unknown (the time limit ran out), 2 bad usage
or bad input (one line naming the file and line). With several files the exit code is the worst
of theirs, worst first: 1, 2, 3, 0 (a file that cannot be read does not hide a failing one).

This module imports the checker and its formats only, never the simulator: a check starts at
once.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sim.lincheck.checker import check
from sim.lincheck.formats import load
from sim.lincheck.history import HistoryError
from sim.lincheck.model import Model
from sim.lincheck.result import CheckResult, Verdict
from sim.lincheck.validate import model_for, validate

__all__ = ["EXIT", "cmd_check", "worst"]

EXIT = {"linearizable": 0, "not linearizable": 1, "unknown": 3}
BAD_INPUT = 2
STUCK_SHOWN = 5
_SEVERITY = (1, 2, 3, 0)  # worst first


def worst(codes: list[int]) -> int:
    """The exit code of several files: the worst of theirs (1, then 2, then 3, then 0)."""
    return min(codes, key=_SEVERITY.index, default=0)


def _check_file(path: str, args: argparse.Namespace) -> tuple[CheckResult, Model, str]:
    """Read and check one file; HistoryError for bad input."""
    history = load(path, args.format)
    model = model_for(history, args.model)
    validate(history, model)  # before any search: bad input is refused, never checked
    return check(history.ops, model, timeout=args.timeout), model, model.name


def _summary(result: CheckResult, name: str) -> str:
    parts = len(result.parts)
    return (f"{result.verdict.value}: {result.operations} operations in {parts} "
            f"part{'s' * (parts != 1)}, model {name}, checked in {result.elapsed:.3f} s")


def _print_failing_parts(result: CheckResult, model: Model, indent: str) -> None:
    for part in result.failing_parts:
        by_id = {op.id: op for op in part.ops}
        print(f"{indent}part {part.name}: longest linearizable prefix has {len(part.order)} "
              f"operations; none of these can follow it:")
        for op_id in part.stuck[:STUCK_SHOWN]:
            op = by_id[op_id]
            print(f"{indent}  line {op.line}: client {op.client}: "
                  f"{model.describe_operation(op)}")
        if len(part.stuck) > STUCK_SHOWN:
            print(f"{indent}  … and {len(part.stuck) - STUCK_SHOWN} more")


UNDECIDED_SHOWN = 20


def _print_undecided(result: CheckResult, indent: str) -> None:
    """Which parts the check decided and which it did not, when it left some undecided."""
    undecided = [p.name for p in result.parts if p.verdict is Verdict.UNKNOWN]
    if not undecided:
        return
    why = ("the check stopped at the first part not linearizable"
           if result.verdict is Verdict.NOT_LINEARIZABLE else "the time limit ran out")
    decided = len(result.parts) - len(undecided)
    shown = ", ".join(undecided[:UNDECIDED_SHOWN])
    more = f" and {len(undecided) - UNDECIDED_SHOWN} more" if (
        len(undecided) > UNDECIDED_SHOWN) else ""
    print(f"{indent}{decided} part{'s' * (decided != 1)} decided; undecided ({why}): "
          f"{shown}{more}")


def _html_path(html: str, index: int, many: bool) -> str:
    """Where file number `index` (from 1) writes its report: OUT.html, or OUT-N.html."""
    if not many:
        return html
    out = Path(html)
    return str(out.with_name(f"{out.stem}-{index}{out.suffix or '.html'}"))


def _write_html(path: str, result: CheckResult, model: Model, title: str) -> None:
    from sim.lincheck.report_html import render_html  # only when a report is asked for

    with open(path, "w", encoding="utf-8") as f:
        f.write(render_html(result, model, title=title))


def cmd_check(args: argparse.Namespace) -> int:
    """Check each file; print its verdict (and a total for several); write reports if asked."""
    files: list[str] = list(args.files)
    many = len(files) > 1
    codes: list[int] = []
    start = time.perf_counter()
    for index, path in enumerate(files, start=1):
        try:
            result, model, name = _check_file(path, args)
        except HistoryError as exc:
            print(f"etcdsim: error: {exc}", file=sys.stderr)
            if many:
                print(f"{path}: bad input")
            codes.append(BAD_INPUT)
            continue
        verdict = result.verdict.value
        codes.append(EXIT[verdict])
        if many:
            print(f"{path}: {_summary(result, name)}")
        else:
            print(_summary(result, name))
            _print_failing_parts(result, model, "  ")
            _print_undecided(result, "  ")
        if args.html:
            out = _html_path(args.html, index, many)
            try:
                _write_html(out, result, model, path)
            except OSError as exc:
                print(f"etcdsim: error: cannot write {out}: {exc.strerror or exc}",
                      file=sys.stderr)
                codes[-1] = worst([codes[-1], BAD_INPUT])
                continue
            print(f"{'  ' if many else ''}report: {out}")
    if many:
        counts = {label: codes.count(code) for label, code in
                  (("linearizable", 0), ("not linearizable", 1), ("unknown", 3),
                   ("bad input", BAD_INPUT))}
        detail = ", ".join(f"{n} {label}" for label, n in counts.items() if n)
        print(f"total: {len(files)} files: {detail}, in {time.perf_counter() - start:.3f} s")
    return worst(codes)
