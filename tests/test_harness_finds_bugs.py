"""The harness is sharp: a Raft or driver with a broken rule fails within a few seeds."""

from __future__ import annotations

import pytest

from etcdcore.raft import RawNode
from etcdcore.raft.log import RaftLog
from etcdcore.raft.types import Ready
from sim.cluster.config import RunConfig
from sim.harness.runner import run

S = 1_000_000


def first_failure(seeds: range) -> dict[str, object] | None:
    for seed in seeds:
        result = run(RunConfig(seed=seed, duration_us=30 * S, workload="raft"))
        if result.violations:
            return result.violations[0]
    return None


def test_a_driver_that_replies_before_fsync_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    ready = RawNode.ready

    def never_sync(self: RawNode) -> Ready:
        rd = ready(self)
        rd.must_sync = False
        return rd

    monkeypatch.setattr(RawNode, "ready", never_sync)
    violation = first_failure(range(3))
    assert violation is not None and violation["check"] == "durable_before_reply"


def test_votes_without_the_up_to_date_check_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RaftLog, "is_up_to_date", lambda self, index, term: True)
    violation = first_failure(range(30))  # found at seed 29 (and 39) of 0..39
    assert violation is not None
    assert violation["check"] in ("leader_completeness", "state_machine_safety", "log_matching")


def test_the_unmodified_code_passes_the_same_seeds() -> None:
    assert first_failure(range(20)) is None
