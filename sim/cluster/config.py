"""What a run depends on: the cluster, its workload, the faults, the timing (RunConfig)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from etcdcore.knobs import Knobs
from etcdcore.server.raft_node import RaftTiming
from sim.cluster.workload import WorkloadConfig
from sim.limits import number_text
from sim.world.disk import DiskConfig
from sim.world.faults import Fault

__all__ = ["LIVENESS_BOUND_US", "RunConfig"]

_S = 1_000_000
LIVENESS_BOUND_US = 10 * _S  # ten election timeouts of etcd's default timing


@dataclass(frozen=True)
class RunConfig:
    """Everything a run depends on."""

    seed: int
    nodes: int = 3
    duration_us: int = 60 * _S
    faults: str = "default"  # "none" | "default"
    workload: str = "etcd"  # "etcd": KV clients on an etcd cluster | "raft": a Raft proposer
    proposals_per_sec: int = 100  # the raft workload's rate
    clients: int = 4  # the etcd workload's clients and their target rate, all together
    ops_per_sec: float = 100
    bugs: frozenset[str] = frozenset()  # planted bugs switched on (etcdcore.bugs)
    check_timeout_s: float = 60.0  # wall-time budget of the linearizability check
    workload_mix: WorkloadConfig | None = None  # the etcd workload in full (clients, rate, mix)
    knobs: Knobs = field(default_factory=Knobs)  # unusual-but-legal values (etcdcore.knobs)
    timing: RaftTiming = field(default_factory=RaftTiming)
    liveness_bound_us: int = LIVENESS_BOUND_US
    # "all": every member comes back at the heal; "quorum": a random majority does, the rest
    # stay failed for good (sim.cluster.liveness).
    liveness: str = "all"
    fault_schedule: tuple[Fault, ...] | None = None  # overrides the drawn one (tests, shrinking)

    def disk_config(self) -> DiskConfig:
        """The members' disks, with the fsync latency the knobs set (jitter at most half)."""
        base = self.knobs.fsync_base_us
        return DiskConfig(fsync_base_us=base, fsync_jitter_us=min(500, base // 2))

    @property
    def heal_at_us(self) -> int:
        """When faults stop: the last 30% of the run, and at least the liveness bound, is quiet."""
        quiet = max(self.liveness_bound_us, self.duration_us * 3 // 10)
        return max(0, self.duration_us - quiet)

    def run_flags(self) -> list[str]:
        """The workload's `etcdsim run` flags, then `--bug NAME` for each planted bug (sorted)."""
        if self.workload == "raft":
            flags = ["--workload", "raft", "--proposals", str(self.proposals_per_sec)]
        else:
            flags = ["--workload", "etcd", "--clients", str(self.clients),
                     "--rate", number_text(self.ops_per_sec)]
        if self.liveness != "all":
            flags += ["--liveness", self.liveness]
        return flags + [flag for name in sorted(self.bugs) for flag in ("--bug", name)]

    def command_line(self) -> str:
        """The exact `etcdsim run` command that reruns this config."""
        seconds = Decimal(self.duration_us) / _S
        return (f"etcdsim run --seed {self.seed} --nodes {self.nodes} --duration {seconds} "
                f"--faults {self.faults} " + " ".join(self.run_flags()))
