"""Unknown-outcome writes that step alike from every state: one class each, searched once."""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Sequence
from typing import Any

from sim.lincheck.history import Status, is_mapping
from sim.lincheck.models.etcd.footprint import compares_of
from sim.lincheck.models.etcd.operations import Compiled
from sim.lincheck.models.etcd.requests import DeleteReq, PutReq, Request, TxnReq

__all__ = ["classes"]


def _strings(value: Any, into: set[str]) -> None:
    if isinstance(value, str):
        into.add(value)
    elif value is None or isinstance(value, int):
        return
    elif isinstance(value, (list, tuple)):
        for item in value:
            _strings(item, into)
    elif is_mapping(value):
        for item in value.values():
            _strings(item, into)


def classes(compiled: Sequence[Compiled]) -> dict[int, Hashable]:
    """id(op) -> class, for the unknown-outcome writes that are interchangeable.

    Two such requests step alike from every state when they are the same request but for the
    values they put, and no result shows those values and no compare names them: every result
    then mismatches both or neither, and an EQUAL / NOT_EQUAL compare holds for both or neither.
    A LESS / GREATER compare on values tells two values apart when it falls between them, so
    hidden values are alike only within one gap between the operands of such compares.
    """
    seen: set[str] = set()
    ordered: set[str] = set()
    for c in compiled:
        _strings(c.observed, seen)
        for cmp in compares_of(c.req):
            if cmp.target == "VALUE":
                _strings(cmp.operand, seen)
                if cmp.result in ("LESS", "GREATER"):
                    ordered.add(str(cmp.operand))
    bounds = sorted(ordered)

    def shape(req: Request) -> Hashable:
        if isinstance(req, PutReq):
            if req.value in seen:
                return "put", req.key, req.value
            # Unseen, it equals no operand: every compare sees it as any value of its gap.
            return "put", req.key, bisect.bisect_left(bounds, req.value)
        if isinstance(req, DeleteReq):
            return "delete", req.key, req.end
        if isinstance(req, TxnReq):
            return ("txn", req.compare, tuple(shape(r) for r in req.success),
                    tuple(shape(r) for r in req.failure))
        return req  # a range or a compaction: no values in it

    return {id(c.op): shape(c.req) for c in compiled
            if c.op.status is Status.UNKNOWN and not c.read_only}
