"""A compiled copy of the simulator: the hot modules built with mypyc, for long sweeps and bench.

`python -m etcdsim_build.compiled [DIR]` copies sim/ and etcdcore/ into DIR (build/fast by default,
what `make fast` builds) and compiles the modules in HOT there with mypyc, which ships with mypy;
gcc and Python's headers do the rest. With DIR first on sys.path, the same runs and digests,
three to four times as fast: the `etcdsim` launcher (sim.commands.launch) puts a fresh build/fast
there, and the wheel backend (etcdsim_build.backend) ships its extension modules.

Why a copy: compiled modules next to their sources would shadow every later edit until the
next build. The sources stay as they are (tests run them, and `etcdsim` when the copy is missing
or stale); the copy is rebuilt whenever their hash changes. Builds of one DIR take a lock, and a
finished build is moved into place, so concurrent builds (test workers, `make fast`, pip) and
readers never see half of one.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = ["HOT", "build", "extension_modules", "hot_modules", "installed_version", "is_fresh",
           "source_hash"]

ROOT = Path(__file__).resolve().parents[2]
_TOOLS = ("compiled.py", "dataclass_init.py", "final_constants.py")  # what shapes a build
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
    "etcdcore/wal/wal.py", "etcdcore/wal/record.py", "etcdcore/framing.py",
    "etcdcore/server/raft_node.py", "etcdcore/server/etcdserver.py", "etcdcore/server/txn.py",
    "etcdcore/server/v3rpc.py", "etcdcore/server/backend.py", "etcdcore/server/wait.py",
    "etcdcore/server/idutil.py", "etcdcore/probes.py",
    "etcdcore/mvcc/store.py", "etcdcore/mvcc/key_index.py", "etcdcore/mvcc/backend.py",
    "etcdcore/mvcc/kv.py", "etcdcore/mvcc/hash.py",
    "etcdcore/api/rpc.py", "etcdcore/api/raft_internal.py", "etcdcore/api/gateway.py",
    "etcdcore/api/compact_json.py", "etcdcore/api/call.py", "etcdcore/api/proto_size.py",
    "etcdcore/client/client.py",
    "sim/world/kernel.py", "sim/world/clock.py", "sim/world/node.py", "sim/world/network.py",
    "sim/world/disk.py", "sim/world/trace.py", "sim/world/world.py", "sim/world/rng.py",
    "sim/cluster/invariants.py",
    "sim/cluster/workload.py", "sim/cluster/etcd_cluster.py", "sim/cluster/raft_cluster.py",
    "sim/lincheck/checker.py", "sim/lincheck/models/etcd/", "sim/lincheck/history.py",
    "sim/lincheck/formats/jsonl.py", "sim/lincheck/formats/edn_reader.py",
    "sim/lincheck/formats/edn.py",
)  # an entry ending in / is a package: all its modules (hot_modules)

# Every import must resolve, so that mypyc compiles against the same types wherever it runs (a
# wheel's isolated build environment included): an absent simpy would be Any, and its events
# compiled as such crash. Dask is an optional extra, imported only for types outside HOT.
_MYPY_INI = """\
[mypy]
python_version = 3.11
[mypy-dask.*,distributed.*]
ignore_missing_imports = True
"""


def hot_modules(root: Path = ROOT, modules: Sequence[str] = HOT) -> list[str]:
    """`modules` as files: a package's entry (`dir/`) stands for each of its modules."""
    files: list[str] = []
    for module in modules:
        if module.endswith("/"):
            files += sorted(p.relative_to(root).as_posix() for p in (root / module).glob("*.py"))
        else:
            files.append(module)
    return files


def installed_version(distribution: str) -> str:
    """The version of `distribution` this Python imports ("none" if absent), without importing
    it or importlib.metadata (30 ms: the launcher hashes on every `etcdsim` command)."""
    spec = importlib.util.find_spec(distribution)
    if spec is None or spec.origin is None:
        return "none"
    for info in sorted(Path(spec.origin).parents[1].glob(f"{distribution}-*.dist-info")):
        return info.name[len(distribution) + 1:-len(".dist-info")]
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


def source_hash(root: Path = ROOT, modules: Sequence[str] = HOT) -> str:
    """A digest of every source file of the two packages, the module list, the Python, the
    mypyc that compiles them, the code that rewrites them for it, and simpy, whose typed classes
    the compiled code builds on."""
    h = hashlib.sha256(sys.version.encode())
    for distribution in ("mypy", "simpy"):
        h.update(f"{distribution} {installed_version(distribution)}".encode())
    h.update("\n".join(modules).encode())
    for tool in _TOOLS:
        h.update((Path(__file__).parent / tool).read_bytes())
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def build(dest: Path, modules: Sequence[str] = HOT, root: Path = ROOT) -> bool:
    """Copy the packages to `dest` and compile `modules` there; False if it was up to date.

    Raises RuntimeError with mypyc's last lines when the build fails (`dest` is then as it was).
    """
    import shutil  # here, not at the top: the launcher imports this module for source_hash

    digest = source_hash(root, modules)
    if _stamp(dest) == digest:
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _locked(dest.parent / f".{dest.name}.lock"):
        if _stamp(dest) == digest:  # built by another process while this one waited
            return False
        work = dest.parent / f".{dest.name}.building"
        shutil.rmtree(work, ignore_errors=True)
        _compile(work, modules, root)
        (work / SOURCE_ROOT).write_text(str(root))
        (work / STAMP).write_text(digest)
        # Nothing in the copy depends on where it sits (mypyc's modules find their shared
        # library by name on sys.path), so a finished build moves into place.
        old = dest.parent / f".{dest.name}.old"
        shutil.rmtree(old, ignore_errors=True)
        if dest.exists():
            dest.rename(old)
        work.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    return True


def _stamp(dest: Path) -> str | None:
    try:
        return (dest / STAMP).read_text()
    except OSError:
        return None


def is_fresh(dest: Path, root: Path = ROOT) -> bool:
    """Is the build at `dest` made from the sources at `root` as they are now?"""
    return _stamp(dest) == source_hash(root)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if need be); released when the process dies."""
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _compile(work: Path, modules: Sequence[str], root: Path) -> None:
    import shutil
    import subprocess

    from etcdsim_build.dataclass_init import explicit_inits
    from etcdsim_build.final_constants import final_constants

    work.mkdir(parents=True)
    for package in PACKAGES:
        shutil.copytree(root / package, work / package,
                        ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    files = hot_modules(work, modules)
    for module in files:  # etcdsim_build/dataclass_init.py, etcdsim_build/final_constants.py
        path = work / module
        path.write_text(final_constants(explicit_inits(path.read_text())))
    (work / "mypy.ini").write_text(_MYPY_INI)
    # The environment goes along: under pip's build isolation, it is what lets the child
    # Python import the mypy and setuptools installed for the build.
    proc = subprocess.run([sys.executable, "-m", "mypyc", *files], cwd=work,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"mypyc failed in {work}:\n{tail}")


def extension_modules(dest: Path) -> list[Path]:
    """The compiled modules of a build: those in the packages, and mypyc's shared library at
    the top (named after a hash of the module list, e.g. `1a2b3c__mypyc.cpython-311-...so`)."""
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    found = [p for p in dest.iterdir() if p.name.endswith(suffixes)]
    for package in PACKAGES:
        found += [p for p in (dest / package).rglob("*") if p.name.endswith(suffixes)]
    return sorted(found)


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
    print(f"{'built' if built else 'up to date:'} {dest} ({len(hot_modules())} modules compiled)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
