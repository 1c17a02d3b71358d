"""Compact JSON text, exactly as `json.dumps(obj, separators=(",", ":"))` writes it, faster.

json.dumps, and a JSONEncoder's encode, set up a fresh encoder in Python on every call; a run
encodes every proposal and every history line, so this makes the C encoder once and reuses it.
"""

from __future__ import annotations

import json
from json import encoder as _encoder
from typing import Any

__all__ = ["dumps"]


def _refuse(obj: object) -> object:
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


# (markers, default, encode str, indent, key separator, item separator, sort_keys, skipkeys,
# allow_nan): json.dumps's defaults, without the circular-reference check.
_C: Any = getattr(_encoder, "c_make_encoder", None)  # None where _json is not built
_ENCODE = None if _C is None else _C(
    None, _refuse, _encoder.encode_basestring_ascii, None, ":", ",", False, False, True)


def dumps(obj: Any) -> str:
    """`obj` as compact, ASCII-only JSON."""
    if _ENCODE is None:
        return json.dumps(obj, separators=(",", ":"))
    return "".join(_ENCODE(obj, 0))
