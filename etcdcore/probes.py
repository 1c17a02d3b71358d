"""Sometimes points: named places where a rare, interesting state is reached.

As FoundationDB's CODE_PROBE and Antithesis's "sometimes" assertions: a point records that a run
got somewhere worth getting to (a leader elected over an uncommitted tail, a read index retried,
a torn WAL tail repaired). They are observation only: a hit changes nothing the run does and
nothing in its trace, so digests are the same with or without them. A sweep reports the points
its seeds never reached, and a guided sweep (sim.harness.guided) steers towards new ones.

Code reports a hit on a `Probes` counter it is handed: Raft and MVCC (pure) on the one in their
config or instance, which the driver owns; the server and the client on the Env's (`env.probes`).
Nothing here is global: one counter per run, made by whoever runs it.

Every name used in code must be registered below (or, for the simulated world's own points, in
sim.world.probes), and every registered name used somewhere: a test greps for both.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["POINTS", "Point", "Probes"]


class Probes:
    """Hits per point name, for one run (the same object is shared by everything in it)."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def hit(self, name: str) -> None:
        """Point `name` was reached once more."""
        counts = self.counts
        counts[name] = counts.get(name, 0) + 1

    def sometimes(self, condition: bool, name: str) -> None:
        """Point `name` was reached if `condition` holds (Antithesis's `sometimes`)."""
        if condition:
            counts = self.counts
            counts[name] = counts.get(name, 0) + 1

    def sorted_counts(self) -> dict[str, int]:
        """The hits so far, by name (a copy, in sorted order: what a result reports)."""
        return {name: self.counts[name] for name in sorted(self.counts)}


@dataclass(frozen=True)
class Point:
    """A sometimes point: its name (layer.what) and what reaching it means, in a line."""

    name: str
    description: str


_ETCDCORE = (
    # Raft (etcdcore/raft: pure; hits go to the Probes its Config hands it).
    Point("raft.leader_elected_uncommitted_tail",
          "a new leader's log holds entries past its commit index (an earlier term's tail)"),
    Point("raft.read_index_postponed",
          "a read index reached a leader that has not committed an entry of its term yet"),
    Point("raft.stale_term_message",
          "a message of a lower term arrived after the node's term moved on"),
    Point("raft.stale_append",
          "an append below the follower's commit index arrived (reordered or duplicated)"),
    Point("raft.append_rejected",
          "a follower rejected an append whose previous entry it does not hold"),
    Point("raft.leader_backtracks",
          "a leader moved a follower's next index back after a rejected append"),
    Point("raft.backtrack_by_term",
          "a rejection's hint let the leader skip a whole run of entries of a term"),
    Point("raft.uncommitted_entries_overwritten",
          "a follower truncated uncommitted entries that conflict with the leader's"),
    Point("raft.entries_replaced_before_persist",
          "entries handed out for persisting were replaced before the driver's advance"),
    Point("raft.vote_rejected_log_behind",
          "a (pre-)vote was refused because the candidate's log is behind the voter's"),
    Point("raft.vote_ignored_in_lease",
          "a vote request of a higher term was ignored while the voter hears from a leader"),
    Point("raft.pre_vote_lost", "a pre-candidate lost its pre-vote"),
    Point("raft.election_lost", "a candidate lost its election"),
    Point("raft.campaign_again_as_candidate",
          "a candidate's election timed out (a split vote) and it campaigned again"),
    Point("raft.candidate_yields_to_leader",
          "a (pre-)candidate heard from a leader of its term and became its follower"),
    Point("raft.leader_deposed_by_higher_term",
          "a leader stepped down on a message of a higher term"),
    Point("raft.check_quorum_step_down",
          "a leader stepped down because a quorum went quiet (check-quorum)"),
    Point("raft.inflight_window_full",
          "a leader held back an append: the follower's window of appends in flight is full"),
    Point("raft.proposal_dropped",
          "a proposal was dropped: no leader known, or the node is campaigning"),
    # The WAL, replayed and written by the Raft driver (etcdcore/server/raft_node.py).
    Point("wal.torn_tail_repaired", "a WAL replay cut off a torn tail left by a crash"),
    Point("wal.replayed_uncommitted_entries",
          "a restart replayed entries past the persisted commit index"),
    Point("wal.fail_stop_disk_error",
          "a member stopped itself on a disk error while reading or writing its WAL"),
    # The backend and the server's apply and read paths (etcdcore/server).
    Point("backend.torn_tail_repaired", "the backend file lost a torn last record to a crash"),
    Point("server.replayed_entry_skipped",
          "an entry at or below the consistent index came back after a restart and was skipped"),
    Point("server.read_index_retried", "a linearizable read's ReadIndex was sent again"),
    Point("server.read_waited_for_apply",
          "a linearizable read waited for the member to apply up to its read index"),
    Point("server.read_abandoned_leader_changed",
          "a linearizable read failed because the leader changed while it waited"),
    Point("server.stale_read_state_ignored",
          "a ReadIndex answer arrived for a read already given up"),
    Point("server.proposal_dropped",
          "a request was refused because Raft dropped its proposal"),
    Point("server.request_timed_out",
          "a proposed request was not applied within the request timeout"),
    Point("server.txn_compare_failed", "a txn's compares failed: its failure branch ran"),
    # MVCC (etcdcore/mvcc: pure; hits go to the store's Probes, which the server hands it).
    Point("mvcc.delete_nothing",
          "a delete matched no live key: the revision must stay where it is"),
    Point("mvcc.compact_already_compacted",
          "a compaction at or below the last compacted revision was refused"),
    Point("mvcc.compact_at_live_key_revision",
          "a compaction at exactly the revision a live key was last written"),
    Point("mvcc.compact_removes_deleted_key",
          "a compaction removed a key deleted at or below its revision from the index"),
    # The client (etcdcore/client).
    Point("client.write_outcome_unknown",
          "a write ended with an error that leaves its outcome unknown"),
    Point("client.late_reply_dropped",
          "an answer arrived after its call's deadline and was dropped"),
)

POINTS: dict[str, Point] = {p.name: p for p in _ETCDCORE}
