"""EDN text of a Python value, for tests that write EDN histories to read back."""

from __future__ import annotations

import json
from typing import Any

from sim.lincheck.formats.edn_reader import Keyword

__all__ = ["edn_text"]


def edn_text(value: Any) -> str:
    """None, bools, Keywords, strings (JSON's escapes are EDN's, \\u included), numbers, lists
    or tuples as vectors, and dicts as maps."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Keyword):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(edn_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{edn_text(k)} {edn_text(v)}" for k, v in value.items()) + "}"
    return str(value)
