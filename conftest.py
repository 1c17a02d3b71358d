"""Hypothesis profiles for this repo's own tests, chosen explicitly.

Hypothesis loads its own `ci` profile when CI is set; we register ours under the same names and
load one ourselves so CI runs what we decided: `ci` under CI, `dev` otherwise, or the one named
in HYPOTHESIS_PROFILE (`fuzz` for long runs).
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "dev", max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci",
    max_examples=50,
    deadline=None,
    derandomize=True,  # a CI failure must replay the same way on a developer's machine
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz", max_examples=5_000, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)
