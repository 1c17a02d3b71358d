"""This repo's own tests. etcdsim's pytest plugin (sim.pytest_plugin, loaded through its `pytest11`
entry point) registers its hypothesis profiles and loads none: this project selects one here,
for its own tests only. HYPOTHESIS_PROFILE names it (`dev`, `ci` or `fuzz`, short for
`etcdsim-dev`...; `fuzz` for long runs); else `etcdsim-ci` under CI, else `etcdsim-dev`. Chosen
explicitly, since hypothesis loads its own `ci` profile whenever CI is set.
"""

import os
from collections.abc import Mapping

from hypothesis import settings

from sim.pytest_plugin import PROFILES, register_profiles


def _profile(environ: Mapping[str, str]) -> str:
    asked = environ.get("HYPOTHESIS_PROFILE", "")
    if asked:
        return f"etcdsim-{asked}" if f"etcdsim-{asked}" in PROFILES else asked
    return "etcdsim-ci" if environ.get("CI") else "etcdsim-dev"


register_profiles()
settings.load_profile(_profile(os.environ))

pytest_plugins = ["pytester"]  # tests/test_pytest_plugin.py runs pytest on small test files
