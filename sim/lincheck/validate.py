"""A history checked against its model before any search: the first operation the model cannot
check (its name, arguments or result) becomes one HistoryError naming the file and line."""

from __future__ import annotations

from sim.lincheck.history import History, HistoryError
from sim.lincheck.model import BadOperation, Model

__all__ = ["validate"]


def validate(history: History, model: Model) -> None:
    """Raise HistoryError for the first operation of `history` that `model` refuses."""
    for op in history.ops:
        try:
            model.validate(op)
        except BadOperation as exc:
            line = op.ret_line if exc.in_result and op.ret_line else op.line
            hint = ""
            if history.model_hint is not None and history.model_hint != model.name:
                hint = f" (the file is a history for model {history.model_hint})"
            raise HistoryError(history.source, line,
                               f"model {model.name}: {op.f}: {exc}{hint}") from None
