"""The one error a command raises for bad input: printed as one line, exit 2."""

from __future__ import annotations

__all__ = ["CommandError"]


class CommandError(Exception):
    """Bad input or usage: `etcdsim` prints `etcdsim: error: <message>` and exits 2."""
