"""Porcupine-shaped kv histories (append / get / put on a few keys), linearizable by
construction: for `make bench` and the checker's and EDN parser's tests.

`generate_kv_history`: concurrent clients against one sequential store, each operation taking
effect at a random instant between its call and its return; `bad_keys` keys then get one stale
read each (a get that misses a token whose append returned before the get was called, which no
order can explain). `kv_edn_text`: the same kind of history as EDN text, as Porcupine's kv data
writes it; every operation takes effect when it returns, and time is the line.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from sim.lincheck.generate import distinct_instants
from sim.lincheck.history import Operation, Status

__all__ = ["generate_kv_history", "kv_edn_text"]


@dataclass
class _Op:
    id: int
    key: str
    f: str
    value: str | None
    call: int
    result: str | None = None
    ret: int = 0


def generate_kv_history(rng: random.Random, ops: int, keys: int = 10, clients: int = 50,
                        bad_keys: int = 0, latency: int = 100) -> list[Operation]:
    """`ops` operations of `clients` clients over `keys` keys; `bad_keys` of them stale."""
    store: dict[str, str] = {}
    heap: list[tuple[int, int, str, int, _Op | None]] = []  # (time, seq, what, client, op)
    seq = 0
    done: list[_Op] = []
    invoked = 0
    fresh = distinct_instants()

    def push(t: int, what: str, client: int, op: _Op | None) -> None:
        nonlocal seq
        heapq.heappush(heap, (t, seq, what, client, op))
        seq += 1

    for c in range(clients):
        push(fresh(rng.randint(0, latency)), "call", c, None)
    while heap:
        t, _, what, client, op = heapq.heappop(heap)
        if op is None:
            if invoked >= ops:
                continue
            f = rng.choices(("append", "get", "put"), (6, 3, 1))[0]
            op = _Op(invoked, str(rng.randrange(keys)), f,
                     f"x {client} {invoked} y" if f != "get" else None, t)
            invoked += 1
            push(fresh(t + rng.randint(1, latency)), "apply", client, op)
        elif what == "apply":
            if op.f == "append":
                store[op.key] = store.get(op.key, "") + str(op.value)
            elif op.f == "put":
                store[op.key] = str(op.value)
            else:
                op.result = store.get(op.key, "")
            op.ret = fresh(t + rng.randint(1, latency))
            push(op.ret, "return", client, op)
        else:
            done.append(op)
            push(fresh(t + rng.randint(1, latency)), "call", client, None)
    history = [Operation(op.id, f"c{op.id}", op.call, op.ret, op.f, op.value, op.result,
                         Status.OK, key=op.key) for op in sorted(done, key=lambda o: o.call)]
    return _stale_reads(history, rng, bad_keys)


def _stale_reads(history: list[Operation], rng: random.Random, bad_keys: int) -> list[Operation]:
    """One get per chosen key that misses an append returned before the get was called."""
    chosen = sorted({op.key for op in history if op.key is not None})
    rng.shuffle(chosen)
    out = list(history)
    for key in chosen[:bad_keys]:
        gets = [i for i, op in enumerate(out) if op.key == key and op.f == "get"
                and isinstance(op.result, str) and op.result]
        for i in reversed(gets):
            get = out[i]
            seen = str(get.result)
            done_before = [op for op in out if op.key == key and op.f == "append"
                           and op.ret is not None and op.ret < get.call
                           and isinstance(op.args, str) and op.args in seen]
            if done_before:
                token = str(done_before[-1].args)
                out[i] = Operation(get.id, get.client, get.call, get.ret, "get", get.args,
                                   seen.replace(token, "", 1), Status.OK, key=key)
                break
    return out


def kv_edn_text(rng: random.Random, ops: int, keys: int = 10, clients: int = 10,
                unknown: float = 0.0) -> str:
    """`ops` operations of `clients` clients on `keys` keys, one EDN map a line; a share
    `unknown` never returns (its effect may or may not happen: here it never does)."""
    store: dict[str, str] = {}
    pending: dict[int, tuple[str, str, str]] = {}
    process = list(range(clients))  # a client whose call never returns goes on as a new one
    lines: list[str] = []
    invoked = 0
    while invoked < ops or pending:
        c = rng.randrange(clients)
        p = process[c]
        if c in pending:
            f, key, value = pending.pop(c)
            if f == "get":
                value = store.get(key, "")
            elif f == "put":
                store[key] = value
            else:
                store[key] = store.get(key, "") + value
            lines.append(f'{{:process {p}, :type :ok, :f :{f}, :key "{key}", :value "{value}"}}')
        elif invoked < ops:
            f = rng.choice(("get", "put", "append", "append"))
            key = str(rng.randrange(keys))
            value = f"x {p} {invoked} y"
            shown = "nil" if f == "get" else f'"{value}"'
            lines.append(f'{{:process {p}, :type :invoke, :f :{f}, :key "{key}", :value {shown}}}')
            invoked += 1
            if rng.random() < unknown:
                process[c] += clients
            else:
                pending[c] = (f, key, value)
    return "\n".join(lines) + "\n"
