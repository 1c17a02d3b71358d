"""Key-value histories as EDN text, as Porcupine's kv data writes them; linearizable by
construction. For the EDN parser's bench figure and tests.

Clients call get, put and append on a few keys, one operation at a time each; every operation
takes effect when it returns (so within its call and return), on one sequential store. Values are
unique ("x <client> <n> y"), as in Porcupine's data. Time is the line.
"""

from __future__ import annotations

import random

__all__ = ["kv_edn_text"]


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
