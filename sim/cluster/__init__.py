"""The systems under test wired into the world: the etcd and Raft clusters, the clients'
workload, the invariants watched as they run, and a run's config (RunConfig) and result
(RunResult). Imports the world, etcdcore and the checker; nothing of the harness.
"""
