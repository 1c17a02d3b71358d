"""etcdsim's PEP 517 build backend: setuptools', with the mypyc-compiled modules in the wheel.

`build_wheel` builds the compiled copy (etcdsim_build.compiled, in build/fast under the source
tree: the one `make fast` makes, reused when it is fresh), lets setuptools build the usual pure
wheel, then adds the copy's extension modules to it and tags it for this interpreter and
platform. Beside their `.py` sources, the extension modules are what Python imports
(ETCDSIM_BUILD=source imports the sources instead: sim.build_select).

Compiling needs mypy (mypyc) and etcdsim's dependencies in the build environment, which
`get_requires_for_build_wheel` asks pip for. The wheel stays pure (`py3-none-any`) without a C
compiler or Python's headers, on an interpreter other than CPython, or with ETCDSIM_COMPILE=0.
Only a wheel is ever compiled: an editable install and an sdist are setuptools' own, so
`pip install -e .` stays quick.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shlex
import shutil
import sys
import sysconfig
import tomllib
import zipfile
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import (
    build_editable,
    build_sdist,
    get_requires_for_build_editable,
    get_requires_for_build_sdist,
    prepare_metadata_for_build_editable,
    prepare_metadata_for_build_wheel,
)

from etcdsim_build import compiled

__all__ = [
    "MYPYC",
    "build_editable",
    "build_sdist",
    "build_wheel",
    "compile_requires",
    "get_requires_for_build_editable",
    "get_requires_for_build_sdist",
    "get_requires_for_build_wheel",
    "platform_tag",
    "prepare_metadata_for_build_editable",
    "prepare_metadata_for_build_wheel",
    "why_pure",
]

# mypyc ships with mypy; the range the compiled copy is known to build and pass its tests with.
MYPYC = "mypy>=2.4,<3"
OPT_OUT = "ETCDSIM_COMPILE"


def why_pure(environ: Mapping[str, str] = os.environ) -> str | None:
    """Why this build makes a pure wheel, or None when it compiles."""
    if environ.get(OPT_OUT, "").strip().lower() in ("0", "false", "no", "off"):
        return f"{OPT_OUT}={environ[OPT_OUT]}"
    if sys.implementation.name != "cpython":
        return f"mypyc compiles for CPython, not {sys.implementation.name}"
    # setuptools, which mypyc drives, calls $CC if set, else the compiler Python was built with.
    command = environ.get("CC") or str(sysconfig.get_config_var("CC") or "")
    words = shlex.split(command)
    if not words or shutil.which(words[0]) is None:
        return f"no C compiler ({command or 'none configured'!r} not found)"
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not headers.is_file():
        return f"no Python headers ({headers} not found)"
    return None


def compile_requires(root: Path) -> list[str]:
    """What compiling needs beside setuptools: mypy, and etcdsim's own dependencies, whose types
    mypyc must see as in a development venv (the compiled modules subclass simpy's)."""
    with open(root / "pyproject.toml", "rb") as f:
        dependencies: list[str] = tomllib.load(f)["project"]["dependencies"]
    return [MYPYC, *dependencies]


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    """setuptools' requirements, and `compile_requires` when the wheel is to be compiled."""
    requires: list[str] = list(_setuptools.get_requires_for_build_wheel(config_settings))
    return requires if why_pure() else [*requires, *compile_requires(Path.cwd())]


def build_wheel(wheel_directory: str, config_settings: dict[str, Any] | None = None,
                metadata_directory: str | None = None) -> str:
    """setuptools' wheel, with the compiled modules and a platform tag unless `why_pure()`."""
    reason = why_pure()
    if reason is not None:
        print(f"etcdsim: building a pure wheel: {reason}", file=sys.stderr)
        return str(_setuptools.build_wheel(wheel_directory, config_settings, metadata_directory))
    root = Path.cwd()  # PEP 517: hooks run in the source tree
    missing = [r for r in compile_requires(root) if not _installed(r)]
    if missing:  # a build without isolation, in an environment that lacks them
        raise RuntimeError(f"etcdsim: compiling needs {', '.join(missing)} installed; or set "
                           f"{OPT_OUT}=0 for a pure wheel")
    fast = root / "build" / "fast"
    built = compiled.build(fast, root=root)
    print(f"etcdsim: {'compiled' if built else 'reusing the fresh'} {fast}", file=sys.stderr)
    pure = Path(wheel_directory) / _setuptools.build_wheel(
        wheel_directory, config_settings, metadata_directory)
    return _with_extensions(pure, fast, compiled.extension_modules(fast)).name


def _installed(requirement: str) -> bool:
    name = re.split(r"[^A-Za-z0-9._-]", requirement, maxsplit=1)[0]
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def platform_tag() -> str:
    """This interpreter's wheel tag for extension modules, e.g. `cp311-cp311-linux_x86_64`.

    As setuptools' bdist_wheel gives it for a wheel with C extensions (mypyc's modules use the
    full CPython ABI, not the limited one).
    """
    python = f"cp{sys.version_info.major}{sys.version_info.minor}"
    abi = python + ("t" if sysconfig.get_config_var("Py_GIL_DISABLED") else "") \
        + ("d" if hasattr(sys, "gettotalrefcount") else "")
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{python}-{abi}-{platform}"


def _with_extensions(pure: Path, fast: Path, extensions: list[Path]) -> Path:
    """A copy of the wheel `pure` with `extensions` (from the build at `fast`) added, its WHEEL
    file saying it is not pure, its tag and name for this platform, and a new RECORD."""
    if not extensions:
        raise RuntimeError(f"etcdsim: no compiled modules in {fast}")
    tag = platform_tag()
    stem = pure.name.removesuffix(".whl").rsplit("-", 3)[0]  # name-version(-build)
    target = pure.with_name(f"{stem}-{tag}.whl")
    partial = target.with_name(target.name + ".part")
    record: list[str] = []
    with zipfile.ZipFile(pure) as src, \
            zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as out:
        record_name = next(n for n in src.namelist() if n.endswith(".dist-info/RECORD"))
        wheel_name = record_name.removesuffix("RECORD") + "WHEEL"

        def add(info: zipfile.ZipInfo, data: bytes) -> None:
            out.writestr(info, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{info.filename},sha256={digest.decode()},{len(data)}")

        for info in src.infolist():
            if info.filename == record_name:
                continue
            data = src.read(info)
            if info.filename == wheel_name:
                data = _retagged(data.decode(), tag).encode()
            add(info, data)
        for path in extensions:
            info = zipfile.ZipInfo.from_file(path, path.relative_to(fast).as_posix())
            info.compress_type = zipfile.ZIP_DEFLATED
            add(info, path.read_bytes())
        record.append(f"{record_name},,")
        out.writestr(src.getinfo(record_name), "\n".join(record) + "\n")
    partial.replace(target)
    if target != pure:
        pure.unlink()
    return target


def _retagged(wheel_file: str, tag: str) -> str:
    """The WHEEL metadata of a platform wheel: not purelib, one tag."""
    lines = [line for line in wheel_file.splitlines()
             if line.strip() and not line.startswith(("Root-Is-Purelib:", "Tag:"))]
    return "\n".join([*lines, "Root-Is-Purelib: false", f"Tag: {tag}"]) + "\n"
