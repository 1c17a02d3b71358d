"""A member under disk faults never serves wrong data: it repairs what a crash may leave of
unsynced writes, and stops itself (fail-stop) on damage to what it had synced."""

from __future__ import annotations

import json
from collections.abc import Callable

from other_process import digests_in_other_processes

from etcdcore.api import rpc
from sim.cluster.config import RunConfig
from sim.cluster.etcd_cluster import EtcdCluster
from sim.cluster.workload import WorkloadConfig
from sim.harness.scenario import Scenario, run_scenario
from sim.world.faults import Fault
from sim.world.node import NodeStatus

S = 1_000_000
DB = "member/snap/db"
WAL = "wal/0.log"


def cluster(seed: int = 1) -> EtcdCluster:
    """A quiet three-member cluster, run until every member knows the leader."""
    c = EtcdCluster(RunConfig(seed=seed, faults="none", clients=0, duration_us=60 * S))
    c.world.start_all()
    until(c, lambda: all(s.lead for s in c.servers().values()), 5 * S)
    return c


def until(c: EtcdCluster, cond: Callable[[], bool], within_us: int) -> None:
    limit = c.world.now + within_us
    while not cond():
        assert c.world.now < limit, "condition not reached in time"
        c.world.run_until(c.world.now + 1_000)


def put(c: EtcdCluster, member: int, key: bytes) -> None:
    server = c.servers()[member]
    server.env.spawn(_put(server, key), "test")


def _put(server: object, key: bytes) -> object:
    yield from server.put(rpc.PutRequest(key, b"v"))  # type: ignore[attr-defined]


def leader_of(c: EtcdCluster) -> int:
    return next(i for i, s in c.servers().items() if s.lead == i)


def test_a_bit_flip_in_the_backend_file_is_detected_before_any_read_is_served_from_it() -> None:
    c = cluster()
    leader = leader_of(c)
    for i in range(20):
        put(c, leader, b"k%d" % i)
    c.world.run_until(c.world.now + S)  # past the batch interval: the writes are in the file
    member = next(i for i in c.servers() if i != leader)
    node = c.world.nodes[member]
    node.crash()
    path, offset, _ = node.disk.flip_bit(DB) or ("", 0, 0)
    assert path == DB
    node.start()
    # The store is rebuilt from the file, every record checked, before the member answers
    # anyone: it stopped at the very instant it started.
    assert node.status is NodeStatus.FAILED
    reason = node.fail_reason or ""
    assert reason.startswith(f"backend: failed to open database {DB}: checksum error (record at")
    record = int(reason.rsplit("offset ", 1)[1].rstrip(")"))
    assert record <= offset


def test_a_member_whose_appends_were_misdirected_refuses_to_restart() -> None:
    c = cluster(seed=2)
    leader = leader_of(c)
    member = next(i for i in c.servers() if i != leader)
    disk = c.world.nodes[member].disk
    c.world.run_until(c.world.now + S)
    disk.set_misdirect_rate(1.0)
    for i in range(5):
        put(c, leader, b"m%d" % i)
        c.world.run_until(c.world.now + 20_000)
    disk.set_misdirect_rate(0.0)
    assert [e for e in c.world.trace if e[1] == "disk.misdirect" and e[2] == member]
    c.world.run_until(c.world.now + S)
    node = c.world.nodes[member]
    node.crash()
    node.start()
    c.world.run_until(c.world.now + 100_000)
    assert node.status is NodeStatus.FAILED
    reason = node.fail_reason or ""
    assert reason.startswith(("wal: crc mismatch", f"backend: failed to open database {DB}: "
                                                   "checksum error")), reason


def test_a_member_with_an_unreadable_wal_sector_stops_at_restart_with_the_disks_error() -> None:
    c = cluster(seed=3)
    member = next(i for i in c.servers() if i != leader_of(c))
    node = c.world.nodes[member]
    node.crash()
    assert node.disk.add_bad_sector(WAL) is not None
    node.start()
    c.world.run_until(c.world.now + 100_000)
    assert node.status is NodeStatus.FAILED
    assert "wal: " in (node.fail_reason or "") and "input/output error" in (node.fail_reason or "")


def each_new_disk_fault() -> Scenario:
    """Every new disk fault in one run: writes lost out of order on two members (under a slow
    disk, so that there is something unsynced to lose), and on member 3 misdirected writes, an
    unreadable sector, a flipped bit in the backend, and a cut synced WAL tail."""
    faults = [Fault(S, "disk_latency", node=n, duration_us=8 * S, value=30) for n in (1, 2)]
    faults += [Fault(t, "disk_lost_writes", node=n, duration_us=S // 2)
               for t in (2 * S, 4 * S + 300_000, 6 * S + 700_000) for n in (1, 2)]
    faults += [
        Fault(2 * S, "disk_misdirect", node=3, duration_us=2 * S, value=300),
        Fault(5 * S, "crash", node=3, duration_us=S // 2),
        Fault(6 * S, "disk_bad_sector", node=3, duration_us=S // 2),
        Fault(7 * S, "disk_bitflip", node=3, duration_us=S // 2, name=DB),
        Fault(9 * S, "disk_truncate_wal", node=3, value=900, name=WAL),
    ]
    # The faults stop at 10 s: the last 30% of the run, and at least 10 s, are fault-free.
    return Scenario(seed=23, duration_us=20 * S, mix=WorkloadConfig(clients=4, rate=150.0),
                    faults=tuple(sorted(faults, key=lambda f: f.at_us)))


def test_every_new_disk_fault_strikes_and_the_unmodified_code_passes_every_check() -> None:
    scenario = each_new_disk_fault()
    assert Scenario.loads(scenario.dumps()) == scenario
    result = run_scenario(scenario)
    assert result.violations == [], result.violations
    kinds = [e[1] for e in result.trace]
    for event in ("disk.lost_writes", "disk.misdirect", "disk.bad_sector", "disk.bitflip",
                  "disk.truncate_synced", "node.retire"):
        assert event in kinds, event
    # What a crash left of unsynced writes was repaired, lost sectors included.
    repairs = [e for e in result.trace if e[1] in ("wal.repair", "backend.repair")]
    assert any(e[-1] == "zeroed sectors" for e in repairs), repairs
    # Member 3 stopped on its damaged disk before it was taken out for good.
    fails = [str(e[3]) for e in result.trace if e[1] == "node.fail" and e[2] == 3]
    assert fails and all(r.startswith(("wal: ", "backend: failed to open database"))
                         for r in fails)


def test_each_new_disk_fault_gives_the_same_digest_in_another_process_and_hash_seed(
    tmp_path: object,
) -> None:
    scenario = each_new_disk_fault()
    path = tmp_path / "scenario.json"
    path.write_text(scenario.dumps())
    here = run_scenario(scenario).digest
    assert digests_in_other_processes(path, ("1", "987654")) == {here}
    assert json.loads(scenario.dumps())["faults"][0]["kind"] == "disk_latency"
