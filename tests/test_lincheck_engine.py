"""The linearizability checker: exact as brute force, witnesses that explain, honest timeouts."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lincheck_brute import (
    Recorded,
    brute_linearizable,
    precedes,
    replays,
    respects_real_time,
    run_history,
)

from sim.lincheck import checker
from sim.lincheck.checker import check
from sim.lincheck.formats import load
from sim.lincheck.history import Operation, Status
from sim.lincheck.model import Model
from sim.lincheck.models import KV, MODELS, CasRegister
from sim.lincheck.result import CheckResult, Verdict

OK, UNKNOWN, FAIL = Status.OK, Status.UNKNOWN, Status.FAIL
SAMPLES = Path("/work/shared/data/histories")


def op(
    id: int,
    call: int,
    ret: int | None,
    f: str,
    args: Any = None,
    result: Any = None,
    status: Status = OK,
    key: str | None = None,
) -> Operation:
    if status is not OK:
        ret, result = (None, None) if status is UNKNOWN else (ret, None)
    return Operation(id, f"c{id}", call, ret, f, args, result, status, key=key)


# --- running operations against the models, to make histories ----------------------------------


def register_apply(state: Any, f: str, args: Any, key: str | None) -> tuple[Any, Any]:
    if f == "read":
        return state, state
    if f == "write":
        return None, args
    old, new = args
    return state == old, (new if state == old else state)


def register_draw(rng: random.Random) -> tuple[str, Any, str | None]:
    r = rng.random()
    if r < 0.5:
        return "read", None, None
    if r < 0.75:
        return "write", rng.randrange(5), None
    return "cas", (rng.randrange(5), rng.randrange(5)), None


def kv_apply(state: Any, f: str, args: Any, key: str | None) -> tuple[Any, Any]:
    assert key is not None
    values = dict(state)
    current = values.get(key, "")
    if f == "get":
        return current, state
    values[key] = args if f == "put" else current + args
    return None, tuple(sorted((k, v) for k, v in values.items() if v))


def kv_draw(keys: int) -> Callable[[random.Random], tuple[str, Any, str | None]]:
    """Gets, puts and appends of unique tokens, as Jepsen and Porcupine write them."""
    count = 0

    def draw(rng: random.Random) -> tuple[str, Any, str | None]:
        nonlocal count
        count += 1
        key = str(rng.randrange(keys))
        r = rng.random()
        if r < 0.5:
            return "get", None, key
        return ("put" if r < 0.75 else "append"), f"x{count} ", key

    return draw


def assert_witness(result: CheckResult, history: list[Operation], model: Model) -> None:
    """Every part's order replays and respects real time; a failure names its stuck ops."""
    by_id = {o.id: o for o in history}
    for part in result.parts:
        order = [by_id[i] for i in part.order]
        assert respects_real_time(order, part.ops), part.name
        assert replays(model, order), part.name
        if part.verdict is Verdict.LINEARIZABLE:
            assert {o.id for o in part.ops if o.status is OK} <= set(part.order)
            assert not part.stuck
        elif part.verdict is Verdict.NOT_LINEARIZABLE:
            assert part.stuck
            for i in part.stuck:
                stuck = by_id[i]
                assert stuck.status is OK and i not in part.order
                assert not replays(model, [*order, stuck])
                # it was a candidate: nothing still unplaced had to go before it
                assert not any(
                    precedes(o, stuck) for o in part.ops if o.id not in part.order
                )


# --- small random histories: the checker agrees with brute force --------------------------------

REGISTER_VALUES = st.sampled_from([0, 1, 2])
REGISTER_OPS = st.one_of(
    st.tuples(st.just("read"), st.none(), st.none()),
    st.tuples(st.just("write"), REGISTER_VALUES, st.none()),
    st.tuples(st.just("cas"), st.tuples(REGISTER_VALUES, REGISTER_VALUES), st.none()),
)
KV_OPS = st.tuples(
    st.sampled_from(["get", "put", "append"]),
    st.sampled_from(["x", "y"]),
    st.sampled_from(["a", "b"]),
).map(lambda t: (t[0], None if t[0] == "get" else t[1], t[2]))


def wrong_result(f: str, right: Any) -> st.SearchStrategy[Any]:
    if f == "read":
        return st.sampled_from([None, 0, 1, 2]).filter(lambda v: v != right)
    if f == "cas":
        return st.just(not right)
    return st.sampled_from(["", "x", "y", "xy", "yx", "xx"]).filter(lambda v: v != right)


@st.composite
def small_histories(draw: st.DrawFn, model_name: str) -> list[Operation]:
    """Up to 8 operations run against the model at points in time, with overlapping intervals,
    unknown and failed outcomes, and now and then a wrong result."""
    apply = register_apply if model_name == "cas-register" else kv_apply
    specs = draw(st.lists(REGISTER_OPS if model_name == "cas-register" else KV_OPS, max_size=8))
    state = MODELS[model_name]().init()
    rows = []
    point = 0
    for n, (f, args, key) in enumerate(specs):
        point += draw(st.integers(1, 4))
        call = point - draw(st.integers(0, 8))
        ret = point + draw(st.integers(0, 8))
        status = draw(st.sampled_from([OK, OK, OK, UNKNOWN, FAIL]))
        result, after = apply(state, f, args, key)
        if status is OK or (status is UNKNOWN and draw(st.booleans())):
            state = after
        if status is OK and f in ("read", "cas", "get") and draw(st.integers(0, 3)) == 0:
            result = draw(wrong_result(f, result))
        rows.append((call, n, ret, f, args, result, status, key))
    rows.sort()
    return [
        op(i, call, ret, f, args, result, status, key)
        for i, (call, _, ret, f, args, result, status, key) in enumerate(rows)
    ]


@pytest.mark.parametrize("model_name", ["cas-register", "kv"])
@given(data=st.data())
def test_the_checker_agrees_with_brute_force_on_small_histories(
    model_name: str, data: st.DataObject
) -> None:
    history = data.draw(small_histories(model_name))
    model = MODELS[model_name]()
    result = check(history, model)
    expected = brute_linearizable(history, model)
    assert result.verdict is (Verdict.LINEARIZABLE if expected else Verdict.NOT_LINEARIZABLE)
    assert_witness(result, history, model)


# --- histories made by running the model are linearizable; a wrong result is caught -------------


@given(
    seed=st.integers(0, 2**32),
    n=st.integers(1, 300),
    clients=st.integers(1, 10),
    unknown=st.sampled_from([0.0, 0.05, 0.2]),
)
def test_a_register_history_made_by_running_the_model_is_linearizable(
    seed: int, n: int, clients: int, unknown: float
) -> None:
    rec = run_history(CasRegister(), register_apply, register_draw, n, clients=clients,
                      unknown=unknown, seed=seed)
    result = check(rec.ops, CasRegister())
    assert result.verdict is Verdict.LINEARIZABLE
    assert_witness(result, rec.ops, CasRegister())


@given(
    seed=st.integers(0, 2**32),
    n=st.integers(1, 300),
    clients=st.integers(1, 10),
    keys=st.integers(1, 5),
    unknown=st.sampled_from([0.0, 0.05, 0.2]),
)
def test_a_kv_history_made_by_running_the_model_is_linearizable(
    seed: int, n: int, clients: int, keys: int, unknown: float
) -> None:
    rec = run_history(KV(), kv_apply, kv_draw(keys), n, clients=clients, unknown=unknown,
                      seed=seed)
    result = check(rec.ops, KV())
    assert result.verdict is Verdict.LINEARIZABLE
    assert_witness(result, rec.ops, KV())


def corrupt(rec: Recorded, index: int) -> tuple[list[Operation], Operation]:
    """The history with the `index`-th observing operation's result made wrong."""
    observers = [o for o in rec.ops if o.status is OK and o.f in ("read", "cas", "get")]
    victim = observers[index % len(observers)]
    if victim.f == "cas":
        wrong: Any = not victim.result
    elif victim.f == "read":
        wrong = 99
    else:
        wrong = victim.result + "?"
    bad = Operation(victim.id, victim.client, victim.call, victim.ret, victim.f, victim.args,
                    wrong, OK, key=victim.key)
    return [bad if o.id == victim.id else o for o in rec.ops], bad


@given(seed=st.integers(0, 2**32), n=st.integers(2, 200), index=st.integers(0, 1000))
def test_a_wrong_result_in_a_sequential_register_history_is_not_linearizable(
    seed: int, n: int, index: int
) -> None:
    rec = run_history(CasRegister(), register_apply, register_draw, n, clients=1, seed=seed)
    if not any(o.f in ("read", "cas") for o in rec.ops):
        return
    history, bad = corrupt(rec, index)
    result = check(history, CasRegister())
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert_witness(result, history, CasRegister())
    # one client, one order: the search stops exactly at the corrupted operation
    assert result.parts[0].stuck == [bad.id]


@given(seed=st.integers(0, 2**32), n=st.integers(2, 200), index=st.integers(0, 1000))
def test_a_wrong_get_in_a_sequential_kv_history_is_not_linearizable(
    seed: int, n: int, index: int
) -> None:
    rec = run_history(KV(), kv_apply, kv_draw(3), n, clients=1, seed=seed)
    if not any(o.f == "get" for o in rec.ops):
        return
    history, bad = corrupt(rec, index)
    result = check(history, KV())
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert [p.name for p in result.failing_parts] == [bad.key]
    assert result.failing_parts[0].stuck == [bad.id]
    assert_witness(result, history, KV())


@given(
    seed=st.integers(0, 2**32),
    n=st.integers(5, 60),
    clients=st.integers(2, 8),
    model_name=st.sampled_from(["cas-register", "kv"]),
    index=st.none() | st.integers(0, 1000),
)
def test_the_narrow_first_search_never_changes_a_verdict(
    seed: int, n: int, clients: int, model_name: str, index: int | None
) -> None:
    # Many unknown outcomes, so the narrow search often leaves some out and the exhaustive
    # one must decide; with no unknown op in view, the narrow search is the exhaustive one.
    model = MODELS[model_name]()
    apply, draw = (register_apply, register_draw) if model_name == "cas-register" else (
        kv_apply, kv_draw(2))
    rec = run_history(model, apply, draw, n, clients=clients, unknown=0.3, seed=seed)
    history = rec.ops
    if index is not None and any(o.status is OK and o.f in ("read", "cas", "get") for o in history):
        history, _ = corrupt(rec, index)
    fast = check(history, model, timeout=30)
    with mock.patch.object(checker, "_NARROW_SCAN", 0):
        exhaustive = check(history, model, timeout=30)
    assert fast.verdict is exhaustive.verdict is not Verdict.UNKNOWN
    assert_witness(fast, history, model)


# --- rules of the search, one example each ------------------------------------------------------


def test_a_read_after_a_write_returned_must_see_it() -> None:
    history = [op(0, 0, 1, "write", 1), op(1, 2, 3, "read", result=None)]
    assert check(history, CasRegister()).verdict is Verdict.NOT_LINEARIZABLE


def test_overlapping_operations_may_take_effect_in_either_order() -> None:
    # The read returns the old value though the write was called first: it took effect first.
    history = [op(0, 0, 10, "write", 1), op(1, 1, 3, "read", result=None)]
    result = check(history, CasRegister())
    assert result.verdict is Verdict.LINEARIZABLE
    assert result.parts[0].order == [1, 0]


def test_operations_at_the_same_instant_overlap() -> None:
    # Precedence is strict: a return at t does not precede a call at t.
    history = [op(0, 0, 5, "write", 1), op(1, 5, 6, "read", result=None)]
    assert check(history, CasRegister()).verdict is Verdict.LINEARIZABLE


def test_failed_operations_are_ignored() -> None:
    seen = [op(0, 0, 1, "write", 1, status=FAIL), op(1, 2, 3, "read", result=1)]
    assert check(seen, CasRegister()).verdict is Verdict.NOT_LINEARIZABLE
    unseen = [op(0, 0, 1, "write", 1, status=FAIL), op(1, 2, 3, "read", result=None)]
    result = check(unseen, CasRegister())
    assert result.verdict is Verdict.LINEARIZABLE
    assert result.parts[0].order == [1]


def test_an_unknown_operation_may_take_effect_any_time_after_its_call_or_never() -> None:
    late = [
        op(0, 0, None, "write", 1, status=UNKNOWN),
        op(1, 1, 2, "read", result=None),
        op(2, 50, 51, "read", result=1),  # long after the client gave up on it
    ]
    result = check(late, CasRegister())
    assert result.verdict is Verdict.LINEARIZABLE
    assert result.parts[0].order == [1, 0, 2]
    never = [op(0, 0, None, "write", 1, status=UNKNOWN), op(1, 1, 2, "read", result=None)]
    result = check(never, CasRegister())
    assert result.verdict is Verdict.LINEARIZABLE
    assert result.parts[0].order == [1]  # it never happened, so it is left out


def test_an_unknown_operation_cannot_take_effect_before_its_call() -> None:
    history = [op(0, 0, 1, "read", result=1), op(1, 5, None, "write", 1, status=UNKNOWN)]
    assert check(history, CasRegister()).verdict is Verdict.NOT_LINEARIZABLE


def test_an_unknown_operation_takes_effect_at_most_once() -> None:
    history = [
        op(0, 0, None, "append", "x", status=UNKNOWN, key="k"),
        op(1, 1, 2, "get", result="x", key="k"),
        op(2, 3, 4, "put", "", key="k"),
        op(3, 5, 6, "get", result="x", key="k"),
    ]
    assert check(history, KV()).verdict is Verdict.NOT_LINEARIZABLE


def test_a_stale_read_is_the_stuck_operation_after_the_longest_prefix() -> None:
    history = [
        op(0, 0, 1, "write", 1),
        op(1, 2, 3, "read", result=1),
        op(2, 4, 5, "write", 2),
        op(3, 6, 7, "read", result=1),  # stale
        op(4, 8, 9, "write", 3),
    ]
    result = check(history, CasRegister())
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    part = result.parts[0]
    assert (part.name, part.order, part.stuck) == ("all", [0, 1, 2], [3])
    assert_witness(result, history, CasRegister())


def test_stuck_names_every_candidate_that_cannot_take_effect() -> None:
    # After write(1), a cas expecting 0 and a read of 2, concurrent, both fail.
    history = [
        op(0, 0, 1, "write", 1),
        op(1, 2, 5, "cas", (0, 3), result=True),
        op(2, 3, 6, "read", result=2),
    ]
    result = check(history, CasRegister())
    assert result.parts[0].order == [0]
    assert result.parts[0].stuck == [1, 2]


def test_keys_are_checked_independently_and_named() -> None:
    history = [
        op(0, 0, 1, "put", "x", key="a"),
        op(1, 0, 1, "put", "y", key="b"),
        op(2, 2, 3, "get", result="x", key="a"),
        op(3, 2, 3, "get", result="x", key="b"),  # b holds y
    ]
    result = check(history, KV())
    assert [(p.name, p.verdict) for p in result.parts] == [
        ("a", Verdict.LINEARIZABLE),
        ("b", Verdict.NOT_LINEARIZABLE),
    ]
    assert [p.name for p in result.failing_parts] == ["b"]
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert result.operations == 4


def test_a_part_with_no_ok_operations_is_linearizable() -> None:
    history = [op(0, 0, None, "write", 1, status=UNKNOWN)]
    result = check(history, CasRegister())
    assert result.verdict is Verdict.LINEARIZABLE
    assert result.parts[0].order == []


def test_an_ok_operation_without_a_return_time_is_an_error() -> None:
    bad = Operation(0, "c0", 0, None, "read", None, None, OK)
    with pytest.raises(ValueError, match="no return time"):
        check([bad], CasRegister())


def test_the_result_does_not_depend_on_the_order_operations_are_given_in() -> None:
    rec = run_history(KV(), kv_apply, kv_draw(4), 400, clients=10, unknown=0.1, seed=7)
    history, _ = corrupt(rec, 17)
    first = check(history, KV())
    shuffled = list(history)
    random.Random(1).shuffle(shuffled)
    second = check(shuffled, KV())
    assert first.verdict is second.verdict is Verdict.NOT_LINEARIZABLE
    assert [(p.name, p.verdict, p.order, p.stuck, p.explored) for p in first.parts] == [
        (p.name, p.verdict, p.order, p.stuck, p.explored) for p in second.parts
    ]


# --- the time limit -----------------------------------------------------------------------------


def hard_history(n: int = 14) -> list[Operation]:
    """n concurrent appends of distinct tokens, then a get no order of them can produce."""
    appends = [op(i, 0, 100, "append", f"t{i} ", key="k") for i in range(n)]
    return [*appends, op(n, 101, 102, "get", result="impossible", key="k")]


def test_a_tiny_time_limit_gives_unknown_never_a_guess() -> None:
    result = check(hard_history(), KV(), timeout=1e-9)
    assert result.verdict is Verdict.UNKNOWN
    assert [p.verdict for p in result.parts] == [Verdict.UNKNOWN]


def test_a_search_cut_short_by_the_time_limit_is_unknown() -> None:
    history = hard_history()
    # Long enough to get deep even on a loaded machine, far too short for 14! orders.
    result = check(history, KV(), timeout=0.5)
    assert result.verdict is Verdict.UNKNOWN
    part = result.parts[0]
    assert part.explored > 0
    assert result.elapsed < 5
    # how far it got: a linearizable prefix, and the get it could not place after it
    assert len(part.order) == 14
    assert part.stuck == [14]
    assert_witness(result, history, KV())


def test_a_part_known_to_fail_outweighs_one_that_ran_out_of_time() -> None:
    history = [*hard_history(), op(100, 0, 1, "get", result="nothing", key="a")]
    result = check(history, KV(), timeout=0.05)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert {p.name: p.verdict for p in result.parts} == {
        "a": Verdict.NOT_LINEARIZABLE,
        "k": Verdict.UNKNOWN,
    }


def test_a_hard_part_never_hides_an_easy_failing_one() -> None:
    # The hard key sorts first and is the smaller part; the failing key has more operations.
    # Searched one after the other, the hard key would take the whole time limit.
    hard = [dataclasses.replace(o, key="a") for o in hard_history(14)]
    failing = [op(100 + i, 200 + 2 * i, 201 + 2 * i, "append", f"x{i} ", key="b")
               for i in range(30)]
    failing.append(op(200, 300, 301, "get", result="x0 ", key="b"))
    result = check([*hard, *failing], KV(), timeout=10)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert {p.name: p.verdict for p in result.parts} == {
        "a": Verdict.UNKNOWN,  # left undecided: the check stops at the first failing part
        "b": Verdict.NOT_LINEARIZABLE,
    }


# --- models -------------------------------------------------------------------------------------


def test_the_registry_names_the_models() -> None:
    assert MODELS["cas-register"] is CasRegister
    assert MODELS["kv"] is KV
    assert all(cls.name == name for name, cls in MODELS.items())


def test_a_cas_register_follows_compare_and_set() -> None:
    reg = CasRegister()
    assert reg.init() is None
    assert list(reg.step(2, op(0, 0, 1, "cas", (2, 0), result=True))) == [0]
    assert list(reg.step(1, op(0, 0, 1, "cas", (2, 0), result=True))) == []
    assert list(reg.step(1, op(0, 0, 1, "cas", (2, 0), result=False))) == [1]
    assert list(reg.step(2, op(0, 0, 1, "cas", (2, 0), result=False))) == []
    # unknown: whichever branch the state decides
    assert list(reg.step(2, op(0, 0, None, "cas", (2, 0), status=UNKNOWN))) == [0]
    assert list(reg.step(1, op(0, 0, None, "cas", (2, 0), status=UNKNOWN))) == [1]
    assert list(reg.step(1, op(0, 0, None, "read", status=UNKNOWN))) == [1]


def test_models_describe_operations_for_people() -> None:
    reg = CasRegister()
    assert reg.describe_operation(op(0, 0, 1, "cas", (2, 0), result=True)) == "cas(2→0) = ok"
    assert reg.describe_operation(op(0, 0, 1, "cas", (2, 0), result=False)) == "cas(2→0) = fail"
    assert reg.describe_operation(op(0, 0, 1, "read", result=None)) == "read() = nil"
    assert reg.describe_operation(op(0, 0, 1, "read", result=3)) == "read() = 3"
    assert reg.describe_operation(op(0, 0, None, "write", 4, status=UNKNOWN)) == "write(4) = ?"
    assert reg.describe_state(None) == "nil"
    kv = KV()
    get = op(0, 0, 1, "get", result="x 0 1 y", key="4")
    assert kv.describe_operation(get) == "get('4') = 'x 0 1 y'"
    assert kv.describe_operation(op(0, 0, 1, "append", "x", key="4")) == "append('4', 'x') = ok"


def test_every_kv_key_starts_empty_put_replaces_and_append_concatenates() -> None:
    kv = KV()
    (s,) = kv.step(kv.init(), op(0, 0, 1, "append", "x", key="a"))
    (s,) = kv.step(s, op(1, 0, 1, "append", "y", key="a"))
    assert list(kv.step(s, op(2, 0, 1, "get", result="xy", key="a"))) == [s]
    assert list(kv.step(s, op(2, 0, 1, "get", result="", key="b"))) == [s]
    (s,) = kv.step(s, op(3, 0, 1, "put", "z", key="a"))
    assert list(kv.step(s, op(4, 0, 1, "get", result="xy", key="a"))) == []


def test_kv_leaves_out_unknown_operations_no_get_could_observe() -> None:
    history = [
        op(0, 0, None, "get", key="a", status=UNKNOWN),
        op(1, 0, None, "append", "seen", key="a", status=UNKNOWN),
        op(2, 0, None, "append", "unseen", key="a", status=UNKNOWN),
        op(3, 0, None, "put", "pre", key="a", status=UNKNOWN),
        op(4, 0, None, "put", "seen", key="a", status=UNKNOWN),  # no value starts with it
        op(5, 1, 2, "get", result="preseen", key="a"),
    ]
    (part,) = KV().partition(history)
    assert [o.id for o in part] == [1, 3, 5]
    assert check(history, KV()).verdict is Verdict.LINEARIZABLE


# --- the sample histories -----------------------------------------------------------------------

SAMPLE_VERDICTS = [
    ("jepsen/etcd_000.log", Verdict.NOT_LINEARIZABLE),
    ("jepsen/etcd_001.log", Verdict.NOT_LINEARIZABLE),
    ("jepsen/etcd_002.log", Verdict.LINEARIZABLE),
    ("jepsen/etcd_005.log", Verdict.LINEARIZABLE),
    ("kv/c01-bad.txt", Verdict.NOT_LINEARIZABLE),
    ("kv/c01-ok.txt", Verdict.LINEARIZABLE),
    ("kv/c10-bad.txt", Verdict.NOT_LINEARIZABLE),
    ("kv/c10-ok.txt", Verdict.LINEARIZABLE),
]


@pytest.mark.parametrize(("name", "verdict"), SAMPLE_VERDICTS)
def test_every_sample_history_gets_its_published_verdict(name: str, verdict: Verdict) -> None:
    history = load(str(SAMPLES / name))
    assert history.model_hint is not None
    model = MODELS[history.model_hint]()
    result = check(list(history.ops), model, timeout=10)
    assert result.verdict is verdict
    assert_witness(result, list(history.ops), model)


# --- size ---------------------------------------------------------------------------------------


def test_a_long_kv_history_over_many_keys_is_checked_in_one_pass() -> None:
    rec = run_history(KV(), kv_apply, kv_draw(50), 20_000, clients=10, unknown=0.05, seed=3)
    result = check(rec.ops, KV(), timeout=60)
    assert result.verdict is Verdict.LINEARIZABLE
    assert len(result.parts) == 50
    # one search node per operation or so: no part needed a real search
    assert sum(p.explored for p in result.parts) < 2 * len(rec.ops)


def test_a_long_register_history_with_unknown_outcomes_is_linearizable() -> None:
    rec = run_history(CasRegister(), register_apply, register_draw, 5_000, clients=10,
                      unknown=0.05, seed=5)
    result = check(rec.ops, CasRegister(), timeout=60)
    assert result.verdict is Verdict.LINEARIZABLE
    assert_witness(result, rec.ops, CasRegister())


def test_generated_kv_histories_are_linearizable_and_a_stale_read_is_not() -> None:
    from sim.lincheck.generate_kv import generate_kv_history

    ok = generate_kv_history(random.Random(3), 300, keys=5, clients=6)
    assert check(ok, KV(), timeout=60).verdict is Verdict.LINEARIZABLE
    bad = generate_kv_history(random.Random(3), 300, keys=5, clients=6, bad_keys=2)
    result = check(bad, KV(), timeout=60)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    changed = {a.key for a, b in zip(ok, bad, strict=True) if a != b}
    assert len(changed) == 2 and {p.name for p in result.failing_parts} <= changed
