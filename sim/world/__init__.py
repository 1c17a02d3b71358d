"""The world: simulated time, randomness, network, disks and nodes, and the faults they suffer.

It knows no etcd: nodes run whatever the cluster layer boots on them, through the environment
Protocol etcdcore defines (etcdcore.env). Imports nothing above it.
"""
