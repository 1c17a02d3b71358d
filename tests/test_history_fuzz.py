"""Every history reader, fuzzed: whatever a file holds, reading it, validating it against its
model and checking it raises nothing but HistoryError (one line, naming the file), and never
takes more memory than `memory_bound` allows for its size.

Inputs are arbitrary bytes, and valid histories of each format (jsonl etcd, EDN kv, EDN cas
register, Jepsen log) with one value changed to an arbitrary one, a field dropped or added, or a
character changed. The registered hypothesis profiles set the number of examples: a few dozen
in the normal run, thousands under `fuzz` (HYPOTHESIS_PROFILE=fuzz).
"""

from __future__ import annotations

import json
import random
import tracemalloc
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sim.lincheck.checker import check
from sim.lincheck.formats import FORMATS, dump_jsonl, parse_bytes
from sim.lincheck.formats.edn_reader import Keyword
from sim.lincheck.generate import generate_etcd_history
from sim.lincheck.generate_kv import kv_edn_text
from sim.lincheck.history import HistoryError
from sim.lincheck.validate import model_for, validate
from tests.edn_text import edn_text

SOURCE = "fuzzed.txt"
CHECK_SECONDS = 0.5  # a hard history may come out unknown: a verdict is not the point here


def memory_bound(size: int) -> int:
    """Bytes a file of `size` bytes may cost to read, validate and check (tracemalloc's peak):
    a few hundred per byte of input, whatever numbers it holds."""
    return 4_000_000 + 500 * size


def survives(data: bytes, fmt: str = "auto", model: str | None = None) -> None:
    """Read, validate and check `data`: HistoryError or a verdict, within the memory bound."""
    tracemalloc.start()
    try:
        try:
            history = parse_bytes(data, fmt, SOURCE)
            chosen = model_for(history, model)
            validate(history, chosen)
            check(history.ops, chosen, timeout=CHECK_SECONDS)
        except HistoryError as e:
            assert str(e).startswith(SOURCE) and "\n" not in str(e), str(e)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < memory_bound(len(data)), f"{peak:,} bytes for {len(data):,} bytes of input"


@given(st.binary(max_size=2000), st.sampled_from(("auto", *FORMATS)))
def test_arbitrary_bytes_are_read_or_refused(data: bytes, fmt: str) -> None:
    survives(data, fmt)


# --- values to put in place of a valid one --------------------------------------------------

NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70), st.sampled_from([2**63 - 1, 2**63, 2**64, -(2**63) - 1]),
    st.integers(10**6, 10**15), st.floats(allow_nan=False),
)
DIGIT_STRINGS = st.one_of(st.integers(-(2**70), 2**70).map(str),
                          st.sampled_from(["", "two", "1e3", "02", " 2", "-0"]))
JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | DIGIT_STRINGS | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["key", "value", "revision", "kvs", "count", "compare", "success",
                         "target", "result", "request_put", "response_put", "x"]), inner,
        max_size=3),
    max_leaves=8)


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value: keys of objects, indexes of arrays."""
    out = [at]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*at, i))
    return out


def _mutate(obj: Any, draw: st.DrawFn) -> Any:
    """One change somewhere in a JSON value: a value replaced, a key dropped or added."""
    path = draw(st.sampled_from(_paths(obj)))
    how = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
    if not path:
        return draw(JSON) if how == "replace" else obj
    parent = obj
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if how == "replace":
        parent[last] = draw(JSON)
    elif how == "drop":
        del parent[last]
    elif isinstance(parent, dict):
        parent[draw(st.sampled_from(["kvs", "revision", "prev_kv", "deleted", "succeeded",
                                     "responses", "range_end", "extra"]))] = draw(JSON)
    return obj


def _touch_text(text: str, draw: st.DrawFn) -> str:
    """Sometimes, one character inserted, dropped or changed anywhere."""
    if not text or draw(st.integers(0, 3)):
        return text
    at = draw(st.integers(0, len(text) - 1))
    ch = draw(st.sampled_from(list('{}[]":,\\ \n;#0-9aN')))
    return draw(st.sampled_from([text[:at] + ch + text[at:], text[:at] + text[at + 1:],
                                 text[:at] + ch + text[at + 1:]]))


# --- jsonl (etcd) ------------------------------------------------------------------------------


@st.composite
def mutated_etcd_histories(draw: st.DrawFn) -> str:
    rng = random.Random(draw(st.integers(0, 2**32)))
    ops = generate_etcd_history(rng, rng.randint(2, 12), keys=rng.randint(1, 3),
                                clients=rng.randint(1, 3), unknown=rng.choice((0.0, 0.3)),
                                latency=40, think=10,
                                mix={"get": 5, "get_old": 2, "scan": 2, "put": 8, "delete": 3,
                                     "cas": 5, "compact": 1, "multi": 2, "guard": 2})
    lines = [json.loads(line) for line in dump_jsonl(ops, "etcd").splitlines()]
    i = draw(st.integers(0, len(lines) - 1))
    lines[i] = _mutate(lines[i], draw)
    return _touch_text("\n".join(json.dumps(line) for line in lines), draw)


@given(mutated_etcd_histories())
def test_etcd_histories_with_a_value_changed_are_checked_or_refused(text: str) -> None:
    survives(text.encode(), "jsonl")


# --- EDN and Jepsen logs -----------------------------------------------------------------------

EDN_ATOMS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.sampled_from([10**30, -(10**25), 2**64]), st.text(max_size=5),
    st.sampled_from(["invoke", "ok", "fail", "info", "get", "put", "append", "read", "write",
                     "cas", "nemesis"]).map(Keyword))
EDN_VALUES = st.recursive(
    EDN_ATOMS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(EDN_ATOMS, inner, max_size=2),
    max_leaves=6)


def _register_events(rng: random.Random, ops: int) -> list[dict[str, Any]]:
    """A cas register's events, as Knossos writes them (values not always consistent)."""
    events: list[dict[str, Any]] = []
    for i in range(ops):
        process = rng.randrange(3)
        f = rng.choice(["read", "write", "cas"])
        value: Any = {"read": None, "write": rng.randrange(4),
                      "cas": [rng.randrange(4), rng.randrange(4)]}[f]
        events.append({"type": Keyword("invoke"), "f": Keyword(f), "value": value,
                       "process": process, "time": i})
        end = rng.choice(["ok", "ok", "fail", "info"])
        done = rng.randrange(4) if f == "read" else value
        events.append({"type": Keyword(end), "f": Keyword(f), "value": done,
                       "process": process, "time": i})
    return events


@st.composite
def mutated_edn_histories(draw: st.DrawFn) -> str:
    rng = random.Random(draw(st.integers(0, 2**32)))
    if draw(st.booleans()):
        text = kv_edn_text(rng, rng.randint(1, 15), keys=2, clients=3, unknown=0.2)
        events = [{k.name: v for k, v in _read(line).items()} for line in text.splitlines()]
    else:
        events = _register_events(rng, rng.randint(1, 10))
    event = events[draw(st.integers(0, len(events) - 1))]
    how = draw(st.sampled_from(["replace", "replace", "drop", "add"]))
    name = draw(st.sampled_from(sorted(event)))
    if how == "replace":
        event[name] = draw(EDN_VALUES)
    elif how == "drop":
        del event[name]
    else:
        event[draw(st.sampled_from(["key", "index", "error", "value2"]))] = draw(EDN_VALUES)
    maps = ["{" + ", ".join(f":{k} {edn_text(v)}" for k, v in e.items()) + "}" for e in events]
    text = "[" + "\n ".join(maps) + "]" if draw(st.booleans()) else "\n".join(maps)
    return _touch_text(text, draw)


def _read(line: str) -> dict[Any, Any]:
    from sim.lincheck.formats.edn_reader import read_edn

    value = read_edn(line)
    assert isinstance(value, dict)
    return value


@given(mutated_edn_histories(), st.sampled_from([None, "kv", "cas-register", "etcd"]))
def test_edn_histories_with_a_value_changed_are_checked_or_refused(
    text: str, model: str | None
) -> None:
    survives(text.encode(), "edn", model)


@st.composite
def mutated_jepsen_logs(draw: st.DrawFn) -> str:
    rng = random.Random(draw(st.integers(0, 2**32)))
    lines = []
    for e in _register_events(rng, rng.randint(1, 10)):
        lines.append(f"INFO  jepsen.util - {e['process']}\t{e['type']}\t{e['f']}\t"
                     f"{edn_text(e['value'])}")
    i = draw(st.integers(0, len(lines) - 1))
    head, *fields = lines[i].split("\t")
    j = draw(st.integers(0, len(fields) - 1))
    fields[j] = edn_text(draw(EDN_VALUES))
    lines[i] = "\t".join([head, *fields])
    if draw(st.booleans()):
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from([
            "INFO  jepsen.core - Worker 3 done", "INFO  jepsen.util - :nemesis\t:info\t:start",
            "INFO  jepsen.util - 2\t:ok", "WARN  jepsen.util - retrying"])))
    return _touch_text("\n".join(lines), draw)


@given(mutated_jepsen_logs(), st.sampled_from([None, "kv", "cas-register"]))
def test_jepsen_logs_with_a_value_changed_are_checked_or_refused(
    text: str, model: str | None
) -> None:
    survives(text.encode(), "auto", model)


def test_long_runs_of_blanks_are_read_in_linear_time() -> None:
    """Patterns that backtrack (a run of n blanks matched 2^n ways, a lazy match retried at each
    of n places) would never finish here: the reading runs in a child process, with a limit."""
    import os
    import subprocess
    import sys

    code = (
        "from sim.lincheck.formats import parse_text\n"
        "from sim.lincheck.history import HistoryError\n"
        "blank = ' ' * 200_000\n"
        "jepsen = 'INFO  jepsen.util - 0\\t:invoke\\t:write\\t1' + blank + '2'\n"
        "for text, fmt in [(blank + 'x', 'auto'), (',\\n' * 100_000 + '[ x', 'auto'),\n"
        "                  (jepsen, 'auto'), ('{:process 0' + blank + '\\n', 'edn'),\n"
        "                  ('{' + blank, 'jsonl')]:\n"
        "    try:\n"
        "        parse_text(text, fmt)\n"
        "    except HistoryError:\n"
        "        pass\n"
    )
    env = dict(os.environ, ETCDSIM_BUILD="source")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False, env=env)
    assert proc.returncode == 0, proc.stderr
