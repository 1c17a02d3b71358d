"""Unknown-outcome writes that step alike from every state: one class each, searched once."""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from sim.lincheck.history import Status
from sim.lincheck.models.etcd.horizon import Horizon
from sim.lincheck.models.etcd.operations import Compiled
from sim.lincheck.models.etcd.requests import DeleteReq, PutReq, Request, TxnReq

__all__ = ["classes"]


def classes(compiled: Sequence[Compiled], horizon: Horizon) -> dict[int, Hashable]:
    """id(op) -> class, for the unknown-outcome writes that are interchangeable.

    Two such requests step alike from every state when they are the same request but for the
    values they put, and no result shows those values and no compare names them: every result
    then mismatches both or neither, and an EQUAL / NOT_EQUAL compare holds for both or neither.
    A LESS / GREATER compare on values tells two values apart when it falls between them, so
    hidden values are alike only within one gap between the operands of such compares: the
    horizon's `value_class` (which also lets states that differ only so compare equal).
    """
    def shape(req: Request) -> Hashable:
        if isinstance(req, PutReq):
            return "put", req.key, horizon.value_class(req.value)
        if isinstance(req, DeleteReq):
            return "delete", req.key, req.end
        if isinstance(req, TxnReq):
            return ("txn", req.compare, tuple(shape(r) for r in req.success),
                    tuple(shape(r) for r in req.failure))
        return req  # a range or a compaction: no values in it

    return {id(c.op): shape(c.req) for c in compiled
            if c.op.status is Status.UNKNOWN and not c.read_only}
