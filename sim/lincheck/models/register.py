"""A single compare-and-set register: Jepsen's classic etcd test.

The state is the value, None before the first write. `read` returns the value; `write v` sets it;
`cas (old, new)` sets it to `new` when it holds `old` — result True — and otherwise changes
nothing — result False. An unknown outcome allows whatever the operation would have done.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Any

from sim.lincheck.history import Operation, Status, brief
from sim.lincheck.model import BadOperation, Model

__all__ = ["CasRegister"]

_OPS = ("read", "write", "cas")


def _is_value(value: Any) -> bool:
    """A value the register may hold: an integer or a string (True would equal 1)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


class CasRegister(Model):
    """One register with read, write and compare-and-set."""

    name = "cas-register"

    def init(self) -> Hashable:
        """Empty: a read returns None (nil)."""
        return None

    def step(self, state: Any, op: Operation) -> Iterable[Hashable]:
        """The value after `op`, if what the client saw is possible from `state`."""
        f = op.f
        known = op.status is Status.OK
        if f == "read":
            return (state,) if not known or op.result == state else ()
        if f == "write":
            return (op.args,)
        if f == "cas":
            old, new = op.args
            if not known:
                # The client does not know which branch ran, but the state decides it.
                return (new,) if state == old else (state,)
            if op.result:
                return (new,) if state == old else ()
            return (state,) if state != old else ()
        raise ValueError(f"cas-register has no operation {f!r} (expected read, write or cas)")

    def validate(self, op: Operation) -> None:
        """read, write v and cas [old new], with integer or string values; an ok cas returns
        true or false, an ok read nil (empty) or a value."""
        f = op.f
        if f not in _OPS:
            raise BadOperation(f"cas-register has no operation {f!r} (its operations are read, "
                               "write and cas)")
        if f == "write" and not _is_value(op.args):
            raise BadOperation(f"a write's value must be an integer or a string, got "
                               f"{brief(op.args)}")
        if f == "cas" and not (isinstance(op.args, tuple) and len(op.args) == 2
                               and all(_is_value(v) for v in op.args)):
            raise BadOperation(f"a cas takes [expected new], integers or strings, got "
                               f"{brief(op.args)}")
        if op.status is not Status.OK:
            return
        if f == "read" and op.result is not None and not _is_value(op.result):
            raise BadOperation(f"a read returns nil, an integer or a string, got "
                               f"{brief(op.result)}", in_result=True)
        if f == "cas" and not isinstance(op.result, bool):
            raise BadOperation(f"an ok cas returns true or false, got {brief(op.result)}",
                               in_result=True)

    def partition(self, ops: Sequence[Operation]) -> list[list[Operation]]:
        """One part; a read with an unknown result constrains nothing, so it is left out."""
        return [[op for op in ops if not (op.f == "read" and op.status is Status.UNKNOWN)]]

    def read_only(self, op: Operation) -> bool:
        """Reads, and compare-and-sets that failed."""
        return op.f == "read" or (op.f == "cas" and op.status is Status.OK and not op.result)

    def describe_operation(self, op: Operation) -> str:
        """E.g. ``read() = 3``, ``write(4) = ok``, ``cas(2→0) = fail``, ``write(1) = ?``."""
        if op.f == "read":
            call = "read()"
        elif op.f == "cas" and isinstance(op.args, tuple) and len(op.args) == 2:
            call = f"cas({_show(op.args[0])}→{_show(op.args[1])})"
        else:
            call = f"{op.f}({_show(op.args)})"
        if op.status is not Status.OK:
            return f"{call} = ?" if op.status is Status.UNKNOWN else f"{call} = failed"
        if op.f == "read":
            return f"{call} = {_show(op.result)}"
        if op.f == "cas":
            return f"{call} = {'ok' if op.result else 'fail'}"
        return f"{call} = ok"

    def describe_state(self, state: Any) -> str:
        """The value, nil when unset."""
        return _show(state)


def _show(value: Any) -> str:
    return "nil" if value is None else str(value)
