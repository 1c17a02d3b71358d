"""Run a scenario file in fresh processes with other PYTHONHASHSEEDs: the digests they print."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_SCRIPT = ("import sys; from sim.harness.scenario import Scenario, run_scenario; "
           "print(run_scenario(Scenario.loads(open(sys.argv[1]).read())).digest)")


def digests_in_other_processes(path: Path, hash_seeds: tuple[str, ...] = ("3", "424242")
                               ) -> set[str]:
    """The digests of the scenario at `path`, one sources process per hash seed."""
    digests = set()
    for hash_seed in hash_seeds:
        env = dict(os.environ, PYTHONHASHSEED=hash_seed, ETCDSIM_BUILD="source")
        proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(path)], capture_output=True,
                              text=True, env=env, check=False)
        assert proc.returncode == 0, proc.stderr
        digests.add(proc.stdout.strip())
    return digests
