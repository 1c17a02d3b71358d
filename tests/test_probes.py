"""Sometimes points: registered, reached, reported, and never a change to what a run does."""

from __future__ import annotations

import ast
import json
import random
import re
from pathlib import Path

import pytest

from etcdcore.probes import POINTS as ETCDCORE_POINTS
from etcdcore.probes import Probes
from etcdcore.raft import Config, MemoryStorage, RawNode
from sim.cluster.config import RunConfig
from sim.cluster.scripted import ScriptedCluster
from sim.commands.cli import main
from sim.harness.artifacts import write_artifacts
from sim.harness.coverage import Coverage
from sim.harness.runner import run
from sim.harness.scenario import Scenario
from sim.world.probes import POINTS, WORLD_POINTS, hit_line, never_hit

ROOT = Path(__file__).resolve().parents[1]
S = 1_000_000


def _names_in_code() -> dict[str, list[str]]:
    """Every point name a probe call in etcdcore/ or sim/ passes, with where it is."""
    found: dict[str, list[str]] = {}
    for path in sorted([*ROOT.joinpath("etcdcore").rglob("*.py"),
                        *ROOT.joinpath("sim").rglob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("hit", "sometimes")):
                continue
            owner = node.func.value
            owner_name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id",
                                                                                       "")
            if owner_name != "probes":
                continue
            name_arg = node.args[0] if node.func.attr == "hit" else node.args[1]
            for sub in ast.walk(name_arg):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    where = f"{path.relative_to(ROOT)}:{sub.lineno}"
                    found.setdefault(sub.value, []).append(where)
    return found


def test_every_point_named_in_code_is_registered_and_every_registered_point_is_reachable() -> None:
    named = _names_in_code()
    unregistered = {n: where for n, where in named.items() if n not in POINTS}
    assert not unregistered, f"points used in code but not registered: {unregistered}"
    unused = sorted(set(POINTS) - set(named))
    assert not unused, f"registered points no code reaches: {unused}"


def test_points_are_named_by_layer_and_described_in_one_line() -> None:
    assert not set(ETCDCORE_POINTS) & set(WORLD_POINTS)
    for name, point in POINTS.items():
        assert point.name == name
        assert re.fullmatch(r"[a-z]+\.[a-z_]+", name), name
        assert point.description and "\n" not in point.description
        assert len(point.description) <= 100, name
    assert {n.split(".")[0] for n in ETCDCORE_POINTS} <= {
        "raft", "wal", "backend", "server", "mvcc", "client"}
    assert {n.split(".")[0] for n in WORLD_POINTS} <= {"net", "disk", "fault"}


def test_raft_counts_on_the_counter_its_driver_hands_it() -> None:
    probes = Probes()
    node = RawNode(Config(id=1, peers=[1, 2, 3], rand=random.Random(1), probes=probes),
                   MemoryStorage())
    assert node.propose(b"x") is False  # a follower that knows no leader drops it
    assert probes.counts == {"raft.proposal_dropped": 1}
    own = RawNode(Config(id=1, peers=[1, 2, 3], rand=random.Random(1)), MemoryStorage())
    assert own.propose(b"x") is False
    assert own.raft.probes.counts == {"raft.proposal_dropped": 1}  # its own, not shared
    assert probes.counts == {"raft.proposal_dropped": 1}


def test_a_member_that_fell_behind_loses_its_pre_vote_to_members_with_longer_logs() -> None:
    c = ScriptedCluster(seed=1)
    lonely = c.followers()[0]
    c.isolate(lonely)
    for i in range(5):
        c.put(b"k%d" % i, b"v")  # committed by the other two: the lonely log falls behind
    others = [m for m in c.members if m != lonely]
    c.partition([lonely], [others[0]], [others[1]])
    c.run_for(3 * S)  # the leader steps down (check-quorum); nobody can be elected
    assert c.probes.get("raft.check_quorum_step_down") == 1
    # Heal while the two others sleep: the lonely member campaigns first, and both refuse it.
    for m in others:
        c.pause(m)
    c.world.network.heal()
    c.run_for(2_500_000)
    for m in others:
        c.resume(m)
    c.run_for(S)
    probes = c.probes
    assert probes.get("raft.pre_vote_lost", 0) >= 1
    assert probes.get("raft.vote_rejected_log_behind", 0) >= 2
    c.check()


def test_a_run_reports_the_points_it_reached_by_name() -> None:
    result = run(RunConfig(seed=3, duration_us=10 * S, faults="none"))
    assert result.probes
    assert set(result.probes) <= set(POINTS)
    assert list(result.probes) == sorted(result.probes)
    assert all(n > 0 for n in result.probes.values())
    assert result.to_json()["probes"] == result.probes
    # A leader elected from scratch commits nothing earlier; compactions meet the store.
    assert "raft.leader_elected_uncommitted_tail" not in result.probes
    assert result.probes.get("mvcc.compact_at_live_key_revision", 0) > 0


def test_the_points_of_a_run_are_the_same_in_every_process() -> None:
    import subprocess
    import sys

    config = RunConfig(seed=5, duration_us=15 * S)
    here = run(config)
    code = ("import json; from sim.cluster.config import RunConfig; "
            "from sim.harness.runner import run; "
            "r = run(RunConfig(seed=5, duration_us=15_000_000)); "
            "print(json.dumps([r.digest, r.probes]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**__import__("os").environ, "PYTHONHASHSEED": "123"},
                         cwd=ROOT)
    digest, probes = json.loads(out.stdout)
    assert digest == here.digest
    assert probes == here.probes


def test_etcdsim_run_prints_how_many_points_it_hit_and_json_lists_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["run", "--seed", "3", "--duration", "5", "--faults", "none"]
    assert main(args) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "points" in x)
    assert re.fullmatch(rf"  points      hit \d+ of {len(POINTS)} sometimes points", line)
    assert main([*args, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["probes"] and set(out["probes"]) <= set(POINTS)
    assert line.split()[2] == str(len(out["probes"]))


def test_a_failures_artifacts_list_the_points_reached_and_missed(tmp_path: Path) -> None:
    scenario = Scenario.from_config(RunConfig(seed=3, duration_us=5 * S, faults="none"))
    from sim.harness.scenario import run_scenario

    result = run_scenario(scenario)
    directory = write_artifacts(tmp_path / "run", scenario, result)
    summary = (directory / "summary.txt").read_text()
    assert f"sometimes points: {hit_line(result.probes)}" in summary
    for name, hits in result.probes.items():
        assert re.search(rf"^  {re.escape(name)} +{hits}$", summary, re.M)
    assert "never hit: " + ", ".join(never_hit(result.probes)) in summary
    page = (directory / "report.html").read_text()
    assert "Sometimes points: " + hit_line(result.probes) in page
    assert all(f'data-point="{name}"' in page for name in POINTS)
    assert json.loads((directory / "result.json").read_text())["probes"] == result.probes


def test_coverage_counts_per_point_the_runs_that_reached_it_and_the_hits() -> None:
    cov = Coverage()
    cov.add({"raft.pre_vote_lost": 2, "mvcc.delete_nothing": 1})
    cov.add({"raft.pre_vote_lost": 3})
    out = cov.to_json()
    assert out["runs"] == 2 and out["registered"] == len(POINTS) and out["hit"] == 2
    assert out["points"]["raft.pre_vote_lost"] == {"runs": 2, "hits": 5}
    assert out["points"]["mvcc.delete_nothing"] == {"runs": 1, "hits": 1}
    assert out["points"]["raft.election_lost"] == {"runs": 0, "hits": 0}
    assert out["never_hit"] == sorted(set(POINTS) - {"raft.pre_vote_lost",
                                                     "mvcc.delete_nothing"})
    lines = cov.lines()
    assert lines[0] == f"points      hit 2 of {len(POINTS)} sometimes points across 2 runs"
    assert lines[1].startswith(f"  never hit ({len(POINTS) - 2}): ")
    # Rarest first.
    assert [x.split()[0] for x in lines[3:]] == ["mvcc.delete_nothing", "raft.pre_vote_lost"]


def test_a_sweep_ends_with_the_points_its_seeds_never_hit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["sweep", "--seeds", "0:2", "--workers", "1", "--duration", "3", "--faults", "none"]
    assert main(args) == 0
    out = capsys.readouterr().out
    missed = next(x for x in out.splitlines() if x.startswith("  never hit ("))
    assert "fault.crash_hit_leader" in missed  # no faults: no crash could hit a leader
    assert re.search(r"^  mvcc\.delete_nothing +[12] +[\d,]+$", out, re.M)
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mode"] == "blind" and report["runs"] == 2 and report["failures"] == []
    coverage = report["coverage"]
    assert "fault.crash_hit_leader" in coverage["never_hit"]
    assert coverage["points"]["fault.crash_hit_leader"] == {"runs": 0, "hits": 0}
    assert coverage["hit"] == len(POINTS) - len(coverage["never_hit"])
