"""Reading history files into `History`s, and writing etcdsim's own (jsonl).

Three formats: ``jsonl`` (etcdsim's own; see `sim.lincheck.formats.jsonl`), ``jepsen-log`` (old
Jepsen logs of a cas register) and ``edn`` (Jepsen-style kv maps). Any bad input raises
`HistoryError` naming the file and line.
"""

from __future__ import annotations

from collections.abc import Callable

from sim.lincheck.formats import edn, jepsen_log, jsonl
from sim.lincheck.formats.detect import detect
from sim.lincheck.formats.jsonl import dump_jsonl
from sim.lincheck.history import History, HistoryError

__all__ = ["FORMATS", "detect", "dump_jsonl", "load", "parse_text"]

FORMATS = ("jsonl", "jepsen-log", "edn")

_PARSERS: dict[str, Callable[[str, str], History]] = {
    "jsonl": jsonl.parse,
    "jepsen-log": jepsen_log.parse,
    "edn": edn.parse,
}


def parse_text(text: str, format: str, source: str = "<string>") -> History:
    """Read a history from text; `format` is one of FORMATS or "auto"."""
    if format != "auto" and format not in _PARSERS:
        raise HistoryError(
            source, 0, f"unknown format {format!r} (expected auto, {', '.join(FORMATS)})"
        )
    if not text.strip():
        raise HistoryError(source, 0, "empty file")
    if format == "auto":
        format = detect(text, source)
    return _PARSERS[format](text, source)


def load(path: str, format: str = "auto") -> History:
    """Read a history file; `format` is one of FORMATS or "auto" (decided from the content)."""
    try:
        # utf-8-sig: a byte-order mark some editors add would otherwise spoil line 1.
        with open(path, encoding="utf-8-sig") as fh:
            text = fh.read()
    except OSError as e:
        raise HistoryError(path, 0, e.strerror or str(e)) from None
    except UnicodeDecodeError as e:
        raise HistoryError(path, 0, f"not UTF-8 text (byte {e.start} cannot be decoded)") from None
    return parse_text(text, format, source=path)
