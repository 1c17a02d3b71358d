"""Named random streams: one root seed, independent consumers."""

from __future__ import annotations

from sim.world.rng import Streams, derive_seed


def test_a_stream_is_a_pure_function_of_root_seed_and_name() -> None:
    a = [Streams(5).get("disk/1").random() for _ in range(3)]
    assert a == [Streams(5).get("disk/1").random() for _ in range(3)]
    assert derive_seed(5, "disk/1") == derive_seed(5, "disk/1")


def test_adding_a_consumer_never_shifts_the_draws_of_another() -> None:
    alone = Streams(9)
    alone_draws = [alone.get("faults").randint(0, 10**9) for _ in range(5)]
    crowded = Streams(9)
    for name in ("net/1->2", "workload", "node/3/raft"):
        crowded.get(name).random()
    assert [crowded.get("faults").randint(0, 10**9) for _ in range(5)] == alone_draws


def test_different_names_and_seeds_give_different_streams() -> None:
    assert derive_seed(1, "a") != derive_seed(1, "b")
    assert derive_seed(1, "a") != derive_seed(2, "a")
