"""What an ok result shows beside its request: the txn branch that ran, the puts done, the
versions read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sim.lincheck.history import is_mapping
from sim.lincheck.models.etcd.requests import DeleteReq, PutReq, RangeReq, Request, TxnReq

__all__ = ["branch", "observations", "ok_puts"]


def ok_puts(req: Request, res: Mapping[str, Any]) -> Iterable[tuple[str, str, int]]:
    """(key, value, revision) of the puts an ok result shows done."""
    rev = res.get("revision")
    if isinstance(req, PutReq):
        if isinstance(rev, int):
            yield req.key, req.value, rev
    elif isinstance(req, TxnReq):
        for sub, inner in branch(req, res):
            yield from ok_puts(sub, inner)


def observations(req: Request, res: Mapping[str, Any], mid: bool = False
                 ) -> Iterable[tuple[Mapping[str, Any], int, bool]]:
    """(key-value, revision it was read at, keys only) for each version an ok result shows.

    `mid`: as in `Facts.learn` (feasibility.py).
    """
    rev = res.get("revision")
    if not isinstance(rev, int):
        return
    if isinstance(req, PutReq):
        prev = res.get("prev_kv")
        if is_mapping(prev):
            yield prev, rev - 1, False
    elif isinstance(req, RangeReq):
        for kv in res.get("kvs") or ():
            if is_mapping(kv):
                yield kv, req.revision if req.revision > 0 else rev - 1 if mid else rev, \
                    req.keys_only
    elif isinstance(req, DeleteReq):
        for kv in res.get("prev_kvs") or ():
            if is_mapping(kv):
                yield kv, rev - 1, False
    elif isinstance(req, TxnReq):
        changed = mid
        for sub, inner in branch(req, res):
            yield from observations(sub, inner, changed)
            changed = changed or bool(list(ok_puts(sub, inner))) or bool(inner.get("deleted"))


def branch(req: TxnReq, res: Mapping[str, Any]) -> Iterable[tuple[Request, Mapping[str, Any]]]:
    """A txn's requests that ran, with their responses (a nested txn's with the outer revision)."""
    ok, resps = res.get("succeeded"), res.get("responses")
    if not isinstance(ok, bool) or not isinstance(resps, (tuple, list, Sequence)):
        return
    for sub, item in zip(req.success if ok else req.failure, resps, strict=False):
        inner = (next(iter(item.values()), None)
                 if is_mapping(item) else None)
        if is_mapping(inner):
            yield sub, {**inner, "revision": res.get("revision")} if isinstance(sub, TxnReq) \
                else inner
