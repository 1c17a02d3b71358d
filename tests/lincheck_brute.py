"""Slow, obviously correct helpers for testing linearizability checkers with any `Model`.

- `brute_linearizable`: try every subset of the unknown-outcome operations and every order of
  the chosen ones that respects real time (no memo, no pruning beyond a dead prefix).
- `replays`, `respects_real_time`: validate a witness order.
- `run_history`: a history made by running operations against the model one at a time, with
  overlapping intervals around known linearization points; linearizable by construction.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from sim.lincheck.history import Operation, Status
from sim.lincheck.model import Model

__all__ = [
    "Recorded",
    "brute_linearizable",
    "precedes",
    "replays",
    "respects_real_time",
    "run_history",
]


def precedes(a: Operation, b: Operation) -> bool:
    """`a` returned before `b` was called, so `a` takes effect first (equal times overlap)."""
    return a.status is Status.OK and a.ret is not None and a.ret < b.call


def replays(model: Model, ops: Sequence[Operation]) -> bool:
    """Can `ops`, in this order, take effect one after another from the initial state?"""
    states: set[Hashable] = {model.init()}
    for op in ops:
        states = {s2 for s in states for s2 in model.step(s, op)}
        if not states:
            return False
    return True


def respects_real_time(order: Sequence[Operation], ops: Sequence[Operation]) -> bool:
    """Is `order` a prefix of some real-time order of `ops`' OK ops plus some unknown ones?

    No FAIL op, no op twice, and nothing in `order` is preceded by an OK op placed after it
    or left out.
    """
    if len({op.id for op in order}) != len(order):
        return False
    if any(op.status is Status.FAIL for op in order):
        return False
    position = {op.id: n for n, op in enumerate(order)}
    for b in order:
        for a in ops:
            if precedes(a, b) and position.get(a.id, len(order)) > position[b.id]:
                return False
    return True


def brute_linearizable(ops: Sequence[Operation], model: Model) -> bool:
    """Some subset of unknown ops, with all OK ops, in some real-time order, replays."""
    live = [op for op in ops if op.status is not Status.FAIL]
    ok = [op for op in live if op.status is Status.OK]
    unknown = [op for op in live if op.status is Status.UNKNOWN]
    for size in range(len(unknown) + 1):
        for chosen in combinations(unknown, size):
            if _some_order(ok + list(chosen), model, {model.init()}):
                return True
    return False


def _some_order(remaining: list[Operation], model: Model, states: set[Hashable]) -> bool:
    if not remaining:
        return True
    for op in remaining:
        if any(precedes(other, op) for other in remaining):
            continue
        after = {s2 for s in states for s2 in model.step(s, op)}
        rest = [other for other in remaining if other is not op]
        if after and _some_order(rest, model, after):
            return True
    return False


@dataclass(frozen=True)
class Recorded:
    """A generated history and how it really ran."""

    ops: list[Operation]  # by id (call order)
    order: list[int]  # ids of the ops that took effect, in the order they did


Apply = Callable[[Any, str, Any, "str | None"], tuple[Any, Any]]  # (state, f, args, key) -> ...
Draw = Callable[[random.Random], tuple[str, Any, "str | None"]]  # rng -> (f, args, key)


def run_history(
    model: Model,
    apply: Apply,
    draw: Draw,
    n: int,
    *,
    clients: int = 10,
    unknown: float = 0.0,
    seed: int = 0,
    spacing: int = 10,
) -> Recorded:
    """Run `n` drawn operations against the model, one at a time at known points in time.

    `apply(state, f, args, key)` returns (result, next state). Each operation runs on a client
    idle at its point; its call and return lie at random distances around that point, so up to
    `clients` overlap. A share `unknown` of them lose their outcome; half of those took effect.
    """
    rng = random.Random(seed)
    state = model.init()
    busy_until = [-1] * clients
    span = spacing * clients
    rows: list[tuple[int, str, int | None, str, Any, Any, Status, str | None, bool]] = []
    point = 0
    while len(rows) < n:
        point += spacing
        idle = [c for c in range(clients) if busy_until[c] < point]
        if not idle:
            continue
        c = rng.choice(idle)
        f, args, key = draw(rng)
        call = max(busy_until[c] + 1, point - rng.randrange(span))
        ret = point + rng.randrange(span)
        busy_until[c] = ret
        if rng.random() < unknown:
            took_effect = rng.random() < 0.5
            if took_effect:
                _, state = apply(state, f, args, key)
            rows.append((call, f"c{c}", None, f, args, None, Status.UNKNOWN, key, took_effect))
        else:
            result, state = apply(state, f, args, key)
            rows.append((call, f"c{c}", ret, f, args, result, Status.OK, key, True))
    # rows are in the order the operations took effect; ids follow call order
    by_call = sorted(range(len(rows)), key=lambda r: (rows[r][0], rows[r][1]))
    id_of = {r: i for i, r in enumerate(by_call)}
    ops = [
        Operation(id=i, client=rows[r][1], call=rows[r][0], ret=rows[r][2], f=rows[r][3],
                  args=rows[r][4], result=rows[r][5], status=rows[r][6], key=rows[r][7])
        for i, r in enumerate(by_call)
    ]
    order = [id_of[r] for r in range(len(rows)) if rows[r][8]]
    return Recorded(ops, order)
