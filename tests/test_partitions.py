"""Partitions of Jepsen's kinds, as properties over clusters of three to seven nodes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.world.partitions import (
    Cut,
    between,
    bridge,
    components,
    halves,
    isolate,
    majority,
    majority_ring,
    random_cuts,
    reaches,
    sees,
)

# Node ids need not be contiguous or arrive sorted.
clusters = st.lists(st.integers(0, 99), min_size=3, max_size=7, unique=True)
seeds = st.integers(0, 2**32)

Kind = Callable[[Sequence[int], Random], list[Cut]]
KINDS: list[Kind] = [halves, majority_ring, bridge, random_cuts]


def symmetric(cuts: list[Cut]) -> bool:
    return {(b, a) for a, b in cuts} == set(cuts)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
@given(nodes=clusters, seed=seeds)
def test_every_kind_gives_sorted_distinct_cuts_between_known_nodes(
    kind: Kind, nodes: list[int], seed: int
) -> None:
    cuts = kind(nodes, Random(seed))
    assert cuts == sorted(set(cuts))
    assert all(a != b and a in nodes and b in nodes for a, b in cuts)
    assert cuts, "with three or more nodes every kind cuts something"


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
@given(nodes=clusters, seed=seeds)
def test_every_kind_is_a_function_of_the_stream_not_of_the_node_order(
    kind: Kind, nodes: list[int], seed: int
) -> None:
    assert kind(nodes, Random(seed)) == kind(list(reversed(nodes)), Random(seed))


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
def test_every_kind_varies_with_the_stream(kind: Kind) -> None:
    nodes = [1, 2, 3, 4, 5]
    assert len({tuple(kind(nodes, Random(seed))) for seed in range(20)}) > 1


@given(nodes=clusters, seed=seeds)
def test_halves_splits_into_exactly_two_sides_cut_both_ways(nodes: list[int], seed: int) -> None:
    cuts = halves(nodes, Random(seed))
    sides = components(nodes, cuts)
    assert sorted(len(s) for s in sides) == [len(nodes) // 2, len(nodes) - len(nodes) // 2]
    small, large = sides
    assert cuts == between(small, large)
    assert all(sees(nodes, cuts, n) == set(side) for side in sides for n in side)


@given(nodes=clusters, data=st.data())
def test_isolate_cuts_exactly_that_node_both_ways(nodes: list[int], data: st.DataObject) -> None:
    node = data.draw(st.sampled_from(nodes))
    cuts = isolate(nodes, node)
    others = sorted(set(nodes) - {node})
    assert cuts == sorted([(node, o) for o in others] + [(o, node) for o in others])
    assert components(nodes, cuts) == sorted([[node], others])
    assert sees(nodes, cuts, node) == reaches(nodes, cuts, node) == {node}


@given(nodes=clusters, seed=seeds)
def test_majority_ring_gives_every_node_a_majority_and_no_two_the_same(
    nodes: list[int], seed: int
) -> None:
    cuts = majority_ring(nodes, Random(seed))
    views = [frozenset(sees(nodes, cuts, n)) for n in nodes]
    assert all(
        n in view and len(view) == majority(len(nodes))
        for n, view in zip(nodes, views, strict=True)
    )
    assert len(set(views)) == len(nodes)


@given(nodes=clusters, seed=seeds)
def test_majority_ring_is_symmetric_exactly_when_the_majority_is_odd(
    nodes: list[int], seed: int
) -> None:
    cuts = majority_ring(nodes, Random(seed))
    assert symmetric(cuts) == (majority(len(nodes)) % 2 == 1)


@given(nodes=clusters, seed=seeds)
def test_majority_ring_also_lets_every_node_reach_a_majority(nodes: list[int], seed: int) -> None:
    cuts = majority_ring(nodes, Random(seed))
    assert all(len(reaches(nodes, cuts, n)) == majority(len(nodes)) for n in nodes)


@given(nodes=clusters, seed=seeds)
def test_bridge_node_reaches_all_and_the_rest_split_in_two(nodes: list[int], seed: int) -> None:
    cuts = bridge(nodes, Random(seed))
    touched = {n for cut in cuts for n in cut}
    bridges = [n for n in nodes if n not in touched]
    assert len(bridges) == 1
    (b,) = bridges
    assert sees(nodes, cuts, b) == reaches(nodes, cuts, b) == set(nodes)
    assert all(b in sees(nodes, cuts, n) and b in reaches(nodes, cuts, n) for n in nodes)
    rest = [n for n in nodes if n != b]
    sides = components(rest, cuts)
    assert len(sides) == 2
    assert cuts == between(*sides)
    assert components(nodes, cuts) == [sorted(nodes)]


@given(nodes=clusters, seed=seeds)
def test_random_cuts_are_symmetric(nodes: list[int], seed: int) -> None:
    assert symmetric(random_cuts(nodes, Random(seed)))


def test_random_cuts_range_from_one_pair_to_every_pair() -> None:
    sizes = {len(random_cuts([1, 2, 3, 4], Random(seed))) for seed in range(200)}
    assert sizes == {2 * k for k in range(1, 7)}


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.__name__)
@pytest.mark.parametrize("nodes", [[], [1], [1, 2]])
def test_tiny_clusters_get_a_sensible_answer(kind: Kind, nodes: list[int]) -> None:
    cuts = kind(nodes, Random(0))
    if len(nodes) < 2 or kind in (majority_ring, bridge):
        assert cuts == []
    else:
        assert cuts == [(1, 2), (2, 1)]  # the only split of two nodes isolates one


def test_isolating_the_only_node_cuts_nothing() -> None:
    assert isolate([4], 4) == []


def test_isolating_a_stranger_is_an_error() -> None:
    with pytest.raises(ValueError, match="not one of"):
        isolate([1, 2, 3], 9)


def test_repeated_node_ids_are_an_error() -> None:
    with pytest.raises(ValueError, match="distinct"):
        halves([1, 2, 2], Random(0))


def test_components_join_only_links_open_both_ways() -> None:
    nodes = [1, 2, 3, 4]
    assert components(nodes, []) == [[1, 2, 3, 4]]
    assert components(nodes, [(1, 2), (1, 3), (1, 4)]) == [[1], [2, 3, 4]]
    assert components(nodes, [(2, 3), (3, 2), (3, 4), (4, 3)]) == [[1, 2, 3, 4]]  # via 1
    assert components(nodes, between([1, 2], [3, 4])) == [[1, 2], [3, 4]]


def test_sees_is_about_messages_in_and_reaches_about_messages_out() -> None:
    nodes = [1, 2, 3]
    assert sees(nodes, [(1, 2)], 2) == {2, 3}
    assert reaches(nodes, [(1, 2)], 2) == {1, 2, 3}
    assert reaches(nodes, [(1, 2)], 1) == {1, 3}


def test_between_rejects_overlapping_groups() -> None:
    with pytest.raises(ValueError, match="overlap"):
        between([1, 2], [2, 3])
