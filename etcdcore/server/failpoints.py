"""Failpoints: named places on the server's path where a scenario may crash or pause a member.

As etcd's gofail points, by the same names. Code reaches one as

    if fp.RAFT_BEFORE_SAVE in env.armed:
        yield env.failpoint(fp.RAFT_BEFORE_SAVE)

so an unarmed point costs one set lookup. What happens there (a crash, a pause) is the
environment's business; a crash never resumes the waiting process.
"""

from __future__ import annotations

__all__ = [
    "AFTER_COMMIT",
    "BEFORE_APPLY_ONE_CONF_CHANGE",
    "BEFORE_COMMIT",
    "COMPACT_AFTER_COMMIT_SCHEDULED_COMPACT",
    "COMPACT_BEFORE_COMMIT_SCHEDULED_COMPACT",
    "FAILPOINTS",
    "RAFT_AFTER_SAVE",
    "RAFT_BEFORE_FOLLOWER_SEND",
    "RAFT_BEFORE_LEADER_SEND",
    "RAFT_BEFORE_SAVE",
    "REACHABLE",
]

RAFT_BEFORE_SAVE = "raftBeforeSave"
RAFT_AFTER_SAVE = "raftAfterSave"
RAFT_BEFORE_LEADER_SEND = "raftBeforeLeaderSend"
RAFT_BEFORE_FOLLOWER_SEND = "raftBeforeFollowerSend"
BEFORE_COMMIT = "beforeCommit"
AFTER_COMMIT = "afterCommit"
COMPACT_BEFORE_COMMIT_SCHEDULED_COMPACT = "compactBeforeCommitScheduledCompact"
COMPACT_AFTER_COMMIT_SCHEDULED_COMPACT = "compactAfterCommitScheduledCompact"
BEFORE_APPLY_ONE_CONF_CHANGE = "beforeApplyOneConfChange"

FAILPOINTS: dict[str, str] = {
    RAFT_BEFORE_SAVE: "raft loop: before the Ready's entries and hard state go to the WAL",
    RAFT_AFTER_SAVE: "raft loop: after the WAL write and fsync, before the rest of the Ready",
    RAFT_BEFORE_LEADER_SEND: "raft loop: a leader, before sending the Ready's messages",
    RAFT_BEFORE_FOLLOWER_SEND: "raft loop: a follower, after its fsync, before sending",
    BEFORE_COMMIT: "backend: before a batch commit is written",
    AFTER_COMMIT: "backend: after a batch commit is durable",
    COMPACT_BEFORE_COMMIT_SCHEDULED_COMPACT: "compaction: applied in memory, not yet committed",
    COMPACT_AFTER_COMMIT_SCHEDULED_COMPACT: "compaction: after its forced backend commit",
    BEFORE_APPLY_ONE_CONF_CHANGE: "apply: before a conf change (none are proposed yet)",
}
# The points a scenario can reach today (no conf changes are proposed yet).
REACHABLE: tuple[str, ...] = tuple(sorted(n for n in FAILPOINTS
                                          if n != BEFORE_APPLY_ONE_CONF_CHANGE))
