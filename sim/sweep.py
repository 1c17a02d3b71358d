"""Run many seeds across worker processes, with a progress bar and a summary."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from sim.runner import RunConfig, run

__all__ = ["run_seed", "sweep"]


def run_seed(config: RunConfig) -> dict[str, Any]:
    """One seed's result without its trace (what crosses the process boundary)."""
    return run(config).to_json()


def sweep(seeds: list[int], base: RunConfig, workers: int) -> int:
    """Run `seeds` on `workers` processes; print the summary; 1 if any seed failed."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sim.cli import replay_command

    console = Console(highlight=False, stderr=False)
    configs = [dataclasses.replace(base, seed=s) for s in seeds]
    failures: list[dict[str, Any]] = []
    start = time.perf_counter()
    columns = (
        TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:.2f} seeds/s"), TextColumn("failures {task.fields[failed]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("sweep", total=len(configs), rate=0.0, failed=0)
        if workers == 1:
            results: Iterator[dict[str, Any]] = map(run_seed, configs)
            pool = None
        else:
            pool = ProcessPoolExecutor(max_workers=workers)
            results = pool.map(run_seed, configs)
        try:
            for done, result in enumerate(results, 1):
                if result["violations"]:
                    failures.append(result)
                elapsed = time.perf_counter() - start
                progress.update(task, advance=1, rate=done / elapsed if elapsed else 0.0,
                                failed=len(failures))
        finally:
            if pool is not None:
                pool.shutdown(cancel_futures=True)
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
