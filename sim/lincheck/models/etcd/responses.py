"""The model's responses: as JSON values, and whether a recorded result agrees with one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sim.lincheck.history import FrozenMap, is_mapping
from sim.lincheck.models.etcd.versions import KeyValue

__all__ = ["matches", "plain", "to_json"]


def to_json(value: Any) -> Any:
    """A response as JSON values: key-values become objects, tuples lists."""
    if isinstance(value, KeyValue):
        return value._asdict()
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def plain(value: Any) -> Any:
    """A recorded result as plain dicts and lists."""
    # Concrete types first: isinstance against an ABC such as Mapping is several times slower.
    if value is None or isinstance(value, (str, int, float)):
        return value
    if isinstance(value, (tuple, list)):  # before FrozenMap: a miss on an ABC class is slow
        return [plain(v) for v in value]
    if isinstance(value, (dict, FrozenMap)):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    return value


def _kv_of(obs: Mapping[str, Any]) -> tuple[str, str, int, int, int]:
    # proto3 leaves out default fields: a key-only range's value, and zeros. A plain tuple
    # compares equal to the KeyValue it matches, without a NamedTuple's Python constructor.
    return (obs.get("key") or "", obs.get("value") or "", obs.get("create_revision") or 0,
            obs.get("mod_revision") or 0, obs.get("version") or 0)


def matches(obs: Any, exp: Any) -> bool:
    """Does the recorded `obs` agree with the model's `exp` on every field it records?"""
    if isinstance(exp, KeyValue):
        return is_mapping(obs) and _kv_of(obs) == exp
    if isinstance(exp, dict):
        if not is_mapping(obs):
            return False
        for name, value in obs.items():
            if name in exp:
                if not matches(value, exp[name]):
                    return False
            elif name.startswith("response_"):
                return False  # a txn answered with another kind of response than it asked
        return True
    if isinstance(exp, list):
        if (not isinstance(obs, (tuple, list, Sequence)) or isinstance(obs, str)
                or len(obs) != len(exp)):
            return False
        return all(matches(o, e) for o, e in zip(obs, exp, strict=True))
    if isinstance(exp, bool) or isinstance(obs, bool):
        return obs is exp or (obs is None and exp is False)
    if obs is None:  # a proto3 default written out as null
        return exp in (0, "", None)
    return bool(obs == exp)
