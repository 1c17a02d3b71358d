"""The KV workload: clients issuing etcd requests, and the history of what they saw.

In the spirit of etcd's robustness tests: a small key space, puts with unique values, ranges of
one key and of a prefix (some serializable), deletes, txns (compare-and-swap on a key's mod
revision, multi-op), an occasional compaction; several clients, each with at most one request
open. Every call goes into the history with its invoke and return times (global simulated
microseconds) in the checker's `jsonl` form, keys and values as text.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any

from etcdcore.api import rpc
from etcdcore.api.compact_json import dumps
from etcdcore.api.gateway import REQUEST_OP_FIELDS, RESPONSE_OP_FIELDS
from etcdcore.api.rpctypes import EtcdError
from etcdcore.client import Client, outcome_known
from etcdcore.env import Process
from etcdcore.mvcc import KeyValue
from sim.lincheck.formats.jsonl import HEADER_FORMAT, VERSION
from sim.lincheck.models.etcd import COMPACTED, FUTURE_REV, normalize_error

__all__ = [
    "OP_NAMES",
    "History",
    "WorkloadConfig",
    "client_loop",
    "request_args",
    "response_result",
]


@dataclass(frozen=True)
class WorkloadConfig:
    """How many clients, how fast (operations per simulated second, all clients together),
    over how many keys, and the mix (relative weights)."""

    clients: int = 4
    rate: float = 100.0
    keys: int = 10
    put: int = 30
    range_key: int = 20
    range_prefix: int = 10
    delete: int = 8
    cas: int = 15
    multi_txn: int = 10
    compact: int = 1
    serializable: float = 0.2  # the share of ranges that are serializable
    timeout_us: int = 1_000_000

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt from its fields: compiled by mypyc (etcdsim_build.compiled), a frozen dataclass
        # cannot be unpickled field by field, and sweeps send it to worker processes.
        return type(self), tuple(getattr(self, f.name) for f in fields(self))


# ---- the history ---------------------------------------------------------------------------


class History:
    """The events clients report, in the order they happen."""

    def __init__(self, now: Callable[[], int]) -> None:
        self._now = now
        self.events: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}

    def invoke(self, client: int, op: str, args: dict[str, Any], key: str | None) -> None:
        """A call starts."""
        event: dict[str, Any] = {"client": client, "kind": "invoke", "op": op}
        if key is not None:
            event["key"] = key
        event["args"] = args
        event["time"] = self._now()
        self.events.append(event)

    def complete(self, client: int, op: str, kind: str, result: Any = None) -> None:
        """A call returns: kind is ok (with its result), fail or info."""
        event: dict[str, Any] = {"client": client, "kind": kind, "op": op}
        if kind == "ok":
            event["result"] = result
        event["time"] = self._now()
        self.events.append(event)
        name = f"{op}:{kind}"
        self.counts[name] = self.counts.get(name, 0) + 1

    def failed(self, client: int, op: str, err: EtcdError) -> None:
        """A call returned an error: a store error is the request's answer (ok, as the
        checker's etcd model reads it); an error that proves nothing happened, or any failed
        read, is a fail; anything else leaves the outcome unknown (info)."""
        if normalize_error(err.message) in (COMPACTED, FUTURE_REV):
            self.complete(client, op, "ok", {"error": err.message})
        elif outcome_known(err) or op == "range":
            self.complete(client, op, "fail")
        else:
            self.complete(client, op, "info")

    def objects(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """The history as the checker's jsonl lines would decode: (line number, object)."""
        yield 1, {"format": HEADER_FORMAT, "version": VERSION, "model": "etcd"}
        yield from enumerate(self.events, 2)

    def dumps(self) -> str:
        """The history in the checker's jsonl format."""
        return "".join(dumps(obj) + "\n" for _, obj in self.objects())

    def ops_by_kind(self) -> dict[str, dict[str, int]]:
        """Counts by operation and outcome: {"put": {"ok": 3, "info": 1}, ...}."""
        out: dict[str, dict[str, int]] = {}
        for name in sorted(self.counts):
            op, kind = name.split(":")
            out.setdefault(op, {})[kind] = self.counts[name]
        return out


# ---- requests and responses as the checker reads them --------------------------------------


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


OP_NAMES = {rpc.RangeRequest: "range", rpc.PutRequest: "put",
            rpc.DeleteRangeRequest: "delete_range", rpc.TxnRequest: "txn",
            rpc.CompactionRequest: "compact"}
_COMPARE_FIELD = {rpc.CompareTarget.VERSION: "version", rpc.CompareTarget.CREATE: "create_revision",
                  rpc.CompareTarget.MOD: "mod_revision", rpc.CompareTarget.VALUE: "value",
                  rpc.CompareTarget.LEASE: "lease"}


def request_args(r: rpc.Request | rpc.Compare) -> dict[str, Any]:
    """A request's arguments in the history: proto field names, text for bytes, defaults out."""
    if isinstance(r, rpc.Compare):
        field = _COMPARE_FIELD[r.target]
        operand = getattr(r, field)
        return {"key": _text(r.key), **({"range_end": _text(r.range_end)} if r.range_end else {}),
                "target": r.target.name, "result": r.result.name,
                field: _text(operand) if isinstance(operand, bytes) else operand}
    out: dict[str, Any] = {}
    for name in r.__dataclass_fields__:
        value = getattr(r, name)
        if name in ("compare", "success", "failure"):
            if name == "compare":
                items = [request_args(c) for c in value]
            else:
                items = [{REQUEST_OP_FIELDS[type(op)]: request_args(op)}
                         for op in value if op is not None]
            if items:
                out[name] = items
        elif name in ("key", "value"):
            out[name] = _text(value)
        elif not value:
            continue
        elif isinstance(value, bytes):
            out[name] = _text(value)
        elif hasattr(value, "name"):  # an enum
            out[name] = value.name
        else:
            out[name] = value
    return out


def _kv(kv: KeyValue) -> dict[str, Any]:
    return {"key": _text(kv.key), "value": _text(kv.value), "create_revision": kv.create_revision,
            "mod_revision": kv.mod_revision, "version": kv.version}


def response_result(req: rpc.Request, resp: rpc.Response) -> dict[str, Any]:
    """A response as the history records it (the checker's etcd model reads this)."""
    out: dict[str, Any] = {"revision": resp.header.revision if resp.header else 0}
    if isinstance(resp, rpc.RangeResponse):
        out.update(kvs=[_kv(kv) for kv in resp.kvs], count=resp.count, more=resp.more)
    elif isinstance(resp, rpc.PutResponse):
        if isinstance(req, rpc.PutRequest) and req.prev_kv:
            out["prev_kv"] = None if resp.prev_kv is None else _kv(resp.prev_kv)
    elif isinstance(resp, rpc.DeleteRangeResponse):
        out["deleted"] = resp.deleted
        if isinstance(req, rpc.DeleteRangeRequest) and req.prev_kv:
            out["prev_kvs"] = [_kv(kv) for kv in resp.prev_kvs]
    elif isinstance(resp, rpc.TxnResponse):
        assert isinstance(req, rpc.TxnRequest)
        ops = [op for op in (req.success if resp.succeeded else req.failure) if op is not None]
        out["succeeded"] = resp.succeeded
        out["responses"] = [{RESPONSE_OP_FIELDS[type(r)]: response_result(op, r)}
                            for op, r in zip(ops, resp.responses, strict=True)]
    return out


# ---- the clients ---------------------------------------------------------------------------


class _Picker:
    """Draws the next request from the mix, with unique put values."""

    def __init__(self, cfg: WorkloadConfig, client: int, rand: random.Random) -> None:
        self.cfg = cfg
        self.client = client
        self.rand = rand
        self.seq = 0
        self.last_rev = 1  # the newest revision this client has seen
        self.mods: dict[bytes, int] = {}  # key -> mod revision this client last saw
        kinds = ("put", "range_key", "range_prefix", "delete", "cas", "multi_txn", "compact")
        self.kinds = kinds
        self.cum_weights = list(itertools.accumulate(getattr(cfg, k) for k in kinds))
        self.key_names = [f"key{i}".encode() for i in range(cfg.keys)]

    def key(self) -> bytes:
        return self.key_names[self.rand.randrange(self.cfg.keys)]

    def value(self) -> bytes:
        self.seq += 1
        return f"c{self.client}-{self.seq}".encode()

    def next(self) -> rpc.Request:
        r = self.rand
        # random.choices with weights, as it draws (one random() and a bisection), without
        # recomputing the cumulative weights on every call.
        cum = self.cum_weights
        kind = self.kinds[bisect.bisect(cum, r.random() * cum[-1], 0, len(cum) - 1)]
        if kind == "put":
            return rpc.PutRequest(self.key(), self.value(), prev_kv=r.random() < 0.2)
        if kind in ("range_key", "range_prefix"):
            serializable = r.random() < self.cfg.serializable
            if kind == "range_key":
                return rpc.RangeRequest(self.key(), serializable=serializable)
            return rpc.RangeRequest(b"key", b"kez", limit=r.choice((0, 0, 3)),
                                    serializable=serializable)
        if kind == "delete":
            return rpc.DeleteRangeRequest(self.key(), prev_kv=r.random() < 0.3)
        if kind == "cas":
            key = self.key()
            guard = rpc.Compare(rpc.CompareResult.EQUAL, rpc.CompareTarget.MOD, key,
                                mod_revision=self.mods.get(key, 0))
            return rpc.TxnRequest((guard,), (rpc.PutRequest(key, self.value()),),
                                  (rpc.RangeRequest(key),))
        if kind == "multi_txn":
            a, b = (self.key_names[i] for i in sorted(r.sample(range(self.cfg.keys), 2)))
            return rpc.TxnRequest((), (rpc.PutRequest(a, self.value()),
                                       rpc.PutRequest(b, self.value()), rpc.RangeRequest(a)))
        # compact a little behind what this client has seen
        return rpc.CompactionRequest(max(1, self.last_rev - r.randrange(1, 20)))

    def saw(self, resp: rpc.Response) -> None:
        if resp.header is not None:
            self.last_rev = max(self.last_rev, resp.header.revision)
        if isinstance(resp, rpc.RangeResponse):
            for kv in resp.kvs:
                self.mods[kv.key] = kv.mod_revision
        elif isinstance(resp, rpc.TxnResponse):
            for sub in resp.responses:
                self.saw(sub)


def client_loop(client: Client, client_id: int, cfg: WorkloadConfig, history: History,
                rand: random.Random, until: Callable[[], bool]) -> Process:
    """One client: think, call, record; until `until()` says stop."""
    picker = _Picker(cfg, client_id, rand)
    env = client.env
    mean_gap_us = 1_000_000 * cfg.clients / cfg.rate if cfg.rate > 0 else 0
    rate = 1 / mean_gap_us if mean_gap_us else 0.0  # no rate: the first sleep raises, as before
    while not until():
        # rand.expovariate(rate), as random.Random computes it, without its Python-level call.
        yield env.sleep(max(1, int(-math.log(1.0 - rand.random()) / rate)))
        if until():
            return
        req = picker.next()
        op = OP_NAMES[type(req)]
        key = _text(req.key) if isinstance(req, (rpc.PutRequest, rpc.RangeRequest,
                                                 rpc.DeleteRangeRequest)) else None
        history.invoke(client_id, op, request_args(req), key)
        try:
            resp = yield from client.do(req)
        except EtcdError as err:
            history.failed(client_id, op, err)
            continue
        picker.saw(resp)
        history.complete(client_id, op, "ok", response_result(req, resp))
