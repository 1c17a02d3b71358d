"""A history file is refused, in one line naming the file, the line and the field, whenever its
model could not check it as written; it never gets a verdict it did not earn, and what it costs
depends on its size, never on the numbers in it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from sim.commands.cli import main
from sim.lincheck.checker import check
from sim.lincheck.formats import load, parse_text
from sim.lincheck.history import HistoryError
from sim.lincheck.models import MODELS
from sim.lincheck.result import Verdict
from sim.lincheck.validate import validate

HEADER = {"format": "etcdsim-history", "version": 1, "model": "etcd"}


def etcd_file(path: Path, *events: tuple[str, Any, Any]) -> str:
    """A jsonl file of calls one after another: (op, args, result) each, result None for an
    operation that never returns (its client goes on as another)."""
    lines = [HEADER]
    client = 1
    for i, (op, args, result) in enumerate(events):
        lines.append({"client": client, "kind": "invoke", "op": op, "args": args, "time": 2 * i})
        if result is None:
            client += 1
        else:
            lines.append({"client": client, "kind": "ok", "result": result, "time": 2 * i + 1})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


def refusal(path: str, model: str | None = None) -> HistoryError:
    history = load(path)
    with pytest.raises(HistoryError) as info:
        validate(history, MODELS[model or history.model_hint or "etcd"]())
    return info.value


def verdict(path: str, timeout: float = 10) -> Verdict:
    history = load(path)
    model = MODELS[history.model_hint or "etcd"]()
    validate(history, model)
    return check(history.ops, model, timeout=timeout).verdict


PUT = ("put", {"key": "a", "value": "1"})
RANGE = ("range", {"key": "a"})

# (the operation, its ok result), the line refused (the header is line 1), words it must say
WRONG_FIELDS = {
    "a range's kvs not a list": (RANGE, {"revision": 1, "kvs": "x", "count": "a"}, 3,
                                 "result.kvs must be a list"),
    "a count not a number": (RANGE, {"revision": 1, "kvs": [], "count": "a"}, 3,
                             "result.count must be a non-negative integer"),
    "a revision in words": (PUT, {"revision": "two"}, 3, "result.revision"),
    "a negative revision": (PUT, {"revision": -7}, 3, "got -7"),
    "a fractional revision": (PUT, {"revision": 2.5}, 3, "got 2.5"),
    "a revision past int64": (PUT, {"revision": str(1 << 63)}, 3, "of 64 bits"),
    "a true revision": (PUT, {"revision": True}, 3, "got True"),
    "deleted not a number": (("delete_range", {"key": "a"}), {"revision": 1, "deleted": "x"}, 3,
                             "result.deleted"),
    "a key-value's key a number": (
        RANGE, {"revision": 1, "kvs": [{"key": 5, "value": "1", "create_revision": 2,
                                        "mod_revision": 2, "version": 1}]}, 3,
        "result.kvs[0].key must be a string"),
    "succeeded not a flag": (("txn", {}), {"revision": 1, "succeeded": "yes"}, 3,
                             "result.succeeded must be true or false"),
    "a txn response of no known kind": (
        ("txn", {}), {"revision": 1, "succeeded": True, "responses": [{"response_watch": {}}]},
        3, "result.responses[0]"),
    "txn compares not a list": (("txn", {"compare": "x", "success": 5}), {"revision": 1}, 2,
                                "compare must be a list"),
    "txn success not a list": (("txn", {"success": 5}), {"revision": 1}, 2,
                               "success must be a list"),
    "a compare not an object": (("txn", {"compare": [7]}), {"revision": 1}, 2,
                                "compare[0] must be an object"),
    "a flag not a flag": (("put", {"key": "a", "value": "1", "prev_kv": "x"}), {"revision": 2},
                          2, "prev_kv must be true or false"),
    "a range end not a string": (("range", {"key": "a", "range_end": 5}), {"revision": 1}, 2,
                                 "range_end must be a string"),
}


@pytest.mark.parametrize(("call", "result", "line", "words"), list(WRONG_FIELDS.values()),
                         ids=list(WRONG_FIELDS))
def test_a_wrong_typed_field_is_refused_naming_the_file_the_line_and_the_field(
    tmp_path: Path, call: tuple[str, Any], result: Any, line: int, words: str
) -> None:
    path = etcd_file(tmp_path / "h.jsonl", (*call, result))
    error = refusal(path)
    assert str(error).startswith(f"{path}:{line}: "), error
    assert words in str(error) and "\n" not in str(error)


def test_int64s_written_as_decimal_strings_are_read_as_etcds_json_gateway_writes_them(
    tmp_path: Path
) -> None:
    as_numbers = etcd_file(
        tmp_path / "numbers.jsonl", (*PUT, {"revision": 2}),
        (*RANGE, {"revision": 2, "count": 1, "kvs": [
            {"key": "a", "value": "1", "create_revision": 2, "mod_revision": 2, "version": 1}]}))
    as_strings = etcd_file(
        tmp_path / "strings.jsonl", (*PUT, {"revision": "2"}),
        (*RANGE, {"revision": "2", "count": "1", "kvs": [
            {"key": "a", "value": "1", "create_revision": "2", "mod_revision": "2",
             "version": "1"}]}))
    wrong = etcd_file(
        tmp_path / "wrong.jsonl", (*PUT, {"revision": "2"}),
        (*RANGE, {"revision": "2", "count": "1", "kvs": [
            {"key": "a", "value": "1", "create_revision": "2", "mod_revision": "2",
             "version": "2"}]}))
    assert verdict(as_numbers) is verdict(as_strings) is Verdict.LINEARIZABLE
    assert verdict(wrong) is Verdict.NOT_LINEARIZABLE


def test_a_model_the_file_was_not_written_for_is_refused_not_checked(tmp_path: Path) -> None:
    etcd = etcd_file(tmp_path / "etcd.jsonl", (*PUT, {"revision": 2}))
    assert "model kv: put: kv needs the key" in str(refusal(etcd, "kv"))
    jepsen = tmp_path / "register.log"
    jepsen.write_text("INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
                      "INFO  jepsen.util - 0\t:ok\t:read\t3\n")
    error = refusal(str(jepsen), "kv")
    assert str(error).startswith(f"{jepsen}:1: model kv: read: kv has no operation 'read'")
    assert "for model cas-register" in str(error)
    kv = tmp_path / "kv.edn"
    kv.write_text('{:process 0, :type :invoke, :f :append, :key "1", :value "x"}\n')
    assert "cas-register has no operation 'append'" in str(refusal(str(kv), "cas-register"))
    assert "etcd's are range, put" in str(refusal(str(kv), "etcd"))


@pytest.mark.parametrize(("name", "text", "line"), [
    ("jepsen.log", "INFO  jepsen.util - 0\t:invoke\t:write\t" + "7" * 5000 + "\n", 1),
    ("kv.edn", '{:process 0, :type :invoke, :f :put, :key "1", :value ' + "7" * 5000 + "}\n", 1),
    ("knossos.edn", "[{:process 0, :type :invoke, :f :write, :value 1}\n"
                    " {:process 0, :type :ok, :f :write, :value -" + "7" * 5000 + "}]\n", 2),
    ("h.jsonl", '{"client": 1, "kind": "invoke", "op": "put", "time": 0, "args": {"key": "a", '
                '"value": "1", "lease": ' + "7" * 5000 + "}}\n", 1),
])
def test_an_integer_past_64_bits_is_refused_saying_the_bound(
    tmp_path: Path, name: str, text: str, line: int
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(HistoryError) as info:
        load(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: ") and "64 bits" in message, message
    assert len(message) < 300


def test_a_jepsen_util_line_that_is_not_an_event_refuses_the_file(tmp_path: Path) -> None:
    path = tmp_path / "etcd.log"
    path.write_text("INFO  jepsen.core - Worker 0 starting\n"  # other log output: not ours
                    "INFO  jepsen.util - 0\t:invoke\t:write\t3\n"
                    "INFO  jepsen.util - 0\t:ok\t:write\t3\t:slow\n"  # an error, after a tab
                    "INFO  jepsen.util - 0 waiting for the lock\n")
    with pytest.raises(HistoryError, match=rf"^{path}:4: a jepsen.util line that is not an "):
        load(str(path))


@pytest.mark.parametrize("revision", [100_000_000, 10**15, (1 << 63) - 1])
def test_memory_depends_on_the_history_not_on_the_revisions_it_names(
    tmp_path: Path, revision: int
) -> None:
    lines = [
        (*PUT, {"revision": revision}),
        ("delete_range", {"key": "b"}, None),  # may delete b at any revision no one took
        ("range", {"key": "b"}, {"revision": revision, "kvs": []}),
        ("compact", {"revision": revision // 2}, {"revision": revision}),
    ]
    path = etcd_file(tmp_path / "big.jsonl", *lines)
    tracemalloc.start()
    try:
        assert verdict(path, timeout=5) is Verdict.NOT_LINEARIZABLE  # revision 2 comes first
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000


# --- the command line ----------------------------------------------------------------------


def test_check_refuses_bad_input_in_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = etcd_file(tmp_path / "h.jsonl", ("range", {"key": "a"}, {"kvs": "x", "count": "a"}))
    report = tmp_path / "report.html"
    assert main(["check", path, "--html", str(report)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and not report.exists()
    assert err.startswith(f"etcdsim: error: {path}:3: ") and err.count("\n") == 1


@pytest.mark.parametrize("model", ["kv", "cas-register"])
def test_check_with_a_model_the_file_is_not_for_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str
) -> None:
    path = tmp_path / "h.jsonl"
    etcd_file(path, (*PUT, {"revision": 2}))
    assert main(["check", str(path), "--model", model]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"etcdsim: error: {path}:2: model {model}: put: ")  # line 1: header
    assert err.count("\n") == 1


def test_etcdsim_check_in_a_process_names_each_bad_file_and_prints_no_traceback(
    tmp_path: Path
) -> None:
    bad_txn = etcd_file(tmp_path / "txn.jsonl",
                        ("txn", {"compare": "x", "success": 5}, {"revision": 1}))
    big = tmp_path / "big.edn"
    big.write_text('{:process 0, :type :invoke, :f :put, :key "1", :value ' + "9" * 5000 + "}\n")
    wrong_model = tmp_path / "register.log"
    wrong_model.write_text("INFO  jepsen.util - 0\t:invoke\t:read\tnil\n")
    env = dict(os.environ, ETCDSIM_BUILD="source")
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "check", bad_txn, str(big)],
        capture_output=True, text=True, check=False, env=env)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"etcdsim: error: {bad_txn}:2: model etcd: txn: compare must be a list, got 'x'",
        f"etcdsim: error: {big}:1: bad EDN at column 55: integer of 5000 digits: integers must "
        "fit in 64 bits (-9223372036854775808 to 18446744073709551615)",
    ]
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "check", str(wrong_model), "--model", "kv"],
        capture_output=True, text=True, check=False, env=env)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith(f"etcdsim: error: {wrong_model}:1: model kv: ")


def test_parse_text_of_a_large_number_costs_no_more_than_its_size() -> None:
    tracemalloc.start()
    try:
        with pytest.raises(HistoryError):
            parse_text("INFO  jepsen.util - 0\t:invoke\t:write\t" + "7" * 100_000, "auto")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000
