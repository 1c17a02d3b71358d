"""Dask is an optional extra: without it, everything but `sweep --dask` works, and that says how
to install it."""

from __future__ import annotations

import subprocess
import sys

_WITHOUT_DASK = (
    "import sys\n"
    "sys.modules['distributed'] = None  # as if etcdsim[dask] were not installed\n"
    "sys.modules['dask'] = None\n"
    "from sim.commands.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _etcdsim_without_dask(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _WITHOUT_DASK, *args], capture_output=True,
                          text=True, check=False, timeout=300)


def test_sweep_on_dask_without_dask_says_how_to_install_it_and_exits_2() -> None:
    out = _etcdsim_without_dask("sweep", "--seeds", "0:1", "--dask", "tcp://127.0.0.1:8786")
    assert out.returncode == 2
    assert out.stderr.strip() == ("etcdsim: error: sweep --dask needs Dask, which is not "
                                  "installed: pip install 'etcdsim[dask]'")
    assert "Traceback" not in out.stderr


def test_a_local_sweep_needs_no_dask() -> None:
    out = _etcdsim_without_dask("sweep", "--seeds", "0:1", "--workers", "1", "--duration", "2",
                                "--faults", "none")
    assert out.returncode == 0, out.stderr
    assert "seeds run   1" in out.stdout
