"""The Raft driver in the world: the Ready contract, WAL replay, and fail-stop on bad data."""

from __future__ import annotations

from etcdcore.raft.types import Entry
from etcdcore.server.raft_node import RaftNode
from etcdcore.wal.record import decode_all, encode_entry
from sim.cluster.config import RunConfig
from sim.cluster.raft_cluster import Cluster
from sim.world import partitions
from sim.world.node import NodeStatus

S = 1_000_000


def booted(seed: int = 1, nodes: int = 3) -> Cluster:
    cluster = Cluster(RunConfig(seed=seed, nodes=nodes, faults="none", proposals_per_sec=0))
    cluster.world.start_all()
    cluster.world.run_until(5 * S)
    assert cluster.leader() is not None
    return cluster


def service(cluster: Cluster, node: int) -> RaftNode:
    svc = cluster.world.nodes[node].service
    assert isinstance(svc, RaftNode)
    return svc


def followers(cluster: Cluster) -> list[int]:
    leader = cluster.leader()
    return [i for i in cluster.world.node_ids if i != leader]


def test_a_follower_acknowledges_entries_only_once_they_are_durable() -> None:
    cluster = booted()
    world = cluster.world
    leader = cluster.leader()
    assert leader is not None
    f1, f2 = followers(cluster)
    # Only f1 can make a quorum with the leader.
    world.network.apply_partition("isolate", partitions.isolate(world.node_ids, f2))
    world.nodes[f1].disk.stall(world.now + 3 * S)
    assert cluster.propose(b"x")
    world.run_until(world.now + 2 * S)
    assert b"x" not in cluster.applied_by  # f1 has the entry but not durably: no ack, no commit
    world.run_until(world.now + 2 * S)
    assert leader in cluster.applied_by[b"x"]


def test_a_leader_counts_itself_only_once_its_own_write_is_durable() -> None:
    cluster = booted()
    world = cluster.world
    leader = cluster.leader()
    assert leader is not None
    _f1, f2 = followers(cluster)
    world.network.apply_partition("isolate", partitions.isolate(world.node_ids, f2))
    # Shorter than an election timeout, so the stalled loop keeps its leadership.
    world.nodes[leader].disk.stall(world.now + S // 2)
    assert cluster.propose(b"y")
    world.run_until(world.now + S // 3)
    # f1 acknowledged; the leader's own copy is still in flight: one durable copy is no quorum.
    assert service(cluster, leader).committed < service(cluster, leader).last_index()
    assert b"y" not in cluster.applied_by
    world.run_until(world.now + S)
    assert leader in cluster.applied_by[b"y"]


def test_a_restarted_node_replays_its_wal_and_keeps_its_term_and_log() -> None:
    cluster = booted()
    world = cluster.world
    assert cluster.propose(b"z")
    world.run_until(world.now + S)
    node = followers(cluster)[0]
    term, last = service(cluster, node).term, service(cluster, node).last_index()
    world.nodes[node].crash()
    world.nodes[node].start()
    svc = service(cluster, node)
    assert svc.term >= term and svc.last_index() == last


def test_a_torn_wal_tail_is_cut_off_and_the_node_runs_on() -> None:
    cluster = booted()
    world = cluster.world
    node = followers(cluster)[0]
    disk = world.nodes[node].disk
    last = service(cluster, node).last_index()
    record = encode_entry(Entry(term=99, index=last + 1, data=b"torn"))
    world.nodes[node].crash()
    # The crash may itself have left a torn record; start from the valid records only.
    disk.truncate("wal/0.log", decode_all(disk.read("wal/0.log"), "wal/0.log").valid_length)
    disk.append("wal/0.log", record[: len(record) - 3])  # a torn prefix, as a crash leaves
    world.nodes[node].start()
    assert world.nodes[node].status is NodeStatus.UP
    assert service(cluster, node).last_index() == last
    assert any(e[1] == "wal.repair" and e[2] == node for e in world.trace)
    assert cluster.propose(b"after")
    world.run_until(world.now + 2 * S)
    assert node in cluster.applied_by[b"after"]


def test_a_corrupted_wal_record_stops_the_node_with_a_clear_error() -> None:
    cluster = booted()
    world = cluster.world
    node = followers(cluster)[0]
    disk = world.nodes[node].disk
    world.nodes[node].crash()
    data = bytearray(disk.read("wal/0.log"))
    data[20] ^= 0xFF  # inside the first record's body: synced bytes gone bad
    disk.write("wal/0.log", bytes(data))
    world.nodes[node].start()
    assert world.nodes[node].status is NodeStatus.FAILED
    reason = world.nodes[node].fail_reason or ""
    assert reason.startswith("wal: crc mismatch (record at offset 0 in wal/0.log)")


def test_a_disk_error_on_fsync_makes_the_node_stop() -> None:
    cluster = booted()
    world = cluster.world
    leader = cluster.leader()
    assert leader is not None
    world.nodes[leader].disk.set_error_rate("fsync", 1.0)
    cluster.propose(b"boom")
    world.run_until(world.now + S)
    assert world.nodes[leader].status is NodeStatus.FAILED
    assert (world.nodes[leader].fail_reason or "").startswith("wal:")
