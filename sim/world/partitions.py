"""Network partitions of Jepsen's nemesis kinds, as sorted lists of directed cuts `(src, dst)`.

A cut `(a, b)` drops messages from `a` to `b`. Every function here is pure: the same nodes and the
same stream state give the same cuts, whatever order the nodes come in. A node "sees" the nodes
whose messages reach it, itself included (Jepsen's grudges are written from the receiver's side).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from random import Random

__all__ = [
    "Cut",
    "between",
    "bridge",
    "components",
    "halves",
    "isolate",
    "majority",
    "majority_ring",
    "random_cuts",
    "reaches",
    "sees",
]

Cut = tuple[int, int]


def _sorted_nodes(nodes: Iterable[int]) -> list[int]:
    ordered = list(nodes)
    unique = sorted(set(ordered))
    if len(unique) != len(ordered):
        raise ValueError(f"node ids must be distinct, got {ordered}")
    return unique


def majority(n: int) -> int:
    """The smallest majority of `n` nodes."""
    return n // 2 + 1


def between(a: Iterable[int], b: Iterable[int]) -> list[Cut]:
    """Cuts both ways between every node of `a` and every node of `b`."""
    side_a, side_b = sorted(set(a)), sorted(set(b))
    if set(side_a) & set(side_b):
        raise ValueError(f"groups overlap: {side_a} and {side_b}")
    cuts = [(x, y) for x in side_a for y in side_b]
    cuts += [(y, x) for x in side_a for y in side_b]
    return sorted(cuts)


def halves(nodes: Sequence[int], rng: Random) -> list[Cut]:
    """Shuffle, then cut the first n//2 nodes off from the rest, both ways."""
    order = _sorted_nodes(nodes)
    rng.shuffle(order)
    k = len(order) // 2
    return between(order[:k], order[k:])


def isolate(nodes: Sequence[int], node: int) -> list[Cut]:
    """Cut `node` off from every other node, both ways."""
    order = _sorted_nodes(nodes)
    if node not in order:
        raise ValueError(f"cannot isolate {node}: it is not one of {order}")
    return between([node], [n for n in order if n != node])


def majority_ring(nodes: Sequence[int], rng: Random) -> list[Cut]:
    """Jepsen's majorities ring: every node sees a majority, no two nodes the same one.

    The nodes are shuffled into a ring and each sees the window of a majority m centred on itself.
    When m is odd (n = 4, 5, 8, 9, ...) the windows are symmetric; when m is even (n = 3, 6, 7)
    a node sees m/2 nodes behind it and m/2 - 1 ahead, so some cuts are one-way. For n = 3 this
    is the only way: each node hears from one neighbour, which does not hear from it. A symmetric
    solution cannot exist for n = 3 or 7 (a graph with n odd and every degree m - 1 odd). With
    n <= 2 the majority is everyone, and there is no cut.
    """
    order = _sorted_nodes(nodes)
    rng.shuffle(order)
    n = len(order)
    m = majority(n)
    behind = m // 2
    cuts: list[Cut] = []
    for i, node in enumerate(order):
        window = {order[(i - behind + j) % n] for j in range(m)}
        cuts += [(other, node) for other in order if other not in window]
    return sorted(cuts)


def bridge(nodes: Sequence[int], rng: Random) -> list[Cut]:
    """Two halves cut apart, except one bridge node that talks both ways to both (n >= 3).

    With fewer than three nodes there is nothing to bridge, and there is no cut.
    """
    order = _sorted_nodes(nodes)
    if len(order) < 3:
        return []
    rng.shuffle(order)
    k = len(order) // 2
    # The bridge is the first node of the larger half; it is left out of every cut.
    return between(order[:k], order[k + 1 :])


def random_cuts(nodes: Sequence[int], rng: Random) -> list[Cut]:
    """Cut both ways a random, non-empty subset of the node pairs (none when n < 2)."""
    order = _sorted_nodes(nodes)
    pairs = [(a, b) for i, a in enumerate(order) for b in order[i + 1 :]]
    if not pairs:
        return []
    chosen = rng.sample(pairs, rng.randint(1, len(pairs)))
    return sorted(chosen + [(b, a) for a, b in chosen])


def sees(nodes: Sequence[int], cuts: Iterable[Cut], node: int) -> set[int]:
    """The nodes whose messages reach `node` directly, `node` included."""
    cut = set(cuts)
    return {other for other in nodes if other == node or (other, node) not in cut}


def reaches(nodes: Sequence[int], cuts: Iterable[Cut], node: int) -> set[int]:
    """The nodes that messages from `node` reach directly, `node` included."""
    cut = set(cuts)
    return {other for other in nodes if other == node or (node, other) not in cut}


def components(nodes: Sequence[int], cuts: Iterable[Cut]) -> list[list[int]]:
    """Groups of nodes joined by links open both ways, each sorted, ordered by first node."""
    order = _sorted_nodes(nodes)
    cut = set(cuts)
    seen: set[int] = set()
    groups: list[list[int]] = []
    for start in order:
        if start in seen:
            continue
        seen.add(start)
        group, frontier = [start], [start]
        while frontier:
            a = frontier.pop()
            for b in order:
                if b not in seen and (a, b) not in cut and (b, a) not in cut:
                    seen.add(b)
                    group.append(b)
                    frontier.append(b)
        groups.append(sorted(group))
    return groups
