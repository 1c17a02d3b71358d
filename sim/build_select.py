"""Which build of the simulator runs: the mypyc-compiled modules, or the sources."""

from __future__ import annotations

__all__ = ["which_build"]


def which_build() -> str:
    """"compiled" when the simulator's hot modules are compiled in this process, else "source"."""
    import sim.world.node

    return "source" if sim.world.node.__file__.endswith(".py") else "compiled"
