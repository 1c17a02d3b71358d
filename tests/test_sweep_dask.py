"""Sweeps on a Dask cluster: the results of local processes, in seed order, wherever seeds ran."""

from __future__ import annotations

import logging
import os
import pickle
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import dask
import pytest
from distributed import LocalCluster

import sim.harness.sweep
from etcdcore import bugs
from sim.cluster.config import RunConfig
from sim.harness.sweep import WORKER_DIED, SweepError, run_seeds, sweep
from sim.world.faults import Fault

CONFIGS = [RunConfig(seed=s, duration_us=3_000_000) for s in range(4)]


def _cluster(n_workers: int) -> LocalCluster:
    # Worker processes, not threads: each run then has the interpreter to itself (see sweep.py).
    # A scheduler always serves HTTP; on port 0 it cannot collide with another cluster's 8787.
    return LocalCluster(n_workers=n_workers, processes=True, threads_per_worker=1,
                        host="127.0.0.1", dashboard_address="127.0.0.1:0",
                        silence_logs=logging.CRITICAL)


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with _cluster(2) as c:
        yield c


def _same_runs(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> bool:
    """Same seeds in the same order, with the same digests and verdicts (wall time aside)."""
    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return r["seed"], r["digest"], r["checks"], r["violations"], r["events"]

    return [key(r) for r in a] == [key(r) for r in b]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_dask_results_equal_the_local_sweeps_with_one_and_two_workers(
    cluster: LocalCluster,
) -> None:
    local_one = run_seeds(CONFIGS, 1)
    local_two = run_seeds(CONFIGS, 2)
    on_dask = run_seeds(CONFIGS, 1, dask_address=cluster.scheduler_address)
    assert [r["seed"] for r in on_dask] == [0, 1, 2, 3]
    assert _same_runs(on_dask, local_one)
    assert _same_runs(on_dask, local_two)


def test_dask_results_do_not_depend_on_the_number_of_dask_workers(
    cluster: LocalCluster,
) -> None:
    with _cluster(1) as single:
        one = run_seeds(CONFIGS, 1, dask_address=single.scheduler_address)
    two = run_seeds(CONFIGS, 1, dask_address=cluster.scheduler_address)
    assert _same_runs(one, two)


def test_progress_is_reported_once_per_seed_as_seeds_complete(cluster: LocalCluster) -> None:
    seen: list[int] = []
    run_seeds(CONFIGS, 1, lambda r: seen.append(r["seed"]),
              dask_address=cluster.scheduler_address)
    assert sorted(seen) == [0, 1, 2, 3]


def test_a_config_with_faults_and_bugs_pickles_and_runs_the_same_on_dask(
    cluster: LocalCluster,
) -> None:
    config = RunConfig(
        seed=5, duration_us=3_000_000, bugs=frozenset({bugs.LINEARIZABLE_READ_LOCAL}),
        fault_schedule=(Fault(at_us=1_000_000, kind="crash", node=2, duration_us=500_000),
                        Fault(at_us=1_200_000, kind="partition", name="halves",
                              duration_us=300_000)),
    )
    assert pickle.loads(pickle.dumps(config)) == config
    assert cloudpickle.loads(cloudpickle.dumps(config)) == config
    local = run_seeds([config], 1)
    assert pickle.loads(pickle.dumps(local)) == local
    assert _same_runs(run_seeds([config], 1, dask_address=cluster.scheduler_address), local)


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:{port}", "nonsense://nowhere"])
def test_an_unreachable_scheduler_fails_fast_with_one_line_naming_it(address: str) -> None:
    address = address.format(port=_closed_port())
    _assert_fails_fast(address)


def test_a_peer_that_never_answers_in_dasks_protocol_fails_fast_too() -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        _assert_fails_fast(f"tcp://127.0.0.1:{silent.getsockname()[1]}")


def _assert_fails_fast(address: str) -> None:
    start = time.perf_counter()
    with pytest.raises(SweepError) as info:
        run_seeds(CONFIGS, 1, dask_address=address, connect_timeout_s=1.0)
    assert time.perf_counter() - start < 5
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cannot reach a Dask scheduler at {address}: ")


def test_a_sweep_on_dask_with_a_failure_exits_1_and_prints_the_replay_command(
    cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = sim.harness.sweep.run_seed

    def failing_seed_1(config: RunConfig) -> dict[str, Any]:
        result = real(config)
        if config.seed == 1:
            result["violations"] = [{"check": "election_safety", "detail": "planted", "node": 1,
                                     "time_us": 0}]
        return result

    monkeypatch.setattr(sim.harness.sweep, "run_seed", failing_seed_1)
    base = RunConfig(seed=0, duration_us=3_000_000)
    code = sweep([0, 1, 2], base, 1, dask_address=cluster.scheduler_address)
    out = capsys.readouterr().out
    assert code == 1
    assert "seeds run   3" in out and "Dask at tcp://" in out
    assert "failures    1" in out
    assert "seed 1: election_safety: planted" in out
    assert "replay: etcdsim run --seed 1 --nodes 3 --duration 3 --faults default" in out


def test_a_seed_whose_worker_died_once_is_rerun_by_dask_with_the_same_result(
    cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = sim.harness.sweep.run_seed
    marker = tmp_path / "died"

    def dies_once_on_seed_2(config: RunConfig) -> dict[str, Any]:
        if config.seed == 2 and not marker.exists():
            marker.touch()
            os._exit(1)
        return real(config)

    monkeypatch.setattr(sim.harness.sweep, "run_seed", dies_once_on_seed_2)
    on_dask = run_seeds(CONFIGS, 1, dask_address=cluster.scheduler_address)
    assert marker.exists()
    assert _same_runs(on_dask, run_seeds(CONFIGS, 1))


def test_a_seed_that_keeps_killing_workers_is_reported_as_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = sim.harness.sweep.run_seed

    def always_dies_on_seed_1(config: RunConfig) -> dict[str, Any]:
        if config.seed == 1:
            os._exit(1)
        return real(config)

    monkeypatch.setattr(sim.harness.sweep, "run_seed", always_dies_on_seed_1)
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), _cluster(1) as c:
        (result,) = run_seeds([CONFIGS[1]], 1, dask_address=c.scheduler_address)
    assert result["seed"] == 1
    assert result["violations"][0]["check"] == WORKER_DIED
    assert result["violations"][0]["detail"].endswith("died (1 tries)")
