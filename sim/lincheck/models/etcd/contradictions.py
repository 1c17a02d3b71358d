"""Proofs without search that a history has no linearization: the usual bugs, found at once."""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from sim.lincheck.history import Status
from sim.lincheck.model import check_time
from sim.lincheck.models.etcd.footprint import puts_of
from sim.lincheck.models.etcd.operations import Compiled
from sim.lincheck.models.etcd.results import observations, ok_puts
from sim.lincheck.models.etcd.versions import INF

__all__ = ["find_contradictions"]


def find_contradictions(compiled: Sequence[Compiled],
                        deadline: float | None = None) -> list[tuple[int, str]]:
    """(operation id, why) pairs, each a proof that the operations (none failed) have no
    linearization; see `EtcdModel.contradictions`."""
    writers: dict[tuple[str, str], int] = {}
    for c in compiled:
        for pair in puts_of(c.req):
            writers[pair] = writers.get(pair, 0) + 1
    ok = [c for c in compiled if c.op.status is Status.OK and c.error is None
          and not c.unchecked and isinstance(c.observed, dict)]
    out: list[tuple[int, str]] = []
    took: dict[int, int] = {}  # revision -> the ok request that took it
    at: dict[tuple[str, str], int] = {}  # (key, value) -> the revision an ok put wrote it
    puts: dict[str, list[tuple[int, int]]] = {}  # key -> (revision, request) of ok puts
    for n, c in enumerate(ok):
        check_time(deadline, n)
        for key, value, rev in ok_puts(c.req, c.observed):
            other = took.setdefault(rev, c.op.id)
            if other != c.op.id:
                out.append((c.op.id, f"revision {rev} is taken by operation {other} too"))
            at[key, value] = rev
            puts.setdefault(key, []).append((rev, c.op.id))
    for writes in puts.values():
        writes.sort()
    seen: dict[tuple[str, int], tuple[str, int]] = {}
    for n, c in enumerate(ok):
        check_time(deadline, n)
        for kv, upto, keys_only in observations(c.req, c.observed):
            name, mod = kv.get("key"), kv.get("mod_revision") or 0
            if not isinstance(name, str) or not isinstance(mod, int):
                continue
            key = name
            where = f"read {key}@{mod}"
            if not keys_only:
                value = str(kv.get("value") or "")
                where = f"read {key}={value!r}@{mod}"
                if (key, value) not in writers:
                    out.append((c.op.id, f"{where}: no request writes that value"))
                first = seen.setdefault((key, mod), (value, c.op.id))
                if first[0] != value:
                    out.append((c.op.id, f"{where}: operation {first[1]} read "
                                         f"{first[0]!r} there"))
                written = at.get((key, value))
                if writers.get((key, value)) == 1 and written not in (None, mod):
                    out.append((c.op.id, f"{where}: that value was written at {written}"))
            writes = puts.get(key, [])
            i = bisect.bisect_right(writes, (mod, INF))
            if i < len(writes) and writes[i][0] <= upto:
                rev, by = writes[i]
                out.append((c.op.id, f"{where} at revision {upto}: operation {by} wrote "
                                     f"{key} at {rev}"))
    return out
