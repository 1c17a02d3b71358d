"""The world: one simpy clock, named random streams, the network, a disk and a node per member."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from etcdcore.probes import Probes
from sim.world.disk import DiskConfig, SimDisk
from sim.world.kernel import Environment
from sim.world.network import Network, NetworkConfig
from sim.world.node import Node, NodeEnv, NodeStatus
from sim.world.rng import Streams
from sim.world.trace import Trace

__all__ = ["World"]


class World:
    """Everything outside the system under test, built from one root seed."""

    def __init__(
        self,
        seed: int,
        node_ids: Sequence[int],
        boot: Callable[[NodeEnv], object],
        network: NetworkConfig | None = None,
        disk: DiskConfig | None = None,
        client_ids: Sequence[int] = (),
        client_boot: Callable[[NodeEnv], object] | None = None,
    ) -> None:
        self.seed = seed
        self.env = Environment()
        self.kernel = self.env.kernel
        self.streams = Streams(seed)
        self.trace = Trace(self.kernel.time)
        self.node_ids = sorted(node_ids)
        # Client machines talk to the members over the same network, but faults aimed at
        # members (partitions, crashes, disks, clocks) never pick them.
        self.client_ids = sorted(client_ids)
        self.network = Network(self.env, self.streams, self.trace,
                               self.node_ids + self.client_ids, self._deliver, network)
        self.nodes: dict[int, Node] = {}
        for i in self.node_ids:
            node_disk = SimDisk(self.env, self.streams.get(f"disk/{i}"), self.trace, i, disk)
            self.nodes[i] = Node(
                self.env, i, self.streams, self.trace, node_disk, self.network.send, boot
            )
        for i in self.client_ids:
            assert client_boot is not None, "client nodes need a client_boot"
            self.network.set_stream(i)
            node_disk = SimDisk(self.env, self.streams.get(f"disk/{i}"), self.trace, i, disk)
            self.nodes[i] = Node(
                self.env, i, self.streams, self.trace, node_disk, self.network.send, client_boot
            )

    @property
    def probes(self) -> Probes:
        """The run's sometimes points (etcdcore.probes), counted beside the trace."""
        return self.trace.probes

    @property
    def now(self) -> int:
        """Global simulated time in microseconds."""
        return self.kernel.now

    def _deliver(self, src: int, dst: int, msg: object) -> None:
        self.nodes[dst].deliver(src, msg)

    def start_all(self) -> None:
        """Boot every node."""
        for i in self.node_ids + self.client_ids:
            self.nodes[i].start()

    def live_nodes(self) -> list[int]:
        """Nodes that are up and not paused."""
        up = NodeStatus.UP
        return [i for i in self.node_ids if self.nodes[i].status is up]

    def run_until(self, t_us: int) -> None:
        """Advance the simulation to global time `t_us`: every event before it, then the clock."""
        self.kernel.run_until(t_us)

    def at(self, t_us: int, fn: Callable[[], None]) -> None:
        """Call `fn` at global time `t_us` (now if already past)."""
        event = self.env.timeout(max(0, t_us - self.now))
        event.callbacks.append(lambda _ev: fn())
