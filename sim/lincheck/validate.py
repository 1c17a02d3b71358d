"""A history checked against its model before any search: the first operation the model cannot
check (its name, arguments or result) becomes one HistoryError naming the file and line."""

from __future__ import annotations

from sim.lincheck.history import History, HistoryError
from sim.lincheck.model import BadOperation, Model
from sim.lincheck.models import MODELS

__all__ = ["model_for", "validate"]


def model_for(history: History, chosen: str | None = None) -> Model:
    """The model to check `history` with: `chosen`, else the one its file names or its format
    implies (etcd for jsonl); HistoryError for a name no model has."""
    name = chosen or history.model_hint or ("etcd" if history.format == "jsonl" else "kv")
    if name not in MODELS:
        raise HistoryError(history.source, 0, f"unknown model {name!r} "
                                              f"(known: {', '.join(sorted(MODELS))})")
    return MODELS[name]()


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
