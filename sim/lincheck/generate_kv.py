"""Porcupine-shaped kv histories (append / get / put on a few keys), for `make bench`.

Concurrent clients run against one sequential store: each operation takes effect at a random
instant between its call and its return, so the order of those instants is a linearization.
`bad_keys` keys then get one stale read each: a get that misses a token whose append had
returned before the get was called, which no order can explain.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from sim.lincheck.history import Operation, Status

__all__ = ["generate_kv_history"]


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
    used: set[int] = set()

    def fresh(t: int) -> int:
        while t in used:  # distinct instants: no call and return tie
            t += 1
        used.add(t)
        return t

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
