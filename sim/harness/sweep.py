"""Run many seeds on local worker processes or a Dask cluster, with a progress bar and a summary.

A seed's result is a pure function of its RunConfig, so results come back in seed order and are
the same whatever the number of workers and wherever a seed ran.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.cluster.config import RunConfig
from sim.harness.runner import run

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["DASK_CONNECT_TIMEOUT_S", "WORKER_DIED", "SweepError", "run_seed", "run_seeds", "sweep"]

DASK_CONNECT_TIMEOUT_S = 10.0
WORKER_DIED = "worker_died"  # the check named by a seed whose Dask workers kept dying under it


class SweepError(Exception):
    """A sweep could not run at all (e.g. its Dask scheduler cannot be reached); one line."""


def run_seed(config: RunConfig) -> dict[str, Any]:
    """One seed's result without its trace (what crosses the process boundary), and the build
    that ran it ("compiled" or "source": a worker's, which is what the sweep's speed is of)."""
    from sim.build_select import which_build

    return {**run(config).to_json(), "build": which_build()}


def run_seeds(
    configs: list[RunConfig],
    workers: int,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    dask_address: str | None = None,
    *,
    connect_timeout_s: float = DASK_CONNECT_TIMEOUT_S,
) -> list[dict[str, Any]]:
    """Results in seed order; the same whatever the number of workers or where seeds ran.

    With `dask_address`, seeds run on that Dask scheduler's workers (`workers` is then unused)
    and `on_result` is called in completion order; SweepError if the scheduler is unreachable.
    """
    if dask_address is not None:
        _require_dask()
        return _run_on_dask(configs, dask_address, on_result, connect_timeout_s)
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


def _require_dask() -> None:
    """SweepError saying how to install Dask when it is not: it is an optional extra."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise SweepError("sweep --dask needs Dask, which is not installed: "
                         "pip install 'etcdsim[dask]'") from None


def _connect(address: str, timeout_s: float) -> Client:
    """A client of the scheduler at `address`, or SweepError naming it, within about `timeout_s`."""
    from distributed import Client

    try:
        # Client's own timeout does not cover the handshake: a peer that is not a Dask
        # scheduler (an HTTP port, say) could hold it for ever, so shake hands first, bounded.
        # In a thread of its own: this thread may already run an event loop (Playwright's
        # sync API does), and the sweep's orchestration is not a simulated run.
        with ThreadPoolExecutor(max_workers=1) as one:
            one.submit(asyncio.run,
                       asyncio.wait_for(_handshake(address, timeout_s), timeout_s)).result()
        return Client(  # type: ignore[no-untyped-call]  # distributed leaves it untyped
            address, timeout=timeout_s, set_as_default=False)
    except TimeoutError:  # connected, but no handshake came back
        cause = f"no answer in Dask's protocol within {timeout_s:g} s"
    except MemoryError:  # the peer's first bytes, read as a Dask frame length, were absurd
        cause = "the peer does not speak Dask's protocol"
    except Exception as exc:  # OSError (refused, timed out), ValueError (bad address), ...
        cause = str(exc) or type(exc).__name__
    raise SweepError(f"cannot reach a Dask scheduler at {address}: {cause}")


async def _handshake(address: str, timeout_s: float) -> None:
    from distributed.comm.core import connect
    from distributed.security import Security

    # The connection arguments a Client would use (TLS from Dask's config, if set).
    args = Security().get_connection_args("client")  # type: ignore[no-untyped-call]
    comm = await connect(address, timeout=timeout_s, **args)  # type: ignore[no-untyped-call]
    await comm.close()


def _run_on_dask(
    configs: list[RunConfig],
    address: str,
    on_result: Callable[[dict[str, Any]], None] | None,
    connect_timeout_s: float,
) -> list[dict[str, Any]]:
    """One task per seed on the scheduler at `address`; results in seed order."""
    from distributed import KilledWorker, as_completed

    with _connect(address, connect_timeout_s) as client:
        # pure=False: unique keys, so two sweeps sharing a scheduler never share a result.
        # A worker lost mid-seed is rescheduled by Dask (runs are pure, a rerun is the same run);
        # a seed that kills `distributed.scheduler.allowed-failures` workers is reported as failed.
        futures = client.map(run_seed, configs, pure=False)
        position = {future.key: i for i, future in enumerate(futures)}
        results: list[dict[str, Any] | None] = [None] * len(configs)
        try:
            for future in as_completed(futures, loop=client.loop):  # type: ignore[no-untyped-call]
                i = position[future.key]
                error = future.exception() if future.status == "error" else None
                if isinstance(error, KilledWorker):
                    tries = error.allowed_failures + 1
                    result = _worker_died(configs[i], f"every Dask worker that ran this seed "
                                                      f"died ({tries} tries)")
                else:
                    result = future.result()  # re-raises a seed's exception, as the local path
                results[i] = result
                if on_result is not None:
                    on_result(result)
        finally:
            client.cancel(futures)
    return [r for r in results if r is not None]


def _worker_died(config: RunConfig, detail: str) -> dict[str, Any]:
    """The result of a seed whose workers kept dying: a failure with no digest."""
    return {
        "seed": config.seed, "nodes": config.nodes, "digest": "", "sim_seconds": 0.0,
        "wall_seconds": 0.0, "events": 0, "faults": {}, "checks": {WORKER_DIED: "fail"},
        "violations": [{"check": WORKER_DIED, "node": 0, "time_us": 0, "detail": detail}],
        "proposed": 0, "committed": 0, "leaders": 0, "workload": config.workload,
    }


def sweep(
    seeds: list[int], base: RunConfig, workers: int, dask_address: str | None = None,
    out_dir: Path | None = None,
) -> int:
    """Run `seeds` on `workers` processes or a Dask cluster; print the summary; 1 if any failed.

    With `out_dir`, each failure is run again here (runs are pure) and leaves its artifact
    directory there. SweepError (the CLI prints it and exits 2) if the Dask scheduler cannot
    be reached.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


    console = Console(highlight=False, soft_wrap=True)
    configs = [dataclasses.replace(base, seed=s) for s in seeds]
    failed = 0
    start = time.perf_counter()
    columns = (
        TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:.2f} seeds/s"), TextColumn("failures {task.fields[failed]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("sweep", total=len(configs), rate=0.0, failed=0)

        def tick(result: dict[str, Any]) -> None:
            nonlocal failed
            failed += bool(result["violations"])
            elapsed = time.perf_counter() - start
            done = progress.tasks[0].completed + 1
            progress.update(task, advance=1, rate=done / elapsed if elapsed else 0.0,
                            failed=failed)

        results = run_seeds(configs, workers, tick, dask_address)
    elapsed = time.perf_counter() - start
    failures = [r for r in results if r["violations"]]  # in seed order, wherever they ran
    where = f"Dask at {dask_address}" if dask_address is not None else f"{workers} workers"
    console.print(f"seeds run   {len(configs)} in {elapsed:.1f} s "
                  f"({len(configs) / elapsed:.2f} seeds/s, {where})", markup=False)
    builds = Counter(str(r["build"]) for r in results if "build" in r)
    if builds:  # "compiled", or how many seeds each build ran when workers differed
        console.print("build       " + (next(iter(builds)) if len(builds) == 1 else ", ".join(
            f"{build} {n} seeds" for build, n in sorted(builds.items()))), markup=False)
    console.print(f"failures    {len(failures)}")
    for result in failures:
        v = result["violations"][0]
        config = dataclasses.replace(base, seed=result["seed"])
        console.print(f"  seed {result['seed']}: {v['check']}: {v['detail']}", markup=False)
        if out_dir is None:
            console.print(f"    replay: {config.command_line()}", markup=False)
            continue
        from sim.harness.artifacts import replay_command as replay_dir
        from sim.harness.artifacts import write_artifacts
        from sim.harness.scenario import Scenario, run_scenario

        scenario = Scenario.from_config(config)
        again = run_scenario(scenario)
        directory = write_artifacts(
            out_dir / f"seed-{config.seed}-{again.digest[:8]}", scenario, again)
        console.print(f"    replay: {replay_dir(directory)}", markup=False)
    return 1 if failures else 0
