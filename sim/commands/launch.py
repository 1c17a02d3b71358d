"""The `etcdsim` console script: in a development checkout, the compiled build when it is fresh.

When sim is imported from a source checkout (pyproject.toml and buildtools/ beside sim/) whose
build/fast (`make fast`) is up to date, the command runs from there: build/fast goes first on
sys.path, the modules of sim imported so far are dropped, and `sim.commands.cli.main` is
imported again, now compiled. Processes the command starts (sweep workers) inherit sys.path, so
they run the same build. A stale build is left alone, with one line on stderr; ETCDSIM_BUILD=source
runs the sources regardless. An installed wheel is no checkout: it runs what it holds.

Tests call sim.commands.cli.main directly, so they run the sources.
`python -m sim.commands.launch` says which build `etcdsim` runs here.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from sim.build_select import sources_forced

__all__ = ["checkout_root", "fresh_build", "main", "run_in_build"]


def checkout_root() -> Path | None:
    """The source checkout sim is imported from, or None (an installed sim, or a build copy)."""
    root = Path(__file__).resolve().parents[2]  # above sim/commands/
    if (root / "pyproject.toml").is_file() and (root / "buildtools" / "etcdsim_build").is_dir():
        return root
    return None


def fresh_build(warn: bool = True) -> Path | None:
    """The checkout's build/fast if it is up to date and not refused by ETCDSIM_BUILD=source.

    With `warn`, a stale build/fast is named in one line on stderr.
    """
    root = checkout_root()
    if root is None or sources_forced():
        return None
    fast = root / "build" / "fast"
    if not fast.is_dir():
        return None
    if _build_tools(root).is_fresh(fast, root):
        return fast
    if warn:
        print("etcdsim: the compiled build (build/fast) is stale, running the sources; "
              "`make fast` rebuilds it", file=sys.stderr)
    return None


def _build_tools(root: Path) -> ModuleType:
    """etcdsim_build.compiled from the checkout's buildtools/, for its source hash."""
    tools = str(root / "buildtools")
    sys.path.insert(0, tools)
    try:
        return importlib.import_module("etcdsim_build.compiled")
    finally:
        sys.path.remove(tools)


def run_in_build(module: str, function: str, *args: Any) -> Any:
    """Call `module.function(*args)` from the fresh compiled build if there is one, else from
    the sources."""
    fast = fresh_build()
    if fast is not None:
        sys.path.insert(0, str(fast))
        for name in [n for n in sys.modules if n.partition(".")[0] in ("sim", "etcdcore")]:
            del sys.modules[name]
        importlib.invalidate_caches()
    return getattr(importlib.import_module(module), function)(*args)


def main() -> int:
    """Entry point of the `etcdsim` console script and of `python -m sim`."""
    code: int = run_in_build("sim.commands.cli", "main")
    return code


def _say_which() -> int:
    fast = fresh_build(warn=False)
    if fast is not None:
        print(f"etcdsim runs the compiled build in {fast}")
    elif sources_forced():
        print("etcdsim runs the sources (ETCDSIM_BUILD=source)")
    elif checkout_root() is not None:
        print("etcdsim runs the sources, interpreted; `make fast` builds the compiled modules "
              "(about 2 minutes) for 2 to 3 times the speed")
    else:
        from sim.build_select import which_build

        print(f"etcdsim runs the {which_build()} build of {Path(__file__).parents[2]}")
    return 0


if __name__ == "__main__":
    sys.exit(_say_which())
