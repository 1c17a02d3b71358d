"""The compiled copy (etcdsim_build.compiled) runs the same simulation as the sources, faster."""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from checkout import FAST, FULL_BUILD_GROUP, NO_FULL_BUILD, full_build_at_hand
from etcdsim_build.compiled import HOT, PACKAGES, ROOT, build, hot_modules, source_hash
from etcdsim_build.dataclass_init import explicit_inits
from etcdsim_build.final_constants import final_constants

from sim.cluster.config import RunConfig
from sim.cluster.workload import WorkloadConfig
from sim.harness.runner import run

# The Raft core, its driver, and a module whose frozen config a sweep pickles.
SOME = (*(m for m in HOT if m.startswith("etcdcore/raft/")), "etcdcore/server/raft_node.py",
        "sim/cluster/workload.py")

_PROBE = """
import json, pickle
from sim.build_select import which_build
from sim.cluster.config import RunConfig
from sim.harness.runner import run
import etcdcore.raft.raft as raft
from sim.cluster.workload import WorkloadConfig
config = RunConfig(seed=3, duration_us=5_000_000, workload="raft",
                   workload_mix=WorkloadConfig(clients=2, keys=3))
r = run(pickle.loads(pickle.dumps(config)))  # as a sweep hands it to a worker
assert pickle.loads(pickle.dumps(config)) == config
print(json.dumps({"compiled": which_build() == "compiled", "raft": raft.__file__,
                  "digest": r.digest}))
"""


def test_the_source_hash_changes_with_any_source_file(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    before = source_hash(tmp_path)
    assert source_hash(tmp_path) == before
    bench = tmp_path / "sim" / "commands" / "bench.py"
    bench.write_text(bench.read_text() + "\n# an edit\n")
    assert source_hash(tmp_path) != before


def test_a_compiled_copy_gives_the_digest_of_the_sources_and_is_rebuilt_only_on_change(
        tmp_path: Path) -> None:
    dest = tmp_path / "fast"
    # Two builds at once (test workers, `make fast`, pip): one builds, the other waits for it
    # and finds the copy up to date.
    other = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; "
         "from etcdsim_build.compiled import build; "
         f"print(build(Path(sys.argv[1]), {list(SOME)!r}))", str(dest)],
        env=dict(os.environ, PYTHONPATH=str(ROOT / "buildtools")), stdout=subprocess.PIPE,
        text=True)
    here = build(dest, SOME)
    there = other.communicate(timeout=600)[0].strip()
    assert other.returncode == 0
    assert sorted([str(here), there]) == ["False", "True"]
    assert build(dest, SOME) is False  # up to date: nothing to do
    assert list((dest / "etcdcore" / "raft").glob("raft.*.so"))
    assert not list((ROOT / "etcdcore" / "raft").glob("*.so"))  # the sources stay sources
    proc = subprocess.run([sys.executable, "-c", _PROBE], cwd=dest, capture_output=True,
                          text=True, check=True)
    probe = json.loads(proc.stdout)
    assert probe["raft"].endswith(".so")
    assert probe["compiled"] is False  # only the Raft core was compiled here, not sim.world.node
    interpreted = run(RunConfig(seed=3, duration_us=5_000_000, workload="raft",
                                workload_mix=WorkloadConfig(clients=2, keys=3)))
    assert probe["digest"] == interpreted.digest


def _sim(fast: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim", *args], cwd=fast, input=stdin,
                          capture_output=True, text=True, check=False, timeout=600)


@pytest.mark.xdist_group(FULL_BUILD_GROUP)
@pytest.mark.skipif(not full_build_at_hand(), reason=NO_FULL_BUILD)
def test_every_command_works_the_same_from_the_full_compiled_copy(tmp_path: Path) -> None:
    # build/fast, as `make fast` builds it: rebuilt here only when a source changed.
    fast = FAST
    build(fast)
    probe = subprocess.run([sys.executable, "-c", "from sim.build_select import which_build; "
                            "print(which_build())"], cwd=fast, capture_output=True, text=True,
                           check=True)
    assert probe.stdout.strip() == "compiled"
    for workload in ("etcd", "raft"):
        out = _sim(fast, "run", "--seed", "2", "--duration", "10", "--workload", workload,
                   "--json")
        assert out.returncode == 0, out.stderr
        compiled = json.loads(out.stdout)
        interpreted = run(RunConfig(seed=2, duration_us=10_000_000, workload=workload))
        assert compiled["digest"] == interpreted.digest
        assert compiled["probes"] == interpreted.probes  # the same sometimes points, too
        assert all(v.startswith("pass") for v in compiled["checks"].values())
    # Default faults, including a disk error as a member reopens its WAL: compiled code once
    # raised TypeError there, where the sources failed the member cleanly.
    out = _sim(fast, "run", "--seed", "88", "--json")
    compiled = json.loads(out.stdout)
    assert compiled["digest"] == run(RunConfig(seed=88)).digest
    assert out.returncode == 0 and not compiled["violations"], out.stdout
    failing = _sim(fast, "run", "--seed", "0", "--duration", "20", "--bug",
                   "linearizable-read-local", "--out", str(tmp_path / "fail"))
    assert failing.returncode == 1, failing.stderr
    replayed = _sim(fast, "replay", str(tmp_path / "fail"))
    assert replayed.returncode == 1 and "reproduced" in replayed.stdout, replayed.stderr
    history = tmp_path / "fail" / "history.jsonl"
    checked = _sim(fast, "check", str(history), "--timeout", "20")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    swept = _sim(fast, "sweep", "--seeds", "0:2", "--workers", "2")
    assert swept.returncode == 0, swept.stderr
    put = '{"path": "/v3/kv/put", "body": {"key": "Zm9v", "value": "YmFy"}}\n'
    gateway = _sim(fast, "gateway", "--requests", "-", stdin=put)
    assert gateway.returncode == 0 and '"revision":"2"' in gateway.stdout.replace(" ", ""), \
        gateway.stdout + gateway.stderr
    assert _sim(fast, "bugs").returncode == 0


@pytest.mark.xdist_group(FULL_BUILD_GROUP)
@pytest.mark.skipif(not full_build_at_hand(), reason=NO_FULL_BUILD)
def test_the_compiled_history_readers_read_and_refuse_as_the_sources_do(tmp_path: Path) -> None:
    import random

    from sim.lincheck.formats import load
    from sim.lincheck.generate_kv import kv_edn_text
    from sim.lincheck.history import HistoryError

    fast = FAST
    build(fast)
    kv = tmp_path / "kv.edn"
    kv.write_text("[" + kv_edn_text(random.Random(3), 300, keys=4, clients=5, unknown=0.05)
                  .replace('"x 3 7 y"', '"x \\"3\\" 7 y"') + "]")  # maps read the slow way
    register = tmp_path / "register.edn"
    register.write_text("{:type :invoke, :f :cas, :value [1 2], :process 0, :time 1}\n"
                        "{:type :fail, :f :cas, :value [1 2], :process 0, :time 2}\n")
    bad = tmp_path / "bad.edn"
    bad.write_text('{:process 0, :type :invoke, :f :put, :key "1", :value 1}\n'
                   '{:process 0, :type :ok, :f :put, :key "1", :value ' + "9" * 30 + "}\n")
    probe = ("import json, sys\nfrom sim.lincheck.formats import load\n"
             "from sim.lincheck.history import HistoryError\nout = []\n"
             "for path in sys.argv[1:]:\n"
             "    try:\n"
             "        h = load(path)\n"
             "        out.append([[o.id, o.client, o.call, o.ret, o.f, repr(o.args), "
             "repr(o.result), o.status.value, o.line, o.key, o.ret_line] for o in h.ops])\n"
             "    except HistoryError as e:\n"
             "        out.append(str(e))\n"
             "print(json.dumps(out))\n")
    files = [str(kv), str(register), str(bad)]
    compiled = subprocess.run([sys.executable, "-c", probe, *files], cwd=fast,
                              capture_output=True, text=True, check=True)
    sources = []
    for path in files:
        try:
            sources.append([[o.id, o.client, o.call, o.ret, o.f, repr(o.args), repr(o.result),
                             o.status.value, o.line, o.key, o.ret_line] for o in load(path).ops])
        except HistoryError as e:
            sources.append(str(e))
    assert json.loads(compiled.stdout) == sources
    assert isinstance(sources[0], list) and 'x "3" 7 y' in str(sources[0])
    assert "64 bits" in sources[2]


_DATACLASSES = '''
from __future__ import annotations
from dataclasses import dataclass, field
from typing import ClassVar

NONE = 0


@dataclass(slots=True)
class Plain:
    """Doc."""

    a: int
    b: int = NONE
    items: list[int] = field(default_factory=list)
    label: ClassVar[str] = "plain"

    def total(self) -> int:
        return self.a + self.b + sum(self.items)


@dataclass(frozen=True)
class Frozen:
    term: int = 0
    vote: int = 0


@dataclass(kw_only=True)
class KeywordOnly:
    x: int
    y: int = 2


@dataclass
class Checked:
    n: int

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError("n < 0")


@dataclass
class Base:
    a: int


@dataclass
class Derived(Base):  # inherits a field: left to dataclasses
    b: int = 0
'''


def _load(source: str, name: str) -> dict[str, Any]:
    module = types.ModuleType(name)
    sys.modules[name] = module  # dataclasses resolves string annotations through it
    try:
        exec(compile(source, name, "exec"), module.__dict__)  # the code under test
    finally:
        del sys.modules[name]
    return module.__dict__


def test_explicit_inits_construct_what_dataclasses_construct() -> None:
    original = _load(_DATACLASSES, "probe_original")
    rewritten_source = explicit_inits(_DATACLASSES)
    rewritten = _load(rewritten_source, "probe_rewritten")
    # Every class but Derived, whose inherited fields only dataclasses lays out.
    assert rewritten_source.count("def __init__") == 5
    for name, args, kwargs in [
        ("Plain", (1,), {}), ("Plain", (1, 2, [3]), {}), ("Plain", (), {"a": 1, "items": [4]}),
        ("Frozen", (), {}), ("Frozen", (3, 1), {}), ("KeywordOnly", (), {"x": 1}),
        ("Checked", (5,), {}), ("Derived", (1, 2), {}),
    ]:
        mine, theirs = rewritten[name](*args, **kwargs), original[name](*args, **kwargs)
        assert dataclasses.astuple(mine) == dataclasses.astuple(theirs)
        assert repr(mine) == repr(theirs)
        assert mine == rewritten[name](*args, **kwargs)
    first, second = rewritten["Plain"](1), rewritten["Plain"](1)
    first.items.append(9)
    assert second.items == []  # a fresh list from the factory each time
    with pytest.raises(dataclasses.FrozenInstanceError):
        rewritten["Frozen"]().term = 1
    with pytest.raises(TypeError):
        rewritten["KeywordOnly"](1)  # keyword-only, as declared
    with pytest.raises(ValueError, match="n < 0"):
        rewritten["Checked"](-1)  # __post_init__ still runs
    with pytest.raises(TypeError):
        rewritten["Plain"]()  # a field without a default is required
    assert rewritten["Plain"].label == "plain"  # a ClassVar is no field
    assert hash(rewritten["Frozen"](1, 2)) == hash(original["Frozen"](1, 2))
    # A compiled copy's module still parses, with the prelude its __init__s refer to.
    for module in hot_modules(ROOT):
        ast.parse(final_constants(explicit_inits((ROOT / module).read_text())))


_CONSTANTS = '''
from __future__ import annotations
import struct
LIMIT = 10
_HEADER = struct.Struct("<I")
_TABLE: dict[int, int] = {}
REBOUND = 1
REBOUND = 2
SHIFTED = 0
lower_case = 3


def bump() -> None:
    global SHIFTED
    SHIFTED += 1
'''


def test_once_bound_module_constants_become_final_and_keep_their_values() -> None:
    rewritten = final_constants(_CONSTANTS)
    assert "LIMIT: _CompiledFinal = 10" in rewritten
    assert '_HEADER: _CompiledFinal = struct.Struct("<I")' in rewritten
    assert "_TABLE: _CompiledFinal[dict[int, int]] = {}" in rewritten
    for name in ("REBOUND", "SHIFTED", "lower_case"):  # bound twice, global'd, not a constant
        assert f"{name}: _CompiledFinal" not in rewritten
    original, mine = _load(_CONSTANTS, "c_original"), _load(rewritten, "c_rewritten")
    for name in ("LIMIT", "_TABLE", "REBOUND", "SHIFTED", "lower_case"):
        assert mine[name] == original[name]


def test_compiled_modules_test_types_with_tuples_not_unions() -> None:
    # mypyc evaluates `A | B` into a new union object on every call of isinstance(x, A | B).
    offenders = []
    for module in hot_modules(ROOT):
        tree = ast.parse((ROOT / module).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("isinstance", "issubclass") and len(node.args) == 2 \
                    and isinstance(node.args[1], ast.BinOp):
                offenders.append(f"{module}:{node.lineno}")
    assert not offenders


def test_compiled_functions_name_each_caught_exception_type_apart() -> None:
    # mypyc types an `except A as exc` variable as A for the whole function: a later
    # `except B as exc` then fails with a TypeError instead of handling B.
    offenders = []
    for module in hot_modules(ROOT):
        tree = ast.parse((ROOT / module).read_text())
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                types: dict[str, set[str]] = {}
                for node in ast.walk(fn):
                    if isinstance(node, ast.ExceptHandler) and node.name and node.type:
                        types.setdefault(node.name, set()).add(ast.unparse(node.type))
                offenders += [f"{module}:{fn.lineno} {name}" for name, kinds in types.items()
                              if len(kinds) > 1]
    assert not offenders
