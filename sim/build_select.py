"""Which build of the simulator runs: the mypyc-compiled modules, or the sources.

A compiled install (a wheel from etcdsim_build.backend) has each hot module twice: its
extension module, which Python's import system prefers, and its `.py` source. With
ETCDSIM_BUILD=source, `prefer_sources_if_asked` (called by sim/__init__.py) makes the sources
win for every module of sim and etcdcore. In a development checkout the `etcdsim` launcher
reads the same variable (sim.commands.launch).

Reading the environment here does not break the determinism rules: it picks which code runs,
never what a run does. Both builds give the same traces and digests, as tests check.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.machinery import SOURCE_SUFFIXES, FileFinder, ModuleSpec, SourceFileLoader
from types import ModuleType

__all__ = ["BUILD_VARIABLE", "prefer_sources_if_asked", "sources_forced", "which_build"]

BUILD_VARIABLE = "ETCDSIM_BUILD"
_OURS = ("sim", "etcdcore")


def which_build() -> str:
    """"compiled" when the simulator's hot modules are compiled in this process, else "source"."""
    import sim.world.node

    return "source" if sim.world.node.__file__.endswith(".py") else "compiled"


def sources_forced() -> bool:
    """Whether ETCDSIM_BUILD=source asks for the sources."""
    return os.environ.get(BUILD_VARIABLE, "").strip().lower() == "source"


def prefer_sources_if_asked() -> None:
    """With ETCDSIM_BUILD=source, import sim's and etcdcore's modules from their `.py` files.

    It takes effect for modules imported after the call, so sim/__init__.py makes it first.
    """
    if sources_forced() and not any(isinstance(f, _SourcesFirst) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourcesFirst())


class _SourcesFirst:
    """A meta path finder: sim.* and etcdcore.* from `.py` files, wherever the package is."""

    def __init__(self) -> None:
        self._finders: dict[str, FileFinder] = {}

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname.partition(".")[0] not in _OURS:
            return None
        for entry in sys.path if path is None else path:
            finder = self._finders.get(entry)
            if finder is None:
                finder = FileFinder(entry or os.getcwd(), (SourceFileLoader, SOURCE_SUFFIXES))
                self._finders[entry] = finder
            spec = finder.find_spec(fullname, target)
            if spec is not None and spec.loader is not None:
                return spec
        return None  # not a module with a source here (or a namespace package): the usual way

    def invalidate_caches(self) -> None:
        for finder in self._finders.values():
            finder.invalidate_caches()
