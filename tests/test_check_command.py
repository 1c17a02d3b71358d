"""`etcdsim check`: verdicts and exit codes on real histories, bad input, time limits, reports."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sim.commands.cli import main

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "histories"
SAMPLES = [
    ("jepsen/etcd_000.log", 1),
    ("jepsen/etcd_001.log", 1),
    ("jepsen/etcd_002.log", 0),
    ("jepsen/etcd_005.log", 0),
    ("kv/c01-ok.txt", 0),
    ("kv/c01-bad.txt", 1),
    ("kv/c10-ok.txt", 0),
    ("kv/c10-bad.txt", 1),
]


def sample(name: str) -> Path:
    path = DATA / name
    if not path.exists():
        # CI lays shared/ beside the clone: there, a missing sample is a failure, not a skip.
        if os.environ.get("CI"):
            pytest.fail(f"sample histories not found at {DATA}")
        pytest.skip(f"sample histories not found at {DATA}")
    return path


@pytest.mark.parametrize(("name", "code"), SAMPLES)
def test_each_sample_history_gets_the_verdict_its_readme_lists(
    name: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(sample(name))]) == code
    out = capsys.readouterr().out
    assert out.startswith("linearizable" if code == 0 else "not linearizable")
    assert " operations in " in out and " checked in " in out


def test_a_failing_history_names_the_operation_that_cannot_be_placed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    main(["check", str(sample("jepsen/etcd_000.log"))])
    out = capsys.readouterr().out
    assert "longest linearizable prefix" in out
    assert "line 85: client 11: read" in out


def write_jsonl(path: Path, events: list[dict[str, object]]) -> str:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return str(path)


def test_a_hard_history_past_its_time_limit_is_unknown_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Twenty concurrent writes of unknown outcome, then a read of a value nobody wrote: the
    # search must try every subset and order before it can say no.
    events: list[dict[str, object]] = []
    for c in range(20):
        events.append({"client": c, "kind": "invoke", "op": "write", "args": c, "time": c})
    events.append({"client": 99, "kind": "invoke", "op": "read", "time": 100})
    events.append({"client": 99, "kind": "ok", "op": "read", "result": 1000, "time": 101})
    path = write_jsonl(tmp_path / "hard.jsonl", events)
    assert main(["check", path, "--model", "cas-register", "--timeout", "0.2"]) == 3
    assert capsys.readouterr().out.startswith("unknown")


def test_an_undecided_check_names_the_parts_it_decided_and_those_it_did_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Key "h": fourteen concurrent appends, then a get no order of them produces (hard); key
    # "e": one put and its get (easy).
    lines = [f'{{:process {i}, :type :invoke, :f :append, :key "h", :value "t{i} "}}'
             for i in range(14)]
    lines += [f'{{:process {i}, :type :ok, :f :append, :key "h", :value "t{i} "}}'
              for i in range(14)]
    lines += ['{:process 20, :type :invoke, :f :get, :key "h", :value nil}',
              '{:process 20, :type :ok, :f :get, :key "h", :value "none"}',
              '{:process 21, :type :invoke, :f :put, :key "e", :value "v"}',
              '{:process 21, :type :ok, :f :put, :key "e", :value "v"}']
    path = tmp_path / "hard.edn"
    path.write_text("\n".join(lines) + "\n")
    assert main(["check", str(path), "--timeout", "0.3"]) == 3
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("unknown: ")
    assert out[1] == "  1 part decided; undecided (the time limit ran out): h"


def test_bad_input_is_one_line_naming_file_and_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"client": 1, "kind": "invoke", "op": "put", "time": 1}\n{"client": 1,\n')
    assert main(["check", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}:2:" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["check", "/no/such/file"], "No such file"),
        (["check", "x", "--timeout", "soon"], "timeout must be a number"),
        (["check", "x", "--timeout", "-1"], "timeout must be > 0"),
        (["check", "x", "--model", "paxos"], "invalid choice"),
        (["check", "x", "--format", "xml"], "invalid choice"),
    ],
)
def test_bad_usage_exits_2(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1


def test_html_writes_a_self_contained_report(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert main(["check", str(sample("kv/c01-bad.txt")), "--html", str(out)]) == 1
    page = out.read_text()
    assert "not linearizable" in page and 'data-stuck="true"' in page
    assert "http://" not in page and "https://" not in page


def test_our_own_jsonl_histories_are_checked_with_the_etcd_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import random

    from sim.lincheck.formats import dump_jsonl
    from sim.lincheck.generate import corrupt, generate_etcd_history

    history = generate_etcd_history(random.Random(3), 300, keys=10, clients=5, unknown=0.05)
    good = tmp_path / "good.jsonl"
    good.write_text(dump_jsonl(history, model="etcd"))
    assert main(["check", str(good)]) == 0
    assert "model etcd" in capsys.readouterr().out
    bad = tmp_path / "bad.jsonl"
    bad.write_text(dump_jsonl(corrupt(history, random.Random(4)), model="etcd"))
    assert main(["check", str(bad)]) == 1


def test_a_model_proof_decides_a_large_corrupted_history_and_names_the_bad_read() -> None:
    import random

    from sim.lincheck.checker import check
    from sim.lincheck.generate import corrupt, generate_etcd_history
    from sim.lincheck.models import EtcdModel
    from sim.lincheck.result import Verdict

    history = generate_etcd_history(random.Random(2), 5000, keys=100, clients=10, unknown=0.05)
    bad = corrupt(history, random.Random(12))
    (changed,) = [b.id for a, b in zip(history, bad, strict=True) if a.result != b.result]
    # Without the model's proof the search must try every placement of the unknown outcomes
    # before it may say no; with it the verdict is certain and the read is named.
    result = check(bad, EtcdModel(), timeout=30)
    assert result.verdict is Verdict.NOT_LINEARIZABLE
    assert changed in result.parts[0].stuck


def test_several_files_are_checked_in_one_process_a_line_each_then_a_total(
    capsys: pytest.CaptureFixture[str],
) -> None:
    names = [name for name, _ in SAMPLES]
    assert main(["check", *(str(sample(n)) for n in names)]) == 1  # some are not linearizable
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(names) + 1
    for line, (name, code) in zip(lines, SAMPLES, strict=False):
        verdict = "linearizable" if code == 0 else "not linearizable"
        assert line.startswith(f"{sample(name)}: {verdict}: "), line
    wrong = sum(code == 1 for _, code in SAMPLES)
    assert lines[-1].startswith(f"total: {len(names)} files: {len(names) - wrong} "
                                f"linearizable, {wrong} not linearizable, in ")


@pytest.mark.parametrize(("outcomes", "code"), [
    (["ok", "ok"], 0),
    (["ok", "unknown"], 3),
    (["unknown", "bad"], 2),
    (["bad", "not"], 1),
    (["not", "unknown", "bad", "ok"], 1),
])
def test_the_exit_code_of_several_files_is_the_worst_of_theirs(
    outcomes: list[str], code: int, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    hard: list[dict[str, object]] = [
        {"client": c, "kind": "invoke", "op": "write", "args": c, "time": c} for c in range(20)]
    hard += [{"client": 99, "kind": "invoke", "op": "read", "time": 100},
             {"client": 99, "kind": "ok", "op": "read", "result": 1000, "time": 101}]
    files = []
    for i, outcome in enumerate(outcomes):
        path = tmp_path / f"{i}-{outcome}.jsonl"
        if outcome == "bad":
            path.write_text("{not json\n")
        elif outcome == "unknown":
            write_jsonl(path, hard)
        else:
            read = 0 if outcome == "ok" else 7  # 7 was never written
            write_jsonl(path, [
                {"client": 1, "kind": "invoke", "op": "write", "args": 0, "time": 1},
                {"client": 1, "kind": "ok", "op": "write", "time": 2},
                {"client": 2, "kind": "invoke", "op": "read", "time": 3},
                {"client": 2, "kind": "ok", "op": "read", "result": read, "time": 4}])
        files.append(str(path))
    assert main(["check", *files, "--model", "cas-register", "--timeout", "0.2"]) == code
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == len(outcomes) + 1  # nothing lost: every file has its line
    assert err.count("\n") == outcomes.count("bad") and "Traceback" not in err


def test_html_with_several_files_writes_a_report_for_each(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    files = [str(sample("kv/c01-bad.txt")), str(sample("jepsen/etcd_002.log"))]
    assert main(["check", *files, "--html", str(out)]) == 1
    first, second = tmp_path / "report-1.html", tmp_path / "report-2.html"
    assert "c01-bad.txt" in first.read_text(encoding="utf-8")
    assert "etcd_002.log" in second.read_text(encoding="utf-8")
    assert not out.exists()
