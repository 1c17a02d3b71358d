"""A compiled copy of the simulator: the hot modules built with mypyc, for long sweeps and bench.

`python -m etcdsim_build.compiled [DIR]` copies sim/ and etcdcore/ into DIR (build/fast by default) and
compiles the modules in HOT there with mypyc, which ships with mypy (the dev extra); gcc and
Python's headers, on every machine here, do the rest. Run from DIR, `python -m sim ...` imports
the compiled modules first: the same runs and digests, about twice as fast.

Why a copy: compiled modules next to their sources would shadow every later edit until the
next build. The sources stay as they are (tests and `etcdsim` run them); the copy is rebuilt
whenever their hash changes.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from etcdsim_build.dataclass_init import explicit_inits
from etcdsim_build.final_constants import final_constants

__all__ = ["HOT", "build", "source_hash"]

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sim", "etcdcore")
STAMP = ".source-hash"
SOURCE_ROOT = ".source-root"  # where the copy came from: the bench runs the sources there too

# Where a run spends its time: the world, Raft and its driver, the server, the store, the
# clients, the invariant watcher and the checker. Left interpreted: etcdcore/env.py's Protocols
# and the error types (mypyc does not compile a class that subclasses a builtin), and Knobs,
# cold, which a sweep pickles to its workers (a compiled frozen dataclass cannot be unpickled
# field by field: RaftTiming and WorkloadConfig rebuild from their fields instead).
HOT = (
    "etcdcore/raft/raft.py", "etcdcore/raft/log.py", "etcdcore/raft/log_unstable.py",
    "etcdcore/raft/rawnode.py", "etcdcore/raft/types.py", "etcdcore/raft/storage.py",
    "etcdcore/raft/quorum.py", "etcdcore/raft/progress.py", "etcdcore/raft/read_only.py",
    "etcdcore/wal/wal.py", "etcdcore/wal/record.py",
    "etcdcore/server/raft_node.py", "etcdcore/server/etcdserver.py", "etcdcore/server/txn.py",
    "etcdcore/server/v3rpc.py", "etcdcore/server/backend.py", "etcdcore/server/wait.py",
    "etcdcore/server/idutil.py",
    "etcdcore/mvcc/store.py", "etcdcore/mvcc/key_index.py", "etcdcore/mvcc/backend.py",
    "etcdcore/mvcc/kv.py", "etcdcore/mvcc/hash.py",
    "etcdcore/api/rpc.py", "etcdcore/api/raft_internal.py", "etcdcore/api/gateway.py",
    "etcdcore/api/compact_json.py", "etcdcore/api/call.py", "etcdcore/client/client.py",
    "sim/world/kernel.py", "sim/world/clock.py", "sim/world/node.py", "sim/world/network.py",
    "sim/world/disk.py", "sim/world/trace.py", "sim/world/world.py", "sim/world/rng.py",
    "sim/cluster/invariants.py",
    "sim/cluster/workload.py", "sim/cluster/etcd_cluster.py", "sim/cluster/raft_cluster.py",
    "sim/lincheck/checker.py", "sim/lincheck/history.py",
    "sim/lincheck/models/etcd/errors.py", "sim/lincheck/models/etcd/versions.py",
    "sim/lincheck/models/etcd/requests.py", "sim/lincheck/models/etcd/footprint.py",
    "sim/lincheck/models/etcd/results.py", "sim/lincheck/models/etcd/responses.py",
    "sim/lincheck/models/etcd/horizon.py", "sim/lincheck/models/etcd/state.py",
    "sim/lincheck/models/etcd/store.py", "sim/lincheck/models/etcd/feasibility.py",
    "sim/lincheck/models/etcd/operations.py", "sim/lincheck/models/etcd/interchangeable.py",
    "sim/lincheck/models/etcd/contradictions.py", "sim/lincheck/models/etcd/model.py",
    "sim/lincheck/formats/jsonl.py",
)

_MYPY_INI = """\
[mypy]
python_version = 3.11
[mypy-simpy.*]
ignore_missing_imports = True
"""


def source_hash(root: Path = ROOT, modules: Sequence[str] = HOT) -> str:
    """A digest of every source file of the two packages, the module list and the Python."""
    h = hashlib.sha256(sys.version.encode())
    h.update("\n".join(modules).encode())
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def build(dest: Path, modules: Sequence[str] = HOT, root: Path = ROOT) -> bool:
    """Copy the packages to `dest` and compile `modules` there; False if it was up to date.

    Raises RuntimeError with mypyc's last lines when the build fails.
    """
    digest = source_hash(root, modules)
    stamp = dest / STAMP
    if stamp.exists() and stamp.read_text() == digest:
        return False
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for package in PACKAGES:
        shutil.copytree(root / package, dest / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    for module in modules:  # buildtools/etcdsim_build/dataclass_init.py, buildtools/etcdsim_build/final_constants.py
        path = dest / module
        path.write_text(final_constants(explicit_inits(path.read_text())))
    (dest / "mypy.ini").write_text(_MYPY_INI)
    proc = subprocess.run([sys.executable, "-m", "mypyc", *modules], cwd=dest,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"mypyc failed in {dest}:\n{tail}")
    (dest / SOURCE_ROOT).write_text(str(root))
    stamp.write_text(digest)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) > 1:
        print("usage: python -m etcdsim_build.compiled [DIR]", file=sys.stderr)
        return 2
    dest = Path(args[0] if args else ROOT / "build" / "fast").resolve()
    try:
        built = build(dest)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{'built' if built else 'up to date:'} {dest} ({len(HOT)} modules compiled)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
