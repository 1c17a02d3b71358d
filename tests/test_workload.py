"""The etcd workload: the idioms clients write, every compare, read-heavy phases, pinned clients,
and a checker that reads every request it draws as etcd's server answers it."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from other_process import digests_in_other_processes

from etcdcore import bugs
from etcdcore.api import rpc, rpctypes
from etcdcore.api.rpctypes import EtcdError
from etcdcore.mvcc import Store
from etcdcore.server import txn as txnpkg
from etcdcore.server.v3rpc import check_intervals, check_txn_request
from sim.cluster.config import RunConfig
from sim.cluster.etcd_cluster import CLIENT_BASE, EtcdCluster
from sim.cluster.scripted import CheckFailed, ScriptedCluster
from sim.cluster.workload import (
    OP_NAMES,
    PHASE_US,
    WorkloadConfig,
    _Picker,
    request_args,
    response_result,
)
from sim.harness.runner import run
from sim.lincheck.history import freeze
from sim.lincheck.models.etcd import INITIAL, StoreError, execute, normalize_error, parse_request
from sim.lincheck.models.etcd.requests import is_read_only as model_read_only
from sim.lincheck.models.etcd.requests import is_serializable as model_serializable
from sim.lincheck.models.etcd.responses import matches, plain
from sim.world.faults import Fault

S = 1_000_000


# ---- what the workload draws ----------------------------------------------------------------


def serve(store: Store, req: rpc.Request) -> rpc.Response | EtcdError:
    """etcdcore's answer to `req` on `store`: the request checks, the applier, the header."""
    try:
        if isinstance(req, rpc.TxnRequest):
            check_txn_request(req, 128)
            check_intervals(req.success)
            check_intervals(req.failure)
            resp: rpc.Response = txnpkg.txn(store, req)
        elif isinstance(req, (rpc.PutRequest, rpc.DeleteRangeRequest)):
            t = store.write()
            try:
                resp = txnpkg.put(t, req) if isinstance(req, rpc.PutRequest) \
                    else txnpkg.delete_range(t, req)
            finally:
                t.end()
        elif isinstance(req, rpc.CompactionRequest):
            resp = txnpkg.compaction(store, req)
        else:
            resp = txnpkg.range_(store.read(), req)
    except EtcdError as exc:
        return exc
    assert resp.header is not None
    if resp.header.revision == 0:
        resp.header.revision = store.rev()  # KVServer's header fill
    return resp


def drawn(cfg: WorkloadConfig, seed: int, n: int) -> Iterator[tuple[rpc.Request, Any]]:
    """`n` requests of `cfg.clients` clients taking turns on one store, each with the store's
    answer (the clients learn from it, as in a run)."""
    rng = random.Random(seed)
    pickers = [_Picker(cfg, c, random.Random(rng.randrange(1 << 30)))
               for c in range(cfg.clients)]
    store = Store()
    for _ in range(n):
        picker = pickers[rng.randrange(len(pickers))]
        req = picker.next(read_heavy=rng.random() < 0.2)
        got = serve(store, req)
        if not isinstance(got, EtcdError):
            picker.saw(req, got)
        yield req, got


@pytest.mark.parametrize("seed", range(6))
def test_the_model_answers_every_request_the_workload_draws_as_the_server_does(seed: int) -> None:
    cfg = WorkloadConfig(clients=3, keys=(3, 10)[seed % 2], serializable=0.3)
    state = INITIAL
    for i, (req, got) in enumerate(drawn(cfg, seed, 400)):
        args = freeze(request_args(req))
        try:
            state, want = execute(state, parse_request(OP_NAMES[type(req)], args))
        except StoreError as exc:
            assert isinstance(got, EtcdError), f"request {i}: {args}"
            assert normalize_error(got.message) == exc.message, f"request {i}: {args}"
            continue
        assert not isinstance(got, EtcdError), f"request {i}: {args}: {got.message}"
        assert matches(plain(response_result(req, got)), want), f"request {i}: {args}"


def test_the_workload_never_draws_a_txn_etcd_refuses() -> None:
    # No key put twice, or put and deleted, on one branch: "duplicate key given in txn request".
    for req, got in drawn(WorkloadConfig(clients=2, keys=3), 1, 3000):
        assert not (isinstance(got, EtcdError) and got.code == rpctypes.Code.INVALID_ARGUMENT), req


def compares(req: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The compares of a txn's arguments, nested txns included."""
    yield from req.get("compare", ())
    for item in (*req.get("success", ()), *req.get("failure", ())):
        if "request_txn" in item:
            yield from compares(item["request_txn"])


@pytest.fixture(scope="module")
def history() -> list[dict[str, Any]]:
    """The events of one run of the default workload, with faults."""
    result = run(RunConfig(seed=4, duration_us=40 * S))
    assert result.ok, result.violations
    return [json.loads(line) for line in result.history.splitlines()[1:]]


def test_a_run_draws_every_compare_target_with_every_result(
        history: list[dict[str, Any]]) -> None:
    drawn_pairs = Counter((c["target"], c["result"]) for e in history
                          if e["kind"] == "invoke" and e["op"] == "txn"
                          for c in compares(e["args"]))
    targets = ("VERSION", "CREATE", "MOD", "VALUE")
    results = ("EQUAL", "NOT_EQUAL", "GREATER", "LESS")
    assert set(drawn_pairs) == {(t, r) for t in targets for r in results}  # and never LEASE
    assert min(drawn_pairs.values()) >= 5


def test_a_run_takes_both_branches_of_compares_on_every_target(
        history: list[dict[str, Any]]) -> None:
    invoked: dict[int, dict[str, Any]] = {}
    branches: dict[str, set[bool]] = {}
    for e in history:
        if e["kind"] == "invoke":
            invoked[e["client"]] = e
        elif e["kind"] == "ok" and e["op"] == "txn" and "succeeded" in e["result"]:
            for c in invoked[e["client"]]["args"].get("compare", ()):
                branches.setdefault(c["target"], set()).add(e["result"]["succeeded"])
    assert branches == {t: {True, False} for t in ("VERSION", "CREATE", "MOD", "VALUE")}


def test_a_run_holds_the_idioms_clients_write(history: list[dict[str, Any]]) -> None:
    txns = [e["args"] for e in history if e["kind"] == "invoke" and e["op"] == "txn"]

    def only(cmp: dict[str, Any], **want: Any) -> bool:
        return all(cmp.get(k) == v for k, v in want.items())

    create = [t for t in txns if len(t.get("compare", ())) == 1 and only(
        t["compare"][0], target="VERSION", result="EQUAL", version=0)]
    cas_value = [t for t in txns if len(t.get("compare", ())) == 1 and only(
        t["compare"][0], target="VALUE", result="EQUAL") and "request_put" in t["success"][0]]
    guarded_reads = [t for t in txns if t.get("compare") and all(
        "request_range" in op for op in (*t.get("success", ()), *t.get("failure", ())))]
    multi_key = [t for t in txns if len({c["key"] for c in t.get("compare", ())}) > 1
                 and len({next(iter(op.values()))["key"] for op in t.get("success", ())
                          if "request_txn" not in op}) > 1]
    assert create and cas_value and guarded_reads and multi_key
    assert any(all(next(iter(op.values())).get("serializable") for op in
                   (*t.get("success", ()), *t.get("failure", ()))) for t in guarded_reads)
    ranges = [e["args"] for e in history if e["kind"] == "invoke" and e["op"] == "range"]
    for option in ("limit", "keys_only", "count_only", "revision", "sort_order",
                   "serializable", "min_mod_revision", "max_create_revision"):
        assert any(option in r for r in ranges), option
    # delete-then-put: a client's delete of a key followed at once by its put of the key
    last: dict[int, dict[str, Any]] = {}
    recreated = 0
    for e in history:
        if e["kind"] == "invoke":
            before = last.get(e["client"])
            if before and before["op"] == "delete_range" and e["op"] == "put" \
                    and before["key"] == e["key"]:
                recreated += 1
            last[e["client"]] = e
    assert recreated >= 5


# ---- read-heavy phases ----------------------------------------------------------------------


def reads_by_phase(cfg: WorkloadConfig, seed: int) -> list[float]:
    """The share of reads (ranges, read-only txns) invoked in each phase of a quiet run."""
    result = run(RunConfig(seed=seed, duration_us=60 * S, faults="none", workload_mix=cfg))
    counts: dict[int, list[int]] = {}
    for line in result.history.splitlines()[1:]:
        e = json.loads(line)
        if e["kind"] != "invoke" or e["client"] == CLIENT_BASE:
            continue
        req = parse_request(e["op"], freeze(e["args"]))
        phase = counts.setdefault(e["time"] // PHASE_US, [0, 0])
        phase[0] += 1
        phase[1] += model_read_only(req)
    return [reads / n for n, reads in (counts[k] for k in sorted(counts)) if n >= 20]


def test_in_a_read_heavy_phase_most_operations_read_and_all_clients_change_phase_together(
) -> None:
    assert all(share < 0.6 for share in reads_by_phase(WorkloadConfig(read_heavy=0.0), 2))
    assert all(share > 0.8 for share in reads_by_phase(WorkloadConfig(read_heavy=1.0), 2))
    # Half the phases read heavy: each phase is one or the other, for every client at once.
    shares = reads_by_phase(WorkloadConfig(read_heavy=0.5, clients=6, rate=150.0), 2)
    assert all(share < 0.6 or share > 0.8 for share in shares)
    assert any(share < 0.6 for share in shares) and any(share > 0.8 for share in shares)


# ---- the idioms, raced ----------------------------------------------------------------------


def create(key: bytes, value: bytes) -> rpc.TxnRequest:
    absent = rpc.Compare(rpc.CompareResult.EQUAL, rpc.CompareTarget.VERSION, key, version=0)
    return rpc.TxnRequest((absent,), (rpc.PutRequest(key, value),), (rpc.RangeRequest(key),))


def swap(key: bytes, old: bytes, new: bytes) -> rpc.TxnRequest:
    same = rpc.Compare(rpc.CompareResult.EQUAL, rpc.CompareTarget.VALUE, key, value=old)
    return rpc.TxnRequest((same,), (rpc.PutRequest(key, new),), (rpc.RangeRequest(key),))


def test_create_if_absent_succeeds_for_exactly_one_of_two_racing_clients() -> None:
    c = ScriptedCluster(seed=3, clients=2)
    one, two = c.members[:2]
    a, b = c.race((create(b"lock", b"a"), one), (create(b"lock", b"b"), two))
    assert isinstance(a, rpc.TxnResponse) and isinstance(b, rpc.TxnResponse)
    assert sorted([a.succeeded, b.succeeded]) == [False, True]
    winner, loser = (a, b) if a.succeeded else (b, a)
    (seen,) = loser.responses
    assert isinstance(seen, rpc.RangeResponse)
    assert seen.kvs[0].value == (b"a" if winner is a else b"b")
    assert seen.kvs[0].mod_revision == winner.header.revision  # type: ignore[union-attr]
    c.check()


def test_a_compare_and_swap_on_the_value_succeeds_for_exactly_one_of_two_racing_clients(
) -> None:
    c = ScriptedCluster(seed=4, clients=2)
    c.put(b"k", b"v0")
    one, two = c.members[1:]
    a, b = c.race((swap(b"k", b"v0", b"a"), one), (swap(b"k", b"v0", b"b"), two))
    assert isinstance(a, rpc.TxnResponse) and isinstance(b, rpc.TxnResponse)
    assert a.succeeded != b.succeeded
    got = c.get(b"k")
    assert got.kvs[0].value == (b"a" if a.succeeded else b"b") and got.kvs[0].version == 2
    c.check()


def test_a_delete_then_a_put_starts_a_new_generation_of_the_key() -> None:
    c = ScriptedCluster(seed=5)
    c.put(b"k", b"1")
    c.put(b"k", b"2")
    c.delete(b"k")
    put = c.put(b"k", b"3")
    kv = c.get(b"k").kvs[0]
    assert (kv.create_revision, kv.mod_revision, kv.version) == (put.header.revision,) * 2 + (1,)
    c.check()


# ---- clients pinned to a member -------------------------------------------------------------


def test_a_pinned_client_stays_on_a_member_that_fails_it_and_a_failover_client_moves() -> None:
    pinned = ScriptedCluster(seed=6, clients=1, pinned=True)
    free = ScriptedCluster(seed=6, clients=1)
    for c in (pinned, free):
        down = c.followers()[0]
        c.crash(down)
        err = c.call(rpc.PutRequest(b"k", b"v"), member=down, client=1)
        assert isinstance(err, EtcdError) and err.code == rpctypes.Code.DEADLINE_EXCEEDED
        assert (c.cluster.clients[CLIENT_BASE + 1].endpoint == down) is (c is pinned)
        c.check()


def isolated_reads(member: str, planted: frozenset[str] = frozenset()
                   ) -> tuple[ScriptedCluster, list[Any], list[Any]]:
    """A pinned client on an isolated member (the leader or a follower) reads a key the
    majority has since overwritten: its linearizable reads (a range, a read-only txn), then its
    serializable ones."""
    c = ScriptedCluster(seed=7, clients=1, pinned=True, bugs=planted)
    c.put(b"k", b"old")
    c.run_for(200_000)  # every member applies it
    lonely = c.leader() if member == "leader" else c.followers()[0]
    assert lonely is not None
    c.isolate(lonely)
    majority = [m for m in c.members if m != lonely]
    c.wait_for(lambda: c.leader() in majority, 10 * S, "no leader in the majority")
    written = c.call(rpc.PutRequest(b"k", b"new"), member=majority[0])
    assert isinstance(written, rpc.PutResponse)
    read_txn = rpc.TxnRequest((), (rpc.RangeRequest(b"k"),))
    serial_txn = rpc.TxnRequest((), (rpc.RangeRequest(b"k", serializable=True),))
    linearizable = [c.call(req, member=lonely, client=1)
                    for req in (rpc.RangeRequest(b"k"), read_txn)]
    serializable = [c.call(req, member=lonely, client=1)
                    for req in (rpc.RangeRequest(b"k", serializable=True), serial_txn)]
    return c, linearizable, serializable


@pytest.mark.parametrize("member", ["follower", "leader"])
def test_a_client_pinned_to_an_isolated_member_never_reads_older_than_a_completed_write(
        member: str) -> None:
    c, linearizable, serializable = isolated_reads(member)
    # Linearizable: no answer from a minority, only errors (a timeout, no leader).
    assert all(isinstance(r, EtcdError) for r in linearizable), linearizable
    # Serializable: the member's own store, stale as etcd allows; the checker accepts that.
    rng, txn = serializable
    assert isinstance(rng, rpc.RangeResponse) and rng.kvs[0].value == b"old"
    assert isinstance(txn, rpc.TxnResponse)
    assert isinstance(txn.responses[0], rpc.RangeResponse)
    assert txn.responses[0].kvs[0].value == b"old"
    c.check()


def test_the_checker_reports_a_stale_linearizable_read_by_a_pinned_client() -> None:
    c, linearizable, _ = isolated_reads("follower", frozenset({bugs.LINEARIZABLE_READ_LOCAL}))
    stale = linearizable[0]
    assert isinstance(stale, rpc.RangeResponse) and stale.kvs[0].value == b"old"
    with pytest.raises(CheckFailed, match="not linearizable"):
        c.check()


def test_pinned_clients_start_on_distinct_members_and_an_isolation_hits_them() -> None:
    isolate = Fault(at_us=5 * S, kind="partition", name="isolate", duration_us=6 * S)
    config = RunConfig(seed=11, duration_us=20 * S, fault_schedule=(isolate,),
                       workload_mix=WorkloadConfig(clients=4, pinned=0.75))
    cluster = EtcdCluster(config)
    assert sorted(cluster.pinned_ids) == [CLIENT_BASE + 1, CLIENT_BASE + 2, CLIENT_BASE + 3]
    result = run(config)
    assert result.ok, result.violations
    (cuts,) = [e[3] for e in result.trace if e[1] == "net.partition"]
    links = [link.split("->") for link in str(cuts).split()]
    (lonely,) = set.intersection(*({int(a), int(b)} for a, b in links))
    members = [1, 2, 3]
    # A client starts on member (its id mod the members): consecutive ids, distinct members.
    (on_lonely,) = [i for i in cluster.pinned_ids if members[i % len(members)] == lonely]
    start = 5 * S
    (end,) = [e[0] for e in result.trace if e[1] == "net.heal"]
    opened: dict[int, dict[str, Any]] = {}
    answers: Counter[str] = Counter()
    for line in result.history.splitlines()[1:]:
        e = json.loads(line)
        if e["client"] != on_lonely:
            continue
        if e["kind"] == "invoke":
            opened[e["client"]] = e
            continue
        call = opened.pop(e["client"])
        if start < call["time"] and e["time"] < end:
            req = parse_request(call["op"], freeze(call["args"]))
            if model_read_only(req) and not model_serializable(req):
                answers[e["kind"]] += 1
    assert answers["fail"] > 0 and answers["ok"] == 0, answers


def test_phases_and_pinned_clients_give_the_same_digest_in_processes_with_other_hash_seeds(
        tmp_path: Path) -> None:
    from sim.harness.scenario import Scenario

    isolate = Fault(at_us=3 * S, kind="partition", name="isolate_leader", duration_us=4 * S)
    scenario = Scenario(seed=12, duration_us=15 * S, faults=(isolate,),
                        mix=WorkloadConfig(clients=5, pinned=0.6, read_heavy=0.5))
    path = tmp_path / "scenario.json"
    path.write_text(scenario.dumps())
    assert len(digests_in_other_processes(path, ("3", "4242"))) == 1
