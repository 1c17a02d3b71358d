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
    "CANDIDATE_COUNTS_STALE_VOTE",
    "CLIENT_RETRIES_WRITES",
    "COMMIT_EARLIER_TERM",
    "COMMIT_WITHOUT_QUORUM",
    "COMPACT_OFF_BY_ONE",
    "COMPARE_MISSING_KEY_PANICS",
    "DELETE_NOTHING_BUMPS_REVISION",
    "FOLLOWER_ACCEPTS_STALE_APPEND",
    "FOLLOWER_COMMIT_UNCLAMPED",
    "FORGET_VOTE_SAME_TERM",
    "HARD_STATE_COMMIT_ONLY",
    "KEEP_CONFLICTING_ENTRIES",
    "KEYS_ONLY_IGNORED",
    "LEADER_IGNORES_HIGHER_TERM",
    "LINEARIZABLE_READ_LOCAL",
    "LOG_BUGS",
    "RAFT_BUGS",
    "RANGE_COMPACTED_REVISION",
    "RANGE_COUNT_WITHIN_LIMIT",
    "READ_INDEX_BEFORE_TERM_COMMIT",
    "READ_INDEX_WITHOUT_QUORUM",
    "TRUNCATE_ON_STALE_APPEND",
    "TXN_HEADER_BEFORE_WRITES",
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
FORGET_VOTE_SAME_TERM = "forget-vote-same-term"
COMMIT_WITHOUT_QUORUM = "commit-without-quorum"
CLIENT_RETRIES_WRITES = "client-retries-writes"
RANGE_COUNT_WITHIN_LIMIT = "range-count-within-limit"
TXN_HEADER_BEFORE_WRITES = "txn-header-before-writes"
COMPARE_MISSING_KEY_PANICS = "compare-missing-key-panics"
HARD_STATE_COMMIT_ONLY = "hard-state-commit-only"
READ_INDEX_BEFORE_TERM_COMMIT = "read-index-before-term-commit"
CANDIDATE_COUNTS_STALE_VOTE = "candidate-counts-stale-vote"
LEADER_IGNORES_HIGHER_TERM = "leader-ignores-higher-term"
READ_INDEX_WITHOUT_QUORUM = "read-index-without-quorum"
RANGE_COMPACTED_REVISION = "range-compacted-revision"
KEYS_ONLY_IGNORED = "keys-only-ignored"
FOLLOWER_ACCEPTS_STALE_APPEND = "follower-accepts-stale-append"

_ALL = (
    Bug(COMMIT_EARLIER_TERM,
        "a leader commits an entry of an earlier term once a quorum holds it",
        "Raft §5.4.2 (Figure 8): only entries of the leader's term commit by counting replicas "
        "(LogCabin committed prior-term entries this way: logcabin/logcabin#44)"),
    Bug(VOTE_NOT_PERSISTED,
        "a restarted node forgets whom it voted for in its current term",
        "Raft Figure 2: votedFor is persistent state, saved before answering a vote "
        "(NodeDB-Lab/nodedb#161: a hard state never persisted, split brain on restart)"),
    Bug(VOTE_WITHOUT_UP_TO_DATE_CHECK,
        "votes are granted without comparing the candidate's last term and index",
        "Raft §5.4.1: grant a vote only to a candidate whose log is at least as up to date"),
    Bug(ACK_BEFORE_FSYNC,
        "a follower sends its answers (appends, votes) before its WAL write is fsynced",
        "Raft Figure 2 / etcd raft Ready: persist entries and hard state before replying "
        "(deventlab/d-engine#329: a follower answered success before its durable index moved)"),
    Bug(KEEP_CONFLICTING_ENTRIES,
        "a follower keeps its entries that conflict with the leader's, appending only beyond",
        "Raft Figure 2 AppendEntries 3: delete a conflicting entry and all that follow it"),
    Bug(TRUNCATE_ON_STALE_APPEND,
        "a follower truncates its log after every append, even a stale one that matches",
        "Raft Figure 2 AppendEntries 3-4: truncate only at a conflict; matching entries stay"),
    Bug(FOLLOWER_COMMIT_UNCLAMPED,
        "a follower commits up to its own last index, not the last entry it knows matches "
        "(in appends, and in heartbeats the leader no longer clamps to the follower's match)",
        "Raft Figure 2 AppendEntries 5: commitIndex = min(leaderCommit, index of last new entry) "
        "(scylladb/scylladb#10578: a follower marked obsolete entries committed)"),
    Bug(LINEARIZABLE_READ_LOCAL,
        "linearizable reads are served from the local store, without ReadIndex",
        "etcd: a linearizable read reflects every write completed before it began (Raft §8: "
        "a read served without the log or a quorum round may return stale data)"),
    Bug(APPLY_BELOW_CONSISTENT_INDEX,
        "entries the backend already holds are applied again after a restart",
        "etcd: an entry at or below the consistent index is never applied twice (etcd's v3.5 "
        "data inconsistency postmortem: entries either skipped or executed twice)"),
    Bug(DELETE_NOTHING_BUMPS_REVISION,
        "a delete that deletes nothing still moves the store to a new revision",
        "etcd mvcc: the revision grows only when a txn changes something"),
    Bug(COMPACT_OFF_BY_ONE,
        "compaction at rev also removes a key's version written at rev itself",
        "etcd mvcc: compaction at rev keeps each key's last version at or below rev "
        "(etcd-io/etcd#22376: a compaction at exactly a key's revision deleted its live value)"),
    Bug(TXN_HEADER_BEFORE_WRITES,
        "a txn that writes answers with the revision it began at, not the one it wrote",
        "etcd: a response header's revision is the store's revision after the request "
        "(etcd-io/etcd#5040 set the txn header to the store revision following the txn)"),
    Bug(COMPARE_MISSING_KEY_PANICS,
        "a txn compare on a key that does not exist reads the first key of an empty range",
        "etcd: a compare on a missing key compares a zero KeyValue; the server never panics "
        "on a valid request (etcd-io/etcd#3920: applyCompare index out of range; fixed by #3921)"),
    Bug(HARD_STATE_COMMIT_ONLY,
        "the WAL keeps only the commit index of the hard state: term and vote are never saved",
        "Raft Figure 2: currentTerm and votedFor are persistent, saved before answering "
        "(PySyncObj persisted only its log and commit index: bakwc/PySyncObj#202)"),
    Bug(FORGET_VOTE_SAME_TERM,
        "a node that steps down within a term (a lost election, check-quorum) forgets its vote",
        "Raft Figure 2: votedFor is cleared only by a new term; a candidate stepping down in "
        "its term keeps its vote (akka-raft#56 elected two leaders in a term this way)"),
    Bug(COMMIT_WITHOUT_QUORUM,
        "a leader commits what the (n/2)-th highest match index holds, one replica short of "
        "a majority (its own log alone, in a cluster of three)",
        "Raft §5.3: an entry is committed once a majority of the servers hold it "
        "(openraft's quorum tracking committed without one: databendlabs/openraft#1802)"),
    Bug(CLIENT_RETRIES_WRITES,
        "the client sends a call its member never answered (a lost connection) again to the "
        "next member, a put, delete, txn or compaction as well as a range",
        "etcd clientv3: a non-idempotent request is never retried once it may have reached "
        "a server (etcd-io/etcd#6691; jetcd's retry on Unavailable duplicated writes: "
        "Jepsen jetcd 0.8.2, etcd-io/etcd#14890, etcd-io/jetcd#1444)"),
    Bug(RANGE_COUNT_WITHIN_LIMIT,
        "a range with a limit counts the keys it fetched (limit + 1), not the keys in range",
        "etcd mvcc: a range's count is every key in range at its revision, whatever the limit "
        "(etcd-io/etcd#6145, count came back as limit + 1; fixed by #6152)"),
    Bug(READ_INDEX_BEFORE_TERM_COMMIT,
        "a new leader answers ReadIndex at its commit index before an entry of its own term "
        "is committed (a sole voter always did)",
        "Raft §6.4: a leader serves reads only once it has committed an entry of its term; "
        "until then its commit index may lag what was committed and answered before "
        "(etcd-io/etcd#7331: ReadIndex may read a stale value; fixed by #7332)"),
    Bug(CANDIDATE_COUNTS_STALE_VOTE,
        "a candidate counts a granted vote answer of an earlier term towards its election",
        "Raft Figure 2 / §5.1: a reply of an older term is ignored; votes count only for the "
        "term they were granted in (ktoso/akka-raft#46: candidates elected by delayed votes of a "
        "previous term; andreev-io/little-raft#45: ignore vote with stale term)"),
    Bug(LEADER_IGNORES_HIGHER_TERM,
        "a leader drops an append or heartbeat answer of a higher term instead of stepping down",
        "Raft Figure 2: a response whose term T > currentTerm sets currentTerm = T and makes "
        "the node a follower (uwplse/verdi-raft#29: AppendEntries replies of a higher term "
        "ignored by a stale leader)"),
    Bug(READ_INDEX_WITHOUT_QUORUM,
        "a leader answers ReadIndex at its commit index at once, without a heartbeat round "
        "that a quorum acknowledges",
        "Raft thesis §6.4 step 3: before serving a read the leader confirms, by a round of "
        "heartbeats acknowledged by a majority, that no newer leader was elected (Consul read "
        "from its leader's state: a deposed leader's stale reads, hashicorp/consul#54, fixed "
        "by hashicorp/raft#4 VerifyLeader)"),
    Bug(RANGE_COMPACTED_REVISION,
        "a range at a revision below the compaction answers from what compaction left, "
        "instead of failing",
        "etcd mvcc: a range below the compact revision fails with \"mvcc: required revision "
        "has been compacted\" (k3s-io/kine#215: a get at a compacted revision answered as if "
        "the key did not exist; fixed by kine#231)"),
    Bug(KEYS_ONLY_IGNORED,
        "a range with keys_only answers with the values too",
        "etcd: a keys_only range returns keys without values (etcd-io/etcd#8478: the gRPC "
        "proxy ignored --keys-only)"),
    Bug(FOLLOWER_ACCEPTS_STALE_APPEND,
        "a follower appends the entries of an append from a leader of an earlier term",
        "Raft Figure 2 AppendEntries 1: reply false if term < currentTerm "
        "(jasonrogena/lightraft#10, fixed by #11: AppendEntries did not check the term)"),
)

BUGS: dict[str, Bug] = {b.name: b for b in _ALL}

# Bugs of the Raft layer: the bench looks for these with the raft workload.
RAFT_BUGS = frozenset({
    COMMIT_EARLIER_TERM, VOTE_NOT_PERSISTED, VOTE_WITHOUT_UP_TO_DATE_CHECK, ACK_BEFORE_FSYNC,
    KEEP_CONFLICTING_ENTRIES, TRUNCATE_ON_STALE_APPEND, FOLLOWER_COMMIT_UNCLAMPED,
    CANDIDATE_COUNTS_STALE_VOTE, LEADER_IGNORES_HIGHER_TERM, FOLLOWER_ACCEPTS_STALE_APPEND,
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
