"""The MVCC store against the checker's reference model of etcd, over random histories.

The store (bytes, KeyValue dataclasses, exceptions) and the model (str, dict responses,
StoreError) must agree on every response and error; along the way the store's hash must not
move while its history up to the hashed revision does not, and a restore from the committed
records must give back the same store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from etcdcore.mvcc import MvccError, RangeOptions, Store, WriteTxn
from sim.lincheck.models.etcd import INITIAL, EtcdState, StoreError, execute, parse_request

KEYS = ("a", "b", "c", "d")
ALL = "\0"  # the model's "every key from key on"; the store's b""


@dataclass(frozen=True)
class Put:
    key: str
    value: str


@dataclass(frozen=True)
class Delete:
    key: str
    end: str | None


@dataclass(frozen=True)
class Range:
    key: str
    end: str | None
    back: int | None  # the revision: None current, else current - back (-1: a future one)
    limit: int


@dataclass(frozen=True)
class Txn:
    ops: tuple[Put | Delete | Range, ...]  # ranges at the current revision only (see below)


@dataclass(frozen=True)
class Compact:
    back: int


Op = Put | Delete | Range | Txn | Compact

keys = st.sampled_from(KEYS)
ends = st.one_of(st.none(), st.just(ALL), st.just(ALL), keys)
puts = st.builds(Put, keys, st.sampled_from(("x", "y", "z")))
# Mostly single keys, so that the store is seldom empty.
deletes = st.builds(Delete, keys, st.one_of(st.none(), st.none(), st.none(), ends))
ranges = st.builds(Range, keys, ends, st.one_of(st.none(), st.integers(-1, 6)),
                   st.sampled_from((0, 1, 1, 2)))
# etcd's server checks a txn's range revisions against the store before the txn (checkTxn);
# that is the server's job, so the txns here read only at the current revision.
txn_ranges = st.builds(Range, keys, ends, st.none(), st.sampled_from((0, 1, 1, 2)))
txns = st.builds(Txn, st.lists(st.one_of(puts, deletes, txn_ranges), min_size=1, max_size=3)
                 .map(tuple))
compacts = st.builds(Compact, st.integers(-1, 4))
ops = st.lists(st.one_of(puts, puts, puts, deletes, ranges, ranges, txns, compacts),
               min_size=8, max_size=40)


def b(s: str | None) -> bytes | None:
    if s is None:
        return None
    return b"" if s == ALL else s.encode("ascii")


def rev_of(back: int | None, current: int) -> int:
    return 0 if back is None else max(current - back, 1)


def model_args(op: Put | Delete | Range, current: int) -> tuple[str, dict[str, Any]]:
    if isinstance(op, Put):
        return "put", {"key": op.key, "value": op.value}
    if isinstance(op, Delete):
        return "delete_range", {"key": op.key, "range_end": op.end}
    return "range", {"key": op.key, "range_end": op.end, "revision": rev_of(op.back, current),
                     "limit": op.limit}


def kvs_as_model(kvs: list[Any]) -> list[tuple[str, str, int, int, int]]:
    return [(kv.key.decode(), kv.value.decode(), kv.create_revision, kv.mod_revision,
             kv.version) for kv in kvs]


def model_kvs(resp: dict[str, Any]) -> list[tuple[str, str, int, int, int]]:
    return [(kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version)
            for kv in resp["kvs"]]


def store_range(txn: Any, op: Range, current: int) -> dict[str, Any]:
    r = txn.range(op.key.encode(), b(op.end), RangeOptions(limit=op.limit,
                                                           rev=rev_of(op.back, current)))
    return {"revision": r.rev, "kvs": kvs_as_model(r.kvs), "count": r.count}


def store_write_op(txn: WriteTxn, op: Put | Delete | Range, current: int) -> dict[str, Any]:
    if isinstance(op, Put):
        return {"revision": txn.put(op.key.encode(), op.value.encode())}
    if isinstance(op, Delete):
        n, rev = txn.delete_range(op.key.encode(), b(op.end))
        return {"revision": rev, "deleted": n}
    return store_range(txn, op, current)


def model_view(op: Put | Delete | Range, resp: dict[str, Any]) -> dict[str, Any]:
    """The fields of a model response the store also gives."""
    if isinstance(op, Put):
        return {"revision": resp["revision"]}
    if isinstance(op, Delete):
        return {"revision": resp["revision"], "deleted": resp["deleted"]}
    return {"revision": resp["revision"], "kvs": model_kvs(resp), "count": resp["count"]}


def run_model(state: EtcdState, op: Op) -> tuple[EtcdState, Any]:
    """The model's new state and its view of the response, or the error message."""
    current = state.revision
    args: dict[str, Any]
    if isinstance(op, Compact):
        f, args = "compact", {"revision": current - op.back}
    elif isinstance(op, Txn):
        kinds = {"put": "request_put", "delete_range": "request_delete_range",
                 "range": "request_range"}
        success: list[dict[str, Any]] = []
        for sub in op.ops:
            name, sub_args = model_args(sub, current)
            success.append({kinds[name]: sub_args})
        f, args = "txn", {"compare": [], "success": success, "failure": []}
    else:
        f, args = model_args(op, current)
    try:
        after, resp = execute(state, parse_request(f, args))
    except StoreError as exc:
        return state, ("error", exc.message)
    if isinstance(op, Compact):
        return after, {"revision": resp["revision"]}
    if isinstance(op, Txn):
        views = [model_view(sub, next(iter(r.values())))
                 for sub, r in zip(op.ops, resp["responses"], strict=True)]
        return after, {"revision": resp["revision"], "responses": views}
    return after, model_view(op, resp)


def run_store(s: Store, op: Op) -> Any:
    """The store's response in the model's shape, or the error message."""
    current = s.rev()
    try:
        if isinstance(op, Compact):
            s.compact(current - op.back)
            return {"revision": s.rev()}
        if isinstance(op, Range):
            return store_range(s.read(), op, current)
        txn = s.write()
        try:
            if isinstance(op, Txn):
                views = [store_write_op(txn, sub, current) for sub in op.ops]
                rev = txn.rev() + 1 if txn.changes() else txn.rev()
                return {"revision": rev, "responses": views}
            return store_write_op(txn, op, current)
        finally:
            txn.end()
    except MvccError as exc:
        return ("error", str(exc))


def snapshot(s: Store) -> list[Any]:
    """Everything a client can read from the store: each readable revision, in full."""
    out: list[Any] = [s.rev(), s.compact_rev(), s.consistent_index, s.term]
    for rev in range(max(s.compact_rev(), 1), s.rev() + 1):
        r = s.read().range(b"\0", b"", RangeOptions(rev=rev))
        out.append((rev, r.kvs, s.hash_by_rev(rev)))
    return out


@given(ops)
def test_the_store_answers_as_the_model_of_etcd(history: list[Op]) -> None:
    s = Store()
    state = INITIAL
    backend = b""  # the backend file: every commit, appended
    hashes: dict[int, tuple[int, int, int]] = {}  # rev -> hash_by_rev(rev) when taken
    committed: list[tuple[int, list[Any]]] = []  # (file length, snapshot) after each commit
    for i, op in enumerate(history):
        state, want = run_model(state, op)
        got = run_store(s, op)
        assert got == want, f"step {i}: {op}"
        assert (s.rev(), s.compact_rev()) == (state.revision, state.compact)
        s.set_consistent_index(i + 1, 1 + i // 4)
        backend += s.commit()

        # A hash moves only when the compact revision does, never with later writes.
        compact_rev = s.compact_rev()
        hashes = {r: h for r, h in hashes.items() if h[2] == compact_rev}
        for r, (h, _, c) in hashes.items():
            assert s.hash_by_rev(r)[0::2] == (h, c)
        hashes[s.rev()] = s.hash_by_rev(0)
        committed.append((len(backend), snapshot(s)))

    # A crash after any commit, maybe in the middle of the next one's append, restores the
    # store as of that commit.
    for i, (length, snap) in enumerate(committed):
        torn = backend[:length + 7 * (i % 3)] if i + 1 < len(committed) else backend
        restored, valid = Store.restore(torn)
        assert valid == length
        assert snapshot(restored) == snap
