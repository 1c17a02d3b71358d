"""What a request may touch, through its nested txns: the keys it puts, the ranges it deletes
or observes, the old revisions it reads, the revisions it asks for, its compares; and the known
keys in a range."""

from __future__ import annotations

import bisect
from collections.abc import Iterable

from sim.lincheck.models.etcd.requests import (
    CompactReq,
    Compare,
    DeleteReq,
    PutReq,
    RangeReq,
    Request,
    TxnReq,
)

__all__ = ["compares_of", "delete_ranges", "keys_in", "observed_ranges", "old_reads", "puts_of",
           "revisions_asked"]


def keys_in(keys: list[str], start: str, end: str | None) -> Iterable[str]:
    """The keys of sorted `keys` in etcd's range (start, end)."""
    if end is None:
        i = bisect.bisect_left(keys, start)
        if i < len(keys) and keys[i] == start:
            yield start
        return
    for i in range(bisect.bisect_left(keys, start), len(keys)):
        if end != "\0" and keys[i] >= end:
            return
        yield keys[i]


def delete_ranges(req: Request) -> Iterable[tuple[str, str | None]]:
    """The key ranges the request may delete, nested txns included."""
    if isinstance(req, DeleteReq):
        yield req.key, req.end
    elif isinstance(req, TxnReq):
        for sub in (*req.success, *req.failure):
            yield from delete_ranges(sub)


def puts_of(req: Request) -> Iterable[tuple[str, str]]:
    """(key, value) of each put the request may make, nested txns included."""
    if isinstance(req, PutReq):
        yield req.key, req.value
    elif isinstance(req, TxnReq):
        for sub in (*req.success, *req.failure):
            yield from puts_of(sub)


def compares_of(req: Request) -> Iterable[Compare]:
    """The compares of a txn and of its nested txns."""
    if isinstance(req, TxnReq):
        yield from req.compare
        for sub in (*req.success, *req.failure):
            yield from compares_of(sub)


def revisions_asked(req: Request) -> Iterable[int]:
    """The revisions its ranges and compactions ask for, nested txns included."""
    if isinstance(req, (RangeReq, CompactReq)):
        yield req.revision
    elif isinstance(req, TxnReq):
        for sub in (*req.success, *req.failure):
            yield from revisions_asked(sub)


def observed_ranges(req: Request, compares_and_deletes_only: bool
                    ) -> Iterable[tuple[str, str | None]]:
    """The key ranges whose state the request's result or effect depends on."""
    if isinstance(req, RangeReq):
        if not compares_and_deletes_only:
            yield req.key, req.end
    elif isinstance(req, PutReq):
        if req.prev_kv and not compares_and_deletes_only:
            yield req.key, None
    elif isinstance(req, DeleteReq):
        yield req.key, req.end
    elif isinstance(req, TxnReq):
        for c in req.compare:
            yield c.key, c.end
        for sub in (*req.success, *req.failure):
            yield from observed_ranges(sub, compares_and_deletes_only)


def old_reads(req: Request) -> Iterable[tuple[str, str | None, int]]:
    """(key, range end, revision) of each range it reads at a given revision."""
    if isinstance(req, RangeReq) and req.revision > 0:
        yield req.key, req.end, req.revision
    elif isinstance(req, TxnReq):
        for sub in (*req.success, *req.failure):
            yield from old_reads(sub)
