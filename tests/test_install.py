"""A normal install runs the compiled modules; a checkout's `etcdsim` runs its fresh build/fast.

The wheel comes from the build backend (etcdsim_build.backend) as pip calls it, on a copy of the
checkout: compiled, platform-tagged, and installed it gives the digests of the sources, which
ETCDSIM_BUILD=source runs instead. Without a compiler, or with ETCDSIM_COMPILE=0, the wheel is
pure. The launcher (sim.commands.launch) switches to a fresh build/fast from any directory, and
to nothing when it is stale (saying so) or when the sources are asked for.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from checkout import (
    FAST,
    FULL_BUILD_GROUP,
    NO_FULL_BUILD,
    ROOT,
    build_wheel,
    checkout_copy,
    clean_env,
    full_build_at_hand,
    pip,
)
from etcdsim_build import backend
from etcdsim_build.compiled import STAMP, build, hot_modules, source_hash

from sim.cluster.config import RunConfig
from sim.harness.runner import run

RUN = ("run", "--seed", "3", "--duration", "5", "--json")


def needs_full_build(test: Callable[..., None]) -> Callable[..., None]:
    """Run `test` where build/fast is at hand, on the worker that builds it."""
    return pytest.mark.xdist_group(FULL_BUILD_GROUP)(
        pytest.mark.skipif(not full_build_at_hand(), reason=NO_FULL_BUILD)(test))


def _etcdsim(cwd: Path, *args: str, command: tuple[str, ...] = (sys.executable, "-m", "sim"),
             **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command, *args], cwd=cwd, env=clean_env(**env), capture_output=True,
                          text=True, check=False, timeout=600)


def _json_run(cwd: Path, **env: str) -> tuple[dict[str, object], str]:
    """`etcdsim run --json` (python -m sim) from `cwd`: its JSON and its stderr."""
    out = _etcdsim(cwd, *RUN, **env)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout), out.stderr


def _digest_of_the_sources() -> str:
    return run(RunConfig(seed=3, duration_us=5_000_000)).digest


def _wheel_file(wheel: zipfile.ZipFile, name: str) -> str:
    (path,) = [n for n in wheel.namelist() if n.endswith(f".dist-info/{name}")]
    return wheel.read(path).decode()


@needs_full_build
def test_a_wheel_carries_the_compiled_modules_and_runs_them_with_the_digests_of_the_sources(
        tmp_path: Path) -> None:
    build(FAST)  # shared with `make fast` and test_compiled: rebuilt only when a source changed
    source = checkout_copy(tmp_path / "src", with_build=True)
    wheel = build_wheel(source, tmp_path / "wheels")
    tag = backend.platform_tag()
    assert wheel.name == f"etcdsim-0.1.0-{tag}.whl"
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        assert f"Tag: {tag}" in _wheel_file(z, "WHEEL")
        assert "Root-Is-Purelib: false" in _wheel_file(z, "WHEEL")
        extensions = [n for n in names if n.endswith(".so")]
        # One per hot module, and mypyc's shared library at the top.
        assert len(extensions) == len(hot_modules(ROOT)) + 1
        assert [n for n in extensions if "/" not in n and "__mypyc" in n]
        assert any(n.startswith("sim/world/node.") for n in extensions)
        assert {"sim/world/node.py", "etcdcore/raft/raft.py"} <= set(names)  # and the sources
        for line in _wheel_file(z, "RECORD").splitlines():
            path, digest, size = line.rsplit(",", 2)
            if digest:
                data = z.read(path)
                b64 = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
                assert (digest, int(size)) == (f"sha256={b64.decode()}", len(data)), path
        assert len(_wheel_file(z, "RECORD").splitlines()) == len(names)
    site = tmp_path / "site"
    pip("install", "--no-deps", "--target", site, wheel)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    expected = _digest_of_the_sources()
    compiled, _ = _json_run(elsewhere, PYTHONPATH=str(site))
    assert (compiled["build"], compiled["digest"]) == ("compiled", expected)
    forced, _ = _json_run(elsewhere, PYTHONPATH=str(site), ETCDSIM_BUILD="source")
    assert (forced["build"], forced["digest"]) == ("source", expected)
    probe = _etcdsim(elsewhere, "-c", "import sim.world.node, etcdcore.raft.raft as r; "
                     "print(sim.world.node.__file__); print(r.__file__)",
                     command=(sys.executable,), PYTHONPATH=str(site), ETCDSIM_BUILD="source")
    assert probe.stdout.split() == [str(site / "sim/world/node.py"),
                                    str(site / "etcdcore/raft/raft.py")], probe.stderr


def test_without_a_c_compiler_or_with_compiling_switched_off_the_wheel_is_pure(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert "ETCDSIM_COMPILE=0" in str(backend.why_pure({"ETCDSIM_COMPILE": "0"}))
    assert "no C compiler" in str(backend.why_pure({"CC": "/nonexistent/cc -pthread"}))
    # mypy joins the build's requirements only when the wheel is to be compiled, and so do
    # etcdsim's dependencies: mypyc must see simpy's types, as in a development venv.
    monkeypatch.setattr(backend._setuptools, "get_requires_for_build_wheel",
                        lambda config_settings=None: [])
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("CC", "/nonexistent/cc")
    assert backend.get_requires_for_build_wheel() == []
    monkeypatch.setattr(backend, "why_pure", lambda environ=None: None)
    requires = backend.get_requires_for_build_wheel()
    assert requires[0] == backend.MYPYC
    assert [r for r in requires if r.startswith("simpy")]
    # The sdist carries the backend, and a wheel builds from it: pure when told so.
    source = checkout_copy(tmp_path / "src")
    sdist = subprocess.run(
        [sys.executable, "-c", "import sys; from etcdsim_build.backend import build_sdist; "
         "print(build_sdist(sys.argv[1]))", str(tmp_path / "dist")],
        cwd=source, env=clean_env(PYTHONPATH=str(source / "buildtools")), capture_output=True,
        text=True, check=True).stdout.split()[-1]
    with tarfile.open(tmp_path / "dist" / sdist) as tar:
        members = tar.getnames()
        assert "etcdsim-0.1.0/buildtools/etcdsim_build/backend.py" in members
        assert not [m for m in members if "/build/" in m or m.endswith((".so", ".pyc"))]
        tar.extractall(tmp_path / "unpacked", filter="data")
    unpacked = tmp_path / "unpacked" / "etcdsim-0.1.0"
    wheel = build_wheel(unpacked, tmp_path / "wheels", ETCDSIM_COMPILE="0")
    assert wheel.name == "etcdsim-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as z:
        assert not [n for n in z.namelist() if n.endswith(".so")]
        assert "sim/world/node.py" in z.namelist()
    assert not (unpacked / "build" / "fast").exists()  # nothing was compiled


def _fake_build(root: Path) -> Path:
    """A build/fast that is up to date for `root` without compiling: the sources, with a
    `sim.commands.cli` that says where it runs from."""
    fast = root / "build" / "fast"
    for package in ("sim", "etcdcore"):
        shutil.copytree(root / package, fast / package)
    (fast / "sim" / "commands" / "cli.py").write_text(
        "def main():\n    import sim.build_select\n    print('from', sim.build_select.__file__)\n"
        "    return 0\n")
    (fast / STAMP).write_text(source_hash(root))
    return fast


def test_the_launcher_runs_a_fresh_build_from_any_directory_and_the_sources_otherwise(
        tmp_path: Path) -> None:
    source = checkout_copy(tmp_path / "src")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    on_path = {"PYTHONPATH": str(source)}
    # No build: the sources, and not a word about it.
    result, stderr = _json_run(elsewhere, **on_path)
    assert (result["build"], stderr) == ("source", "")
    # A fresh build: every module of sim comes from it, those imported before the switch too.
    fast = _fake_build(source)
    out = _etcdsim(elsewhere, "bugs", **on_path)
    assert out.stdout.strip() == f"from {fast / 'sim' / 'build_select.py'}", out.stderr
    # Unless the sources are asked for.
    result, stderr = _json_run(elsewhere, ETCDSIM_BUILD="source", **on_path)
    assert (result["build"], stderr) == ("source", "")
    # A source edited since: stale, so the sources run, and one line says how to rebuild.
    edited = source / "sim" / "commands" / "bench.py"
    edited.write_text(edited.read_text() + "\n# an edit\n")
    result, stderr = _json_run(elsewhere, **on_path)
    assert result["build"] == "source"
    assert len(stderr.splitlines()) == 1 and "stale" in stderr and "make fast" in stderr


@needs_full_build
def test_the_etcdsim_command_of_a_checkout_runs_its_fresh_compiled_build_in_sweep_workers_too(
        tmp_path: Path) -> None:
    build(FAST)
    etcdsim = (str(Path(sys.executable).with_name("etcdsim")),)  # the console script
    expected = _digest_of_the_sources()
    out = _etcdsim(tmp_path, *RUN, command=etcdsim)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    assert json.loads(out.stdout)["build"] == "compiled"
    assert json.loads(out.stdout)["digest"] == expected
    out = _etcdsim(tmp_path, *RUN, command=etcdsim, ETCDSIM_BUILD="source")
    assert (json.loads(out.stdout)["build"], json.loads(out.stdout)["digest"]) == ("source",
                                                                                   expected)
    swept = _etcdsim(tmp_path, "sweep", "--seeds", "0:2", "--workers", "2", "--duration", "2",
                     command=etcdsim)
    assert swept.returncode == 0, swept.stderr
    assert "build       compiled\n" in swept.stdout
