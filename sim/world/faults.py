"""Faults the world can suffer, and a schedule of them applied at their times.

A schedule is a list of timed `Fault`s (sim.harness.fault_mix draws one from a seed). Each
fault starts at `at_us` and, when it has a duration, undoes itself after it (a crash restarts,
a pause resumes, a partition heals).
At `heal_at` everything is undone at once, so the end of every run is fault-free.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass

from sim.world import partitions
from sim.world.network import Meter
from sim.world.node import Node, NodeStatus
from sim.world.probes import record_partition
from sim.world.world import World

__all__ = [
    "ALL_KINDS",
    "DISK_DAMAGE_KINDS",
    "EXTRA_KINDS",
    "FAULT_KINDS",
    "LEADER",
    "MESSAGE_KINDS",
    "PARTITION_KINDS",
    "TARGETED_KINDS",
    "TIMING_KINDS",
    "Fault",
    "FaultInjector",
]

PARTITION_KINDS = ("halves", "isolate", "isolate_leader", "majority_ring", "bridge", "random")

FAULT_KINDS = (
    "partition",
    "cut",
    "clog",
    "loss",
    "duplicate",
    "delay",
    "crash",
    "failpoint",
    "pause",
    "disk_latency",
    "disk_stall",
    "disk_error",
    "disk_corrupt",
    "disk_full",
    "clock_jump",
    "clock_drift",
    # Faults of timing: work that lags, messages held or late by seconds, clocks far off,
    # members that stop for longer than an election or flap (TIMING_KINDS below).
    "slow_apply",
    "hold",
    "delay_spike",
    "clock_skew",
    "long_pause",
    "crash_loop",
    # Disk: writes lost out of order, misplaced or unreadable, synced bytes lost or flipped.
    "disk_lost_writes",
    "disk_misdirect",
    "disk_bad_sector",
    "disk_truncate_wal",
    "disk_bitflip",
)

# Faults that damage a member's disk for good (its restarts fail, or it is retired): a run's
# default mix puts them all on one member, so that a quorum of sound disks always remains.
DISK_DAMAGE_KINDS = (
    "disk_corrupt", "disk_misdirect", "disk_bad_sector", "disk_truncate_wal", "disk_bitflip",
)

TIMING_KINDS = ("slow_apply", "hold", "delay_spike", "clock_skew", "clock_leap", "long_pause",
                "crash_loop")
# Kinds that may aim at whoever leads when they start (name LEADER); `node` is then the member
# hit when no member leads.
TARGETED_KINDS = ("slow_apply", "delay_spike", "clock_skew", "clock_leap", "long_pause",
                  "crash_loop")
LEADER = "leader"
# Kinds that hold or delay messages: their `count` limits how many (0: every one).
MESSAGE_KINDS = ("hold", "clog", "delay", "delay_spike")

# Faults a schedule may name but the default mix never draws. disk_replace: etcd does not
# survive it without an operator's help (a member whose disk is replaced must be removed and
# added back). clock_leap: a step of seconds of the wall clock, which timers (on the monotonic
# clock, as Go's are) do not follow and nothing in etcdcore reads yet; it waits for what does
# (leases' checkpoints, TLS), not to waste the mix's draws.
EXTRA_KINDS = ("disk_replace", "clock_leap")
ALL_KINDS = FAULT_KINDS + EXTRA_KINDS

_DISK_KINDS = frozenset(
    {"disk_lost_writes", "disk_misdirect", "disk_bad_sector", "disk_truncate_wal",
     "disk_bitflip"})


@dataclass(frozen=True)
class Fault:
    """One timed fault. `node`/`peer` are its targets; `value` and `name` are kind-specific."""

    at_us: int
    kind: str
    node: int = 0
    peer: int = 0
    duration_us: int = 0
    # loss/duplicate: per mille; delay, delay_spike: µs; disk_latency: factor; clock_jump,
    # clock_leap: µs; clock_drift, clock_skew: ppm; slow_apply: µs per entry; clog, hold: 1 to
    # release in send order (0: shuffled); crash_loop: how many crashes (each `duration_us` long)
    value: int = 0
    name: str = ""  # partition kind (partition, hold), disk_error's operation, or LEADER
    # disk_misdirect: value is per mille of appends; disk_truncate_wal: value is the bytes cut
    # and name the WAL's path; disk_bitflip / disk_bad_sector: name is the file ("" any).
    count: int = 0  # MESSAGE_KINDS: hold or delay only the first `count` messages (0: all)

    def to_json(self) -> dict[str, object]:
        """A plain dict (for --json output and reports); `count` only when set."""
        out = asdict(self)
        if not self.count:
            del out["count"]
        return out


class FaultInjector:
    """Applies a schedule to a world; `leader` names the current leader for isolate_leader."""

    def __init__(self, world: World, leader: Callable[[], int | None]) -> None:
        self.world = world
        self.leader = leader
        self.counts: Counter[str] = Counter()
        self._rng = world.streams.get("faults/apply")
        self._partition_gen = 0
        self._failpoint_us: dict[tuple[int, str], int] = {}  # armed -> how long its effect lasts
        self._heal_at = 2**62  # no fault starts again after it (a crash loop's next round)
        self._timing_gen: dict[tuple[str, int], int] = {}  # (kind, node) -> its latest fault
        self._leaps: dict[int, tuple[Node, int]] = {}  # clock leaps not yet corrected
        self._leap_seq = 0
        self._meters: dict[int, Meter] = {}  # schedule index -> what its hold or delay counted

    def schedule(self, faults: list[Fault], heal_at: int) -> None:
        """Arrange every fault, and the final heal at `heal_at`."""
        self._heal_at = heal_at
        for i, fault in enumerate(faults):
            if fault.at_us < heal_at:
                self.world.at(fault.at_us,
                              lambda f=fault, i=i: self.apply(f, i))  # type: ignore[misc]
        self.world.at(heal_at, self.heal_all)

    def messages(self, faults: int) -> list[int]:
        """For each of the first `faults` faults of the schedule, how many messages it held
        or delayed (0 for the other kinds)."""
        return [self._meters[i].used if i in self._meters else 0 for i in range(faults)]

    def _meter(self, fault: Fault, index: int) -> Meter:
        meter = Meter(fault.kind, fault.count)
        if index >= 0:
            self._meters[index] = meter
        return meter

    def _later(self, fault: Fault, fn: Callable[[], None]) -> None:
        self.world.at(self.world.now + fault.duration_us, fn)

    def apply(self, fault: Fault, index: int = -1) -> None:
        """Start one fault now (the schedule's `index`-th) and schedule its end."""
        w = self.world
        net = w.network
        node = w.nodes.get(fault.node)
        self.counts[fault.kind] += 1
        if fault.count:
            w.trace.emit("fault", fault.kind, fault.node, fault.peer, fault.duration_us,
                         fault.value, fault.name, fault.count)
        else:
            w.trace.emit("fault", fault.kind, fault.node, fault.peer, fault.duration_us,
                         fault.value, fault.name)
        kind = fault.kind
        if kind in TIMING_KINDS:
            self._apply_timing(fault, index)
        elif kind == "partition":
            self._partition_gen += 1
            gen = self._partition_gen
            net.apply_partition(fault.name, self._cuts(fault.name))
            record_partition(w.probes, net, w.node_ids, self.leader())

            def end_partition() -> None:
                if gen == self._partition_gen:
                    net.apply_partition("none", [])

            self._later(fault, end_partition)
        elif kind == "cut":
            net.cut(fault.node, fault.peer)
            self._later(fault, lambda: net.uncut(fault.node, fault.peer))
        elif kind == "clog":
            net.clog(fault.node, fault.peer, in_order=bool(fault.value),
                     meter=self._meter(fault, index))
            self._later(fault, lambda: net.unclog(fault.node, fault.peer))
        elif kind == "loss":
            net.set_loss(fault.value / 1000)
            self._later(fault, lambda: net.set_loss(net.config.loss))
        elif kind == "duplicate":
            net.set_duplicate(fault.value / 1000)
            self._later(fault, lambda: net.set_duplicate(net.config.duplicate))
        elif kind == "delay":
            net.set_extra_latency(fault.value, meter=self._meter(fault, index))
            self._later(fault, lambda: net.set_extra_latency(0))
        elif node is None:
            raise ValueError(f"fault {kind} needs a node, got {fault.node}")
        elif kind == "crash":
            w.probes.sometimes(self.leader() == node.id, "fault.crash_hit_leader")
            node.crash()
            self._later(fault, node.start)
        elif kind == "failpoint":
            node.failpoints[fault.name] = "pause" if fault.value else "crash"
            node.on_failpoint = self._failpoint_hit
            self._failpoint_us[(node.id, fault.name)] = fault.duration_us
        elif kind == "pause":
            node.pause()
            self._later(fault, node.resume)
        elif kind == "disk_latency":
            node.disk.set_latency_factor(fault.value)
            self._later(fault, lambda: node.disk.set_latency_factor(1))
        elif kind == "disk_stall":
            node.disk.stall(w.now + fault.duration_us)
        elif kind == "disk_error":
            node.disk.set_error_rate(fault.name, fault.value / 1000)

            def end_errors() -> None:
                node.disk.set_error_rate(fault.name, 0.0)
                self._restart_failed(fault.node)

            self._later(fault, end_errors)
        elif kind == "disk_replace":
            # The machine comes back with a new, empty disk under the same member id.
            node.crash()
            node.disk.wipe()
            self._later(fault, node.start)
        elif kind == "disk_corrupt":
            # Corruption is silent until the WAL is read again: crash so the restart reads it.
            node.disk.corrupt()
            node.crash()
            self._later(fault, node.start)
        elif kind == "disk_full":
            used = sum(node.disk.size(p) for p in node.disk.list())
            node.disk.set_capacity(used + self._rng.randint(0, 4096))

            def end_full() -> None:
                node.disk.set_capacity(None)
                self._restart_failed(fault.node)

            self._later(fault, end_full)
        elif kind in _DISK_KINDS:
            self._disk_fault(fault, node)
        elif kind == "clock_jump":
            node.clock_jump(fault.value)
        elif kind == "clock_drift":
            node.clock_drift(fault.value)
        else:
            raise ValueError(f"unknown fault kind {kind!r}")

    # ---- faults of timing ------------------------------------------------------------------

    def _apply_timing(self, fault: Fault, index: int = -1) -> None:
        """Start one of TIMING_KINDS now and schedule its end."""
        w = self.world
        kind = fault.kind
        if kind == "hold":
            # A partition whose links hold what is sent instead of dropping it; its end (or a
            # later partition, or the heal) releases the backlog, shuffled or in order.
            self._partition_gen += 1
            gen = self._partition_gen
            w.network.apply_partition(fault.name, self._cuts(fault.name), hold=True,
                                      in_order=bool(fault.value),
                                      meter=self._meter(fault, index))

            def end_hold() -> None:
                if gen == self._partition_gen:
                    w.network.apply_partition("none", [])

            self._later(fault, end_hold)
            return
        node = self._target(fault)
        key = (kind, node.id)
        gen = self._timing_gen[key] = self._timing_gen.get(key, 0) + 1

        def current() -> bool:
            return self._timing_gen.get(key) == gen

        if kind == "slow_apply":
            node.apply_delay_us = fault.value
            w.trace.emit("node.slow_apply", node.id, fault.value)

            def end_slow() -> None:
                if current():
                    node.apply_delay_us = 0
                    w.trace.emit("node.slow_apply", node.id, 0)

            self._later(fault, end_slow)
        elif kind == "delay_spike":
            w.network.set_spike(node.id, fault.value, meter=self._meter(fault, index))

            def end_spike() -> None:
                if current():
                    w.network.set_spike(node.id, 0)

            self._later(fault, end_spike)
        elif kind == "clock_skew":
            node.clock_drift(fault.value)

            def end_skew() -> None:
                if current():
                    node.clock_drift(node.base_drift_ppm)

            self._later(fault, end_skew)
        elif kind == "clock_leap":
            # A step of seconds, corrected (as NTP would) when the fault ends or at the heal.
            node.clock_jump(fault.value)
            self._leap_seq += 1
            leap = self._leap_seq
            self._leaps[leap] = (node, fault.value)

            def correct() -> None:
                if self._leaps.pop(leap, None) is not None:
                    node.clock_jump(-fault.value)

            self._later(fault, correct)
        elif kind == "long_pause":
            node.pause()
            self._later(fault, node.resume)
        elif kind == "crash_loop":
            self._crash_round(node, fault.duration_us, max(1, fault.value), gen, key)
        else:
            raise ValueError(f"unknown fault kind {kind!r}")

    def _target(self, fault: Fault) -> Node:
        # Aimed at the leader: whoever leads now, else the fault's own member.
        target = fault.node
        if fault.name == LEADER:
            leader = self.leader()
            if leader is not None:
                target = leader
            self.world.trace.emit("fault.target", fault.kind, target)
        node = self.world.nodes.get(target)
        if node is None or target not in self.world.node_ids:
            raise ValueError(f"fault {fault.kind} needs a member, got {target}")
        return node

    def _crash_round(self, node: Node, down_us: int, left: int, gen: int,
                     key: tuple[str, int]) -> None:
        # Crash, restart after `down_us`, and, while crashes are left, crash again after a few
        # milliseconds up: mid-boot, mid-replay, with proposals and reads in flight.
        if self.world.now >= self._heal_at or self._timing_gen.get(key) != gen:
            return
        node.crash()

        def back() -> None:
            if self.world.now >= self._heal_at:
                return  # the heal has started it
            node.start()
            if left > 1:
                up_us = self._rng.randint(1_000, 100_000)
                self.world.at(self.world.now + up_us,
                              lambda: self._crash_round(node, down_us, left - 1, gen, key))

        self.world.at(self.world.now + down_us, back)

    # ---- disk damage ------------------------------------------------------------------------

    def _disk_fault(self, fault: Fault, node: Node) -> None:
        # Each of these strikes with a disk.* trace event naming the file and the bytes.
        kind = fault.kind
        if kind == "disk_lost_writes":
            # The machine goes down with writes in its page cache: any of them may have
            # reached the disk, in any order, and none that was fsynced is lost.
            if node.is_up:
                node.disk.lose_unsynced_out_of_order()
                node.crash()
            self._later(fault, node.start)
        elif kind == "disk_misdirect":
            node.disk.set_misdirect_rate(fault.value / 1000)
            self._later(fault, lambda: node.disk.set_misdirect_rate(0.0))
        elif kind == "disk_bad_sector":
            # Found when the restart reads the file (etcd reads its files only at start).
            node.crash()
            node.disk.add_bad_sector(fault.name or None)
            self._later(fault, node.start)
        elif kind == "disk_bitflip":
            node.disk.flip_bit(fault.name or None)
            node.crash()
            self._later(fault, node.start)
        else:  # disk_truncate_wal
            # A WAL cut short between records is a valid shorter WAL: nothing in it can tell
            # the member lost entries and votes it acknowledged (etcd cannot either), and
            # Raft is not safe if it comes back so. An operator must replace it: the harness
            # takes it out for good, as that operator would.
            node.crash()
            if node.disk.exists(fault.name):
                kept = node.disk.truncate_synced(fault.name, fault.value)
                node.retire(f"disk: {fault.name} lost its last {fault.value} synced bytes "
                            f"(now {kept}): the member lost entries it acknowledged; "
                            "remove it and add it back")
            else:
                self._later(fault, node.start)

    def _failpoint_hit(self, node: Node, name: str, action: str) -> None:
        # The node crashed or paused at the point; it comes back after the fault's duration.
        self.counts[f"failpoint_{action}"] += 1
        after = self._failpoint_us.pop((node.id, name), 0)
        self.world.at(self.world.now + after, node.start if action == "crash" else node.resume)

    def _restart_failed(self, node_id: int) -> None:
        # A supervisor (systemd, Kubernetes) restarts a member that stopped on a disk error.
        node = self.world.nodes[node_id]
        if node.status is NodeStatus.FAILED:
            node.start()

    def _cuts(self, name: str) -> list[tuple[int, int]]:
        ids = self.world.node_ids
        if name == "halves":
            return partitions.halves(ids, self._rng)
        if name == "isolate":
            return partitions.isolate(ids, self._rng.choice(ids))
        if name == "isolate_leader":
            leader = self.leader()
            return partitions.isolate(ids, leader if leader is not None else self._rng.choice(ids))
        if name == "majority_ring":
            return partitions.majority_ring(ids, self._rng)
        if name == "bridge":
            return partitions.bridge(ids, self._rng)
        if name == "random":
            return partitions.random_cuts(ids, self._rng)
        raise ValueError(f"unknown partition kind {name!r}")

    def heal_all(self) -> None:
        """End every fault: network healed, disks cleared, drift back to normal, nodes running."""
        w = self.world
        w.trace.emit("heal")
        self._partition_gen += 1
        w.network.heal()
        self._timing_gen.clear()  # the ends still scheduled find nothing left to undo
        for leap in sorted(self._leaps):
            leaped, delta = self._leaps.pop(leap)
            leaped.clock_jump(-delta)
        for i in w.node_ids:
            node = w.nodes[i]
            node.apply_delay_us = 0
            node.failpoints.clear()
            node.disk.clear_faults()
            if node.clock.drift_ppm != node.base_drift_ppm:
                node.clock_drift(node.base_drift_ppm)
            if node.status is NodeStatus.PAUSED:
                node.resume()
            elif not node.is_up:
                node.start()
