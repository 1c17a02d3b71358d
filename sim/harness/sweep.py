"""Run many seeds on local worker processes or a Dask cluster, with a progress bar and a summary.

A seed's result is a pure function of its RunConfig, so results come back in seed order and are
the same whatever the number of workers and wherever a seed ran.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sim.cluster.config import RunConfig
from sim.cluster.result import history_undecided
from sim.harness.coverage import Coverage
from sim.harness.guided import GENERATION, GuidedOutcome, guided_sweep
from sim.harness.runner import run
from sim.harness.scenario import Scenario

if TYPE_CHECKING:
    from distributed import Client
    from rich.console import Console

__all__ = [
    "DASK_CONNECT_TIMEOUT_S", "WORKER_DIED", "SeedRunner", "SweepError", "run_seed", "run_seeds",
    "sweep",
]

DASK_CONNECT_TIMEOUT_S = 10.0
WORKER_DIED = "worker_died"  # the check named by a seed whose Dask workers kept dying under it


class SweepError(Exception):
    """A sweep could not run at all (e.g. its Dask scheduler cannot be reached); one line."""


def run_seed(config: RunConfig) -> dict[str, Any]:
    """One seed's result without its trace (what crosses the process boundary), and the build
    that ran it ("compiled" or "source": a worker's, which is what the sweep's speed is of)."""
    from sim.build_select import which_build

    return {**run(config).to_json(), "build": which_build()}


_UNDECIDED_SHOWN = 10  # runs named on the summary's undecided line


class SeedRunner:
    """Runs batches of configs on one pool of worker processes, or on a Dask cluster, kept for
    the runner's life (a guided sweep runs many small generations). Use it as a context manager;
    SweepError on entering if the Dask scheduler cannot be reached."""

    def __init__(self, workers: int, dask_address: str | None = None, *,
                 connect_timeout_s: float = DASK_CONNECT_TIMEOUT_S) -> None:
        self.workers = workers
        self.dask_address = dask_address
        self.connect_timeout_s = connect_timeout_s
        self._pool: ProcessPoolExecutor | None = None
        self._client: Client | None = None

    def __enter__(self) -> SeedRunner:
        if self.dask_address is not None:
            _require_dask()
            self._client = _connect(self.dask_address, self.connect_timeout_s)
        elif self.workers > 1:
            self._pool = ProcessPoolExecutor(max_workers=self.workers)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        if self._client is not None:
            self._client.close()  # type: ignore[no-untyped-call]  # distributed leaves it untyped
            self._client = None

    def run(self, configs: list[RunConfig],
            on_result: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
        """Results in config order, whatever the workers; on Dask, `on_result` is called in
        completion order."""
        if self._client is not None:
            return _run_on_dask(self._client, configs, on_result)
        results: list[dict[str, Any]] = []
        pool = self._pool
        stream: Iterator[dict[str, Any]] = (
            pool.map(run_seed, configs) if pool is not None else map(run_seed, configs)
        )
        for result in stream:
            results.append(result)
            if on_result is not None:
                on_result(result)
        return results


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
    with SeedRunner(workers, dask_address, connect_timeout_s=connect_timeout_s) as runner:
        return runner.run(configs, on_result)


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
    client: Client,
    configs: list[RunConfig],
    on_result: Callable[[dict[str, Any]], None] | None,
) -> list[dict[str, Any]]:
    """One task per seed on `client`'s scheduler; results in seed order."""
    from distributed import KilledWorker, as_completed

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
        client.cancel(futures)  # type: ignore[no-untyped-call]  # distributed leaves it untyped
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
    out_dir: Path | None = None, *, guided: bool = False, json_out: bool = False,
    swarm: bool = False,
) -> int:
    """Run `seeds` on `workers` processes or a Dask cluster; print the summary; 1 if any failed.

    The summary ends with the sometimes points: those no run reached, then per point the runs
    that reached it and the hits. With `guided`, the budget is `len(seeds)` runs, fresh seeds
    from `seeds` in order and mutations of the scenarios that reached something new
    (sim.harness.guided); with `out_dir`, the corpus is written to `out_dir/corpus` too.
    Each failure is run again here (runs are pure) and leaves its artifact directory in
    `out_dir`; without it a failing seed prints the command that reruns it, and a failing
    mutation (which no command line can name) leaves its directory in etcdsim-artifacts.
    `json_out`: no progress bar, one JSON object at the end. `swarm`: each seed's standard
    swarm scenario (Scenario.from_seed) with `base`'s duration and bugs. SweepError (the CLI
    prints it and exits 2) if the Dask scheduler cannot be reached.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(highlight=False, soft_wrap=True)
    # Never more processes than runs that can go at once: the seeds, or a guided generation.
    workers = max(1, min(workers, len(seeds), GENERATION if guided else len(seeds)))
    failed = 0
    start = time.perf_counter()
    unit = "runs" if guided else "seeds"
    columns = (
        TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:.2f} " + unit + "/s"),
        TextColumn("failures {task.fields[failed]}"), TimeElapsedColumn(),
    )
    outcome: GuidedOutcome | None = None
    with Progress(*columns, console=console, disable=json_out) as progress, \
            SeedRunner(workers, dask_address) as runner:
        task = progress.add_task("sweep", total=len(seeds), rate=0.0, failed=0)
        done = 0

        def tick(result: dict[str, Any]) -> None:
            nonlocal failed, done
            failed += bool(result["violations"])
            done += 1
            elapsed = time.perf_counter() - start
            progress.update(task, advance=1, rate=done / elapsed if elapsed else 0.0,
                            failed=failed)

        if guided:
            outcome = guided_sweep(base, seeds, lambda configs: runner.run(configs, tick))
            results = [r.result for r in outcome.runs]
        else:
            results = runner.run([_seed_config(base, s, swarm) for s in seeds], tick)
    elapsed = time.perf_counter() - start
    coverage = Coverage()
    for result in results:
        coverage.add(result.get("probes", {}))
    where = f"Dask at {dask_address}" if dask_address is not None else f"{workers} workers"
    builds = Counter(str(r["build"]) for r in results if "build" in r)
    build = (next(iter(builds)) if len(builds) == 1 else ", ".join(
        f"{b} {n} runs" for b, n in sorted(builds.items()))) if builds else ""
    say = _Say(console, json_out)
    if outcome is None:
        say(f"seeds run   {len(results)} in {elapsed:.1f} s "
            f"({len(results) / elapsed:.2f} seeds/s, {where})")
    else:
        fresh = sum(1 for r in outcome.runs if r.fresh)
        say(f"runs        {len(results)} in {elapsed:.1f} s ({len(results) / elapsed:.2f} runs/s, "
            f"{where}): {fresh} fresh seeds, {len(results) - fresh} mutations")
    if build:  # "compiled", or how many runs each build ran when workers differed
        say(f"build       {build}")
    if outcome is not None:
        say(f"corpus      {len(outcome.corpus)} scenarios kept (they reached new points or "
            f"combinations of points); {outcome.features_seen} features seen")
        if out_dir is not None:
            corpus_dir = _write_corpus(out_dir / "corpus", outcome)
            say(f"            written to {corpus_dir}")
    failures = _failures(results, outcome, base, swarm)
    say(f"failures    {len(failures)}")
    reported: list[dict[str, Any]] = []
    for label, scenario, command, result in failures:
        v = result["violations"][0]
        say(f"  {label}: {v['check']}: {v['detail']}")
        replay = _replay(scenario, command, out_dir)
        say(f"    replay: {replay}")
        reported.append({"run": label, "seed": result["seed"], "check": v["check"],
                         "detail": v["detail"], "replay": replay})
    undecided = _undecided(results, outcome)
    if undecided:
        # Not failures, and not passes either: a bug may hide in a history the checker could
        # not decide in time.
        shown = ", ".join(undecided[:_UNDECIDED_SHOWN])
        more = f" and {len(undecided) - _UNDECIDED_SHOWN} more" if (
            len(undecided) > _UNDECIDED_SHOWN) else ""
        say(f"undecided   {len(undecided)} (no linearizability verdict within the check's "
            f"time limit): {shown}{more}")
    for line in coverage.lines():  # last: the points never hit, then every point's figures
        say(line)
    if json_out:
        out: dict[str, Any] = {
            "mode": "guided" if guided else "blind", "runs": len(results),
            "wall_seconds": round(elapsed, 3), "where": where, "build": build,
            "failures": reported, "undecided": undecided, "coverage": coverage.to_json(),
        }
        if outcome is not None:
            out["fresh"] = sum(1 for r in outcome.runs if r.fresh)
            out["features_seen"] = outcome.features_seen
            out["corpus"] = [{"run": r.index, "origin": r.origin, "seed": r.scenario.seed,
                              "digest": r.result["digest"], "new_features": r.new_features}
                             for r in outcome.corpus_runs()]
        print(json.dumps(out, sort_keys=True))
    return 1 if failures else 0


class _Say:
    """The summary's lines, on the console; nothing when the sweep prints JSON instead."""

    def __init__(self, console: Console, quiet: bool) -> None:
        self.console = console
        self.quiet = quiet

    def __call__(self, line: str) -> None:
        if not self.quiet:
            self.console.print(line, markup=False)


def _swarm_scenario(base: RunConfig, seed: int) -> Scenario:
    return Scenario.from_seed(seed, duration_us=base.duration_us, bugs=base.bugs)


def _seed_config(base: RunConfig, seed: int, swarm: bool) -> RunConfig:
    """What a blind sweep runs for `seed`."""
    if swarm:
        return _swarm_scenario(base, seed).to_config()
    return dataclasses.replace(base, seed=seed)


def _failures(results: list[dict[str, Any]], outcome: GuidedOutcome | None, base: RunConfig,
              swarm: bool = False) -> list[tuple[str, Scenario, str | None, dict[str, Any]]]:
    """(label, scenario, command line if one reruns it, result) of each failure, in order (a
    swarm scenario has no command line: its artifact directory replays it)."""
    out: list[tuple[str, Scenario, str | None, dict[str, Any]]] = []
    if outcome is None:
        for result in results:
            if not result["violations"]:
                continue
            if swarm:
                out.append((f"seed {result['seed']}", _swarm_scenario(base, result["seed"]),
                            None, result))
                continue
            config = dataclasses.replace(base, seed=result["seed"])
            out.append((f"seed {config.seed}", Scenario.from_config(config),
                        config.command_line(), result))
        return out
    for run_ in outcome.failures:
        if run_.fresh:
            config = dataclasses.replace(base, seed=run_.scenario.seed)
            out.append((f"seed {config.seed}", run_.scenario, config.command_line(),
                        run_.result))
        else:
            out.append((f"run {run_.index} (seed {run_.scenario.seed}, {run_.origin})",
                        run_.scenario, None, run_.result))
    return out


def _undecided(results: list[dict[str, Any]], outcome: GuidedOutcome | None) -> list[str]:
    """The runs whose history got no linearizability verdict in time, labelled as failures
    are."""
    if outcome is None:
        return [f"seed {r['seed']}" for r in results if history_undecided(r.get("checks", {}))]
    return [f"seed {r.scenario.seed}" if r.fresh else
            f"run {r.index} (seed {r.scenario.seed}, {r.origin})"
            for r in outcome.runs if history_undecided(r.result.get("checks", {}))]


def _replay(scenario: Scenario, command: str | None, out_dir: Path | None) -> str:
    """What replays a failure: its command line, or the artifact directory written for it."""
    if out_dir is None and command is not None:
        return command
    from sim.harness.artifacts import replay_command, write_artifacts
    from sim.harness.scenario import run_scenario

    again = run_scenario(scenario)
    root = out_dir if out_dir is not None else Path("etcdsim-artifacts")
    directory = write_artifacts(root / f"seed-{scenario.seed}-{again.digest[:8]}", scenario,
                                again)
    return replay_command(directory)


def _write_corpus(directory: Path, outcome: GuidedOutcome) -> Path:
    """Each corpus scenario as a scenario file (`etcdsim replay FILE` reruns it)."""
    directory.mkdir(parents=True, exist_ok=True)
    for r in outcome.corpus_runs():
        path = directory / f"run-{r.index:05d}-seed-{r.scenario.seed}-{r.result['digest'][:8]}.json"
        path.write_text(r.scenario.dumps(), encoding="utf-8")
    return directory
