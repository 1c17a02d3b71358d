"""This repo's own tests: etcdsim's pytest plugin (sim.pytest_plugin) is loaded through its
`pytest11` entry point; its hypothesis profiles are loaded here too, so they are in force even
when the plugin is disabled (`-p no:etcdsim`): `ci` under CI, `dev` otherwise, or the one named
in HYPOTHESIS_PROFILE (`fuzz` for long runs).
"""

from sim.pytest_plugin import register_profiles

register_profiles()

pytest_plugins = ["pytester"]  # tests/test_pytest_plugin.py runs pytest on small test files
