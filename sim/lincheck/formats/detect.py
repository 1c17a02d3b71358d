"""Tell a history file's format from its content, for ``--format auto``."""

from __future__ import annotations

import re

from sim.lincheck.formats.jepsen_log import MARKER
from sim.lincheck.history import HistoryError

__all__ = ["detect"]

# EDN: a map with a keyword key, maybe inside a vector, after blank space and ; comments.
# Possessive: a long run of blanks before something else fails at once, not in 2^n ways.
_EDN = re.compile(r"(?:[\s,]++|;[^\n]*+)*+\[?(?:[\s,]++|;[^\n]*+)*+\{[\s,]*+:")


def detect(text: str, source: str = "<string>") -> str:
    """The format's name (one of FORMATS); HistoryError when the content matches none of them."""
    # Jepsen events may follow any amount of other log output, so look at every line.
    if MARKER in text and any(MARKER in line and ":invoke" in line
                              for line in text.split("\n")):
        return "jepsen-log"
    if _EDN.match(text):
        return "edn"
    first = next((line.strip() for line in text.split("\n") if line.strip()), "")
    # Any other object opener means JSON: a malformed line is then reported by the jsonl
    # reader with its line number, which says more than "cannot tell the format".
    if first.startswith("{"):
        return "jsonl"
    raise HistoryError(source, 0, "cannot tell the format; use --format")
