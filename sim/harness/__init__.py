"""The harness: a run from its config, scenarios drawn from seeds, the fault mix, sweeps,
shrinking and a failure's artifacts. Imports the clusters, the report and the world.
"""
