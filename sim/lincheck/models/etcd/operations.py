"""Operations, compiled once: the request, what the client saw, and the revisions it allows."""

from __future__ import annotations

from sim.lincheck.history import Operation, Status
from sim.lincheck.models.etcd.errors import normalize_error
from sim.lincheck.models.etcd.feasibility import Facts
from sim.lincheck.models.etcd.recorded import read_result
from sim.lincheck.models.etcd.requests import (
    CompactReq,
    PutReq,
    Request,
    is_read_only,
    is_serializable,
)
from sim.lincheck.models.etcd.responses import plain

__all__ = ["Compiled"]

_ANY = 1 << 62  # no revision recorded: any revision passes the quick filter


class Compiled:
    """One operation, compiled once: its request, what the client saw, the revisions it allows.

    An ok result's fields are checked (recorded.py): ValueError naming the first bad one.
    """

    __slots__ = ("error", "facts", "fits", "observed", "op", "read_only", "req", "rev_hi",
                 "rev_lo", "unchecked")

    def __init__(self, op: Operation, req: Request) -> None:
        self.op = op  # holds the operation alive, so its id() is not reused while cached
        self.req = req
        self.error: str | None = None
        self.rev_lo = -_ANY
        self.rev_hi = _ANY
        # A serializable range or txn may answer from a stale member: etcd promises no recency.
        self.unchecked = is_serializable(req)
        self.read_only = is_read_only(req)  # it never changes the store
        self.facts: Facts | None = None  # set by EtcdModel.partition
        self.fits: dict[int, bool] = {}  # an unknown put: may it take this revision?
        if op.status is not Status.OK:
            self.observed = plain(op.result)  # plain dicts and lists: quicker to match
            return
        self.observed = result = read_result(op.result)
        if result.get("error") is not None:
            self.error = normalize_error(result["error"])
            return
        rev = result.get("revision")
        if isinstance(rev, int):
            # The revision before the request that answers with `rev`: a quick filter.
            if isinstance(req, PutReq):
                self.rev_lo = self.rev_hi = rev - 1
            elif isinstance(req, CompactReq):
                # etcd answers a compaction with the store's revision once the raft request
                # returns (EtcdServer.Compact: resp.Header.Revision = s.kv.Rev()), so writes
                # applied in between make it later than where the compaction took effect.
                self.rev_hi = rev
                if isinstance(self.observed, dict):
                    self.observed = {k: v for k, v in self.observed.items() if k != "revision"}
            elif self.read_only:
                self.rev_lo = self.rev_hi = rev
            else:
                self.rev_lo, self.rev_hi = rev - 1, rev
