"""A key-value store with get, put and append (Porcupine's kv model).

Every key starts as "". `get` returns the value (`result`); `put` replaces it with `args`;
`append` adds `args` to its end. Values are strings or integers (an integer never equals a
string, and only a string can be appended to). Keys are independent, so the history is checked
key by key. The state is a sorted tuple of (key, value) pairs without empty values, so equal
stores compare equal; within one part it holds at most one pair.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from sim.lincheck.history import Operation, Status, brief
from sim.lincheck.model import BadOperation, Model

__all__ = ["KV"]

Value = str | int
State = tuple[tuple[str, Value], ...]
_OPS = ("get", "put", "append")


def _is_value(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


class KV(Model):
    """Strings under string keys; `Operation.key` names the key."""

    name = "kv"

    def init(self) -> Hashable:
        """Every key holds ""."""
        return ()

    def step(self, state: Any, op: Operation) -> Iterable[Hashable]:
        """The store after `op`, if what the client saw is possible from `state`."""
        key = op.key
        if key is None:
            raise ValueError(f"kv operation {op.id} ({op.f}) has no key")
        current = _get(state, key)
        f = op.f
        if f == "get":
            return (state,) if op.status is not Status.OK or op.result == current else ()
        if f == "put":
            return (_set(state, key, op.args),)
        if f == "append":
            if not isinstance(current, str):
                return ()  # an integer cannot be appended to
            return (_set(state, key, current + op.args),)
        raise ValueError(f"kv has no operation {f!r} (expected get, put or append)")

    def validate(self, op: Operation) -> None:
        """get, put and append on a key; values strings or integers, appends strings."""
        if op.f not in _OPS:
            raise BadOperation(f"kv has no operation {op.f!r} (its operations are get, put and "
                               "append)")
        if op.key is None:
            raise BadOperation("kv needs the key each operation touches, and none is given")
        if op.f == "put" and not _is_value(op.args):
            raise BadOperation(f"a put's value must be a string or an integer, got "
                               f"{brief(op.args)}")
        if op.f == "append" and not isinstance(op.args, str):
            raise BadOperation(f"an append's value must be a string, got {brief(op.args)}")
        if op.f == "get" and op.status is Status.OK and not _is_value(op.result):
            raise BadOperation(f"a get returns a string or an integer, got {brief(op.result)}",
                               in_result=True)

    def partition(self, ops: Sequence[Operation]) -> list[list[Operation]]:
        """One part per key, in key order, without the unknown-outcome ops no get can observe.

        A get with an unknown result constrains nothing. An unknown put of v matters only if
        some OK get on its key returned a value starting with v, an unknown append of v only if
        one returned a value containing v: until the next put, every value read would show it.
        Each unknown op kept multiplies the search at a dead end, so the others are left out.
        """
        by_key: dict[str, list[Operation]] = {}
        for op in ops:
            if op.key is None:
                raise ValueError(f"kv operation {op.id} ({op.f}) has no key")
            by_key.setdefault(op.key, []).append(op)
        parts = []
        for key in sorted(by_key):
            part = by_key[key]
            # Every value an OK get returned, each behind a separator: one substring search
            # per unknown op. A match across a separator only keeps an op, which is safe.
            seen = "".join(
                "\0" + op.result
                for op in part
                if op.f == "get" and op.status is Status.OK and isinstance(op.result, str)
            )
            parts.append([op for op in part if _observable(op, seen)])
        return [part for part in parts if part]

    def read_only(self, op: Operation) -> bool:
        """Gets."""
        return op.f == "get"

    def describe_operation(self, op: Operation) -> str:
        """E.g. ``get("4") = "x 0 1 y"``, ``append("4", "x 0 2 y") = ok``."""
        if op.f == "get":
            call = f"get({op.key!r})"
            shown = repr(op.result)
        else:
            call = f"{op.f}({op.key!r}, {op.args!r})"
            shown = "ok"
        if op.status is Status.UNKNOWN:
            shown = "?"
        elif op.status is Status.FAIL:
            shown = "failed"
        return f"{call} = {shown}"

    def describe_state(self, state: Any) -> str:
        """The non-empty keys and their values."""
        if not state:
            return "{} (every key empty)"
        return "{" + ", ".join(f"{k!r}: {v!r}" for k, v in state) + "}"


def _observable(op: Operation, seen: str) -> bool:
    """Could an OK get whose value is in `seen` have observed `op`?"""
    if op.status is not Status.UNKNOWN:
        return True
    if op.f == "get":
        return False
    if op.f == "put" and isinstance(op.args, str):
        return "\0" + op.args in seen
    if op.f == "append" and isinstance(op.args, str):
        return op.args in seen
    return True  # not ours to judge: `step` reports it


def _get(state: State, key: str) -> Value:
    for k, v in state:
        if k == key:
            return v
    return ""


def _set(state: State, key: str, value: Value) -> State:
    rest = [(k, v) for k, v in state if k != key]
    if value != "":
        rest.append((key, value))
        rest.sort()  # keys are distinct: values are never compared
    return tuple(rest)
