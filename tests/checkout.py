"""The checkout's compiled build (build/fast) and copies of the checkout, for the build tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from etcdsim_build.compiled import is_fresh

ROOT = Path(__file__).resolve().parents[1]
FAST = ROOT / "build" / "fast"
# What a wheel is built from: the packages, the build backend and the project's metadata.
_TREES = ("sim", "etcdcore", "buildtools")
_FILES = ("pyproject.toml", "README.md", "MANIFEST.in")


def fast_is_fresh() -> bool:
    """build/fast is built, and from the sources as they are."""
    return is_fresh(FAST)


def full_build_at_hand() -> bool:
    """build/fast is fresh, or this is CI (where building it, about 100 s, is the point)."""
    return fast_is_fresh() or bool(os.environ.get("CI"))


NO_FULL_BUILD = "build/fast is missing or stale: `make fast`, or run with CI=true"
# The tests that need build/fast run one after the other on one xdist worker (`--dist
# loadgroup`, as `make test` runs): the first builds it on CI, and the others find it fresh
# instead of holding the other worker while they wait for its lock.
FULL_BUILD_GROUP = "build-fast"


def checkout_copy(dest: Path, with_build: bool = False) -> Path:
    """A copy of the checkout at `dest`; with `with_build`, of its fresh build/fast too (without
    mypyc's intermediate files), so that the copy's own build is found up to date."""
    for tree in _TREES:
        shutil.copytree(ROOT / tree, dest / tree,
                        ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    for name in _FILES:
        shutil.copy2(ROOT / name, dest / name)
    if with_build:
        shutil.copytree(FAST, dest / "build" / "fast",
                        ignore=lambda d, names: ["build"] if Path(d) == FAST else [])
    return dest


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without anything that picks a build or a path, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "ETCDSIM_BUILD", "ETCDSIM_COMPILE")}
    return {**env, **extra}


def pip(*args: str | Path, env: dict[str, str] | None = None) -> None:
    """This venv's pip; an AssertionError with its output if it fails."""
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *map(str, args)],
        env=env or clean_env(), capture_output=True, text=True, check=False, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def build_wheel(source: Path, out: Path, **env: str) -> Path:
    """The wheel pip builds from `source` with this venv's setuptools and mypy."""
    pip("wheel", "--no-build-isolation", "--no-deps", "--wheel-dir", out, source,
        env=clean_env(**env))
    (built,) = out.glob("*.whl")
    return built
