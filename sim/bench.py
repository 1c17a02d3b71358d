"""`make bench`: speed figures, printed (never asserted in tests)."""

from __future__ import annotations

import time

import simpy

from sim.node import NodeEnv
from sim.runner import RunConfig, run
from sim.sweep import run_seed
from sim.world import World

_S = 1_000_000


def kernel_events_per_second(n: int = 500_000) -> tuple[float, float]:
    """A plain timer loop: raw simpy, and a node timer through the world's runtime."""
    env = simpy.Environment()
    count = 0

    def again(_ev: simpy.Event) -> None:
        nonlocal count
        count += 1
        if count < n:
            env.timeout(10).callbacks.append(again)

    env.timeout(10).callbacks.append(again)
    start = time.perf_counter()
    env.run()
    raw = n / (time.perf_counter() - start)

    fired = 0

    def boot(node_env: NodeEnv) -> object:
        def tick() -> None:
            nonlocal fired
            fired += 1
            if fired < n:
                node_env.call_later(10, tick)

        node_env.call_later(10, tick)
        return None

    world = World(1, [1], boot)
    world.start_all()
    start = time.perf_counter()
    world.env.run()
    return raw, n / (time.perf_counter() - start)


def compression(config: RunConfig) -> tuple[float, int, float]:
    """Simulated seconds per wall second for one run, its events, and its wall time."""
    result = run(config)
    return result.sim_seconds / result.wall_seconds, result.events, result.wall_seconds


def sweep_rate(seeds: int = 6, workers: int = 2) -> float:
    """Seeds per wall second for a sweep with default faults and 60 simulated seconds."""
    from concurrent.futures import ProcessPoolExecutor

    configs = [RunConfig(seed=s, duration_us=60 * _S) for s in range(seeds)]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run_seed, configs))
    return seeds / (time.perf_counter() - start)


def main() -> None:
    raw, node = kernel_events_per_second()
    print(f"kernel: plain simpy timer loop          {raw:>12,.0f} events/s   (target >= 500,000)")
    print(f"kernel: node timer loop (local clock)   {node:>12,.0f} events/s")
    idle = RunConfig(seed=1, duration_us=600 * _S, faults="none", proposals_per_sec=0)
    ratio, events, wall = compression(idle)
    print(f"3 nodes, no faults, no proposals        {ratio:>12,.0f}x sim/wall   "
          f"(target >= 1000x; {events:,} events in {wall:.2f} s)")
    busy = RunConfig(seed=1, duration_us=60 * _S, faults="none", proposals_per_sec=100)
    ratio, events, wall = compression(busy)
    print(f"3 nodes, 100 proposals/s, etcd timing   {ratio:>12,.0f}x sim/wall   "
          f"(target >= 200x; {events:,} events in {wall:.2f} s)")
    faulty = RunConfig(seed=1, duration_us=60 * _S)
    ratio, events, wall = compression(faulty)
    print(f"3 nodes, 100 proposals/s, default faults{ratio:>12,.0f}x sim/wall   "
          f"({events:,} events in {wall:.2f} s)")
    rate = sweep_rate()
    print(f"sweep, default faults, 60 sim s         {rate:>12.2f} seeds/s (2 workers)")


if __name__ == "__main__":
    main()
