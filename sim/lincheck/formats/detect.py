"""Tell a history file's format from its content, for ``--format auto``."""

from __future__ import annotations

from sim.lincheck.formats.jepsen_log import MARKER
from sim.lincheck.history import HistoryError

__all__ = ["detect"]


def detect(text: str, source: str = "<string>") -> str:
    """The format's name (one of FORMATS); HistoryError when the content matches none of them."""
    lines = [line.strip() for line in text.split("\n")]
    # Jepsen events may follow any amount of other log output, so look at every line.
    if any(MARKER in line and ":invoke" in line for line in lines):
        return "jepsen-log"
    first = next((line for line in lines if line), "")
    if first.startswith("{:"):
        return "edn"
    # Any other object opener means JSON: a malformed line is then reported by the jsonl
    # reader with its line number, which says more than "cannot tell the format".
    if first.startswith("{"):
        return "jsonl"
    raise HistoryError(source, 0, "cannot tell the format; use --format")
