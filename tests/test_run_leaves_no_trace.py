"""etcdsim runs inside other people's processes: a run leaves the garbage collector as it found it
(enabled or not, its thresholds, nothing frozen), and a finished process holds no cycle."""

from __future__ import annotations

import gc
import weakref

import pytest

from etcdcore.env import Process
from sim.cluster.config import RunConfig
from sim.harness.runner import run
from sim.world.node import NodeEnv
from sim.world.world import World

S = 1_000_000


@pytest.mark.parametrize("enabled", [True, False])
def test_a_run_leaves_the_collector_as_it_found_it(enabled: bool) -> None:
    before = gc.get_threshold()
    was = gc.isenabled()
    try:
        gc.set_threshold(500, 7, 9)
        if not enabled:
            gc.disable()
        run(RunConfig(seed=1, duration_us=5 * S))
        assert gc.isenabled() is enabled
        assert gc.get_threshold() == (500, 7, 9)
        assert gc.get_freeze_count() == 0
    finally:
        gc.set_threshold(*before)
        if was:
            gc.enable()


def test_a_finished_process_is_freed_without_the_collector() -> None:
    # Thousands of processes finish in a run (one per request a member serves), while the
    # collector is off (sim.harness.runner): a finished one must not be left in a cycle.
    envs: list[NodeEnv] = []
    world = World(7, [1], envs.append)
    world.start_all()
    env = envs[0]

    def process() -> Process:
        yield env.sleep(1_000)
        yield env.sleep(1_000)

    was = gc.isenabled()
    gc.disable()
    try:
        gen = process()
        ref = weakref.ref(gen)
        env.spawn(gen, "short")
        del gen
        world.run_until(500)
        assert ref() is not None  # still running
        world.run_until(5_000)
        assert ref() is None  # freed by reference counting alone
    finally:
        if was:
            gc.enable()


def test_many_runs_in_one_process_do_not_keep_their_worlds(monkeypatch: pytest.MonkeyPatch) -> None:
    # A sweep worker or a test session runs seed after seed: a finished world (cyclic garbage)
    # must not pile up in the oldest generation, which Python seldom collects on its own.
    import sim.harness.runner as runner

    monkeypatch.setattr(runner, "_COLLECT_AFTER", 1)
    worlds: list[weakref.ref[World]] = []
    real_init = World.__init__

    def remember(self: World, *args: object, **kwargs: object) -> None:
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]
        worlds.append(weakref.ref(self))

    monkeypatch.setattr(World, "__init__", remember)
    for seed in range(3):
        run(RunConfig(seed=seed, duration_us=3 * S))
    assert len(worlds) == 3
    # Each run's collection frees the worlds before it (its own is still held by its result).
    assert [w() for w in worlds[:2]] == [None, None]
