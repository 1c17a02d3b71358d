"""`make bench`: speed figures, printed (never asserted in tests)."""

from __future__ import annotations

import dataclasses
import os
import random
import time
from pathlib import Path
from typing import Any

import simpy

from sim.cluster.config import RunConfig
from sim.cluster.result import RunResult
from sim.harness.runner import run
from sim.harness.sweep import run_seed
from sim.world.node import NodeEnv
from sim.world.world import World

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


REPEATS = 3


def best_run(config: RunConfig, repeats: int = REPEATS) -> RunResult:
    """The fastest of `repeats` runs of `config` (the same run each time: same digest), in a
    fresh process, as `etcdsim run` would make it (trace and history left behind).

    The least wall time is the run least disturbed by the machine (timeit reports the same
    way); the machines here share their cores, and one run can vary by a fifth. A fresh
    process keeps what earlier figures left in the heap out of this one.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(_best_run, config, repeats).result()


def _best_run(config: RunConfig, repeats: int) -> RunResult:
    results = [run(config) for _ in range(repeats)]
    assert len({r.digest for r in results}) == 1, "a run differed from itself"
    best = min(results, key=lambda r: r.wall_seconds - r.check_seconds)
    return dataclasses.replace(best, trace=[], history_source="")


def compression(config: RunConfig) -> tuple[float, int, float]:
    """Simulated seconds per wall second (best of REPEATS runs), its events and wall time."""
    result = best_run(config)
    return result.sim_seconds / result.wall_seconds, result.events, result.wall_seconds


def sweep_rate(workload: str, seeds: int = 6, workers: int = 2) -> float:
    """Seeds per wall second for a sweep with default faults and 60 simulated seconds."""
    from concurrent.futures import ProcessPoolExecutor

    configs = [RunConfig(seed=s, duration_us=60 * _S, workload=workload) for s in range(seeds)]
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(run_seed, configs))
    return seeds / (time.perf_counter() - start)


def _check_generated(ops: int) -> str:
    """Check a generated etcd history in a fresh process; its time and peak memory."""
    import subprocess
    import sys

    code = (
        "import random, resource, time\n"
        "from sim.lincheck.checker import check\n"
        "from sim.lincheck.generate import generate_etcd_history\n"
        "from sim.lincheck.models.etcd import EtcdModel\n"
        f"h = generate_etcd_history(random.Random(1), {ops}, keys=100, clients=10, unknown=0.05)\n"
        "t = time.perf_counter()\n"
        "r = check(h, EtcdModel())\n"
        "d = time.perf_counter() - t\n"
        "mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
        "print(f'{r.verdict.value} in {d:.2f} s, peak {mb:.0f} MB')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    return proc.stdout.strip() or proc.stderr.strip().splitlines()[-1]


def checker_figures() -> None:
    """The checker's figures: sample histories, and generated etcd histories."""
    from sim.lincheck.checker import check
    from sim.lincheck.formats import load
    from sim.lincheck.models import MODELS

    # ../shared beside the repository; the compiled copy (build/fast) sits two levels deeper.
    data = next((p / "shared" / "data" / "histories" for p in Path(__file__).resolve().parents
                 if (p / "shared" / "data" / "histories").is_dir()), Path("/nonexistent"))
    files = sorted(p for p in data.glob("*/*") if p.suffix != ".md")
    total = 0.0
    for path in files:
        history = load(str(path))
        model = MODELS[history.model_hint or "kv"]()
        start = time.perf_counter()
        result = check(history.ops, model)
        took = time.perf_counter() - start
        total += took
        print(f"check {path.parent.name + '/' + path.name:<22}{result.verdict.value:<17}"
              f"{len(history.ops):>5} ops {took * 1000:>8.1f} ms   (target <= 100 ms)")
    if files:
        print(f"check all {len(files)} samples                        {total * 1000:>8.1f} ms")
    from sim.lincheck.generate_kv import generate_kv_history
    from sim.lincheck.models.kv import KV

    for bad in (0, 3):
        kv_ops = generate_kv_history(random.Random(0), 2000, keys=10, clients=50, bad_keys=bad)
        start = time.perf_counter()
        kv_result = check(kv_ops, KV(), timeout=120)
        took = time.perf_counter() - start
        print(f"check generated kv history shaped like Porcupine's c50 (2,000 ops, 50 clients, "
              f"10 keys, {bad} with a stale read): {kv_result.verdict.value} in {took:.2f} s")
    print(f"check a leader paused 2 s at 700 requests/s (50 clients, 3 members, 20 sim s; no "
          f"hints, as from a real etcd): {leader_pause_figures()}   (target: a few seconds)")
    for ops, target in ((10_000, "<= 5 s"), (100_000, "<= 60 s, < 1 GB")):
        print(f"check generated etcd history, {ops:,} ops, 100 keys, 10 clients, 5% unknown: "
              f"{_check_generated(ops)}   (target {target})")


def leader_pause_history(duration_s: int = 20, clients: int = 50,
                         rate: float = 700.0) -> list[Any]:
    """The history of a 3-member cluster whose leader stops for 2 s under a high request rate
    (as recorded from a real etcd: many writes end unknown), without the logs' word on them,
    as a real etcd's history comes."""
    from sim.cluster.workload import WorkloadConfig
    from sim.harness.scenario import Scenario, run_scenario
    from sim.lincheck.formats import parse_text
    from sim.world.faults import LEADER, Fault

    scenario = Scenario(seed=1, members=3, duration_us=duration_s * _S,
                        mix=WorkloadConfig(clients=clients, rate=rate),
                        faults=(Fault(at_us=5 * _S, kind="long_pause", node=1,
                                      duration_us=2 * _S, name=LEADER),))
    ops = parse_text(run_scenario(scenario).history, "jsonl").ops
    return [dataclasses.replace(op, applied=None) for op in ops]


def leader_pause_figures(duration_s: int = 20) -> str:
    """The check of `leader_pause_history`: time, verdict, and how many outcomes were unknown."""
    from sim.lincheck.checker import check
    from sim.lincheck.history import Status
    from sim.lincheck.models.etcd import EtcdModel

    ops = leader_pause_history(duration_s)
    unknown = sum(1 for op in ops if op.status is Status.UNKNOWN)
    start = time.perf_counter()
    result = check(ops, EtcdModel(), timeout=120)
    took = time.perf_counter() - start
    return (f"{len(ops):,} ops, {unknown} unknown: {result.verdict.value} in {took:.2f} s")


def edn_parse_figure(ops: int = 100_000, repeats: int = REPEATS) -> str:
    """Reading a generated EDN kv history of `ops` operations (Porcupine's kv form, 10 clients,
    10 keys) into operations, in this process: the best of `repeats`."""
    import random

    from sim.lincheck.formats import parse_text
    from sim.lincheck.generate_kv import kv_edn_text

    text = kv_edn_text(random.Random(1), ops)
    walls, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        history = parse_text(text, "edn", "generated.edn")
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return (f"parse of a generated EDN kv history, {len(history.ops):,} ops "
            f"({len(text) / 1e6:.1f} MB): {min(walls):.3f} s (best of {repeats}; CPU "
            f"{min(cpus):.3f} s)")


def interpreted_figures() -> None:
    """From the compiled copy: the compression figures of the sources themselves, for scale."""
    import subprocess
    import sys

    root = _source_root()
    if root is None:
        return
    code = (
        "from sim.commands.bench import best_run, compression, _S\n"
        "from sim.cluster.config import RunConfig\n"
        "r, _, _ = compression(RunConfig(seed=1, duration_us=60 * _S, faults='none',"
        " workload='raft', proposals_per_sec=100))\n"
        "e = best_run(RunConfig(seed=1, duration_us=60 * _S, faults='none'))\n"
        "print(f'raft 100 proposals/s {r:,.0f}x; etcd 100 ops/s {e.sim_seconds / "
        "(e.wall_seconds - e.check_seconds):,.0f}x (simulation alone)')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True, check=False)
    print(f"  interpreted (the sources, as tests run them): "
          f"{proc.stdout.strip() or proc.stderr.strip().splitlines()[-1]}")


def main() -> None:
    from sim.build_select import which_build

    if which_build() == "compiled":
        print("modules: compiled with mypyc (build/fast, `make fast`); same digests as the sources")
        interpreted_figures()
    else:
        print("modules: interpreted (the sources); `make bench` runs the compiled build")
    print(f"compression figures: the best of {REPEATS} runs of one seed (the same digest each)")
    raw, node = kernel_events_per_second()
    print(f"kernel: plain simpy timer loop          {raw:>12,.0f} events/s   (target >= 500,000)")
    print(f"kernel: node timer loop (local clock)   {node:>12,.0f} events/s")
    idle = RunConfig(seed=1, duration_us=600 * _S, faults="none", workload="raft",
                     proposals_per_sec=0)
    ratio, events, wall = compression(idle)
    print(f"3 nodes, no faults, no proposals        {ratio:>12,.0f}x sim/wall   "
          f"(target >= 1000x; {events:,} events in {wall:.2f} s)")
    busy = RunConfig(seed=1, duration_us=60 * _S, faults="none", workload="raft",
                     proposals_per_sec=100)
    ratio, events, wall = compression(busy)
    print(f"3 nodes, 100 proposals/s, etcd timing   {ratio:>12,.0f}x sim/wall   "
          f"(target >= 200x; {events:,} events in {wall:.2f} s)")
    faulty = RunConfig(seed=1, duration_us=60 * _S, workload="raft")
    ratio, events, wall = compression(faulty)
    print(f"3 nodes, 100 proposals/s, default faults{ratio:>12,.0f}x sim/wall   "
          f"({events:,} events in {wall:.2f} s)")
    print(f"sweep, raft workload, default faults, 60 sim s  {sweep_rate('raft'):>8.2f} seeds/s "
          "(2 workers)")
    etcd_figures()
    checker_figures()
    print(f"{edn_parse_figure()}   (target: well under 1 s, as Porcupine)")
    check_command_figures()
    harness_figures()
    planted_bug_figures()
    # ETCDSIM_BENCH_POINT_RUNS=1000 for the points per 1,000 runs (minutes a mode here).
    guided_figures(coverage_runs=int(os.environ.get("ETCDSIM_BENCH_POINT_RUNS", "100")))
    installed_figures()


def _source_root() -> Path | None:
    """The checkout: this one, or the one a compiled copy came from (its .source-root)."""
    here = Path(__file__).resolve().parents[2]
    if (here / "pyproject.toml").is_file():
        return here
    source_root = here / ".source-root"  # written by etcdsim_build.compiled into its copy
    root = source_root.read_text().strip() if source_root.exists() else ""
    return Path(root) if root else None


def _fresh_copy(root: Path, dest: Path) -> None:
    """The checkout's files as `git archive` would take them, plus the working tree's edits and
    new files (what `git ls-files` lists, ignored ones left out)."""
    import shutil
    import subprocess

    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
        capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = root / name
        if source.is_file():  # a file deleted in the working tree is still listed as cached
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def installed_figures(seed: int = 3) -> None:
    """A normal install, as a user makes it: `pip install` of a fresh copy of this checkout into
    a new venv (build isolation; the wheel compiled when a C compiler is at hand), then
    `etcdsim run --seed 3 --faults none --duration 60` from it: install time, build, speed."""
    import json
    import subprocess
    import sys
    import tempfile

    root = _source_root()
    if root is None:
        print("installed: no source checkout to install from")
        return
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ETCDSIM_BUILD")}
    with tempfile.TemporaryDirectory(prefix="etcdsim-bench-") as tmp:
        copy, venv = Path(tmp) / "src", Path(tmp) / "venv"
        _fresh_copy(root, copy)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, env=env)
        start = time.perf_counter()
        installed = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", str(copy)],
            capture_output=True, text=True, check=False, env=env)
        install_s = time.perf_counter() - start
        if installed.returncode != 0:
            tail = (installed.stderr.strip().splitlines() or ["?"])[-1]
            print(f"installed: pip install failed after {install_s:.0f} s: {tail}")
            return
        runs = []
        for _ in range(REPEATS):
            ran = subprocess.run(
                [str(venv / "bin" / "etcdsim"), "run", "--seed", str(seed), "--faults", "none",
                 "--duration", "60", "--json"],
                cwd=tmp, capture_output=True, text=True, check=False, env=env)
            try:
                runs.append(json.loads(ran.stdout))
            except ValueError:
                tail = (ran.stderr.strip().splitlines() or ["?"])[-1]
                print(f"installed: etcdsim run failed: {tail}")
                return
    out = min(runs, key=lambda r: float(r["wall_seconds"]))
    print(f"installed (pip install of a fresh copy into a new venv: {install_s:.0f} s), "
          f"etcdsim run --seed {seed} --faults none --duration 60 --json, best of {REPEATS}: "
          f"{out['sim_seconds'] / out['wall_seconds']:,.0f}x sim/wall with the end checks, "
          f"{out['build']} build ({'PASS' if not out['violations'] else 'FAIL'})   "
          f"(target >= 100x)")


def _import_seconds(importtime: str) -> tuple[float, float]:
    """From `python -X importtime` output: all imports, and etcdsim's own (sim, etcdcore), in s.

    Each top-level line's cumulative time covers the imports nested under it.
    """
    total = ours = 0
    for line in importtime.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if not cumulative.strip().isdigit() or name.startswith("  "):
            continue  # the header, or an import nested in another one
        total += int(cumulative)
        if name.strip().partition(".")[0] in ("sim", "etcdcore"):
            ours += int(cumulative)
    return total / 1e6, ours / 1e6


def check_command_figures() -> None:
    """`etcdsim check` as a user runs it: its imports (python -X importtime), and one process
    over the Jepsen logs in ../shared/data/histories."""
    import subprocess
    import sys

    root = _source_root()
    data = root.parent / "shared" / "data" / "histories" if root is not None else None
    script = Path(sys.executable).with_name("etcdsim")
    if data is None or not data.is_dir() or not script.is_file():
        print("etcdsim check: no ../shared/data/histories or etcdsim command here")
        return
    jepsen = sorted(str(p) for p in (data / "jepsen").glob("*.log"))
    every = sorted(str(p) for p in data.rglob("*") if p.is_file() and p.suffix != ".md")
    probe = subprocess.run([sys.executable, "-X", "importtime", str(script), "check", jepsen[0]],
                           capture_output=True, text=True, check=False)
    total, ours = _import_seconds(probe.stderr)
    print(f"etcdsim check: imports {total:.3f} s in all, etcdsim's own {ours:.3f} s "
          f"(python -X importtime)   (target < 0.1 s)")
    for label, files in (("the Jepsen logs", jepsen), ("every sample history", every)):
        walls = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            subprocess.run([str(script), "check", *files], capture_output=True, check=False)
            walls.append(time.perf_counter() - start)
        print(f"etcdsim check over {label} ({len(files)} files), one process: "
              f"{min(walls):.3f} s (best of {REPEATS})")


def etcd_figures() -> None:
    """The etcd workload: compression with and without faults, and the checker's speed."""
    for faults, target in (("none", "   (target >= 100x)"), ("default", "")):
        result = best_run(RunConfig(seed=1, duration_us=60 * _S, faults=faults))
        ops = sum(n for kinds in result.ops.values() for n in kinds.values())
        sim_wall = result.wall_seconds - result.check_seconds
        print(f"etcd, 3 members, 100 client ops/s, {faults + ' faults':<15} simulation "
              f"{result.sim_seconds / sim_wall:>5,.0f}x sim/wall{target}; with the end checks "
              f"{result.sim_seconds / result.wall_seconds:,.0f}x ({ops:,} ops; "
              f"{sum(result.faults.values())} faults; {'PASS' if result.ok else 'FAIL'})")
        print(f"  check of that history: {ops / result.check_seconds:>10,.0f} ops/s "
              f"({result.check_seconds:.2f} s: {result.checks['linearizable']})")
    print(f"sweep, etcd workload, default faults, 60 sim s  {sweep_rate('etcd'):>8.2f} seeds/s "
          "(2 workers)")


def seeds_to_find(bug: str, workload: str, max_seeds: int = 200) -> tuple[int | None, float, str]:
    """Run the standard scenario from seed 0 on with `bug` switched on until a check fails:
    (seeds run, or None if none failed; wall seconds; the failing check)."""
    start = time.perf_counter()
    for seed in range(max_seeds):
        result = run(RunConfig(seed=seed, duration_us=60 * _S, workload=workload,
                               bugs=frozenset({bug})))
        if result.violations:
            return seed + 1, time.perf_counter() - start, str(result.violations[0]["check"])
    return None, time.perf_counter() - start, ""


def planted_bug_figures(max_seeds: int = 200) -> None:
    """For each planted bug: seeds and wall time to find it with default faults, 60 sim s."""
    from statistics import median

    from etcdcore.bugs import BUGS, RAFT_BUGS

    found: list[float] = []
    shrunk: list[tuple[int, int]] = []
    ops: list[tuple[int, int]] = []
    print(f"planted bugs: standard scenario (default faults, 60 sim s), seeds 0.. up to "
          f"{max_seeds}; Raft bugs on the raft workload, server bugs on the etcd workload")
    for name in BUGS:
        workload = "raft" if name in RAFT_BUGS else "etcd"
        seeds, wall, check = seeds_to_find(name, workload, max_seeds)
        if seeds is None:
            print(f"  {name:<31} {workload:<5} NOT FOUND in {max_seeds} seeds ({wall:.1f} s)")
        else:
            found.append(wall)
            before, after, ops_before, ops_after = shrink_ratio(seeds - 1, workload, name, check)
            shrunk.append((before, after))
            if workload == "etcd":
                ops.append((ops_before, ops_after))
            print(f"  {name:<31} {workload:<5} found after {seeds:>3} seeds in {wall:>6.1f} s "
                  f"({check}); shrunk {before} -> {after} faults"
                  + (f", {ops_before} -> {ops_after} operations" if workload == "etcd" else ""))
    mid = f"{median(found):.1f} s" if found else "n/a"
    print(f"  found {len(found)} of {len(BUGS)} within {max_seeds} seeds; median wall time to "
          f"find (found ones) {mid}   (target: all within 200 seeds, median < 10 s)")
    if shrunk:
        total_before = sum(b for b, _ in shrunk)
        total_after = sum(a for _, a in shrunk)
        print(f"  shrink: {total_before} faults -> {total_after} over the {len(shrunk)} failures "
              f"(median {median(b for b, _ in shrunk):g} -> {median(a for _, a in shrunk):g}; "
              f"at most {SHRINK_RUNS} runs each)"
              + (f"; {sum(b for b, _ in ops)} client operations -> {sum(a for _, a in ops)} "
                 f"over the {len(ops)} etcd ones" if ops else ""))


def _runs_to_find(base: RunConfig, budget: int, guided: bool) -> tuple[int | None, float, str]:
    """Runs until the first failing check, blind (seeds 0.. in order) or guided (budget runs,
    fresh seeds 0.. and mutations), in this process: (runs, or None; wall seconds; check)."""
    from sim.harness.guided import guided_sweep
    from sim.harness.sweep import run_seed

    start = time.perf_counter()
    if guided:
        outcome = guided_sweep(base, range(budget), lambda cs: [run_seed(c) for c in cs],
                               stop_at_first_failure=True)
        wall = time.perf_counter() - start
        if not outcome.failures:
            return None, wall, ""
        first = outcome.failures[0]
        return first.index + 1, wall, str(first.result["violations"][0]["check"])
    for seed in range(budget):
        result = run(dataclasses.replace(base, seed=seed))
        if result.violations:
            return seed + 1, time.perf_counter() - start, str(result.violations[0]["check"])
    return None, time.perf_counter() - start, ""


def guided_figures(standard_budget: int = 200, fault_free_budget: int = 60,
                   coverage_runs: int = 100, workers: int = 2) -> None:
    """Blind against guided sweeps (sim.harness.guided): runs and wall time to find each planted
    bug, on the standard scenario and from a fault-free base; then the sometimes points each
    reaches in the same number of runs."""
    from etcdcore.bugs import BUGS, RAFT_BUGS
    from sim.harness.coverage import Coverage
    from sim.harness.guided import guided_sweep
    from sim.harness.sweep import SeedRunner, run_seeds
    from sim.world.probes import POINTS

    setups = (
        ("standard scenario (default faults, 60 sim s)", "default", 60, standard_budget),
        ("fault-free base (--faults none, 20 sim s): blind only changes the seed, guided also "
         "mutates faults in", "none", 20, fault_free_budget),
    )
    print("guided vs blind: runs until the first failing check, one process each (guided: "
          "fresh seeds 0.. and mutations, in generations of 8: its wall time includes the rest "
          "of the generation that found the bug)")
    for title, faults, seconds, budget in setups:
        print(f"  {title}; budget {budget} runs")
        print(f"    {'bug':<31} {'workload':<8} {'blind':>14} {'guided':>14}")
        totals = {"blind": [0, 0.0], "guided": [0, 0.0]}
        for name in BUGS:
            workload = "raft" if name in RAFT_BUGS else "etcd"
            base = RunConfig(seed=0, duration_us=seconds * _S, workload=workload, faults=faults,
                             bugs=frozenset({name}))
            cells = []
            for mode in ("blind", "guided"):
                runs, wall, _check = _runs_to_find(base, budget, mode == "guided")
                totals[mode][0] += runs is not None
                totals[mode][1] += wall
                cells.append(f"{runs if runs is not None else '-':>4} {wall:>6.1f} s")
            print(f"    {name:<31} {workload:<8} {cells[0]:>14} {cells[1]:>14}")
        print(f"    found: blind {totals['blind'][0]} of {len(BUGS)} in {totals['blind'][1]:.0f} s,"
              f" guided {totals['guided'][0]} of {len(BUGS)} in {totals['guided'][1]:.0f} s "
              "('-': not found within the budget)")
    n = coverage_runs
    base = RunConfig(seed=0, duration_us=60 * _S)
    start = time.perf_counter()
    blind = run_seeds([dataclasses.replace(base, seed=s) for s in range(n)], workers)
    blind_wall = time.perf_counter() - start
    start = time.perf_counter()
    with SeedRunner(workers) as runner:
        outcome = guided_sweep(base, range(n), runner.run)
    guided_wall = time.perf_counter() - start
    print(f"  sometimes points per {n} runs (standard etcd scenario, default faults, 60 sim s, "
          f"{workers} workers; per 1,000 (ETCDSIM_BENCH_POINT_RUNS=1000) would take about "
          f"{blind_wall * 1000 / n / 60:.0f} min a mode here):")
    for label, results, wall in (("blind", blind, blind_wall),
                                 ("guided", [r.result for r in outcome.runs], guided_wall)):
        coverage = Coverage()
        for r in results:
            coverage.add(r["probes"])
        hit = coverage.to_json()["hit"]
        rare = sum(1 for name in POINTS if 0 < coverage.runs_hitting.get(name, 0) <= n // 20)
        missed = coverage.never_hit()
        print(f"    {label:<6} hit {hit} of {len(POINTS)} points ({rare} in at most 5% of runs), "
              f"{len(set().union(*(_features(r) for r in results)))} features, "
              f"{wall:.0f} s; never hit: {', '.join(missed) or 'none'}")
    print(f"    guided kept {len(outcome.corpus)} scenarios, "
          f"{sum(1 for r in outcome.runs if not r.fresh)} of its runs were mutations")


def _features(result: dict[str, Any]) -> tuple[str, ...]:
    from sim.harness.guided import features

    return features(result["probes"])


SHRINK_RUNS = 40


def shrink_ratio(seed: int, workload: str, bug: str, check: str) -> tuple[int, int, int, int]:
    """Faults, then client operations, before and after shrinking the failing run of `seed` (a
    bounded search)."""
    from sim.harness.scenario import Scenario
    from sim.harness.shrink import shrink

    config = RunConfig(seed=seed, duration_us=60 * _S, workload=workload, bugs=frozenset({bug}))
    scenario = Scenario.from_config(config)
    result = shrink(scenario, check, max_runs=SHRINK_RUNS)
    return len(scenario.faults), len(result.scenario.faults), result.ops_before, result.ops_after


def standard_scenario_figures(seeds: range = range(10)) -> str:
    """Seeds per second per core of the standard swarm scenario in this process, with the
    median seed and the slowest (and its history check)."""
    from statistics import median

    from sim.harness.scenario import Scenario, run_scenario

    walls: list[float] = []
    checks: list[float] = []
    for seed in seeds:
        start = time.perf_counter()
        result = run_scenario(Scenario.from_seed(seed))
        walls.append(time.perf_counter() - start)
        checks.append(result.check_seconds)
    slowest = max(walls)
    return (f"{len(walls) / sum(walls):.2f} seeds/s per core; median seed {median(walls):.2f} s, "
            f"slowest {slowest:.1f} s of which the history check "
            f"{checks[walls.index(slowest)]:.1f} s")


def harness_figures() -> None:
    """Seeds per second per core for the standard scenario, compiled and interpreted; a
    4-worker sweep against 1."""
    import subprocess
    import sys

    from sim.build_select import which_build
    from sim.harness.sweep import run_seeds

    build = which_build()
    target = 3 if build == "compiled" else 1
    print(f"standard scenario (Scenario.from_seed, swarm, 60 sim s), seeds 0-9, {build}: "
          f"{standard_scenario_figures()}   (target >= {target})")
    root = _source_root()
    if root is not None and build == "compiled":
        code = ("from sim.commands.bench import standard_scenario_figures\n"
                "print(standard_scenario_figures())\n")
        proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                              text=True, check=False)
        line = proc.stdout.strip() or (proc.stderr.strip().splitlines() or ["?"])[-1]
        print(f"standard scenario (Scenario.from_seed, swarm, 60 sim s), seeds 0-9, interpreted: "
              f"{line}   (target >= 1)")
    configs = [RunConfig(seed=s, duration_us=30 * _S) for s in range(8)]
    sweep_walls: list[float] = []
    for workers in (1, 4):
        start = time.perf_counter()
        run_seeds(configs, workers)
        sweep_walls.append(time.perf_counter() - start)
    one, four = sweep_walls
    print(f"sweep of 8 seeds (etcd, 30 sim s): 1 worker {one:.1f} s, 4 workers {four:.1f} s: "
          f"{one / four:.2f}x on {os.cpu_count()} cores")
    false_positive_figures()


def false_positive_figures() -> None:
    """Violations of the unmodified code over the standard swarm scenario's seeds (a sweep of
    ETCDSIM_BENCH_SWARM_SEEDS, 200 by default; the issue's figure is 10,000)."""
    from sim.harness.scenario import Scenario
    from sim.harness.sweep import run_seeds

    count = int(os.environ.get("ETCDSIM_BENCH_SWARM_SEEDS", "200"))
    workers = os.cpu_count() or 1
    configs = [Scenario.from_seed(seed).to_config() for seed in range(count)]
    start = time.perf_counter()
    results = run_seeds(configs, workers)
    wall = time.perf_counter() - start
    failing = [r["seed"] for r in results if r["violations"]]
    print(f"false positives: standard swarm scenario, seeds 0-{count - 1}, {workers} workers: "
          f"{len(failing)} failing {failing[:10]} in {wall:.0f} s ({count / wall:.2f} seeds/s; "
          f"ETCDSIM_BENCH_SWARM_SEEDS=10000 for the full figure, or "
          f"`etcdsim sweep --swarm --seeds 0:10000`)   (target 0)")


if __name__ == "__main__":
    # From the checkout's compiled build when it is fresh (`make bench` makes it so).
    from sim.commands.launch import run_in_build

    run_in_build("sim.commands.bench", "main")
