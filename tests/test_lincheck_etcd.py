"""The etcd model, as rules of etcd's MVCC store, and the history generator built on it."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Iterator
from typing import Any

import pytest

from sim.lincheck.checker import check
from sim.lincheck.formats.jsonl import dump_jsonl, parse
from sim.lincheck.generate import corrupt, generate_etcd_history
from sim.lincheck.history import FrozenMap, HistoryError, Operation, Status, freeze
from sim.lincheck.models.etcd import (
    COMPACTED,
    FUTURE_REV,
    EtcdModel,
    EtcdState,
    StoreError,
    execute,
    parse_request,
    to_json,
)
from sim.lincheck.result import Verdict
from tests.lincheck_brute import brute_linearizable, replays, respects_real_time

Request = tuple[str, dict[str, Any]]


def run(*requests: Request) -> tuple[EtcdState, list[dict[str, Any]]]:
    """Apply requests one after another to an empty store: the final store and the responses."""
    state = EtcdModel().init()
    out: list[dict[str, Any]] = []
    for f, args in requests:
        try:
            state, resp = execute(state, parse_request(f, freeze(args)))
            out.append(to_json(resp))
        except StoreError as exc:
            out.append({"error": exc.message})
    return state, out


def put(key: str, value: str, **kw: Any) -> Request:
    return "put", {"key": key, "value": value, **kw}


def get(key: str, **kw: Any) -> Request:
    return "range", {"key": key, **kw}


def delete(key: str, **kw: Any) -> Request:
    return "delete_range", {"key": key, **kw}


def txn(compare: list[dict[str, Any]], success: list[dict[str, Any]],
        failure: list[dict[str, Any]] | None = None) -> Request:
    return "txn", {"compare": compare, "success": success, "failure": failure or []}


def kv(key: str, value: str, create: int, mod: int, version: int) -> dict[str, Any]:
    return {"key": key, "value": value, "create_revision": create, "mod_revision": mod,
            "version": version}


def op(f: str, args: dict[str, Any], result: Any = None, status: Status = Status.OK,
       call: int = 0, ret: int | None = 1, op_id: int = 0) -> Operation:
    return Operation(op_id, f"c{op_id}", call, None if status is Status.UNKNOWN else ret, f,
                     freeze(args), freeze(result), status)


def accepts(state: EtcdState, operation: Operation) -> list[Any]:
    return list(EtcdModel().step(state, operation))


# --- revisions -------------------------------------------------------------------------------


def test_an_empty_store_is_at_revision_1() -> None:
    _, (resp,) = run(get("a"))
    assert resp == {"revision": 1, "kvs": [], "count": 0, "more": False}


def test_a_put_bumps_the_revision_and_its_version_carries_it() -> None:
    _, out = run(put("a", "1"), put("b", "2"), get("a"), get("b"))
    assert [r["revision"] for r in out] == [2, 3, 3, 3]
    assert out[2]["kvs"] == [kv("a", "1", 2, 2, 1)]
    assert out[3]["kvs"] == [kv("b", "2", 3, 3, 1)]


def test_a_delete_of_nothing_does_not_bump_the_revision() -> None:
    state, out = run(put("a", "1"), delete("b"), delete("a", range_end="a\0"))
    assert out[1] == {"revision": 2, "deleted": 0, "prev_kvs": []}
    assert out[2]["revision"] == 3 and out[2]["deleted"] == 1
    assert state.revision == 3


def test_version_counts_puts_and_a_recreated_key_starts_again_at_1() -> None:
    _, out = run(put("a", "1"), put("a", "2"), delete("a", prev_kv=True), put("a", "3"), get("a"))
    assert out[2]["prev_kvs"] == [kv("a", "2", 2, 3, 2)]
    assert out[4]["kvs"] == [kv("a", "3", 5, 5, 1)]


def test_put_with_prev_kv_returns_the_version_it_replaced() -> None:
    _, out = run(put("a", "1", prev_kv=True), put("a", "2", prev_kv=True))
    assert out[0]["prev_kv"] is None
    assert out[1]["prev_kv"] == kv("a", "1", 2, 2, 1)


def test_a_range_at_an_old_revision_sees_the_old_value_under_the_current_header() -> None:
    _, out = run(put("a", "1"), put("a", "2"), delete("a"), get("a", revision=2),
                 get("a", revision=3), get("a", revision=4), get("a"))
    assert out[3] == {"revision": 4, "kvs": [kv("a", "1", 2, 2, 1)], "count": 1, "more": False}
    assert out[4]["kvs"] == [kv("a", "2", 2, 3, 2)]
    assert out[5]["kvs"] == [] and out[6]["kvs"] == []


# --- compaction ------------------------------------------------------------------------------


def test_ranges_below_the_compact_revision_fail_and_at_it_still_read() -> None:
    _, out = run(put("a", "1"), put("a", "2"), put("a", "3"), ("compact", {"revision": 3}),
                 get("a", revision=2), get("a", revision=3))
    assert out[3] == {"revision": 4}  # compaction answers with the current revision
    assert out[4] == {"error": COMPACTED}
    assert out[5]["kvs"] == [kv("a", "2", 2, 3, 2)]


def test_a_range_past_the_current_revision_is_a_future_revision() -> None:
    _, out = run(put("a", "1"), get("a", revision=3), get("a", revision=2))
    assert out[1] == {"error": FUTURE_REV}
    assert out[2]["kvs"] == [kv("a", "1", 2, 2, 1)]


def test_compacting_at_or_below_the_compact_revision_or_past_the_current_one_fails() -> None:
    state, out = run(put("a", "1"), put("a", "2"), ("compact", {"revision": 2}),
                     ("compact", {"revision": 2}), ("compact", {"revision": 1}),
                     ("compact", {"revision": 4}), ("compact", {"revision": 3}))
    assert out[2:] == [{"revision": 3}, {"error": COMPACTED}, {"error": COMPACTED},
                       {"error": FUTURE_REV}, {"revision": 3}]
    assert (state.revision, state.compact) == (3, 3)


def _puts_then(*later: Operation) -> list[Operation]:
    """Puts of a to revisions 2..5, called and returned before `later` (ids from 10)."""
    first = [op("put", {"key": "a", "value": f"v{i}"}, {"revision": i + 2}, call=10 * i,
                ret=10 * i + 5, op_id=i) for i in range(4)]
    return first + list(later)


def test_a_compaction_answers_with_the_revision_when_it_returns_not_when_it_took_effect() -> None:
    # Recorded from etcd 3.4: compact(999) -> 1013 and compact(1000) -> 1012, overlapping.
    # etcd refuses a compaction at or below the current one, so compact(999) took effect
    # first, at 1012 or before; it answered with the store's revision once it returned.
    ops = _puts_then(
        op("compact", {"revision": 3}, {"revision": 6}, call=100, ret=200, op_id=10),
        op("compact", {"revision": 4}, {"revision": 5}, call=110, ret=150, op_id=11),
        op("put", {"key": "a", "value": "v9"}, {"revision": 6}, call=120, ret=130, op_id=12))
    assert check(ops, EtcdModel(), timeout=30).verdict is Verdict.LINEARIZABLE


def test_a_compaction_never_took_effect_past_the_revision_it_answered_with() -> None:
    # Answered 5, so the store was at 5 or earlier when it took effect: compact(5) could, but a
    # compaction of 6 needs the put at 6 first, and that would make its answer at least 6.
    ops = _puts_then(
        op("compact", {"revision": 6}, {"revision": 5}, call=100, ret=200, op_id=10),
        op("put", {"key": "a", "value": "v9"}, {"revision": 6}, call=120, ret=130, op_id=11))
    assert check(ops, EtcdModel(), timeout=30).verdict is Verdict.NOT_LINEARIZABLE
    ops = _puts_then(
        op("compact", {"revision": 5}, {"revision": 5}, call=100, ret=200, op_id=10),
        op("range", {"key": "a"}, {"kvs": [kv("a", "v3", 2, 5, 4)], "count": 1,
                                   "revision": 5}, call=210, ret=220, op_id=11))
    assert check(ops, EtcdModel(), timeout=30).verdict is Verdict.LINEARIZABLE


# --- ranges ----------------------------------------------------------------------------------


def test_range_end_selects_one_key_a_half_open_range_or_every_key_from_key() -> None:
    _, out = run(put("a", "1"), put("b", "2"), put("c", "3"), get("a", range_end="c"),
                 get("b", range_end="\0"), get("b", range_end=""), get("c", range_end="a"))
    assert [k["key"] for k in out[3]["kvs"]] == ["a", "b"]
    assert [k["key"] for k in out[4]["kvs"]] == ["b", "c"]
    assert [k["key"] for k in out[5]["kvs"]] == ["b"]  # an empty range_end is no range_end
    assert out[6]["kvs"] == []


def test_limit_count_more_keys_only_and_count_only_are_etcds() -> None:
    _, out = run(put("a", "1"), put("b", "2"), put("c", "3"),
                 get("a", range_end="\0", limit=2), get("a", range_end="\0", limit=3),
                 get("a", range_end="\0", keys_only=True),
                 get("a", range_end="\0", count_only=True),
                 get("a", range_end="\0", sort_order="DESCEND", limit=1))
    assert (len(out[3]["kvs"]), out[3]["count"], out[3]["more"]) == (2, 3, True)
    assert (len(out[4]["kvs"]), out[4]["more"]) == (3, False)
    assert out[5]["kvs"][0] == kv("a", "", 2, 2, 1)
    assert (out[6]["kvs"], out[6]["count"]) == ([], 3)
    assert out[7]["kvs"] == [kv("c", "3", 4, 4, 1)]


# --- txn -------------------------------------------------------------------------------------


def cmp(key: str, target: str, result: str, **operand: Any) -> dict[str, Any]:
    return {"key": key, "target": target, "result": result, **operand}


def outcome(compare: dict[str, Any], *setup: Request) -> bool:
    _, out = run(*setup, txn([compare], []))
    return bool(out[-1]["succeeded"])


@pytest.mark.parametrize(("target", "field", "value", "results"), [
    ("VALUE", "value", "v", {"EQUAL": True, "NOT_EQUAL": False, "LESS": False, "GREATER": False}),
    ("VALUE", "value", "u", {"EQUAL": False, "NOT_EQUAL": True, "LESS": False, "GREATER": True}),
    ("VERSION", "version", 2, {"EQUAL": True, "GREATER": False, "LESS": False}),
    ("VERSION", "version", 1, {"EQUAL": False, "GREATER": True, "NOT_EQUAL": True}),
    ("CREATE", "create_revision", 2, {"EQUAL": True, "LESS": False}),
    ("CREATE", "create_revision", 3, {"LESS": True, "GREATER": False}),
    ("MOD", "mod_revision", 3, {"EQUAL": True, "NOT_EQUAL": False}),
    ("MOD", "mod_revision", 4, {"LESS": True, "EQUAL": False}),
    ("LEASE", "lease", 0, {"EQUAL": True, "GREATER": False}),
])
def test_txn_compares_on_each_target_with_each_result(
        target: str, field: str, value: Any, results: dict[str, bool]) -> None:
    setup = (put("k", "x"), put("k", "v"))  # k: create 2, mod 3, version 2, value "v"
    for result, expected in results.items():
        assert outcome(cmp("k", target, result, **{field: value}), *setup) is expected


def test_a_missing_key_compares_as_zero_but_never_on_its_value() -> None:
    assert outcome(cmp("k", "VERSION", "EQUAL", version=0))
    assert outcome(cmp("k", "CREATE", "EQUAL", create_revision=0))
    assert outcome(cmp("k", "MOD", "LESS", mod_revision=1))
    # "no way to represent a missing value": false whatever the result
    for result in ("EQUAL", "NOT_EQUAL", "LESS", "GREATER"):
        assert not outcome(cmp("k", "VALUE", result, value=""))
        assert not outcome(cmp("k", "VALUE", result, value="z"))


def test_a_compare_over_a_range_needs_every_key_to_pass() -> None:
    setup = (put("a", "1"), put("b", "1"), put("c", "2"))
    assert outcome(cmp("a", "VALUE", "EQUAL", value="1", range_end="c"), *setup)
    assert not outcome(cmp("a", "VALUE", "EQUAL", value="1", range_end="\0"), *setup)
    assert outcome(cmp("x", "VERSION", "EQUAL", version=0, range_end="z"))  # empty: a zero kv


def test_a_txn_that_writes_bumps_the_revision_once_for_all_its_changes() -> None:
    _, out = run(put("a", "0"), txn([], [{"request_put": {"key": "a", "value": "1"}},
                                         {"request_put": {"key": "b", "value": "2"}}]),
                 get("a", range_end="\0"))
    assert out[1]["revision"] == 3
    assert [r["response_put"]["revision"] for r in out[1]["responses"]] == [3, 3]
    assert [(k["key"], k["mod_revision"], k["version"]) for k in out[2]["kvs"]] == [
        ("a", 3, 2), ("b", 3, 1)]


def test_a_read_only_txn_or_one_that_deletes_nothing_keeps_the_revision() -> None:
    state, out = run(put("a", "1"), txn([], [{"request_range": {"key": "a"}}]),
                     txn([], [{"request_delete_range": {"key": "zz"}}]))
    assert [r["revision"] for r in out] == [2, 2, 2]
    assert out[2]["responses"] == [{"response_delete_range": {
        "revision": 2, "deleted": 0, "prev_kvs": []}}]
    assert state.revision == 2


def test_txn_ops_see_the_ops_before_them_and_read_at_the_revision_so_far() -> None:
    _, out = run(put("a", "1"), txn([], [{"request_range": {"key": "b"}},
                                         {"request_put": {"key": "b", "value": "2"}},
                                         {"request_range": {"key": "b"}}]))
    first, written, last = out[1]["responses"]
    first, last = first["response_range"], last["response_range"]
    assert written["response_put"]["revision"] == 3
    assert (first["revision"], first["kvs"]) == (2, [])
    assert (last["revision"], last["kvs"]) == (3, [kv("b", "2", 3, 3, 1)])


def test_a_nested_txn_decides_on_the_store_before_the_outer_txn_and_has_an_empty_header() -> None:
    inner = {"compare": [cmp("a", "VALUE", "EQUAL", value="1")],
             "success": [{"request_put": {"key": "c", "value": "inner-saw-1"}}],
             "failure": [{"request_put": {"key": "c", "value": "inner-saw-2"}}]}
    _, out = run(put("a", "1"), txn([cmp("a", "VERSION", "EQUAL", version=1)],
                                    [{"request_put": {"key": "a", "value": "2"}},
                                     {"request_txn": inner}]), get("c"))
    nested = out[1]["responses"][1]["response_txn"]
    assert nested["revision"] == 0 and nested["succeeded"] is True  # compared before a became 2
    assert nested["responses"][0]["response_put"]["revision"] == 3
    assert out[2]["kvs"][0]["value"] == "inner-saw-1"


def test_a_txn_fails_whole_when_a_range_its_branch_runs_is_compacted_or_in_the_future() -> None:
    reads = [{"request_range": {"key": "a", "revision": 2}}]
    state, out = run(put("a", "1"), put("a", "2"), ("compact", {"revision": 3}),
                     txn([], [{"request_put": {"key": "b", "value": "x"}}, *reads]),
                     txn([], [{"request_range": {"key": "a", "revision": 9}}]),
                     txn([cmp("a", "VERSION", "EQUAL", version=7)], reads, []))
    assert out[3:5] == [{"error": COMPACTED}, {"error": FUTURE_REV}]
    assert out[5]["succeeded"] is False  # the branch not taken is not checked
    assert state.revision == 3


# --- the model against recorded results ------------------------------------------------------


def test_the_model_accepts_a_result_only_at_the_revision_it_names() -> None:
    store, _ = run(put("a", "1"))
    good = op("put", {"key": "a", "value": "2"}, {"revision": 3, "prev_kv": None})
    late = op("put", {"key": "a", "value": "2"}, {"revision": 4, "prev_kv": None})
    (after,) = accepts(store, good)
    assert isinstance(after, EtcdState) and after.revision == 3
    assert accepts(store, late) == []
    assert accepts(store, op("range", {"key": "a"}, {"revision": 2, "kvs": [kv("a", "1", 2, 2, 1)],
                                                     "count": 1})) == [store]
    assert accepts(store, op("range", {"key": "a"}, {"revision": 2, "kvs": []})) == []


def test_a_recorded_result_is_checked_on_the_fields_it_has() -> None:
    store, _ = run(put("a", "1"))
    # an absent field is not checked; a key-value's absent value is proto3's ""
    assert accepts(store, op("range", {"key": "a"}, {"revision": 2})) == [store]
    keys_only = {"revision": 2, "kvs": [{"key": "a", "create_revision": 2, "mod_revision": 2,
                                         "version": 1}]}
    assert accepts(store, op("range", {"key": "a", "keys_only": True}, keys_only)) == [store]
    assert accepts(store, op("range", {"key": "a"}, keys_only)) == []
    assert accepts(store, op("range", {"key": "a"}, {"revision": 2, "count": 2})) == []


def test_an_error_result_is_accepted_only_when_the_store_would_give_it() -> None:
    store, _ = run(put("a", "1"), put("a", "2"), ("compact", {"revision": 3}))
    old = {"key": "a", "revision": 2}
    for message in (COMPACTED, "etcdserver: " + COMPACTED):
        assert accepts(store, op("range", old, {"error": message})) == [store]
    assert accepts(store, op("range", old, {"error": FUTURE_REV})) == []
    assert accepts(store, op("range", {"key": "a", "revision": 3}, {"error": COMPACTED})) == []
    assert accepts(store, op("compact", {"revision": 3}, {"error": COMPACTED})) == [store]
    # a validation error names no revision: the request did not take effect
    dup = op("txn", {"success": []}, {"error": "etcdserver: duplicate key given in txn request"})
    assert accepts(store, dup) == [store]


def test_an_unknown_outcome_write_takes_effect_and_an_unknown_read_changes_nothing() -> None:
    store, _ = run(put("a", "1"))
    (after,) = accepts(store, op("put", {"key": "b", "value": "2"}, status=Status.UNKNOWN))
    assert isinstance(after, EtcdState) and after.live()["b"].mod_revision == 3
    assert accepts(store, op("range", {"key": "a"}, status=Status.UNKNOWN)) == [store]
    cas = {"compare": [cmp("a", "VALUE", "EQUAL", value="1")],
           "success": [{"request_delete_range": {"key": "a"}}]}
    (gone,) = accepts(store, op("txn", cas, status=Status.UNKNOWN))
    assert isinstance(gone, EtcdState) and gone.live() == {}


def test_serializable_reads_promise_no_recency_so_they_are_not_checked() -> None:
    store, _ = run(put("a", "1"))
    stale = op("range", {"key": "a", "serializable": True}, {"revision": 1, "kvs": []})
    assert accepts(store, stale) == [store]


@pytest.mark.parametrize(("f", "args"), [
    ("get", {"key": "a"}),
    ("put", {"value": "no key"}),
    ("put", {"key": "a", "value": "v", "lease": 7}),
    ("range", {"key": "a", "sort_target": "VALUE"}),
    ("txn", {"compare": [{"key": "a", "target": "SIZE", "result": "EQUAL"}]}),
    ("txn", {"success": [{"request_watch": {}}]}),
])
def test_an_operation_that_is_not_etcds_is_a_history_error(f: str, args: dict[str, Any]) -> None:
    with pytest.raises(HistoryError, match="operation 0"):
        EtcdModel().step(EtcdModel().init(), op(f, args, {"revision": 1}))


def test_equal_stores_are_equal_and_hash_alike_whatever_path_built_them() -> None:
    a, _ = run(put("a", "1"), put("b", "2"))
    b, _ = run(put("a", "1"), put("b", "2"))
    c, _ = run(put("b", "2"), put("a", "1"))
    assert a == b and hash(a) == hash(b)
    assert a != c


# --- histories -------------------------------------------------------------------------------


def test_the_generator_is_deterministic_and_its_times_are_distinct_integers() -> None:
    one = generate_etcd_history(random.Random(5), 300, keys=20, clients=5, unknown=0.1)
    two = generate_etcd_history(random.Random(5), 300, keys=20, clients=5, unknown=0.1)
    assert one == two and len(one) == 300
    times = [t for o in one for t in (o.call, o.ret) if t is not None]
    assert len(times) == len(set(times)) and all(isinstance(t, int) for t in times)
    assert {o.status for o in one} == {Status.OK, Status.UNKNOWN}
    assert {o.f for o in one} == {"range", "put", "delete_range", "txn", "compact"}


def test_the_generators_effect_order_is_a_linearization() -> None:
    effects: list[int] = []
    ops = generate_etcd_history(random.Random(2), 400, keys=10, clients=8, unknown=0.1,
                                effects=effects)
    by_id = {o.id: o for o in ops}
    order = [by_id[i] for i in effects]
    assert replays(EtcdModel(), order)
    assert respects_real_time(order, ops)
    assert {o.id for o in ops if o.status is Status.OK} <= set(effects)


@pytest.mark.parametrize("seed", range(6))
def test_generated_histories_are_linearizable(seed: int) -> None:
    ops = generate_etcd_history(random.Random(seed), 600, keys=30, clients=10, unknown=0.05)
    result = check(ops, EtcdModel(), timeout=60)
    assert result.verdict is Verdict.LINEARIZABLE
    assert respects_real_time([o for i in result.parts[0].order for o in ops if o.id == i], ops)


def test_a_generated_history_survives_the_jsonl_format() -> None:
    ops = generate_etcd_history(random.Random(9), 300, keys=10, clients=6, unknown=0.1)
    history = parse(dump_jsonl(ops, model="etcd"))
    assert history.model_hint == "etcd"
    assert check(history.ops, EtcdModel(), timeout=60).verdict is Verdict.LINEARIZABLE


@pytest.mark.parametrize("seed", range(6))
def test_a_corrupted_history_is_not_linearizable(seed: int) -> None:
    ops = generate_etcd_history(random.Random(seed), 200, keys=20, clients=6, unknown=0.05)
    bad = corrupt(ops, random.Random(seed))
    assert sum(a != b for a, b in zip(ops, bad, strict=True)) == 1
    assert check(bad, EtcdModel(), timeout=60).verdict is Verdict.NOT_LINEARIZABLE


# --- agreement with brute force --------------------------------------------------------------


def _perturb(ops: list[Operation], rng: random.Random) -> list[Operation]:
    """One plausible change to one ok result: often, but not always, a contradiction."""
    oks = [o for o in ops if o.status is Status.OK and isinstance(o.result, FrozenMap)]
    if not oks:
        return ops
    target = rng.choice(oks)
    result = dict(target.result)
    donor = rng.choice(oks)
    choice = rng.randrange(4)
    if choice == 0 and "revision" in result:
        result["revision"] += rng.choice((-1, 1))
    elif choice == 1 and result.get("kvs"):
        kvs = [dict(k) for k in result["kvs"]]
        # Of the field's own type: a wrong-typed field is refused as bad input, not checked.
        field = rng.choice(["value", "mod_revision", "version"])
        kvs[0][field] = f"v{rng.randrange(8)}" if field == "value" else rng.choice([1, 2, 3])
        result["kvs"] = kvs
    elif choice == 2 and "succeeded" in result:
        result["succeeded"] = not result["succeeded"]
    elif target.f == donor.f:
        result = dict(donor.result)
    changed = dataclasses.replace(target, result=freeze(result))
    return [changed if o is target else o for o in ops]


def _scramble_hints(ops: list[Operation], rng: random.Random) -> list[Operation]:
    """Wrong words from the logs: each unknown outcome's hint replaced by a random one, half of
    them "never applied"."""
    return [dataclasses.replace(o, applied=rng.choice((0, rng.randrange(12))))
            if o.status is Status.UNKNOWN else o for o in ops]


def agree_with_brute_force(rng: random.Random, histories: int, verdicts: dict[bool, int],
                           mix: dict[str, int] | None = None, hints: str = "none") -> None:
    """Small generated histories, perturbed more often than not: the checker's verdict is the
    brute force's, and no contradiction is claimed of a linearizable one; counts the verdicts.
    `hints`: "none", "true" (the logs' word on unknown outcomes) or "scrambled" (random)."""
    for _ in range(histories):
        ops = generate_etcd_history(random.Random(rng.randrange(1 << 30)), rng.randint(2, 8),
                                    keys=rng.randint(1, 3), clients=rng.randint(1, 4),
                                    unknown=rng.choice((0.0, 0.3, 0.6)), latency=40, think=10,
                                    mix=mix, hints=hints != "none")
        if hints == "scrambled":
            ops = _scramble_hints(ops, rng)
        if rng.random() < 0.6:
            ops = _perturb(ops, rng)
        expected = brute_linearizable(ops, EtcdModel())
        got = check(ops, EtcdModel(), timeout=30).verdict
        assert got is (Verdict.LINEARIZABLE if expected else Verdict.NOT_LINEARIZABLE), ops
        assert not (EtcdModel().contradictions(ops) and expected), ops
        verdicts[expected] += 1


def test_the_checker_with_the_etcd_model_agrees_with_brute_force_on_small_histories() -> None:
    rng = random.Random(2024)
    verdicts = {True: 0, False: 0}
    agree_with_brute_force(rng, 300, verdicts)
    assert min(verdicts.values()) > 50  # both verdicts well exercised


@pytest.mark.parametrize("hints", ["true", "scrambled"])
def test_the_logs_word_on_unknown_outcomes_never_changes_a_verdict(hints: str) -> None:
    rng = random.Random(4049)
    verdicts = {True: 0, False: 0}
    agree_with_brute_force(rng, 200, verdicts, hints=hints)
    assert min(verdicts.values()) > 30


def _unknown_burst(took: int, lost: int, hints: bool) -> list[Operation]:
    """`took + lost` unknown-outcome puts over three keys (the first `took` took effect, in
    call order), then an ok scan that sees them: a member answering nobody in time."""
    ops: list[Operation] = []
    keys = ("a", "b", "c")
    last: dict[str, tuple[str, int, int, int]] = {}  # key -> value, create, mod, version
    for i in range(took + lost):
        key, rev = keys[i % 3], i + 2
        if i < took:
            _, create, _, version = last.get(key, ("", rev, 0, 0))
            last[key] = (f"v{i}", create, rev, version + 1)
        applied = (rev if i < took else 0) if hints else None
        ops.append(dataclasses.replace(
            op("put", {"key": key, "value": f"v{i}"}, status=Status.UNKNOWN, call=10 * i,
               op_id=i), applied=applied))
    kvs = [kv(k, v, c, m, n) for k, (v, c, m, n) in sorted(last.items())]
    t = 10 * (took + lost)
    ops.append(op("range", {"key": "a", "range_end": "d"},
                  {"kvs": kvs, "count": len(kvs), "revision": took + 1}, call=t, ret=t + 5,
                  op_id=took + lost))
    return ops


def test_with_the_logs_word_a_run_of_unknown_writes_is_placed_in_one_pass() -> None:
    # Which of 100 unknown writes took effect, and in what order, is what makes such searches
    # explode; the logs say, and the search follows them without a dead end.
    plain = check(_unknown_burst(80, 20, hints=False), EtcdModel(), timeout=60)
    hinted = check(_unknown_burst(80, 20, hints=True), EtcdModel(), timeout=60)
    assert plain.verdict is hinted.verdict is Verdict.LINEARIZABLE
    assert hinted.parts[0].explored <= 80 + 2
    assert hinted.parts[0].explored < plain.parts[0].explored


class _NoShortcuts(EtcdModel):
    """The etcd model without what `partition` prepares: the plain search."""

    def partition(self, ops: Any) -> list[list[Operation]]:
        return [list(ops)]


def _shortcut_histories() -> Iterator[list[Operation]]:
    """The small histories, some perturbed, that the shortcuts are compared on."""
    rng = random.Random(77)
    mix = {"get": 10, "get_old": 10, "scan": 5, "put": 20, "delete": 15, "cas": 20, "compact": 10}
    for _ in range(150):
        ops = generate_etcd_history(random.Random(rng.randrange(1 << 30)), rng.randint(8, 24),
                                    keys=rng.randint(1, 5), clients=rng.randint(2, 6),
                                    unknown=rng.choice((0.1, 0.3, 0.5)), latency=40, think=10,
                                    mix=rng.choice((None, mix)))
        for _ in range(rng.randint(0, 2)):
            ops = _perturb(ops, rng)
        yield ops


def test_the_search_shortcuts_never_change_a_verdict() -> None:
    verdicts: dict[Verdict, int] = {}
    for ops in _shortcut_histories():
        plain = check(ops, _NoShortcuts(), timeout=2).verdict
        if plain is Verdict.UNKNOWN:
            continue
        assert check(ops, EtcdModel(), timeout=20).verdict is plain, ops
        verdicts[plain] = verdicts.get(plain, 0) + 1
    assert min(verdicts.values()) > 20


@pytest.mark.parametrize("seed", range(4))
def test_contradictions_prove_a_corrupted_read_at_once_and_never_a_generated_history(
        seed: int) -> None:
    mix = {"get": 10, "get_old": 10, "scan": 5, "put": 20, "delete": 15, "cas": 20, "compact": 10}
    ops = generate_etcd_history(random.Random(seed), 2000, keys=50, clients=10, unknown=0.05,
                                mix=None if seed % 2 else mix)
    assert EtcdModel().contradictions(ops) == []
    bad = corrupt(ops, random.Random(seed))
    (changed,) = (b for a, b in zip(ops, bad, strict=True) if a != b)
    found = EtcdModel().contradictions(bad)
    assert found and changed.id in {i for i, _ in found}


def test_a_model_set_up_for_one_history_refuses_the_operations_of_another() -> None:
    model = EtcdModel()
    ops = generate_etcd_history(random.Random(1), 20, keys=3, clients=2, unknown=0.0)
    other = generate_etcd_history(random.Random(2), 20, keys=3, clients=2, unknown=0.0)
    model.partition(ops)
    with pytest.raises(ValueError, match="partition"):
        model.step(model.init(), other[0])


def sequential(*requests: Request, unknown: frozenset[int] = frozenset()) -> list[Operation]:
    """A history of requests run one after another; those in `unknown` lose their outcome."""
    _, out = run(*requests)
    return [op(f, args, None if i in unknown else result,
               Status.UNKNOWN if i in unknown else Status.OK, call=10 * i, ret=10 * i + 5,
               op_id=i)
            for i, ((f, args), result) in enumerate(zip(requests, out, strict=True))]


def test_a_txn_that_reads_a_key_and_then_writes_it_is_linearizable() -> None:
    # etcd refuses a put and a delete of one key in a txn, but not a range and a put of it
    ops = sequential(put("k", "1"), put("a", "1"),
                     txn([], [{"request_put": {"key": "x", "value": "1"}},
                              {"request_range": {"key": "k"}},
                              {"request_range": {"key": "n"}},
                              {"request_put": {"key": "k", "value": "2"}},
                              {"request_put": {"key": "n", "value": "2"}}]),
                     get("k"), get("n"), unknown=frozenset({1}))
    assert EtcdModel().contradictions(ops) == []
    assert brute_linearizable(ops, EtcdModel())
    assert check(ops, EtcdModel(), timeout=10).verdict is Verdict.LINEARIZABLE


# --- interchangeable unknown writes ----------------------------------------------------------


def _gap_history(unknown_puts: int, observed: int, version: int = 3) -> list[Operation]:
    """Unknown puts to k0 and k1 (one of them, `observed`, read back later), then an ok put
    at revision 8: six revisions that only unknown puts can have filled, `version` of them
    k0's (the read says so), the last at 7."""
    ops = [op("put", {"key": f"k{i % 2}", "value": f"u{i}"}, status=Status.UNKNOWN, call=i,
              op_id=i) for i in range(unknown_puts)]
    n = unknown_puts
    last = f"u{observed}"
    ops.append(op("put", {"key": "k2", "value": "z"}, {"revision": 8}, call=100, ret=101,
                  op_id=n))
    ops.append(op("range", {"key": "k0"}, {"revision": 8, "count": 1,
                                           "kvs": [kv("k0", last, 2, 7, version)]},
                  call=102, ret=103, op_id=n + 1))
    return ops


def _with_value_compare(ops: list[Operation], key: str, result: str,
                        value: str) -> tuple[list[Operation], EtcdModel]:
    """`ops` and an unknown txn comparing `key`'s value; with a model that has read them."""
    ops.append(op("txn", {"compare": [{"key": key, "target": "VALUE", "result": result,
                                       "value": value}], "success": []},
                  status=Status.UNKNOWN, call=7, op_id=50))
    model = EtcdModel()
    model.partition(ops)
    return ops, model


def test_unknown_writes_that_differ_only_in_values_nobody_sees_share_a_class() -> None:
    ops, model = _with_value_compare(_gap_history(6, observed=4), "k1", "EQUAL", "u3")
    classes = [model.interchangeable(o) for o in ops]
    assert classes[0] == classes[2]  # k0, values unseen
    assert classes[0] != classes[1]  # another key
    assert classes[4] != classes[0]  # u4 is read back: its own
    assert classes[3] != classes[1]  # u3 is named by a compare: its own
    assert model.interchangeable(ops[6]) is None  # an ok operation: in no class


def test_an_ordering_compare_on_values_tells_apart_the_values_on_either_side_of_it() -> None:
    # k1's unknown puts write u1 and u3 (and u5, u7); "u2" falls between u1 and u3 only.
    ops, model = _with_value_compare(_gap_history(8, observed=0), "k9", "LESS", "u2")
    assert model.interchangeable(ops[1]) != model.interchangeable(ops[3])
    assert model.interchangeable(ops[3]) == model.interchangeable(ops[5])
    ops, model = _with_value_compare(_gap_history(8, observed=0), "k9", "GREATER", "u4")
    assert model.interchangeable(ops[3]) != model.interchangeable(ops[5])
    assert model.interchangeable(ops[1]) == model.interchangeable(ops[3])


def test_revisions_filled_by_unknown_writes_are_searched_once_per_class_not_per_write() -> None:
    assert check(_gap_history(40, observed=38), EtcdModel()).verdict is Verdict.LINEARIZABLE
    # Seven puts of k0 in six revisions: no order of 40 unknown puts does it. Tried write by
    # write, that is tens of thousands of nodes; by class (k0's, k1's, the one read back), few.
    impossible = _gap_history(40, observed=38, version=7)
    assert EtcdModel().contradictions(impossible) == []  # only the search can tell
    result = check(impossible, EtcdModel(), timeout=60)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert result.parts[0].explored < 2_000


def test_interchangeable_classes_are_exercised_by_the_shortcut_comparison() -> None:
    shared = 0
    for ops in _shortcut_histories():
        model = EtcdModel()
        model.partition([o for o in ops if o.status is not Status.FAIL])
        classes = [model.interchangeable(o) for o in ops if o.status is Status.UNKNOWN]
        named = [c for c in classes if c is not None]
        shared += len(named) - len(set(named))
    assert shared > 50  # so the shortcut test above compares histories where classes matter


def _after_first(ops: list[Operation]) -> tuple[EtcdModel, EtcdState]:
    """A model set up for `ops`, and its store after the first of them."""
    model = EtcdModel()
    model.partition(ops)
    (state,) = model.step(model.init(), ops[0])
    return model, state


def test_a_txn_whose_mod_revision_compare_held_pins_the_keys_last_write() -> None:
    cas = {"compare": [{"key": "k", "target": "MOD", "result": "EQUAL", "mod_revision": 2}],
           "success": [{"request_put": {"key": "k", "value": "z"}}], "failure": []}
    ops = [
        op("put", {"key": "k", "value": "a"}, {"revision": 2}, call=0, ret=1, op_id=0),
        op("put", {"key": "k", "value": "b"}, status=Status.UNKNOWN, call=2, op_id=1),
        op("put", {"key": "j", "value": "c"}, status=Status.UNKNOWN, call=2, op_id=2),
        op("put", {"key": "j", "value": "x"}, {"revision": 4}, call=3, ret=4, op_id=3),
        op("txn", cas, {"revision": 5, "succeeded": True,
                        "responses": [{"response_put": {"revision": 5}}]},
           call=5, ret=6, op_id=4),
    ]
    model, at_2 = _after_first(ops)
    assert list(model.step(at_2, ops[1])) == []  # k was still at mod 2 when the txn ran
    assert len(list(model.step(at_2, ops[2]))) == 1
    assert check(ops, EtcdModel()).verdict is Verdict.LINEARIZABLE
    without_j = [o for o in ops if o.id != 2]
    assert check(without_j, EtcdModel()).verdict is Verdict.NOT_LINEARIZABLE


def test_an_unknown_write_that_leaves_too_few_revisions_for_a_counted_version_is_refused() -> None:
    # k read at revision 6 with version 4, created at 2: puts of k at 2, 3, 4 or 5, 6 = mod.
    ops = [
        op("put", {"key": "k", "value": "a"}, {"revision": 2}, call=0, ret=1, op_id=0),
        *[op("put", {"key": key, "value": f"u{i}"}, status=Status.UNKNOWN, call=2, op_id=i)
          for i, key in ((1, "k"), (2, "k"), (3, "j"))],
        op("range", {"key": "k"}, {"revision": 6, "count": 1, "kvs": [kv("k", "u9", 2, 6, 4)]},
           call=10, ret=11, op_id=4),
        op("put", {"key": "k", "value": "u9"}, status=Status.UNKNOWN, call=3, op_id=5),
    ]
    model, at_2 = _after_first(ops)
    # A put of j at 3 leaves 4 and 5 for the two puts of k before 6: room enough...
    (at_3,) = model.step(at_2, ops[3])
    # ...but then one more write of j would leave one revision for two puts.
    (at_4,) = model.step(at_3, ops[1])
    assert len(list(model.step(at_4, ops[2]))) == 1  # k at 5: fine
    other_j = op("put", {"key": "j", "value": "u7"}, status=Status.UNKNOWN, call=2, op_id=6)
    model2, b2 = _after_first([*ops, other_j])
    (b3,) = model2.step(b2, ops[3])
    assert list(model2.step(b3, other_j)) == []  # j at 4 leaves only 5 for k's two puts


def _absent_history(delete_called: int, j_returns: int) -> list[Operation]:
    """k put at 2, read absent at 5; j put at 5 by an ok request; in between, unknown: a put
    of j and a delete of k (called at `delete_called`)."""
    return [
        op("put", {"key": "k", "value": "a"}, {"revision": 2}, call=0, ret=1, op_id=0),
        op("put", {"key": "j", "value": "u1"}, status=Status.UNKNOWN, call=2, op_id=1),
        op("delete_range", {"key": "k"}, status=Status.UNKNOWN, call=delete_called, op_id=2),
        op("put", {"key": "j", "value": "x"}, {"revision": 5}, call=3, ret=j_returns, op_id=3),
        op("range", {"key": "k"}, {"revision": 5, "count": 0, "kvs": []}, call=6, ret=7,
           op_id=4),
    ]


@pytest.mark.parametrize(("delete_called", "refused"), [(2, False), (100, True)])
def test_a_key_read_absent_later_needs_a_delete_called_in_time(
        delete_called: int, refused: bool) -> None:
    ops = _absent_history(delete_called, j_returns=5)
    model, at_2 = _after_first(ops)
    # j at 3 leaves 4 for k's delete, which must have been called before the read returned.
    assert (list(model.step(at_2, ops[1])) == []) is refused
    expected = Verdict.NOT_LINEARIZABLE if refused else Verdict.LINEARIZABLE
    assert check(ops, EtcdModel()).verdict is expected


def test_a_delete_called_at_the_instant_the_read_returns_may_still_go_first() -> None:
    # Times are the simulation's microseconds: a call and a return may share one.
    ops = _absent_history(delete_called=7, j_returns=8)
    model, at_2 = _after_first(ops)
    assert len(list(model.step(at_2, ops[1]))) == 1  # j at 3, k's delete at 4
    assert check(ops, EtcdModel()).verdict is Verdict.LINEARIZABLE


# --- the idioms clients write, and the shapes of the etcdsim workload ------------------------

# The generator's mix with every txn shape the workload draws (see sim/lincheck/generate.py).
IDIOMS = {"get": 10, "scan": 4, "put": 20, "delete": 8, "cas": 8, "create": 10, "cas_value": 10,
          "guard": 10, "multi": 10, "ser": 5, "compact": 2}


def test_the_checker_agrees_with_brute_force_on_every_compare_and_txn_shape() -> None:
    rng = random.Random(2025)
    verdicts = {True: 0, False: 0}
    agree_with_brute_force(rng, 250, verdicts, mix=IDIOMS)
    assert min(verdicts.values()) > 40


def test_the_search_shortcuts_never_change_a_verdict_on_every_txn_shape() -> None:
    rng = random.Random(78)
    verdicts: dict[Verdict, int] = {}
    for _ in range(120):
        ops = generate_etcd_history(random.Random(rng.randrange(1 << 30)), rng.randint(8, 24),
                                    keys=rng.randint(1, 4), clients=rng.randint(2, 6),
                                    unknown=rng.choice((0.1, 0.3, 0.5)), latency=40, think=10,
                                    mix=IDIOMS)
        for _ in range(rng.randint(0, 2)):
            ops = _perturb(ops, rng)
        plain = check(ops, _NoShortcuts(), timeout=2).verdict
        if plain is Verdict.UNKNOWN:
            continue
        assert check(ops, EtcdModel(), timeout=20).verdict is plain, ops
        verdicts[plain] = verdicts.get(plain, 0) + 1
    assert min(verdicts.values()) > 15


def verdict(*ops: Operation) -> Verdict:
    return check(list(ops), EtcdModel(), timeout=10).verdict


def create(key: str, value: str) -> dict[str, Any]:
    return {"compare": [cmp(key, "VERSION", "EQUAL", version=0)],
            "success": [{"request_put": {"key": key, "value": value}}],
            "failure": [{"request_range": {"key": key}}]}


def test_create_if_absent_succeeds_for_one_creator_only() -> None:
    first = op("txn", create("lock", "a"), {"revision": 2, "succeeded": True, "responses": [
        {"response_put": {"revision": 2}}]}, call=0, ret=10, op_id=0)
    both = op("txn", create("lock", "b"), {"revision": 3, "succeeded": True, "responses": [
        {"response_put": {"revision": 3}}]}, call=1, ret=11, op_id=1)
    lost = op("txn", create("lock", "b"), {"revision": 2, "succeeded": False, "responses": [
        {"response_range": {"revision": 2, "count": 1, "kvs": [kv("lock", "a", 2, 2, 1)]}}]},
        call=1, ret=11, op_id=1)
    assert verdict(first, both) is Verdict.NOT_LINEARIZABLE
    assert verdict(first, lost) is Verdict.LINEARIZABLE


def test_a_swap_on_the_value_holds_only_while_the_key_has_that_value() -> None:
    def swap(old: str, new: str) -> dict[str, Any]:
        return {"compare": [cmp("k", "VALUE", "EQUAL", value=old)],
                "success": [{"request_put": {"key": "k", "value": new}}]}

    put0 = op("put", {"key": "k", "value": "v0"}, {"revision": 2}, call=0, ret=1, op_id=0)
    a = op("txn", swap("v0", "a"), {"revision": 3, "succeeded": True,
                                    "responses": [{"response_put": {"revision": 3}}]},
           call=2, ret=5, op_id=1)
    b = op("txn", swap("v0", "b"), {"revision": 4, "succeeded": True,
                                    "responses": [{"response_put": {"revision": 4}}]},
           call=3, ret=6, op_id=2)
    b_lost = op("txn", swap("v0", "b"), {"revision": 3, "succeeded": False, "responses": []},
                call=3, ret=6, op_id=2)
    assert verdict(put0, a, b) is Verdict.NOT_LINEARIZABLE
    assert verdict(put0, a, b_lost) is Verdict.LINEARIZABLE


def _stale(f: str, args: dict[str, Any], result: dict[str, Any]) -> Verdict:
    """A put of k=2 completes, then a read that still answers from before it."""
    return verdict(op("put", {"key": "k", "value": "1"}, {"revision": 2}, call=0, ret=1, op_id=0),
                   op("put", {"key": "k", "value": "2"}, {"revision": 3}, call=2, ret=3, op_id=1),
                   op(f, args, result, call=4, ret=5, op_id=2))


def test_a_stale_read_is_a_violation_unless_it_is_serializable() -> None:
    old = {"revision": 2, "count": 1, "kvs": [kv("k", "1", 2, 2, 1)]}
    assert _stale("range", {"key": "k"}, old) is Verdict.NOT_LINEARIZABLE
    assert _stale("range", {"key": "k", "serializable": True}, old) is Verdict.LINEARIZABLE


def test_a_read_only_txn_is_linearizable_unless_every_range_in_it_is_serializable() -> None:
    def reads(*serializable: bool) -> dict[str, Any]:
        return {"compare": [cmp("k", "VALUE", "EQUAL", value="1")],
                "success": [{"request_range": {"key": "k", "serializable": s}}
                            for s in serializable],
                "failure": []}

    def answer(n: int) -> dict[str, Any]:
        old = {"revision": 2, "count": 1, "kvs": [kv("k", "1", 2, 2, 1)]}
        return {"revision": 2, "succeeded": True, "responses": [{"response_range": old}] * n}

    # etcd serves a txn of serializable ranges from the member's store (isTxnSerializable)...
    assert _stale("txn", reads(True, True), answer(2)) is Verdict.LINEARIZABLE
    # ...and any other read-only txn after a linearizable read.
    assert _stale("txn", reads(True, False), answer(2)) is Verdict.NOT_LINEARIZABLE
    assert _stale("txn", reads(False), answer(1)) is Verdict.NOT_LINEARIZABLE
    # A txn with no op at all is serializable too: its compares may see an old store.
    compare_only = {"compare": [cmp("k", "VALUE", "EQUAL", value="1")]}
    assert _stale("txn", compare_only, {"revision": 2, "succeeded": True}) is \
        Verdict.LINEARIZABLE
    assert _stale("txn", {**compare_only, "success": [{"request_range": {"key": "k"}}]},
                  answer(1)) is Verdict.NOT_LINEARIZABLE


def test_an_unknown_read_only_txn_changes_nothing() -> None:
    store, _ = run(put("k", "1"))
    guard = {"compare": [cmp("k", "MOD", "GREATER", mod_revision=1)],
             "success": [{"request_range": {"key": "k"}}],
             "failure": [{"request_range": {"key": "j", "range_end": "z", "limit": 1}}]}
    assert accepts(store, op("txn", guard, status=Status.UNKNOWN)) == [store]


def test_ranges_with_options_read_as_etcd_answers_them() -> None:
    _, out = run(put("a", "1"), put("b", "2"), put("c", "3"), put("b", "4"),
                 get("a", range_end="d", sort_order="DESCEND", limit=2),
                 get("a", range_end="d", min_mod_revision=4),
                 get("a", range_end="d", max_create_revision=3, keys_only=True),
                 get("b", revision=3, count_only=True))
    assert [k["key"] for k in out[4]["kvs"]] == ["c", "b"] and out[4]["more"]
    assert [k["key"] for k in out[5]["kvs"]] == ["b", "c"] and out[5]["count"] == 3
    assert out[6]["kvs"] == [kv("a", "", 2, 2, 1), kv("b", "", 3, 5, 2)]
    assert (out[7]["kvs"], out[7]["count"]) == ([], 1)


def test_a_txn_is_described_by_its_compares_and_branches() -> None:
    done = op("txn", create("lock", "a"), {"revision": 2, "succeeded": True, "responses": []})
    assert EtcdModel().describe_operation(done) == \
        "txn(version(lock) = 0 ? put(lock, 'a') : range(lock)) -> rev 2 succeeded"
    guard = {"compare": [cmp("a", "MOD", "LESS", mod_revision=3),
                         cmp("a", "VALUE", "NOT_EQUAL", value="x", range_end="b")],
             "success": [{"request_range": {"key": "a", "serializable": True}}]}
    assert EtcdModel().describe_operation(op("txn", guard, status=Status.UNKNOWN)) == \
        "txn(mod(a) < 3 && value([a, 'b')) != 'x' ? range(a, serializable) : ) -> unknown"


def test_a_time_limit_that_runs_out_while_the_model_prepares_is_unknown_for_the_whole() -> None:
    ops = generate_etcd_history(random.Random(5), 3000, keys=20, clients=6, unknown=0.05)
    result = check(ops, EtcdModel(), timeout=1e-9)
    assert result.verdict is Verdict.UNKNOWN
    assert [(p.name, p.verdict, p.explored) for p in result.parts] == [
        ("all", Verdict.UNKNOWN, 0)]
    assert check(ops, EtcdModel(), timeout=60).verdict is Verdict.LINEARIZABLE
