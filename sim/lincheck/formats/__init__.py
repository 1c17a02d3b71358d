"""Reading history files into `History`s, and writing etcdsim's own (jsonl).

Three formats: ``jsonl`` (etcdsim's own; see `sim.lincheck.formats.jsonl`), ``jepsen-log`` (old
Jepsen logs of a cas register) and ``edn`` (Jepsen-style kv or cas-register maps). Any bad input
raises `HistoryError` naming the file and line, and nothing else: what the operations hold is
then checked against the model (`sim.lincheck.validate`).
"""

from __future__ import annotations

import gc
from collections.abc import Callable

from sim.lincheck.formats import edn, jepsen_log, jsonl
from sim.lincheck.formats.detect import detect
from sim.lincheck.formats.jsonl import dump_jsonl
from sim.lincheck.history import History, HistoryError

__all__ = ["FORMATS", "detect", "dump_jsonl", "load", "parse_bytes", "parse_text"]

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
    # A parse makes a few objects per event and no cycles: the collector would only walk them,
    # again and again as they pile up (a fifth of the time of a large EDN file).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _PARSERS[format](text, source)
    finally:
        if collecting:
            gc.enable()


def parse_bytes(data: bytes, format: str = "auto", source: str = "<bytes>") -> History:
    """Read a history from a file's bytes (UTF-8); `format` is one of FORMATS or "auto"."""
    try:
        # utf-8-sig: a byte-order mark some editors add would otherwise spoil line 1.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise HistoryError(source, line, f"not UTF-8 text (byte {e.start} cannot be decoded)"
                           ) from None
    return parse_text(text, format, source)


def load(path: str, format: str = "auto") -> History:
    """Read a history file; `format` is one of FORMATS or "auto" (decided from the content)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise HistoryError(path, 0, e.strerror or str(e)) from None
    return parse_bytes(data, format, source=path)
