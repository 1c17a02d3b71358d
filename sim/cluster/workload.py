"""The KV workload: clients issuing etcd requests, and the history of what they saw.

In the spirit of etcd's robustness tests, with the idioms people write: a small key space, puts
with unique values, ranges of one key and of a prefix (some serializable; some with a limit, keys
only, a count only, at an old revision, sorted or filtered), deletes, a delete then a put of the
same key, compare-and-swap txns (on the mod revision, on the value), create-if-absent (version 0
? put : get), txns whose branches only read, txns over several keys that compare on every target
(version, create, mod, value) with every result, an occasional compaction. Compare operands come
from what the client has seen, so that both branches are likely. Phases of the run may be read
heavy; some clients stay on one member (no failover), so a partition that isolates it leaves
them talking to a minority. Several clients, each with at most one request open; every call
goes into the history with its invoke and return times (global simulated microseconds) in the
checker's `jsonl` form, keys and values as text.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Callable, Iterable, Iterator
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
    "CLIENT_BASE",
    "KINDS",
    "OP_NAMES",
    "History",
    "Phases",
    "WorkloadConfig",
    "client_loop",
    "history_key",
    "is_read_only",
    "request_args",
    "response_result",
]


# The operation kinds, each a weight in WorkloadConfig.
KINDS = ("put", "range_key", "range_prefix", "delete", "cas", "multi_txn", "compact", "create",
         "cas_value", "guarded_read", "compare_txn", "delete_put")
READ_KINDS = ("range_key", "range_prefix", "guarded_read")
FRACTIONS = ("serializable", "read_heavy", "pinned")
CLIENT_BASE = 100  # client machines are 100 (the liveness prober), 101, 102, ...
PHASE_US = 5_000_000  # the length of a phase (read heavy or not)
READ_SHARE = 0.9  # in a read-heavy phase, the share of operations that are reads


@dataclass(frozen=True)
class WorkloadConfig:
    """How many clients, how fast (the target of operations per simulated second, all clients
    together, which closed-loop clients reach only while answers come quickly; 0: the clients
    stay idle), over how many keys, the mix (relative weights), the share of ranges that
    are serializable, of phases that are read heavy, and of clients pinned to their member."""

    clients: int = 4
    rate: float = 100.0
    keys: int = 10
    put: int = 30
    range_key: int = 20
    range_prefix: int = 10
    delete: int = 8
    cas: int = 15  # mod_revision == what the client saw ? put : get
    multi_txn: int = 10  # puts of two keys and a range, no compare
    compact: int = 1
    create: int = 6  # create-if-absent: version == 0 ? put : get
    cas_value: int = 6  # value == what the client saw ? put : get
    guarded_read: int = 6  # compares, then ranges only on either branch
    compare_txn: int = 8  # compares on every target and result; ops on several keys
    delete_put: int = 4  # a delete, then a put of the same key (a new generation)
    serializable: float = 0.2  # the share of reads that are serializable
    read_heavy: float = 0.2  # the share of phases (PHASE_US each) where most operations read
    pinned: float = 0.75  # the share of clients that never leave their member
    timeout_us: int = 1_000_000
    # What a shrunk scenario leaves out. Each client numbers the operations it draws from 1;
    # it issues none past `max_ops` (0: no cap), and draws but never issues those in `skip`,
    # sorted (client id as in the history, operation number) pairs: the others keep their
    # draws and times.
    max_ops: int = 0
    skip: tuple[tuple[int, int], ...] = ()

    def pinned_clients(self) -> int:
        """How many clients (the first ones) stay on their member."""
        return int(self.pinned * self.clients + 0.5)

    def problem(self) -> tuple[str, str] | None:
        """The first field out of range and what is wrong with it ("" for the mix as a whole);
        None if all is well."""
        if self.keys < 2:
            return "keys", f"must be >= 2, got {self.keys}"
        if self.clients and not any(getattr(self, k) for k in KINDS):
            return "", "at least one operation kind needs a weight above 0"
        for name in FRACTIONS:
            value = getattr(self, name)
            if not 0 <= value <= 1:
                return name, f"must be in [0, 1], got {value}"
        if self.max_ops < 0:
            return "max_ops", f"must be >= 0, got {self.max_ops}"
        last = (0, 0)
        for pair in self.skip:
            client, n = pair
            if not CLIENT_BASE < client <= CLIENT_BASE + self.clients:
                return "skip", (f"names client {client}: the clients are {CLIENT_BASE + 1}.."
                                f"{CLIENT_BASE + self.clients}")
            if n < 1:
                return "skip", f"names operation {n} of client {client}: they count from 1"
            if pair <= last:
                return "skip", (f"must be sorted without repeats, got {list(pair)} after "
                                f"{list(last)}")
            last = pair
        return None

    def skipped(self, client: int) -> frozenset[int]:
        """The numbers of the operations `client` draws but does not issue."""
        return frozenset(n for c, n in self.skip if c == client)

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
        # info events, with their requests and call times, for `hint`
        self._unknown: list[tuple[dict[str, Any], rpc.Request, int]] = []
        self._calls: dict[int, int] = {}  # client -> the time of its open call
        self._answered: list[tuple[rpc.Request, int]] = []  # ok requests and their revisions

    def invoke(self, client: int, op: str, args: dict[str, Any], key: str | None) -> None:
        """A call starts."""
        event: dict[str, Any] = {"client": client, "kind": "invoke", "op": op}
        if key is not None:
            event["key"] = key
        event["args"] = args
        event["time"] = self._calls[client] = self._now()
        self.events.append(event)

    def complete(self, client: int, op: str, kind: str, result: Any = None,
                 request: rpc.Request | None = None) -> None:
        """A call returns: kind is ok (with its result), fail or info. An ok write's `request`
        names the entry it took, which `hint` then gives no unknown-outcome twin."""
        event: dict[str, Any] = {"client": client, "kind": kind, "op": op}
        if kind == "ok":
            event["result"] = result
            if request is not None and isinstance(result, dict) and "revision" in result:
                self._answered.append((request, result["revision"]))
        event["time"] = self._now()
        self.events.append(event)
        name = f"{op}:{kind}"
        self.counts[name] = self.counts.get(name, 0) + 1

    def failed(self, client: int, op: str, err: EtcdError, read_only: bool = False,
               request: rpc.Request | None = None) -> None:
        """A call returned an error: a store error is the request's answer (ok, as the
        checker's etcd model reads it); an error that proves nothing happened, or any failed
        read (a range, a txn that only reads), is a fail; anything else leaves the outcome
        unknown (info), and `request` is kept for `hint`."""
        if normalize_error(err.message) in (COMPACTED, FUTURE_REV):
            self.complete(client, op, "ok", {"error": err.message})
        elif outcome_known(err) or read_only or op == "range":
            self.complete(client, op, "fail")
        else:
            self.complete(client, op, "info")
            if request is not None and not isinstance(request, rpc.CompactionRequest):
                self._unknown.append((self.events[-1], request, self._calls.get(client, 0)))

    def hint(self, applied: Iterable[tuple[rpc.Request, int, int]]) -> None:
        """Note on each unknown-outcome write what the members' logs say became of it: the
        revision it left the store at, or 0 for never applied (`applied`: (request, revision,
        time first applied), in log order). The checker only orders its search by these: a
        wrong one costs time, never a verdict."""
        if not self._unknown:
            return
        # Equal requests step alike, so which of them took which entry matters little; each
        # takes the first equal entry applied after its call that no earlier one took.
        entries: dict[rpc.Request, list[tuple[int, int]]] = {}
        for request, revision, when in applied:
            entries.setdefault(request, []).append((when, revision))
        for request, revision in self._answered:  # an ok twin's entry is its own
            found = entries.get(request)
            if found:
                for i, (_, taken) in enumerate(found):
                    if taken == revision:
                        del found[i]
                        break
        for event, request, call in self._unknown:
            found = entries.get(request)
            event["applied_revision"] = 0
            if found:
                for i, (when, revision) in enumerate(found):
                    if when >= call:
                        event["applied_revision"] = revision
                        del found[i]
                        break
        self._unknown = []

    def objects(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """The history as the checker's jsonl lines would decode: (line number, object)."""
        yield 1, {"format": HEADER_FORMAT, "version": VERSION, "model": "etcd"}
        yield from enumerate(self.events, 2)

    def dumps(self) -> str:
        """The history in the checker's jsonl format."""
        return "".join(dumps(obj) + "\n" for _, obj in self.objects())

    def ops_by_kind(self) -> dict[str, dict[str, int]]:
        """Counts by operation and outcome: {"put": {"ok": 3, "info": 1, "open": 1}, ...}; an
        operation "open" was invoked and had no answer when the run ended (the checker counts
        it, as an operation of unknown outcome, so the totals agree)."""
        invoked: dict[str, int] = {}
        for event in self.events:
            if event["kind"] == "invoke":
                invoked[event["op"]] = invoked.get(event["op"], 0) + 1
        out: dict[str, dict[str, int]] = {}
        for name in sorted(self.counts):
            op, kind = name.split(":")
            out.setdefault(op, {})[kind] = self.counts[name]
        for op in sorted(invoked):
            open_ = invoked[op] - sum(out.get(op, {}).values())
            if open_:
                out.setdefault(op, {})["open"] = open_
        return {op: out[op] for op in sorted(out)}


# ---- requests and responses as the checker reads them --------------------------------------


def _text(b: bytes) -> str:
    # etcd's keys and values are any bytes: those that are not UTF-8 become lone surrogates,
    # which JSON escapes (\udcff) and which encode back to the same bytes.
    return b.decode("utf-8", "surrogateescape")


def history_key(req: rpc.Request) -> str | None:
    """The key a history line names for `req`: that of a put, range or delete; else None."""
    if isinstance(req, (rpc.PutRequest, rpc.RangeRequest, rpc.DeleteRangeRequest)):
        return _text(req.key)
    return None


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

# No LEASE: the server grants no leases, so a lease compare would only ever see 0.
_TARGETS = (rpc.CompareTarget.VERSION, rpc.CompareTarget.CREATE, rpc.CompareTarget.MOD,
            rpc.CompareTarget.VALUE)
_RESULTS = (rpc.CompareResult.EQUAL, rpc.CompareResult.NOT_EQUAL, rpc.CompareResult.GREATER,
            rpc.CompareResult.LESS)
_PREFIX, _PREFIX_END = b"key", b"kez"  # every key of the workload
_POOL = 32  # how many of the values it saw last a client keeps for value compares


class Phases:
    """Which phases of the run are read heavy: drawn in order from one stream, so every client
    sees the same phases."""

    def __init__(self, share: float, rand: random.Random, now: Callable[[], int]) -> None:
        self.share = share
        self.rand = rand
        self.now = now
        self.heavy: list[bool] = []

    def read_heavy(self) -> bool:
        """Is the phase now read heavy?"""
        if self.share <= 0:
            return False
        i = self.now() // PHASE_US
        while len(self.heavy) <= i:
            self.heavy.append(self.rand.random() < self.share)
        return self.heavy[i]


def is_read_only(req: rpc.Request) -> bool:
    """A range, or a txn of ranges only (nested txns included): it cannot change the store."""
    if isinstance(req, rpc.RangeRequest):
        return True
    if isinstance(req, rpc.TxnRequest):
        return all(op is not None and is_read_only(op) for op in (*req.success, *req.failure))
    return False


def _cum(weights: Iterator[int]) -> list[int]:
    return list(itertools.accumulate(weights))


class _Picker:
    """Draws the next request from the mix, with unique put values and compare operands taken
    from what this client has seen."""

    def __init__(self, cfg: WorkloadConfig, client: int, rand: random.Random) -> None:
        self.cfg = cfg
        self.client = client
        self.rand = rand
        self.seq = 0
        self.last_rev = 1  # the newest revision this client has seen
        self.known: dict[bytes, KeyValue | None] = {}  # key -> its version last seen; None: absent
        self.values: list[bytes] = []  # the values seen last, oldest first
        self.then: list[rpc.Request] = []  # requests to issue next (a delete_put's put)
        self.kinds = KINDS
        self.cum_weights = _cum(getattr(cfg, k) for k in KINDS)
        reads = _cum(getattr(cfg, k) for k in READ_KINDS)
        self.read_kinds = READ_KINDS if reads[-1] else ("range_key",)
        self.read_weights = reads if reads[-1] else [1]
        self.key_names = [f"key{i}".encode() for i in range(cfg.keys)]

    def key(self) -> bytes:
        return self.key_names[self.rand.randrange(self.cfg.keys)]

    def value(self) -> bytes:
        self.seq += 1
        return f"c{self.client}-{self.seq}".encode()

    def _draw(self, kinds: tuple[str, ...], cum: list[int]) -> str:
        # random.choices with weights, as it draws (one random() and a bisection), without
        # recomputing the cumulative weights on every call.
        return kinds[bisect.bisect(cum, self.rand.random() * cum[-1], 0, len(cum) - 1)]

    def next(self, read_heavy: bool = False) -> rpc.Request:
        """The next request; in a read-heavy phase, most often a read."""
        if self.then:
            return self.then.pop(0)
        r = self.rand
        if read_heavy and r.random() < READ_SHARE:
            kind = self._draw(self.read_kinds, self.read_weights)
        else:
            kind = self._draw(self.kinds, self.cum_weights)
        if kind == "put":
            return rpc.PutRequest(self.key(), self.value(), prev_kv=r.random() < 0.2)
        if kind == "range_key":
            return self._range(self.key(), b"", self._serializable())
        if kind == "range_prefix":
            return self._range(_PREFIX, _PREFIX_END, self._serializable())
        if kind == "delete":
            return rpc.DeleteRangeRequest(self.key(), prev_kv=r.random() < 0.3)
        if kind == "delete_put":
            key = self.key()
            self.then.append(rpc.PutRequest(key, self.value(), prev_kv=r.random() < 0.5))
            return rpc.DeleteRangeRequest(key, prev_kv=r.random() < 0.5)
        if kind == "cas":
            key = self.key()
            guard = rpc.Compare(rpc.CompareResult.EQUAL, rpc.CompareTarget.MOD, key,
                                mod_revision=self._number(key, rpc.CompareTarget.MOD))
            return rpc.TxnRequest((guard,), (rpc.PutRequest(key, self.value()),),
                                  (rpc.RangeRequest(key),))
        if kind == "create":
            key = self.key()
            absent = rpc.Compare(rpc.CompareResult.EQUAL, rpc.CompareTarget.VERSION, key,
                                 version=0)
            return rpc.TxnRequest((absent,), (rpc.PutRequest(key, self.value()),),
                                  (rpc.RangeRequest(key),))
        if kind == "cas_value":
            key = self.key()
            guard = rpc.Compare(rpc.CompareResult.EQUAL, rpc.CompareTarget.VALUE, key,
                                value=self._value_operand(key))
            return rpc.TxnRequest((guard,), (rpc.PutRequest(key, self.value(),
                                                            prev_kv=r.random() < 0.3),),
                                  (rpc.RangeRequest(key),))
        if kind == "guarded_read":
            return self._guarded_read()
        if kind == "compare_txn":
            return self._compare_txn()
        if kind == "multi_txn":
            a, b = (self.key_names[i] for i in sorted(r.sample(range(self.cfg.keys), 2)))
            return rpc.TxnRequest((), (rpc.PutRequest(a, self.value()),
                                       rpc.PutRequest(b, self.value()), rpc.RangeRequest(a)))
        # compact a little behind what this client has seen
        return rpc.CompactionRequest(max(1, self.last_rev - r.randrange(1, 20)))

    # ---- parts of requests ----------------------------------------------------------------

    def _serializable(self) -> bool:
        return self.rand.random() < self.cfg.serializable

    def _range(self, key: bytes, end: bytes, serializable: bool) -> rpc.RangeRequest:
        """A range with the options clients use: at an old revision, keys or a count only; over
        a prefix, a limit, a sort order, a revision filter."""
        r = self.rand
        revision = max(1, self.last_rev - r.randrange(0, 20)) if r.random() < 0.1 else 0
        keys_only = r.random() < 0.1
        count_only = not keys_only and r.random() < 0.05
        if not end:
            return rpc.RangeRequest(key, revision=revision, serializable=serializable,
                                    keys_only=keys_only, count_only=count_only)
        order = rpc.SortOrder.NONE
        if r.random() < 0.15:
            order = rpc.SortOrder.DESCEND if r.random() < 0.5 else rpc.SortOrder.ASCEND
        recent = max(1, self.last_rev - r.randrange(0, 30))
        filtered = r.random()
        return rpc.RangeRequest(key, end, limit=r.choice((0, 0, 1, 3)), revision=revision,
                                sort_order=order, serializable=serializable,
                                keys_only=keys_only, count_only=count_only,
                                min_mod_revision=recent if filtered < 0.08 else 0,
                                max_create_revision=recent if 0.08 <= filtered < 0.12 else 0)

    def _number(self, key: bytes, target: rpc.CompareTarget) -> int:
        """The key's version, create or mod revision as last seen (0: absent or never seen)."""
        kv = self.known.get(key)
        if kv is None:
            return 0
        if target == rpc.CompareTarget.VERSION:
            return kv.version
        if target == rpc.CompareTarget.CREATE:
            return kv.create_revision
        return kv.mod_revision

    def _value_operand(self, key: bytes) -> bytes:
        """Mostly the key's value as last seen; else another value seen, or the empty one."""
        r = self.rand
        kv = self.known.get(key)
        x = r.random()
        if kv is not None and x < 0.6:
            return kv.value
        if self.values and x < 0.9:
            return self.values[r.randrange(len(self.values))]
        return b""

    def _compare(self, key: bytes, end: bytes = b"") -> rpc.Compare:
        """A compare on any target with any result; its operand near what the client saw, so
        that it holds about as often as not."""
        r = self.rand
        target = _TARGETS[r.randrange(len(_TARGETS))]
        result = _RESULTS[r.randrange(len(_RESULTS))]
        if target == rpc.CompareTarget.VALUE:
            return rpc.Compare(result, target, key, end, value=self._value_operand(key))
        seen = self._number(key, target)
        x = r.random()
        if x < 0.6:
            n = seen
        elif x < 0.85:
            n = max(0, seen + (1 if r.random() < 0.5 else -1))
        elif x < 0.95:
            n = 0
        else:
            n = self.last_rev
        if target == rpc.CompareTarget.VERSION:
            return rpc.Compare(result, target, key, end, version=n)
        if target == rpc.CompareTarget.CREATE:
            return rpc.Compare(result, target, key, end, create_revision=n)
        return rpc.Compare(result, target, key, end, mod_revision=n)

    def _compares(self, most: int) -> tuple[rpc.Compare, ...]:
        """One to `most` compares on distinct keys; now and then one over every key."""
        r = self.rand
        n = min(r.randint(1, most), self.cfg.keys)
        out = [self._compare(self.key_names[i]) for i in r.sample(range(self.cfg.keys), n)]
        if r.random() < 0.1:
            out.append(self._compare(_PREFIX, _PREFIX_END))
        return tuple(out)

    def _guarded_read(self) -> rpc.TxnRequest:
        """Compares, then ranges only, whichever branch runs: served without Raft, locally
        when every range is serializable."""
        r = self.rand
        serializable = self._serializable()
        success: list[rpc.RequestOp] = [self._range(self.key(), b"", serializable)
                                         for _ in range(r.randint(1, 2))]
        if not serializable and r.random() < 0.2:
            # One serializable range among linearizable ones: the txn is still linearizable.
            success.append(self._range(self.key(), b"", True))
        failure = (self._range(_PREFIX, _PREFIX_END, serializable),)
        return rpc.TxnRequest(self._compares(2), tuple(success), failure)

    def _ops(self, most: int, taken: list[bytes]) -> list[rpc.RequestOp]:
        """Up to `most` ops for a txn branch: puts and deletes of keys not in `taken` (etcd
        refuses a txn that puts a key twice, or puts and deletes it), ranges of any."""
        r = self.rand
        out: list[rpc.RequestOp] = []
        for _ in range(r.randint(1, most)):
            x = r.random()
            key = self.key()
            if x < 0.7 and key not in taken:
                taken.append(key)
                if x < 0.5:
                    out.append(rpc.PutRequest(key, self.value(), prev_kv=r.random() < 0.2))
                else:
                    out.append(rpc.DeleteRangeRequest(key, prev_kv=r.random() < 0.5))
            else:
                out.append(self._range(key, b"", False))
        return out

    def _compare_txn(self) -> rpc.TxnRequest:
        """Compares on several keys, every target and result; a branch of puts, deletes and
        ranges on several keys each (now and then a nested txn)."""
        r = self.rand
        taken: list[bytes] = []
        success = self._ops(3, taken)
        if r.random() < 0.1:
            inner = self._ops(2, taken)
            success.append(rpc.TxnRequest(self._compares(1), tuple(inner),
                                          (self._range(self.key(), b"", False),)))
        failure = self._ops(2, [])
        return rpc.TxnRequest(self._compares(3), tuple(success), tuple(failure))

    # ---- what the answers show ------------------------------------------------------------

    def _remember(self, value: bytes) -> None:
        values = self.values
        if value not in values:
            values.append(value)
            if len(values) > _POOL:
                values.pop(0)

    def saw(self, req: rpc.Request, resp: rpc.Response) -> None:
        """Learn from an answer: the newest revision, the keys' versions and values."""
        if resp.header is not None:
            self.last_rev = max(self.last_rev, resp.header.revision)
        if isinstance(resp, rpc.RangeResponse) and isinstance(req, rpc.RangeRequest):
            if req.count_only or req.keys_only or req.revision:
                return  # no values, or not the current ones
            for kv in resp.kvs:
                self.known[kv.key] = kv
                self._remember(kv.value)
            if not req.range_end and not resp.kvs and not (req.min_mod_revision
                                                          or req.max_create_revision):
                self.known[req.key] = None
        elif isinstance(resp, rpc.PutResponse) and isinstance(req, rpc.PutRequest):
            rev = resp.header.revision if resp.header is not None else 0
            old = resp.prev_kv if req.prev_kv else self.known.get(req.key)
            self.known[req.key] = KeyValue(
                req.key, old.create_revision if old is not None else rev, rev,
                old.version + 1 if old is not None else 1, req.value)
            self._remember(req.value)
        elif isinstance(resp, rpc.DeleteRangeResponse) and isinstance(req, rpc.DeleteRangeRequest):
            if not req.range_end:
                self.known[req.key] = None
        elif isinstance(resp, rpc.TxnResponse) and isinstance(req, rpc.TxnRequest):
            ops = [op for op in (req.success if resp.succeeded else req.failure)
                   if op is not None]
            for op, sub in zip(ops, resp.responses, strict=False):
                self.saw(op, sub)


def client_loop(client: Client, client_id: int, cfg: WorkloadConfig, history: History,
                rand: random.Random, until: Callable[[], bool],
                phases: Phases | None = None) -> Process:
    """One client: think, call, record; until `until()` says stop."""
    picker = _Picker(cfg, client_id, rand)
    env = client.env
    mean_gap_us = 1_000_000 * cfg.clients / cfg.rate if cfg.rate > 0 else 0
    if not mean_gap_us:
        return  # no rate: an idle client
    rate = 1 / mean_gap_us
    cap = cfg.max_ops
    skipped = cfg.skipped(client_id) if cfg.skip else frozenset()
    drawn = 0
    while not until() and (not cap or drawn < cap):
        # rand.expovariate(rate), as random.Random computes it, without its Python-level call.
        yield env.sleep(max(1, int(-math.log(1.0 - rand.random()) / rate)))
        if until():
            return
        req = picker.next(phases is not None and phases.read_heavy())
        drawn += 1
        if skipped and drawn in skipped:
            continue  # drawn, so that the operations after it draw what they would have
        op = OP_NAMES[type(req)]
        history.invoke(client_id, op, request_args(req), history_key(req))
        try:
            resp = yield from client.do(req)
        except EtcdError as err:
            history.failed(client_id, op, err, is_read_only(req), req)
            continue
        picker.saw(req, resp)
        history.complete(client_id, op, "ok", response_result(req, resp), req)
