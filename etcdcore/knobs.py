"""Knobs: named places in etcdcore where a scenario may pick an unusual but legal value.

As FoundationDB's BUGGIFY: etcd's defaults are what a run uses unless its scenario says
otherwise; `Scenario.from_seed` turns each knob to one of its unusual values now and then
(tiny batches, a backend that commits all the time or rarely, quick read retries, slow
fsyncs, impatient clients, an apply loop that lags behind commit), so code paths that
defaults never reach get exercised.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, fields, replace

__all__ = ["KNOBS", "Knob", "Knobs", "buggify"]

_S = 1_000_000


@dataclass(frozen=True)
class Knobs:
    """The values in force (etcd's defaults unless a scenario changed them)."""

    max_msg_entries: int = 64  # Raft: most entries in one MsgApp
    max_inflight: int = 256  # Raft: most unacknowledged MsgApps to one follower
    batch_interval_us: int = 100_000  # backend: how often the batch is committed
    read_index_retry_us: int = 500_000  # server: when an unanswered ReadIndex is sent again
    client_timeout_us: int = 1_000_000  # client: a call's deadline
    fsync_base_us: int = 1_000  # the disk (the world reads this one): typical fsync latency
    apply_entry_us: int = 0  # server: what applying one committed entry costs
    apply_batch_us: int = 0  # server: what each batch handed to the apply loop costs

    def validate(self) -> None:
        """ValueError naming the first knob out of its legal range."""
        for f in fields(self):
            value = getattr(self, f.name)
            knob = KNOBS[f.name]
            if (not isinstance(value, int) or isinstance(value, bool)
                    or not knob.low <= value <= knob.high):
                raise ValueError(f"knob {f.name} must be a whole number between {knob.low} and "
                                 f"{knob.high}, got {value!r}")


@dataclass(frozen=True)
class Knob:
    """One knob: what it changes, its legal range, and the unusual values to try."""

    description: str
    low: int
    high: int
    unusual: tuple[int, ...]


KNOBS: dict[str, Knob] = {
    # Small, but not so small that a follower far behind cannot catch up within the liveness
    # bound: with 4 entries per append, a 20 ms fsync and a network that reorders, appends
    # overtake each other, the follower rejects them, and the leader falls back to probing
    # over and over (raft workload, swarm seed 196: 360k appends in 18 s, no catch-up).
    "max_msg_entries": Knob("Raft sends at most this many entries per append", 1, 100_000,
                            (8, 16)),
    "max_inflight": Knob("Raft keeps at most this many appends in flight per follower", 1,
                         100_000, (8, 16)),
    # The periodic ones at least a millisecond: a timer every microsecond would make a run of a
    # minute sixty million events long, and it would seem to hang.
    "batch_interval_us": Knob("the backend commits its batch this often", 1_000, 10 * _S,
                              (1_000, 1_000_000)),
    "read_index_retry_us": Knob("an unanswered ReadIndex is sent again after this long", 1_000,
                                10 * _S, (20_000, 2_000_000)),
    "client_timeout_us": Knob("a client gives up on a call after this long", 1_000, 60 * _S,
                              (100_000, 5_000_000)),
    "fsync_base_us": Knob("a disk's typical fsync latency", 0, 10 * _S, (50, 20_000)),
    # Apply lags commit (etcd applies in its own goroutine while Raft goes on), but stays well
    # below saturation at the workloads' rates (about 200 batches and entries a second at
    # most), so it catches up: a knob holds for the whole run, the quiet end included.
    "apply_entry_us": Knob("applying one committed entry takes this long", 0, _S, (100, 1_000)),
    "apply_batch_us": Knob("each batch of committed entries takes this long to apply", 0, 10 * _S,
                           (200, 2_000)),
}


def buggify(rng: random.Random, p: float = 0.25) -> Knobs:
    """Each knob set to one of its unusual values with probability `p`, else its default."""
    knobs = Knobs()
    for name in sorted(KNOBS):
        if rng.random() < p:
            knobs = replace(knobs, **{name: rng.choice(KNOBS[name].unusual)})
    return knobs
