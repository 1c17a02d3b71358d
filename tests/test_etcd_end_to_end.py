"""`etcdsim run` on the etcd workload ends in a verdict; the checker finds a broken read path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etcdcore import bugs
from sim.cluster.config import RunConfig
from sim.cluster.etcd_cluster import EtcdCluster
from sim.cluster.gateway import serve
from sim.commands.cli import main
from sim.harness.fault_mix import generate_faults
from sim.harness.runner import run
from sim.lincheck.formats.jsonl import parse, parse_objects
from sim.lincheck.history import Status
from sim.world.faults import FaultInjector

S = 1_000_000


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_run_with_default_faults_is_linearizable_converged_and_live(seed: int) -> None:
    result = run(RunConfig(seed=seed, duration_us=20 * S))
    assert result.ok, [v["detail"] for v in result.violations]
    for check in ("linearizable", "converged", "liveness"):
        assert result.checks[check].startswith("pass"), result.checks[check]
    assert result.ops["put"]["ok"] > 100 and result.ops["range"]["ok"] > 100


def test_run_writes_the_history_and_check_accepts_it_as_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "--seed", "4", "--duration", "10", "--json", "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["history"] == str(tmp_path / "history.jsonl")
    assert out["checks"]["linearizable"].startswith("pass")
    assert sum(out["ops"]["put"].values()) > 0
    assert main(["check", out["history"]]) == 0
    assert "linearizable" in capsys.readouterr().out


def first_linearizability_failure(seeds: range, bug: frozenset[str]) -> int | None:
    for seed in seeds:
        result = run(RunConfig(seed=seed, duration_us=20 * S, bugs=bug))
        if not result.checks["linearizable"].startswith("pass"):
            return seed
    return None


def test_serving_linearizable_reads_locally_is_caught_within_sixteen_seeds() -> None:
    assert first_linearizability_failure(
        range(16), frozenset({bugs.LINEARIZABLE_READ_LOCAL})) is not None


def test_the_unmodified_read_path_passes_the_same_seeds() -> None:
    assert first_linearizability_failure(range(16), frozenset()) is None


# ---- etcdsim gateway ---------------------------------------------------------------------


def test_the_gateway_answers_as_a_fresh_one_member_etcd_does() -> None:
    answers = serve([
        ("/v3/kv/put", {"key": "Zm9v", "value": "YmFy"}),
        ("/v3/kv/range", {"key": "Zm9v"}),
        ("/v3/kv/put", {"key": "", "value": "YmFy"}),
        ("/v3/kv/deleterange", {"key": "bm9uZQ=="}),
        ("/v3/kv/compaction", {"revision": "9"}),
        ("/v3/kv/range", {"key": "@@"}),
    ])
    header = {"cluster_id": "14841639068965178418", "member_id": "10276657743932975437",
              "revision": "2", "raft_term": "2"}
    assert answers[0] == {"header": header}
    assert answers[1] == {"header": header, "count": "1", "kvs": [
        {"key": "Zm9v", "create_revision": "2", "mod_revision": "2", "version": "1",
         "value": "YmFy"}]}
    assert answers[2] == {"error": "etcdserver: key is not provided", "code": 3,
                          "message": "etcdserver: key is not provided"}
    assert answers[3] == {"header": header}  # deleted 0 is a default: left out
    assert answers[4]["code"] == 11
    assert answers[4]["message"] == "etcdserver: mvcc: required revision is a future revision"
    assert answers[5]["code"] == 3 and "base64" in answers[5]["message"]


def test_gateway_prints_one_line_per_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    requests = tmp_path / "requests.jsonl"
    requests.write_text('{"path": "/v3/kv/put", "body": {"key": "YQ==", "value": "Yg=="}}\n\n'
                        '{"path": "/v3/kv/txn", "body": {}}\n')
    assert main(["gateway", "--requests", str(requests)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert json.loads(lines[1])["header"]["revision"] == "2"  # a txn of nothing: no revision


@pytest.mark.parametrize(("text", "message"), [
    ("not json\n", "requests.jsonl:1: not JSON"),
    ('{"path": "/v3/kv/put", "body": {}}\n[1]\n', "requests.jsonl:2: expected"),
    ('{"path": "/v3/kv/watch", "body": {}}\n', "does not serve '/v3/kv/watch'"),
    ('{"body": {}}\n', "requests.jsonl:1: expected"),
])
def test_gateway_refuses_a_bad_requests_file_with_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    requests = tmp_path / "requests.jsonl"
    requests.write_text(text)
    assert main(["gateway", "--requests", str(requests)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_gateway_names_a_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gateway", "--requests", "/nonexistent/requests.jsonl"]) == 2
    assert "cannot read /nonexistent/requests.jsonl" in capsys.readouterr().err


@pytest.mark.parametrize("seed", [3, 8])
def test_the_check_reads_the_history_exactly_as_its_jsonl_text_reads_back(seed: int) -> None:
    # The run's check parses the events in memory, skipping the text round trip.
    config = RunConfig(seed=seed, duration_us=20 * S)
    cluster = EtcdCluster(config)
    world = cluster.world
    FaultInjector(world, cluster.leader).schedule(
        generate_faults(world.streams.get("faults"), world.node_ids, S, config.heal_at_us),
        config.heal_at_us)
    world.start_all()
    world.run_until(config.duration_us)
    from_text = parse(cluster.history.dumps(), "<text>").ops
    assert len(from_text) > 100
    assert {op.status for op in from_text} >= {Status.OK, Status.FAIL}  # outcomes of all kinds
    assert parse_objects(cluster.history.objects(), "<text>").ops == from_text
