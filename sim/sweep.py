"""Run many seeds across worker processes, with a progress bar and a summary."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from sim.runner import RunConfig, run

__all__ = ["run_seed", "run_seeds", "sweep"]


def run_seed(config: RunConfig) -> dict[str, Any]:
    """One seed's result without its trace (what crosses the process boundary)."""
    return run(config).to_json()


def run_seeds(
    configs: list[RunConfig],
    workers: int,
    on_result: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Results in seed order; the same whatever the number of workers."""
    results: list[dict[str, Any]] = []
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        stream: Iterator[dict[str, Any]] = (
            pool.map(run_seed, configs) if pool is not None else map(run_seed, configs)
        )
        for result in stream:
            results.append(result)
            if on_result is not None:
                on_result(result)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return results


def sweep(seeds: list[int], base: RunConfig, workers: int) -> int:
    """Run `seeds` on `workers` processes; print the summary; 1 if any seed failed."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sim.cli import replay_command

    console = Console(highlight=False, soft_wrap=True)
    configs = [dataclasses.replace(base, seed=s) for s in seeds]
    failures: list[dict[str, Any]] = []
    start = time.perf_counter()
    columns = (
        TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:.2f} seeds/s"), TextColumn("failures {task.fields[failed]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("sweep", total=len(configs), rate=0.0, failed=0)

        def tick(result: dict[str, Any]) -> None:
            if result["violations"]:
                failures.append(result)
            elapsed = time.perf_counter() - start
            done = progress.tasks[0].completed + 1
            progress.update(task, advance=1, rate=done / elapsed if elapsed else 0.0,
                            failed=len(failures))

        run_seeds(configs, workers, tick)
    elapsed = time.perf_counter() - start
    console.print(f"seeds run   {len(configs)} in {elapsed:.1f} s "
                  f"({len(configs) / elapsed:.2f} seeds/s, {workers} workers)")
    console.print(f"failures    {len(failures)}")
    for result in failures:
        v = result["violations"][0]
        config = dataclasses.replace(base, seed=result["seed"])
        console.print(f"  seed {result['seed']}: {v['check']}: {v['detail']}", markup=False)
        console.print(f"    replay: {replay_command(config)}", markup=False)
    return 1 if failures else 0
