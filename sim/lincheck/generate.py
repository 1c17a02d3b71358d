"""Histories that are linearizable by construction, and one-result corruptions of them.

`generate_etcd_history` runs concurrent clients against one sequential etcd store (the etcd
model's own executor): each operation takes effect at a random instant between its call and its
return, so the order of those instants is a linearization. Used for the checker's tests and for
`make bench`.
"""

from __future__ import annotations

import dataclasses
import heapq
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sim.lincheck.history import FrozenMap, Operation, Status, freeze
from sim.lincheck.models.etcd import (
    INITIAL,
    EtcdState,
    StoreError,
    execute,
    parse_request,
    to_json,
)

__all__ = ["DEFAULT_MIX", "corrupt", "distinct_instants", "generate_etcd_history"]

# Relative weights of the kinds of operation a client invokes.
DEFAULT_MIX: Mapping[str, float] = {
    "get": 25,  # range of one key, latest
    "get_old": 4,  # range of one key at a revision the client saw a while ago
    "scan": 8,  # range over a prefix of ten keys, sometimes limited / keys-only / count-only
    "put": 30,
    "delete": 8,
    "cas": 20,  # txn: mod_revision == what the client last saw ? put : range
    "compact": 1,
}

# Further kinds a mix may name (the default leaves them out, so its histories stay as they were):
# "create" (txn: version == 0 ? put : range), "cas_value" (txn: value == what the client last
# saw ? put : range), "guard" (txn: compares on any target with any result, then ranges only;
# now and then every range serializable), "multi" (txn: compares on two keys, puts and deletes
# of other keys, or a range), "ser" (a serializable range of one key).
_TARGETS = {"VERSION": "version", "CREATE": "create_revision", "MOD": "mod_revision",
            "VALUE": "value"}
_RESULTS = ("EQUAL", "NOT_EQUAL", "GREATER", "LESS")

_GRPC = "etcdserver: "


@dataclass
class _Pending:
    """An invoked operation, until its client returns."""

    client: str
    call: int
    f: str
    args: dict[str, Any]
    unknown: bool
    takes_effect: bool
    ret: int = 0
    result: Any = None


@dataclass
class _Client:
    """What one client knows: the last revisions it saw; it runs one operation at a time."""

    index: int
    process: int
    seen_rev: int = 1
    mod: dict[str, int] = field(default_factory=dict)
    value: dict[str, str] = field(default_factory=dict)


def _prefix_end(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _choose(rng: random.Random, client: _Client, names: list[str], weights: list[float],
            keys: list[str], serial: int) -> tuple[str, dict[str, Any]]:
    """The next request of `client`, from what it knows."""
    kind = rng.choices(names, weights)[0]
    key = rng.choice(keys)
    value = f"v{serial}"  # unique: a value names the write that wrote it
    if kind == "get":
        return "range", {"key": key}
    if kind == "get_old":
        # Sometimes past what the client saw: a future revision, or a race with a writer.
        return "range", {"key": key, "revision": max(1, client.seen_rev + rng.randint(-20, 2))}
    if kind == "scan":
        prefix = key[:-1]
        args: dict[str, Any] = {"key": prefix, "range_end": _prefix_end(prefix)}
        shape = rng.random()
        if shape < 0.2:
            args["limit"] = rng.randint(1, 5)
        elif shape < 0.3:
            args["keys_only"] = True
        elif shape < 0.4:
            args["count_only"] = True
        return "range", args
    if kind == "put":
        args = {"key": key, "value": value}
        if rng.random() < 0.3:
            args["prev_kv"] = True
        return "put", args
    if kind == "delete":
        args = {"key": key}
        if rng.random() < 0.5:
            args["prev_kv"] = True
        return "delete_range", args
    if kind == "cas":
        compare = {"key": key, "target": "MOD", "result": "EQUAL",
                   "mod_revision": client.mod.get(key, 0)}
        return "txn", {"compare": [compare],
                       "success": [{"request_put": {"key": key, "value": value}}],
                       "failure": [{"request_range": {"key": key}}]}
    if kind == "compact":
        return "compact", {"revision": max(1, client.seen_rev - rng.randint(0, 30))}
    put = {"request_put": {"key": key, "value": value}}
    get = {"request_range": {"key": key}}
    if kind == "create":
        return "txn", {"compare": [{"key": key, "target": "VERSION", "result": "EQUAL",
                                    "version": 0}], "success": [put], "failure": [get]}
    if kind == "cas_value":
        return "txn", {"compare": [{"key": key, "target": "VALUE", "result": "EQUAL",
                                    "value": client.value.get(key, "")}],
                       "success": [put], "failure": [get]}
    if kind == "ser":
        return "range", {"key": key, "serializable": True}
    other = rng.choice(keys)
    compares = [_compare(rng, client, key), _compare(rng, client, other)][:rng.randint(1, 2)]
    if kind == "guard":
        serializable = rng.random() < 0.3
        reads = [{"request_range": {"key": k, **({"serializable": True} if serializable else {})}}
                 for k in (key, other)]
        return "txn", {"compare": compares, "success": reads[:rng.randint(1, 2)],
                       "failure": reads[1:]}
    # multi: puts and deletes of distinct keys on one branch, a range on the other
    ops: list[dict[str, Any]] = [put]
    if other != key:
        ops.append({"request_delete_range": {"key": other}} if rng.random() < 0.5 else
                   {"request_put": {"key": other, "value": value + "b"}})
    return "txn", {"compare": compares, "success": ops, "failure": [get]}


def _compare(rng: random.Random, client: _Client, key: str) -> dict[str, Any]:
    """A compare on any target with any result, its operand near what the client saw."""
    target = rng.choice(sorted(_TARGETS))
    operand: str | int
    if target == "VALUE":
        operand = client.value.get(key, "") if rng.random() < 0.7 else f"v{rng.randrange(99)}"
    else:
        seen = client.mod.get(key, 0)
        operand = max(0, seen + rng.choice((-1, 0, 0, 1)))
        if target == "VERSION":
            operand = min(operand, rng.randint(0, 3))
    return {"key": key, "target": target, "result": rng.choice(_RESULTS),
            _TARGETS[target]: operand}


def _learn(client: _Client, f: str, args: Mapping[str, Any], result: Mapping[str, Any]) -> None:
    """Update what the client knows from an answer."""
    if "error" in result:
        return
    client.seen_rev = max(client.seen_rev, result["revision"])
    if f == "put":
        client.mod[args["key"]] = result["revision"]
        client.value[args["key"]] = args["value"]
    elif f == "delete_range":
        client.mod[args["key"]] = 0
    elif f == "range" and not args.get("count_only") and not args.get("revision"):
        if "range_end" not in args:
            client.mod[args["key"]] = 0
        for kv in result["kvs"]:
            client.mod[kv["key"]] = kv["mod_revision"]
            client.value[kv["key"]] = kv["value"]
    elif f == "txn":
        branch = args["success"] if result["succeeded"] else args["failure"]
        for item, resp in zip(branch, result["responses"], strict=True):
            (kind, sub), = item.items()
            (_, inner), = resp.items()
            _learn(client, kind[len("request_"):], sub, {**inner, "revision": result["revision"]}
                   if kind == "request_put" else inner)


def distinct_instants() -> Callable[[int], int]:
    """`fresh(t)`: the first instant from `t` on that it has not returned before, so that no
    call and return of a generated history tie."""
    used: set[int] = set()

    def fresh(t: int) -> int:
        while t in used:
            t += 1
        used.add(t)
        return t

    return fresh


def generate_etcd_history(rng: random.Random, ops: int, keys: int = 100, clients: int = 10,
                          unknown: float = 0.05, *, mix: Mapping[str, float] | None = None,
                          latency: int = 100, think: int = 50,
                          effects: list[int] | None = None,
                          hints: bool = False) -> list[Operation]:
    """`ops` operations of `clients` concurrent clients over `keys` keys; linearizable.

    Each operation takes effect at a random instant within [call, return]; a share `unknown`
    ends with an unknown outcome (half of those took effect, at some instant after the call),
    after which the client carries on as a new process, as in Jepsen. Times are distinct
    integers; `latency` bounds each half of an operation, `think` the pause between two.
    If `effects` is given, the ids of the operations that took effect are appended to it, in the
    order they did: a linearization. With `hints`, each unknown outcome carries what a server's
    log would say of it (`Operation.applied`): the revision it left, or 0 if it never applied.
    """
    chosen = dict(DEFAULT_MIX if mix is None else mix)
    names, weights = sorted(chosen), [chosen[n] for n in sorted(chosen)]
    key_names = [f"k{i:04d}" for i in range(keys)]
    fresh = distinct_instants()
    state: EtcdState = INITIAL
    team = [_Client(i, i) for i in range(clients)]
    done: list[_Pending] = []
    applied: list[_Pending] = []
    heap: list[tuple[int, int, str, int, _Pending | None]] = []
    seq = 0

    def schedule(t: int, what: str, who: int, p: _Pending | None) -> None:
        nonlocal seq
        heapq.heappush(heap, (t, seq, what, who, p))
        seq += 1

    for c in team:
        schedule(fresh(rng.randint(0, think)), "call", c.index, None)
    invoked = 0
    while heap:
        t, _, what, who, p = heapq.heappop(heap)
        client = team[who]
        if what == "call":
            if invoked >= ops:
                continue
            f, args = _choose(rng, client, names, weights, key_names, invoked)
            invoked += 1
            lost = rng.random() < unknown
            p = _Pending(f"p{client.process}", t, f, args, lost, not lost or rng.random() < 0.5)
            if p.takes_effect:
                schedule(fresh(t + rng.randint(1, latency * (3 if lost else 1))), "apply", who, p)
            p.ret = fresh(t + rng.randint(1, latency)) if lost else 0
            if lost:  # the client times out and moves on as a new process
                schedule(p.ret, "return", who, p)
        elif what == "apply":
            assert p is not None
            applied.append(p)
            try:
                state, resp = execute(state, parse_request(p.f, p.args))
                p.result = to_json(resp)
            except StoreError as exc:
                p.result = {"error": _GRPC + exc.message}
            if not p.unknown:
                p.ret = fresh(t + rng.randint(1, latency))
                schedule(p.ret, "return", who, p)
        else:
            assert p is not None
            done.append(p)
            if p.unknown:
                client.process += clients
            else:
                _learn(client, p.f, p.args, p.result)
            schedule(fresh(t + rng.randint(1, think)), "call", who, None)

    done.sort(key=lambda d: d.call)
    if effects is not None:
        ids = {id(d): i for i, d in enumerate(done)}
        effects.extend(ids[id(a)] for a in applied if id(a) in ids)
    return [_operation(i, d, hints) for i, d in enumerate(done)]


def _operation(i: int, p: _Pending, hints: bool = False) -> Operation:
    key = p.args.get("key") if p.f in ("put", "delete_range") or (
        p.f == "range" and "range_end" not in p.args) else None
    if p.unknown:
        applied = None
        if hints:
            result = p.result if p.takes_effect and isinstance(p.result, dict) else {}
            applied = int(result.get("revision", 0))
        return Operation(i, p.client, p.call, None, p.f, freeze(p.args), None, Status.UNKNOWN,
                         key=key, applied=applied)
    return Operation(i, p.client, p.call, p.ret, p.f, freeze(p.args), freeze(p.result),
                     Status.OK, key=key)


def _thaw(value: Any) -> Any:
    if isinstance(value, FrozenMap):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


def corrupt(history: Sequence[Operation], rng: random.Random) -> list[Operation]:
    """The history with one read's result changed so that no linearization explains it.

    Either a stale read (a value overwritten by an ok put at or before the read's revision;
    values must be unique, as the generator's are) or a value nobody wrote.
    ValueError if the history has no ok, latest, single-key read to corrupt.
    """
    reads = [op for op in history if op.status is Status.OK and op.f == "range"
             and "error" not in op.result and "range_end" not in op.args
             and not op.args.get("revision") and not op.args.get("count_only")
             and not op.args.get("keys_only")]
    if not reads:
        raise ValueError("no ok single-key read of the latest revision to corrupt")
    # Ok plain puts by (key, revision): their revision pins where they are in any linearization.
    puts: dict[str, list[tuple[int, str]]] = {}
    for op in history:
        if op.status is Status.OK and op.f == "put" and "error" not in op.result:
            puts.setdefault(op.args["key"], []).append((op.result["revision"], op.args["value"]))
    stale: list[tuple[Operation, dict[str, Any]]] = []
    for op in reads:
        for kv in op.result["kvs"]:
            mine = (kv["mod_revision"], kv["value"])
            older = [pv for pv in puts.get(kv["key"], ()) if pv[0] < mine[0]]
            if mine in puts.get(kv["key"], ()) and older:
                rev, value = rng.choice(sorted(older))
                stale.append((op, {**_thaw(kv), "value": value, "mod_revision": rev,
                                   "version": max(1, kv["version"] - 1)}))
    result: dict[str, Any]
    if stale and rng.random() < 0.5:
        target, kv = rng.choice(stale)
        result = {**_thaw(target.result), "kvs": [kv]}
    else:
        target = rng.choice(reads)
        result = _thaw(target.result)
        rev = result["revision"]
        if result["kvs"]:
            result["kvs"][0]["value"] = "never-written"
        else:
            result["kvs"] = [{"key": target.args["key"], "value": "never-written",
                              "create_revision": rev, "mod_revision": rev, "version": 1}]
            result["count"] = 1
    changed = dataclasses.replace(target, result=freeze(result))
    return [changed if op is target else op for op in history]
