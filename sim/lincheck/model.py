"""How to write a model for the checker: an initial state and a step function.

States must be hashable and compare by value: the search caches (operations done, state) pairs.
`step` returns every state the model may be in after `op` given what the client saw — none if
`op` cannot take effect now with that result, several if the model is nondeterministic or the
result is unknown. `validate` refuses, before any search, an operation the model cannot check.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, ClassVar

from sim.lincheck.history import Operation

__all__ = ["BadOperation", "Model", "OutOfTime", "check_time"]

_EVERY = 1 << 10  # items a long preparation handles between reads of the clock


class OutOfTime(Exception):
    """A model's preparation of a history ran past the check's time limit."""


def check_time(deadline: float | None, done: int) -> None:
    """OutOfTime if `deadline` (perf_counter seconds) has passed; reads the clock only every
    _EVERY items `done`, so a loop can call it for each one."""
    if deadline is not None and not done & (_EVERY - 1) and time.perf_counter() > deadline:
        raise OutOfTime


class BadOperation(ValueError):
    """An operation a model cannot check; the message names the field. `in_result`: the fault
    is in what the operation returned (its return line), not in its call."""

    def __init__(self, message: str, in_result: bool = False) -> None:
        super().__init__(message)
        self.in_result = in_result


class Model:
    """Base class: override `init` and `step`; the rest has sensible defaults."""

    name: ClassVar[str] = "model"  # a class attribute (so also when compiled by mypyc)
    # The check's time limit (perf_counter seconds), set by the checker before `partition`:
    # a model whose preparation is long stops there (`check_time`).
    deadline: float | None = None

    def init(self) -> Hashable:
        """The state before any operation."""
        raise NotImplementedError

    def step(self, state: Any, op: Operation) -> Iterable[Hashable]:
        """States after `op` takes effect in `state` and yields what the client saw."""
        raise NotImplementedError

    def validate(self, op: Operation) -> None:
        """Raise BadOperation if `op` (its name, arguments or result) is not one this model can
        check; by default every operation is accepted. `step` may then assume it is."""

    def partition(self, ops: Sequence[Operation]) -> list[list[Operation]]:
        """Independent parts checked alone (P-compositionality); by default one part. A long
        preparation may raise OutOfTime past `self.deadline` (see `check_time`)."""
        return [list(ops)]

    def read_only(self, op: Operation) -> bool:
        """True if `op` leaves the state as it is wherever it can take effect (a read): the
        search then places it as soon as it fits, trying no other order. False is always safe."""
        return False

    def interchangeable(self, op: Operation) -> Hashable | None:
        """A class shared by unknown-outcome operations that step alike from every state: the
        search then tries only the most recently called of a class at each point, since an
        earlier-called one fits anywhere a later one does. None (always safe): in no class."""
        return None

    def hinted(self, op: Operation) -> Hashable | None:
        """Where `op.applied` says this unknown-outcome operation took effect, as `due` names
        a state: the search tries it first there. None (always safe): no hint."""
        return None

    def due(self, state: Any) -> Hashable | None:
        """The hint of the operation that takes effect next from `state` (see `hinted`)."""
        return None

    def describe_operation(self, op: Operation) -> str:
        """One line for reports."""
        outcome = "?" if op.result is None and op.status.value != "ok" else repr(op.result)
        return f"{op.f}({op.args!r}) -> {outcome}"

    def describe_state(self, state: Any) -> str:
        """One line for reports."""
        return repr(state)
