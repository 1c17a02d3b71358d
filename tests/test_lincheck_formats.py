"""History files: the three formats, auto-detection, the jsonl writer, and one-line errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.lincheck.formats import FORMATS, detect, dump_jsonl, load, parse_text
from sim.lincheck.formats.edn_reader import Keyword
from sim.lincheck.history import INT_MAX, INT_MIN, FrozenMap, HistoryError, Operation, Status
from tests.edn_text import edn_text

SAMPLES = Path("/work/shared/data/histories")

# file, format, operations, operations with unknown outcome, clients
SAMPLE_COUNTS = [
    ("jepsen/etcd_000.log", "jepsen-log", 85, 16, 19),
    ("jepsen/etcd_001.log", "jepsen-log", 86, 14, 18),
    ("jepsen/etcd_002.log", "jepsen-log", 77, 19, 23),
    ("jepsen/etcd_005.log", "jepsen-log", 79, 14, 18),
    ("kv/c01-bad.txt", "edn", 38, 0, 1),
    ("kv/c01-ok.txt", "edn", 58, 0, 1),
    ("kv/c10-bad.txt", "edn", 405, 0, 10),
    ("kv/c10-ok.txt", "edn", 337, 0, 10),
]


# --- the samples -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "fmt", "n_ops", "n_unknown", "n_clients"), SAMPLE_COUNTS)
def test_every_sample_parses_into_paired_operations(
    name: str, fmt: str, n_ops: int, n_unknown: int, n_clients: int
) -> None:
    history = load(str(SAMPLES / name), fmt)
    assert history.format == fmt
    assert history.source == str(SAMPLES / name)
    assert history.model_hint == ("cas-register" if fmt == "jepsen-log" else "kv")
    assert len(history.ops) == n_ops
    assert sum(op.status is Status.UNKNOWN for op in history.ops) == n_unknown
    assert len({op.client for op in history.ops}) == n_clients
    assert [op.id for op in history.ops] == list(range(n_ops))
    for op in history.ops:
        assert op.call == op.line  # time is the line number in both foreign formats
        if op.status is Status.UNKNOWN:
            assert op.ret is None and op.result is None
        else:
            assert op.ret is not None and op.ret > op.call


@pytest.mark.parametrize(("name", "fmt"), [(name, fmt) for name, fmt, *_ in SAMPLE_COUNTS])
def test_auto_detection_picks_the_format_of_every_sample(name: str, fmt: str) -> None:
    path = SAMPLES / name
    assert detect(path.read_text(), str(path)) == fmt
    assert load(str(path)).format == fmt


def test_jepsen_fail_cas_is_an_observation_that_the_compare_did_not_hold() -> None:
    history = load(str(SAMPLES / "jepsen/etcd_000.log"))
    failed_cas = [op for op in history.ops if op.f == "cas" and op.result is False]
    assert len(failed_cas) == 20  # the file's `:fail :cas` lines
    assert all(op.status is Status.OK and op.ret is not None for op in failed_cas)


def test_jepsen_events_map_onto_statuses_as_the_readme_says() -> None:
    text = "\n".join(
        [
            "INFO  jepsen.core - Worker 0 starting",  # not an event: skipped
            "INFO  jepsen.util - 0\t:invoke\t:read\tnil",
            "INFO  jepsen.util - 0\t:ok\t:read\tnil",
            "INFO  jepsen.util - 1\t:invoke\t:cas\t[2 0]",
            "INFO  jepsen.util - 1\t:ok\t:cas\t[2 0]",
            "INFO  jepsen.util - 2\t:invoke\t:write\t3",
            "INFO  jepsen.util - 2\t:fail\t:write\t3",
            "INFO  jepsen.util - 3\t:invoke\t:write\t4",
            "INFO  jepsen.util - 3\t:info\t:write\t:timed-out",
            "INFO  jepsen.util - 4\t:invoke\t:read\tnil",
            "INFO  jepsen.util - 4\t:fail\t:read\t:timed-out",
            "INFO  jepsen.util - :nemesis\t:info\t:start\tnil",  # faults: skipped
            "INFO  jepsen.util - 0\t:invoke\t:read\tnil",
            "INFO  jepsen.util - 0\t:ok\t:read\t4",
            "INFO  jepsen.util - 5\t:invoke\t:cas\t[4 1]",
        ]
    )
    ops = parse_text(text, "jepsen-log").ops
    seen = [(op.f, op.args, op.status, op.result, op.ret) for op in ops]
    assert seen == [
        ("read", None, Status.OK, None, 3),
        ("cas", (2, 0), Status.OK, True, 5),
        ("write", 3, Status.FAIL, None, 7),
        ("write", 4, Status.UNKNOWN, None, None),
        ("read", None, Status.UNKNOWN, None, None),
        ("read", None, Status.OK, 4, 14),
        ("cas", (4, 1), Status.UNKNOWN, None, None),  # still open at the end of the file
    ]
    assert [op.line for op in ops] == [2, 4, 6, 8, 10, 13, 15]


def test_edn_operations_carry_their_key_and_value() -> None:
    text = "\n".join(
        [
            '{:process 0, :type :invoke, :f :put, :key "k", :value "a\\"b"}',
            '{:process 1, :type :invoke, :f :get, :key "k", :value nil}',
            '{:process 0, :type :ok, :f :put, :key "k", :value "a\\"b"}',
            '{:process 1, :type :ok, :f :get, :key "k", :value "a\\"b"}',
            '{:process 2, :type :invoke, :f :append, :key "j", :value "x"}',
            '{:process 2, :type :fail, :f :append, :key "j", :value "x"}',
            '{:process 3, :type :invoke, :f :append, :key "j", :value "y"}',
        ]
    )
    ops = parse_text(text, "edn").ops
    seen = [(op.client, op.f, op.key, op.args, op.status, op.result) for op in ops]
    assert seen == [
        ("0", "put", "k", 'a"b', Status.OK, None),
        ("1", "get", "k", None, Status.OK, 'a"b'),
        ("2", "append", "j", "x", Status.FAIL, None),
        ("3", "append", "j", "y", Status.UNKNOWN, None),
    ]


# --- jsonl -------------------------------------------------------------------------------------


def test_jsonl_header_names_the_model_and_args_are_frozen() -> None:
    text = "\n".join(
        [
            '{"format": "etcdsim-history", "version": 1, "model": "etcd"}',
            '{"client": 3, "kind": "invoke", "op": "put", "key": "a", "args": {"v": [1, 2]}, '
            '"time": 10}',
            '{"client": "3", "kind": "ok", "op": "put", "result": {"rev": 2}, "time": 15}',
            "",
            '{"client": 4, "kind": "invoke", "op": "get", "time": 15}',
            '{"client": 4, "kind": "fail", "time": 20}',
        ]
    )
    history = parse_text(text, "jsonl")
    assert history.model_hint == "etcd"
    put, get = history.ops
    assert put == Operation(
        id=0,
        client="3",
        call=10,
        ret=15,
        f="put",
        args=FrozenMap({"v": (1, 2)}),
        result=FrozenMap({"rev": 2}),
        status=Status.OK,
        line=2,
        key="a",
        ret_line=3,
    )
    assert (get.args, get.status, get.ret, get.result) == (None, Status.FAIL, 20, None)
    hash(put)  # an operation with frozen args is hashable, as the checker needs


def test_jsonl_without_a_header_has_no_model_hint() -> None:
    history = parse_text('{"client": 1, "kind": "invoke", "op": "get", "time": 0}', "jsonl")
    assert history.model_hint is None
    assert history.ops[0].status is Status.UNKNOWN


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(INT_MIN, INT_MAX)  # a history's integers fit in 64 bits
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)


@st.composite
def jsonl_histories(draw: st.DrawFn) -> str:
    """Valid jsonl text: clients alternate invoke and return; time never goes back."""
    clients = draw(
        st.lists(
            st.integers(0, 9) | st.sampled_from(["a", "b/1"]), min_size=1, max_size=4, unique_by=str
        )
    )
    lines: list[dict[str, Any]] = []
    if draw(st.booleans()):
        lines.append({"format": "etcdsim-history", "version": 1, "model": "etcd"})
    open_clients: set[str] = set()
    time = draw(st.integers(0, 10**6))
    for _ in range(draw(st.integers(1, 25))):
        client = draw(st.sampled_from(clients))
        time += draw(st.integers(0, 3))
        event: dict[str, Any] = {"client": client}
        if str(client) in open_clients:
            kind = draw(st.sampled_from(["ok", "fail", "info"]))
            event["kind"] = kind
            if kind == "ok":
                event["result"] = draw(JSON_VALUES)
            elif kind == "info" and draw(st.booleans()):
                event["applied_revision"] = draw(st.integers(0, 10**6))
            open_clients.discard(str(client))
        else:
            event["kind"] = "invoke"
            event["op"] = draw(st.sampled_from(["get", "put", "txn"]))
            if draw(st.booleans()):
                event["key"] = draw(st.text(max_size=3))
            event["args"] = draw(JSON_VALUES)
            open_clients.add(str(client))
        event["time"] = time
        lines.append(event)
    return "\n".join(json.dumps(line) for line in lines)


def _without_lines(ops: tuple[Operation, ...]) -> list[Operation]:
    return [dataclasses.replace(op, line=0, ret_line=0) for op in ops]


@given(jsonl_histories())
def test_jsonl_written_by_dump_reads_back_to_the_same_operations(text: str) -> None:
    first = parse_text(text, "jsonl")
    written = dump_jsonl(first.ops, first.model_hint)
    again = parse_text(written, "jsonl")
    assert _without_lines(again.ops) == _without_lines(first.ops)
    assert again.model_hint == first.model_hint
    assert dump_jsonl(again.ops, again.model_hint) == written
    assert detect(written) == "jsonl"


def test_dump_keeps_zero_length_operations_and_same_time_reinvocations_in_order() -> None:
    ops = (
        Operation(0, "c", 5, 5, "put", 1, None, Status.OK),
        Operation(1, "c", 5, None, "get", None, None, Status.UNKNOWN),
        Operation(2, "c", 5, 5, "get", None, 1, Status.OK),
    )
    again = parse_text(dump_jsonl(ops), "jsonl").ops
    assert [(op.f, op.call, op.ret, op.status) for op in again] == [
        (op.f, op.call, op.ret, op.status) for op in ops
    ]


# --- bad input ---------------------------------------------------------------------------------

INVOKE = '{"client": 1, "kind": "invoke", "op": "get", "time": 5}'
KV_GET = '{:process 0, :type :invoke, :f :get, :key "1", :value nil}'
JEPSEN_READ = "INFO  jepsen.util - 1\t:invoke\t:read\tnil"

# format, file content (None: no file at all), line named, words the message contains
BAD_INPUTS = {
    "malformed JSON": ("jsonl", INVOKE + '\n{"client": 1, "kind": ', 2, "malformed JSON"),
    "malformed JSON, format auto": ("auto", INVOKE + '\n{"client": 1, "kind": ', 2, "malformed"),
    "JSON that is not an object": ("jsonl", INVOKE + "\n[1, 2]", 2, "expected a JSON object"),
    "unknown kind": (
        "jsonl",
        INVOKE + '\n{"client": 1, "kind": "done", "time": 6}',
        2,
        "unknown event kind 'done'",
    ),
    "unknown field": (
        "jsonl",
        '{"client": 1, "kind": "invoke", "op": "get", "reslt": 1, "time": 5}',
        1,
        "field 'reslt'",
    ),
    "return without invoke": (
        "jsonl",
        INVOKE + '\n{"client": 2, "kind": "ok", "time": 6}',
        2,
        "no open invocation",
    ),
    "double invoke": ("jsonl", INVOKE + "\n" + INVOKE, 2, "still open"),
    "return for another op": (
        "jsonl",
        INVOKE + '\n{"client": 1, "kind": "ok", "op": "put", "time": 6}',
        2,
        "open operation is get",
    ),
    "decreasing time": (
        "jsonl",
        INVOKE + '\n{"client": 2, "kind": "invoke", "op": "get", "time": 4}',
        2,
        "time 4 is before",
    ),
    "non-integer time": (
        "jsonl",
        '{"client": 1, "kind": "invoke", "op": "get", "time": 1.5}',
        1,
        "time must be a non-negative integer",
    ),
    "negative applied revision": (
        "jsonl",
        INVOKE + '\n{"client": 1, "kind": "info", "time": 6, "applied_revision": -1}',
        2,
        "applied_revision must be a non-negative integer",
    ),
    "applied revision on an ok": (
        "jsonl",
        INVOKE + '\n{"client": 1, "kind": "ok", "time": 6, "applied_revision": 3}',
        2,
        "'applied_revision' does not belong on ok events",
    ),
    "header not first": (
        "jsonl",
        INVOKE + '\n{"format": "etcdsim-history", "version": 1}',
        2,
        "first line",
    ),
    "header of another version": (
        "jsonl",
        '{"format": "etcdsim-history", "version": 2}\n' + INVOKE,
        1,
        "unsupported version",
    ),
    "bad EDN": ("edn", KV_GET + "\n{:process 0, :type :ok, :f :get, :value 1.5}", 2, "bad EDN"),
    "unterminated EDN string": ("edn", '{:process 0, :key "1}', 1, "unterminated string"),
    "EDN set": ("edn", "#{:a}", 1, "not supported"),
    "unknown EDN kind": ("edn", KV_GET.replace(":invoke", ":start"), 1, "unknown event kind"),
    "unknown EDN op": ("edn", KV_GET.replace(":get", ":delete"), 1, "unknown operation :delete"),
    "EDN key mismatch": (
        "edn",
        KV_GET + '\n{:process 0, :type :ok, :f :get, :key "2", :value ""}',
        2,
        "key '2'",
    ),
    "unknown jepsen op": (
        "jepsen-log",
        "INFO  jepsen.util - 1\t:invoke\t:delete\t3",
        1,
        "unknown operation :delete",
    ),
    "unknown jepsen kind": (
        "jepsen-log",
        JEPSEN_READ + "\nINFO  jepsen.util - 1\t:done\t:read\t3",
        2,
        "unknown event kind :done",
    ),
    "jepsen double invoke": ("jepsen-log", JEPSEN_READ + "\n" + JEPSEN_READ, 2, "still open"),
    "jepsen return without invoke": (
        "jepsen-log",
        "INFO  jepsen.util - 1\t:ok\t:read\t3",
        1,
        "no open invocation",
    ),
    "jepsen cas without a pair": (
        "jepsen-log",
        "INFO  jepsen.util - 1\t:invoke\t:cas\t3",
        1,
        ":cas takes",
    ),
    "empty file": ("auto", "", 0, "empty file"),
    "no operations": ("jsonl", '{"format": "etcdsim-history", "version": 1}', 0, "no operations"),
    "undetectable": ("auto", "hello\n", 0, "cannot tell the format; use --format"),
    "unknown format": ("yaml", INVOKE, 0, "unknown format 'yaml'"),
    "missing file": ("auto", None, 0, "No such file or directory"),
}


@pytest.mark.parametrize(
    ("fmt", "content", "line", "words"), list(BAD_INPUTS.values()), ids=list(BAD_INPUTS)
)
def test_bad_input_is_one_line_naming_the_file_and_line(
    tmp_path: Path, fmt: str, content: str | None, line: int, words: str
) -> None:
    path = tmp_path / "history.txt"
    if content is not None:
        path.write_text(content)
    with pytest.raises(HistoryError) as info:
        load(str(path), fmt)
    message = str(info.value)
    where = f"{path}:{line}: " if line else f"{path}: "
    assert message.startswith(where), message
    assert words in message
    assert "\n" not in message
    assert (info.value.source, info.value.line) == (str(path), line)


@given(st.text(max_size=200), st.sampled_from(("auto", *FORMATS)))
def test_any_text_either_parses_or_raises_history_error(text: str, fmt: str) -> None:
    try:
        parse_text(text, fmt, "fuzz.txt")
    except HistoryError as e:
        assert str(e).startswith("fuzz.txt")


LINE_PIECES = st.sampled_from(
    [
        "{", "}", "[", "]", ":process", ":type", ":invoke", ":ok", ":f", ":get", ":key", '"k"',
        ":value", "nil", "0", "1", "-", "INFO  jepsen.util -", "\t", " ", ":read", ":cas", '"',
        "\\", '{"client": 1, "kind": "invoke", "op": "get", "time": 0}', "\n", "#", "1.5",
    ]
)  # fmt: skip


@given(st.lists(LINE_PIECES, max_size=40).map("".join), st.sampled_from(("auto", *FORMATS)))
def test_near_miss_text_either_parses_or_raises_history_error(text: str, fmt: str) -> None:
    try:
        history = parse_text(text, fmt, "fuzz.txt")
    except HistoryError as e:
        assert str(e).startswith("fuzz.txt")
    else:
        assert history.ops


# --- EDN: Knossos's cas register, one vector, integer values, and the quick path ---------------


def test_knossos_cas_register_edn_follows_knossos_fail_did_not_happen_info_unknown() -> None:
    text = "\n".join([
        "; a Knossos history, written as one vector",
        "[{:type :invoke, :f :write, :value 3, :process 0, :time 10, :index 0}",
        " {:type :ok, :f :write, :value 3, :process 0, :time 20, :index 1}",
        " {:type :invoke, :f :cas, :value [3 4], :process 1}",
        " {:type :fail, :f :cas, :value [3 4], :process 1, :error :conflict}",
        " {:type :info, :f :start, :value nil, :process :nemesis}",
        " {:type :invoke, :f :cas, :value [3 5], :process 1}",
        " {:type :ok, :f :cas, :value [3 5], :process 1}",
        " {:type :invoke, :f :read, :value nil, :process 2}",
        " {:type :invoke, :f :write, :value \"x\", :process 3}",
        " {:type :info, :f :write, :value \"x\", :process 3}",
        " {:type :ok, :f :read, :value 5, :process 2}]",
    ])
    history = parse_text(text, "auto")
    assert (history.format, history.model_hint) == ("edn", "cas-register")
    seen = [(op.line, op.client, op.f, op.args, op.status, op.result) for op in history.ops]
    assert seen == [
        (2, "0", "write", 3, Status.OK, None),
        (4, "1", "cas", (3, 4), Status.FAIL, None),  # did not happen, as Knossos reads it
        (7, "1", "cas", (3, 5), Status.OK, True),
        (9, "2", "read", None, Status.OK, 5),
        (10, "3", "write", "x", Status.UNKNOWN, None),
    ]


def test_edn_kv_values_may_be_integers_and_a_nil_get_reads_an_empty_key() -> None:
    text = "\n".join([
        '{:process 0, :type :invoke, :f :get, :key "k", :value nil}',
        '{:process 0, :type :ok, :f :get, :key "k", :value nil}',
        '{:process 0, :type :invoke, :f :put, :key "k", :value 7}',
        '{:process 0, :type :ok, :f :put, :key "k", :value 7}',
        '{:process 0, :type :invoke, :f :get, :key "k", :value nil}',
        '{:process 0, :type :ok, :f :get, :key "k", :value 7}',
    ])
    ops = parse_text(text, "edn").ops
    assert [(op.f, op.args, op.result) for op in ops] == [
        ("get", None, ""), ("put", 7, None), ("get", None, 7)]


@pytest.mark.parametrize(("text", "line", "words"), [
    ('{:process 0, :type :invoke, :f :get, :key "k", :value nil}\n'
     "{:process 1, :type :invoke, :f :read, :value nil}", 2,
     ":read is a cas-register operation, but the history is a kv one (line 1)"),
    ('{:process 0, :type :invoke, :f :append, :key "k", :value 7}', 1,
     ":append needs a string :value, got 7"),
    ("{:process 0, :type :invoke, :f :cas, :value [1]}", 1, ":cas needs :value [old new]"),
    ("{:process 0, :type :invoke, :f :write, :value 1, :value 2}", 1, "duplicate map key"),
    ('{:process 0 :type :invoke :f :write :value "a\\q"}', 1, "bad escape"),
    ("[{:process 0, :type :invoke, :f :read}\n{:process 1, :type :invoke, :f :read}", 2,
     "the vector of events is not closed"),
    ("[{:process 0, :type :invoke, :f :read}] {:process 1}", 1, "after the vector"),
    ("{:process 0, :type :invoke, :f :write, :value 1.5}", 1, "only integers"),
    ('{:process 0, :type :invoke, :f :write, :value 007}', 1, "leading zero"),
    ('{"process" 0, :type :invoke, :f :read}', 1, "keys of an event map must be keywords"),
])
def test_bad_edn_events_are_refused_with_their_line(text: str, line: int, words: str) -> None:
    with pytest.raises(HistoryError) as info:
        parse_text(text, "edn", "h.edn")
    assert str(info.value).startswith(f"h.edn:{line}: "), info.value
    assert words in str(info.value)


EDN_ATOMS = st.one_of(
    st.none(), st.booleans(), st.integers(INT_MIN, INT_MAX), st.text(max_size=6),
    st.sampled_from(["invoke", "ok", "a-b?", "x/y", "a:b", "nil"]).map(Keyword),
)


@given(st.lists(st.lists(st.tuples(st.sampled_from(["process", "type", "f", "key", "value",
                                                    "time", "t?", "a.b"]),
                                   EDN_ATOMS | st.lists(EDN_ATOMS, max_size=3)),
                         max_size=7, unique_by=lambda kv: kv[0]), min_size=1, max_size=5),
       st.sampled_from([", ", " ", ",", "\n  "]), st.booleans())
def test_the_quick_path_reads_every_map_as_the_general_reader_does(
    maps: list[list[tuple[str, Any]]], sep: str, vector: bool
) -> None:
    from sim.lincheck.formats.edn_reader import read_edn, read_maps

    texts = ["{" + sep.join(f":{k} {edn_text(v)}" for k, v in pairs) + "}" for pairs in maps]
    text = ("[" if vector else "") + "\n".join(texts) + ("]" if vector else "")
    expected = [{k.name: v for k, v in read_edn(t).items()} for t in texts]
    assert [fields for _, fields in read_maps(text)] == expected
    lines = [line for line, _ in read_maps(text)]
    assert lines == [1 + sum(t.count("\n") for t in texts[:i]) + i for i in range(len(texts))]


def test_the_same_events_read_alike_one_a_line_and_as_one_vector_over_lines() -> None:
    import random

    from sim.lincheck.generate_kv import kv_edn_text

    text = kv_edn_text(random.Random(5), 40, keys=3, clients=4, unknown=0.1)
    per_line = parse_text(text, "auto")
    as_vector = parse_text("[\n" + text.replace("}\n{", "}\n\n{") + "]\n", "auto")
    assert [(op.f, op.key, op.args, op.result, op.status) for op in per_line.ops] == [
        (op.f, op.key, op.args, op.result, op.status) for op in as_vector.ops]
    assert [op.line for op in as_vector.ops] == [2 * op.line for op in per_line.ops]


def test_a_jepsen_event_may_carry_an_error_after_a_tab() -> None:
    text = ("INFO  jepsen.util - 3\t:invoke\t:write\t4\n"
            "INFO  jepsen.util - 3\t:info\t:write\t4\tindeterminate: timed out\n")
    (op,) = parse_text(text, "jepsen-log").ops
    assert (op.f, op.args, op.status) == ("write", 4, Status.UNKNOWN)
