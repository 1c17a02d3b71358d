"""The compiled copy (sim/compiled.py) runs the same simulation as the sources, faster."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sim.compiled import HOT, PACKAGES, ROOT, STAMP, build, source_hash
from sim.runner import RunConfig, run
from sim.workload import WorkloadConfig

# The Raft core, its driver, and a module whose frozen config a sweep pickles.
SOME = (*(m for m in HOT if m.startswith("etcdcore/raft/")), "etcdcore/server/raft_node.py",
        "sim/workload.py")

_PROBE = """
import json, pickle
from sim.compiled import is_compiled
from sim.runner import RunConfig, run
import etcdcore.raft.raft as raft
from sim.workload import WorkloadConfig
config = RunConfig(seed=3, duration_us=5_000_000, workload="raft",
                   workload_mix=WorkloadConfig(clients=2, keys=3))
r = run(pickle.loads(pickle.dumps(config)))  # as a sweep hands it to a worker
assert pickle.loads(pickle.dumps(config)) == config
print(json.dumps({"compiled": is_compiled(), "raft": raft.__file__, "digest": r.digest}))
"""


def test_the_source_hash_changes_with_any_source_file(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    before = source_hash(tmp_path)
    assert source_hash(tmp_path) == before
    bench = tmp_path / "sim" / "bench.py"
    bench.write_text(bench.read_text() + "\n# an edit\n")
    assert source_hash(tmp_path) != before


def test_a_compiled_copy_gives_the_digest_of_the_sources_and_is_rebuilt_only_on_change(
        tmp_path: Path) -> None:
    dest = tmp_path / "fast"
    assert build(dest, SOME) is True
    assert build(dest, SOME) is False  # up to date: nothing to do
    assert list((dest / "etcdcore" / "raft").glob("raft.*.so"))
    assert not list((ROOT / "etcdcore" / "raft").glob("*.so"))  # the sources stay sources
    proc = subprocess.run([sys.executable, "-c", _PROBE], cwd=dest, capture_output=True,
                          text=True, check=True)
    probe = json.loads(proc.stdout)
    assert probe["raft"].endswith(".so")
    assert probe["compiled"] is False  # only the Raft core was compiled here, not sim.node
    interpreted = run(RunConfig(seed=3, duration_us=5_000_000, workload="raft",
                                workload_mix=WorkloadConfig(clients=2, keys=3)))
    assert probe["digest"] == interpreted.digest


def _sim(fast: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=fast, input=stdin,
                          capture_output=True, text=True, check=False, timeout=600)


FAST = ROOT / "build" / "fast"


def _full_copy_at_hand() -> bool:
    """Built and up to date, or on CI (where building it, about 90 s, is the point)."""
    stamp = FAST / STAMP
    fresh = stamp.exists() and stamp.read_text() == source_hash()
    return fresh or bool(os.environ.get("CI"))


@pytest.mark.skipif(not _full_copy_at_hand(),
                    reason="build/fast is missing or stale: `make fast`, or run with CI=true")
def test_every_command_works_the_same_from_the_full_compiled_copy(tmp_path: Path) -> None:
    # build/fast, as `make fast` builds it: rebuilt here only when a source changed.
    fast = FAST
    build(fast)
    probe = subprocess.run([sys.executable, "-c", "from sim.compiled import is_compiled; "
                            "print(is_compiled())"], cwd=fast, capture_output=True, text=True,
                           check=True)
    assert probe.stdout.strip() == "True"
    for workload in ("etcd", "raft"):
        out = _sim(fast, "run", "--seed", "2", "--duration", "10", "--workload", workload,
                   "--json")
        assert out.returncode == 0, out.stderr
        compiled = json.loads(out.stdout)
        interpreted = run(RunConfig(seed=2, duration_us=10_000_000, workload=workload))
        assert compiled["digest"] == interpreted.digest
        assert all(v.startswith("pass") for v in compiled["checks"].values())
    failing = _sim(fast, "run", "--seed", "9", "--duration", "20", "--bug",
                   "linearizable-read-local", "--out", str(tmp_path / "fail"))
    assert failing.returncode == 1, failing.stderr
    replayed = _sim(fast, "replay", str(tmp_path / "fail"))
    assert replayed.returncode == 1 and "reproduced" in replayed.stdout, replayed.stderr
    history = tmp_path / "fail" / "history.jsonl"
    checked = _sim(fast, "check", str(history), "--timeout", "20")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    swept = _sim(fast, "sweep", "--seeds", "0:2", "--workers", "2")
    assert swept.returncode == 0, swept.stderr
    put = '{"path": "/v3/kv/put", "body": {"key": "Zm9v", "value": "YmFy"}}\n'
    gateway = _sim(fast, "gateway", "--requests", "-", stdin=put)
    assert gateway.returncode == 0 and '"revision":"2"' in gateway.stdout.replace(" ", ""), \
        gateway.stdout + gateway.stderr
    assert _sim(fast, "bugs").returncode == 0
