"""Planted bugs: switchable mistakes, off by default, each breaking one rule of etcd or Raft.

They exist so that the harness can prove it finds real mistakes. Each is switched on by name
through a `bugs: frozenset[str]` in a config (raft `Config`, `ServerConfig`, `Store`), and read
once at construction into a bool at the one place the bug changes, so an unarmed bug costs
nothing per message.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACK_BEFORE_FSYNC",
    "APPLY_BELOW_CONSISTENT_INDEX",
    "BUGS",
    "COMMIT_EARLIER_TERM",
    "COMPACT_OFF_BY_ONE",
    "DELETE_NOTHING_BUMPS_REVISION",
    "FOLLOWER_COMMIT_UNCLAMPED",
    "KEEP_CONFLICTING_ENTRIES",
    "LINEARIZABLE_READ_LOCAL",
    "LOG_BUGS",
    "RAFT_BUGS",
    "TRUNCATE_ON_STALE_APPEND",
    "VOTE_NOT_PERSISTED",
    "VOTE_WITHOUT_UP_TO_DATE_CHECK",
    "Bug",
    "check_names",
]


@dataclass(frozen=True)
class Bug:
    """A planted bug: what it does and the rule it breaks."""

    name: str
    description: str
    rule: str


COMMIT_EARLIER_TERM = "commit-earlier-term"
VOTE_NOT_PERSISTED = "vote-not-persisted"
VOTE_WITHOUT_UP_TO_DATE_CHECK = "vote-without-up-to-date-check"
ACK_BEFORE_FSYNC = "ack-before-fsync"
KEEP_CONFLICTING_ENTRIES = "keep-conflicting-entries"
TRUNCATE_ON_STALE_APPEND = "truncate-on-stale-append"
FOLLOWER_COMMIT_UNCLAMPED = "follower-commit-unclamped"
LINEARIZABLE_READ_LOCAL = "linearizable-read-local"
APPLY_BELOW_CONSISTENT_INDEX = "apply-below-consistent-index"
DELETE_NOTHING_BUMPS_REVISION = "delete-nothing-bumps-revision"
COMPACT_OFF_BY_ONE = "compact-off-by-one"

_ALL = (
    Bug(COMMIT_EARLIER_TERM,
        "a leader commits an entry of an earlier term once a quorum holds it",
        "Raft §5.4.2 (Figure 8): only entries of the leader's term commit by counting replicas"),
    Bug(VOTE_NOT_PERSISTED,
        "a restarted node forgets whom it voted for in its current term",
        "Raft Figure 2: votedFor is persistent state, saved before answering a vote"),
    Bug(VOTE_WITHOUT_UP_TO_DATE_CHECK,
        "votes are granted without comparing the candidate's last term and index",
        "Raft §5.4.1: grant a vote only to a candidate whose log is at least as up to date"),
    Bug(ACK_BEFORE_FSYNC,
        "a follower sends its answers (appends, votes) before its WAL write is fsynced",
        "Raft Figure 2 / etcd raft Ready: persist entries and hard state before replying"),
    Bug(KEEP_CONFLICTING_ENTRIES,
        "a follower keeps its entries that conflict with the leader's, appending only beyond",
        "Raft Figure 2 AppendEntries 3: delete a conflicting entry and all that follow it"),
    Bug(TRUNCATE_ON_STALE_APPEND,
        "a follower truncates its log after every append, even a stale one that matches",
        "Raft Figure 2 AppendEntries 3-4: truncate only at a conflict; matching entries stay"),
    Bug(FOLLOWER_COMMIT_UNCLAMPED,
        "a follower commits up to its own last index, not the last entry it knows matches "
        "(in appends, and in heartbeats the leader no longer clamps to the follower's match)",
        "Raft Figure 2 AppendEntries 5: commitIndex = min(leaderCommit, index of last new entry)"),
    Bug(LINEARIZABLE_READ_LOCAL,
        "linearizable reads are served from the local store, without ReadIndex",
        "etcd: a linearizable read reflects every write completed before it began"),
    Bug(APPLY_BELOW_CONSISTENT_INDEX,
        "entries the backend already holds are applied again after a restart",
        "etcd: an entry at or below the consistent index is never applied twice"),
    Bug(DELETE_NOTHING_BUMPS_REVISION,
        "a delete that deletes nothing still moves the store to a new revision",
        "etcd mvcc: the revision grows only when a txn changes something"),
    Bug(COMPACT_OFF_BY_ONE,
        "compaction at rev also removes a key's version written at rev itself",
        "etcd mvcc: compaction at rev keeps each key's last version at or below rev"),
)

BUGS: dict[str, Bug] = {b.name: b for b in _ALL}

# Bugs of the Raft layer: the bench looks for these with the raft workload.
RAFT_BUGS = frozenset({
    COMMIT_EARLIER_TERM, VOTE_NOT_PERSISTED, VOTE_WITHOUT_UP_TO_DATE_CHECK, ACK_BEFORE_FSYNC,
    KEEP_CONFLICTING_ENTRIES, TRUNCATE_ON_STALE_APPEND, FOLLOWER_COMMIT_UNCLAMPED,
})

# The ones RaftLog.maybe_append carries out (a follower's handling of an append).
LOG_BUGS = frozenset({
    KEEP_CONFLICTING_ENTRIES, TRUNCATE_ON_STALE_APPEND, FOLLOWER_COMMIT_UNCLAMPED,
})


def check_names(names: frozenset[str]) -> None:
    """ValueError naming the first unknown bug."""
    for name in sorted(names):
        if name not in BUGS:
            raise ValueError(f"unknown bug {name!r}; known: {', '.join(sorted(BUGS))}")
