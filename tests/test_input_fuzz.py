"""Whatever a scenario file or a gateway request holds, reading it gives a value or the one
documented error, and takes memory in proportion to the text, never to the numbers in it.

Arbitrary bytes, and valid scenarios and requests with parts replaced by arbitrary JSON (huge
integers, NaN, deep nesting included). Quick in the normal run; `HYPOTHESIS_PROFILE=fuzz`
runs thousands of examples of each.
"""

from __future__ import annotations

import copy
import json
import random
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etcdcore.api import gateway, rpc
from etcdcore.api.proto_size import internal_raft_request_size
from etcdcore.api.rpctypes import TOO_MANY_OPS
from etcdcore.knobs import Knobs
from etcdcore.wal import wal_path
from sim.cluster.workload import WorkloadConfig, _Picker
from sim.commands.cli import main
from sim.commands.gateway import GatewayInputError, _parse_lines
from sim.harness.scenario import Scenario, ScenarioError
from sim.world.faults import LEADER, Fault

S = 1_000_000
T = TypeVar("T")

# Peak memory while reading a text of n characters: at most this much plus PER_CHAR * n.
MEMORY_BASE = 1 << 20
PER_CHAR = 64


def _within_memory(size: int, read: Callable[[], T]) -> T:
    """`read()`, asserting its peak allocation stays within the bound for a text of `size`."""
    tracemalloc.start()
    try:
        return read()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak <= MEMORY_BASE + PER_CHAR * size, (peak, size)


# ---- mutating a valid JSON value -----------------------------------------------------------

HUGE = "@@HUGE@@"  # replaced, in the text, by an integer of 5,000 digits
_leaves = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 1, 2**31, 2**63 - 1, 2**63, 2**64, HUGE, "", "leader", "halves",
                     "read", 1e308, -1e-320, 0.5, 2.0]),
    st.floats(), st.text(max_size=12))
_json = st.recursive(_leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=10)


@st.composite
def _mutated(draw: st.DrawFn, bases: list[Any]) -> str:
    """The JSON text of one of `bases` with one to three parts replaced, removed or added."""
    value = copy.deepcopy(draw(st.sampled_from(bases)))
    for _ in range(draw(st.integers(1, 3))):
        where = value
        while True:  # down to a random container
            keys = sorted(where) if isinstance(where, dict) else list(range(len(where)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            inner = where[key]
            if isinstance(inner, (dict, list)) and inner and draw(st.booleans()):
                where = inner
                continue
            how = draw(st.sampled_from(("replace", "remove", "add")))
            if how == "replace":
                where[key] = draw(_json)
            elif how == "remove" and isinstance(where, dict):
                del where[key]
            elif isinstance(where, dict):
                where[draw(st.text(max_size=8))] = draw(_json)
            else:
                where.append(draw(_json))
            break
    if not isinstance(value, (dict, list)) or draw(st.integers(0, 9)) == 0:
        value = draw(_json)  # now and then, nothing like the base at all
    return json.dumps(value).replace(json.dumps(HUGE), "9" * 5000)


# ---- scenario files ----------------------------------------------------------------------------


def _scenario_bases() -> list[Any]:
    rich = Scenario(
        seed=3, members=5, duration_us=40 * S, knobs=Knobs(max_inflight=8, fsync_base_us=50),
        mix=WorkloadConfig(clients=3, rate=12.5, max_ops=40, skip=((101, 2), (103, 7))),
        faults=(Fault(S, "slow_apply", node=2, duration_us=S, value=20_000, name=LEADER),
                Fault(2 * S, "hold", duration_us=S, value=1, name="isolate", count=5),
                Fault(3 * S, "disk_truncate_wal", node=4, value=100, name=wal_path()),
                Fault(4 * S, "failpoint", node=1, duration_us=S, name="raftBeforeSave"),
                Fault(5 * S, "disk_error", node=3, duration_us=S, value=100, name="fsync"),
                Fault(6 * S, "clock_leap", node=2, duration_us=S, value=-3 * S)))
    drawn = [Scenario.from_seed(seed, duration_us=30 * S, swarm=swarm).to_json()
             for seed, swarm in ((0, False), (1, True), (2, True))]
    return [rich.to_json(), *drawn]


SCENARIOS = _scenario_bases()


def _load_scenario(text: str) -> Scenario | None:
    try:
        return _within_memory(len(text), lambda: Scenario.loads(text))
    except ScenarioError as exc:
        assert "\n" not in str(exc)
        return None


@given(_mutated(SCENARIOS))
def test_a_mutated_scenario_is_read_or_refused_with_one_line(text: str) -> None:
    scenario = _load_scenario(text)
    if scenario is not None:  # what is taken is a scenario that writes and reads back the same
        assert Scenario.loads(scenario.dumps()) == scenario
        assert scenario.to_config().heal_at_us <= scenario.duration_us


@given(st.binary(max_size=3_000))
def test_arbitrary_bytes_are_refused_as_a_scenario(data: bytes) -> None:
    assert _load_scenario(data.decode("utf-8", "replace")) is None


def test_a_scenario_file_of_arbitrary_bytes_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(14)
    for size in (0, 1, 100, 5_000):
        (tmp_path / "scenario.json").write_bytes(rng.randbytes(size))
        assert main(["replay", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("etcdsim: error:") and err.count("\n") == 1


# ---- gateway requests ----------------------------------------------------------------------


def _request_bases() -> list[Any]:
    picker = _Picker(WorkloadConfig(), client=1, rand=random.Random(7))
    picker.last_rev = 20
    drawn = [picker.next() for _ in range(40)]
    txn = rpc.TxnRequest(
        compare=(rpc.Compare(rpc.CompareResult.LESS, rpc.CompareTarget.MOD, b"k",
                             mod_revision=9),),
        success=(rpc.PutRequest(b"k", b"v", prev_kv=True),
                 rpc.TxnRequest(failure=(rpc.DeleteRangeRequest(b"a", b"b"), None))),
        failure=(rpc.RangeRequest(b"a", b"\0", limit=3, revision=2,
                                  sort_order=rpc.SortOrder.DESCEND),))
    requests = [*drawn, txn, rpc.CompactionRequest(5, physical=True)]
    return [{"path": _PATH[type(r)], "body": gateway.request_to_json(r)} for r in requests]


_PATH = {rpc.RangeRequest: "/v3/kv/range", rpc.PutRequest: "/v3/kv/put",
         rpc.DeleteRangeRequest: "/v3/kv/deleterange", rpc.TxnRequest: "/v3/kv/txn",
         rpc.CompactionRequest: "/v3/kv/compaction"}
REQUESTS = _request_bases()


def _serve_line(text: str) -> list[rpc.Request | None]:
    """What the gateway makes of a requests file's text: a request, or None for a body it
    answers with an error. GatewayInputError for a file it refuses."""
    out: list[rpc.Request | None] = []
    for path, body in _parse_lines(text, "fuzz.jsonl"):
        try:
            out.append(gateway.request_from_json(path, body))
        except gateway.GatewayError as exc:
            assert exc.code == 3 and "\n" not in exc.message
            out.append(None)
    return out


def _read_requests(text: str) -> list[rpc.Request | None]:
    try:
        return _within_memory(len(text), lambda: _serve_line(text))
    except GatewayInputError as exc:
        assert str(exc).startswith("fuzz.jsonl") and "\n" not in str(exc)
        return []


@given(_mutated(REQUESTS))
def test_a_mutated_request_is_read_or_answered_with_invalid_argument(text: str) -> None:
    for request in _read_requests(text):
        if request is not None:  # a request taken is one the gateway's form carries unchanged
            path = _PATH[type(request)]
            assert gateway.request_from_json(path, gateway.request_to_json(request)) == request
            assert internal_raft_request_size(1 << 62, request) > 0


@given(st.binary(max_size=3_000))
def test_arbitrary_bytes_are_refused_or_answered_by_the_gateway(data: bytes) -> None:
    _read_requests(data.decode("utf-8", "replace"))


def _chain(levels: int) -> str:
    """A requests line: a txn of one op nested `levels` deep, a put at the bottom."""
    inner = '{"success": [{"request_put": {"key": "YQ=="}}]}'
    body = '{"success": [{"request_txn": ' * (levels - 1) + inner + "}]}" * (levels - 1)
    return f'{{"path": "/v3/kv/txn", "body": {body}}}'


@given(st.integers(1, 400))
def test_a_txn_nests_as_deep_as_max_txn_ops_lets_it_and_no_deeper(levels: int) -> None:
    # Each level's one op costs one of --max-txn-ops (128) for the levels below it.
    (request,) = _read_requests(_chain(levels))
    assert (request is not None) == (levels <= gateway.MAX_TXN_OPS)


def test_a_txn_nested_past_max_txn_ops_gets_etcds_answer() -> None:
    with pytest.raises(gateway.GatewayError) as exc:
        gateway.request_from_json("/v3/kv/txn", _parse_lines(_chain(300), "x")[0][1])
    assert exc.value.status == TOO_MANY_OPS


def test_a_line_nested_past_gos_json_reader_is_bad_input() -> None:
    deep = '{"path": "/v3/kv/range", "body": {"x": ' + "[" * 10_000 + "]" * 10_000 + "}}"
    with pytest.raises(GatewayInputError, match="nested more than 10000"):
        _parse_lines(deep, "deep.jsonl")
    just = '{"path": "/v3/kv/range", "body": {"key": "YQ==", "x": ' + "[" * 9_999 + \
        "]" * 9_999 + "}}"
    ((path, body),) = _parse_lines(just, "deep.jsonl")  # unknown fields are ignored
    assert gateway.request_from_json(path, body) == rpc.RangeRequest(b"a")


@pytest.mark.parametrize(("path", "field"), [
    ("/v3/kv/range", "revision"), ("/v3/kv/range", "limit"), ("/v3/kv/put", "lease"),
    ("/v3/kv/compaction", "revision")])
def test_an_integer_of_5000_digits_is_out_of_range_as_a_number_or_a_string(
    path: str, field: str
) -> None:
    for digits in ("9" * 5000, '"' + "9" * 5000 + '"', "-" + "9" * 5000):
        line = f'{{"path": "{path}", "body": {{"key": "YQ==", "{field}": {digits}}}}}'
        ((p, body),) = _parse_lines(line, "big.jsonl")
        with pytest.raises(gateway.GatewayError, match=f"body.{field}: .* is out of range"):
            gateway.request_from_json(p, body)
