"""`etcdsim replay` and `etcdsim shrink`: a failure's directory, run again or made smaller.

    etcdsim replay DIR|scenario.json   rerun; confirm the recorded digest and failure
    etcdsim shrink DIR [--max-runs N]  the smallest scenario that still fails the same check,
                                       written with its own artifacts to DIR/shrunk
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sim.commands.errors import CommandError
from sim.harness.artifacts import failed_checks, load_recorded, replay_command, write_artifacts
from sim.harness.scenario import ScenarioError, run_scenario
from sim.harness.shrink import shrink

__all__ = ["CommandInputError", "cmd_replay", "cmd_shrink"]


class CommandInputError(CommandError):
    """Bad input to replay or shrink: one line, exit 2."""


def _load(path_text: str) -> tuple[Any, dict[str, Any] | None, Path]:
    path = Path(path_text)
    if not path.exists():
        raise CommandInputError(f"{path_text}: no such file or directory")
    if path.is_dir() and not (path / "scenario.json").exists():
        raise CommandInputError(f"{path_text}: no scenario.json in this directory")
    try:
        return load_recorded(path)
    except ScenarioError as exc:
        raise CommandInputError(f"{path_text}: {exc}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CommandInputError(f"{path_text}: cannot read: {exc}") from None


def cmd_replay(args: argparse.Namespace) -> int:
    """Rerun; exit 0 if it passes as recorded, 1 if a check fails or it does not reproduce."""
    import json

    from sim.commands.run import print_result

    scenario, recorded, directory = _load(args.path)
    result = run_scenario(scenario)
    if args.json:
        print(json.dumps(result.to_json(), sort_keys=True))
    else:
        print_result(result, scenario.to_config(), replay=replay_command(directory))
    if recorded is None:
        return 0 if result.ok else 1
    same_digest = recorded.get("digest") == result.digest
    same_failure = failed_checks(recorded) == failed_checks(result)
    out = sys.stderr if args.json else sys.stdout
    if same_digest and same_failure:
        what = ", ".join(failed_checks(result)) or "no failure"
        print(f"reproduced: digest {result.digest[:16]}, {what}, as recorded", file=out)
        return 0 if result.ok else 1
    print(f"NOT reproduced: digest {result.digest[:16]} (recorded "
          f"{str(recorded.get('digest'))[:16]}); failed {failed_checks(result)} (recorded "
          f"{failed_checks(recorded)})", file=out)
    return 1


def cmd_shrink(args: argparse.Namespace) -> int:
    """Shrink and write the smallest failing scenario's artifacts; exit 1 (it still fails)."""
    scenario, recorded, directory = _load(args.path)
    if args.max_runs < 1:
        raise CommandInputError(f"--max-runs must be >= 1, got {args.max_runs}")
    check = args.check
    if check is None:
        checks = failed_checks(recorded) if recorded is not None else []
        if not checks:
            checks = failed_checks(run_scenario(scenario))
        if not checks:
            raise CommandInputError(f"{args.path}: the scenario passes: nothing to shrink")
        check = checks[0]
    try:
        found = shrink(scenario, check, max_runs=args.max_runs,
                       progress=lambda line: print(f"  {line}", flush=True))
    except ValueError as exc:
        raise CommandInputError(f"{args.path}: {exc}") from None
    out = Path(args.out) if args.out else directory / "shrunk"
    what = found.summary(scenario)
    write_artifacts(out, found.scenario, found.result,
                    shrunk=f"{check} failure of {directory}, shrunk: {what}")
    print(f"shrunk {check}: {what} ({found.runs} runs, {found.wall_seconds:.1f} s)")
    print(f"written to {out}")
    print(f"replay: {replay_command(out)}")
    return 1
