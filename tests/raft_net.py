"""An in-memory network of RawNodes for Raft tests: every step is taken by hand.

Messages wait in `inflight` until `deliver` hands them over (or drops them). A node's "disk" is
a MemoryStorage written only by `persist`; `crash` throws the node away, `restart` rebuilds it
from a copy of its disk, as a WAL replay would. Election safety and state machine safety are
checked after every step.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable

from etcdcore.raft import (
    Config,
    Entry,
    MemoryStorage,
    Message,
    RawNode,
    Ready,
    StateType,
)

Filter = Callable[[Message], bool]


class RaftNet:
    """Nodes, their disks, and the messages between them."""

    def __init__(
        self,
        ids: Iterable[int] = (1, 2, 3),
        *,
        seed: int = 0,
        election_tick: int = 10,
        pre_vote: bool = True,
        check_quorum: bool = True,
        max_msg_entries: int = 64,
        max_inflight: int = 256,
    ) -> None:
        self.ids = sorted(ids)
        self.seed = seed
        self.election_tick = election_tick
        self.pre_vote = pre_vote
        self.check_quorum = check_quorum
        self.max_msg_entries = max_msg_entries
        self.max_inflight = max_inflight
        self.disks: dict[int, MemoryStorage] = {i: MemoryStorage() for i in self.ids}
        self.nodes: dict[int, RawNode] = {}
        self.inflight: list[Message] = []
        self.isolated: set[int] = set()
        self.incarnation: dict[int, int] = dict.fromkeys(self.ids, 0)
        self.applied: dict[int, list[Entry]] = {i: [] for i in self.ids}  # this incarnation
        self.leaders: dict[int, int] = {}  # term -> the node that led it
        self.chosen: dict[int, Entry] = {}  # index -> the entry applied there by anyone
        for i in self.ids:
            self.start(i)

    # ---- lifecycle ---------------------------------------------------------------------

    def config(self, node_id: int) -> Config:
        """A config whose election timeouts differ per node and per incarnation."""
        rand = random.Random(self.seed * 1_000_003 + node_id * 1_009 + self.incarnation[node_id])
        return Config(
            id=node_id,
            peers=list(self.ids),
            rand=rand,
            election_tick=self.election_tick,
            pre_vote=self.pre_vote,
            check_quorum=self.check_quorum,
            max_msg_entries=self.max_msg_entries,
            max_inflight=self.max_inflight,
        )

    def start(self, node_id: int) -> RawNode:
        """Boot `node_id` from a copy of its disk."""
        disk = self.disks[node_id]
        storage = MemoryStorage(
            disk.initial_state(), disk.entries(disk.first_index(), disk.last_index() + 1)
        )
        node = self.nodes[node_id] = RawNode(self.config(node_id), storage)
        self.applied[node_id] = []
        return node

    def crash(self, node_id: int) -> None:
        """Lose the node and everything it had not persisted."""
        del self.nodes[node_id]

    def restart(self, node_id: int) -> RawNode:
        """Crash (if running) and boot again from the disk."""
        self.nodes.pop(node_id, None)
        self.incarnation[node_id] += 1
        return self.start(node_id)

    def isolate(self, node_id: int) -> None:
        """Drop every message to or from `node_id` from now on."""
        self.isolated.add(node_id)

    def heal(self) -> None:
        """Stop isolating anyone."""
        self.isolated.clear()

    # ---- inputs ------------------------------------------------------------------------

    def node(self, node_id: int) -> RawNode:
        """The running node `node_id`."""
        return self.nodes[node_id]

    def tick(self, node_id: int, n: int = 1) -> None:
        """Tick `node_id` n times, processing its Ready after each tick."""
        for _ in range(n):
            self.nodes[node_id].tick()
            self.check(node_id)
            self.process(node_id)

    def campaign(self, node_id: int) -> None:
        """Make `node_id` start an election."""
        self.nodes[node_id].campaign()
        self.check(node_id)

    def propose(self, node_id: int, data: bytes) -> bool:
        """Propose `data` at `node_id`."""
        return self.nodes[node_id].propose(data)

    # ---- Ready handling ------------------------------------------------------------------

    def ready(self, node_id: int) -> Ready:
        """Take the node's Ready and put its messages on the wire (as a leader may, early)."""
        rd = self.nodes[node_id].ready()
        self.send(rd.messages)
        return rd

    def persist(self, node_id: int, rd: Ready) -> None:
        """Write rd's entries and hard state to the node's disk; apply its committed entries."""
        disk = self.disks[node_id]
        disk.append(rd.entries)
        if rd.hard_state is not None:
            disk.set_hard_state(rd.hard_state)
        for e in rd.committed_entries:
            self.apply(node_id, e)

    def advance(self, node_id: int, rd: Ready) -> None:
        """Tell the node rd was persisted and applied."""
        self.nodes[node_id].advance(rd)
        self.check(node_id)

    def process(self, node_id: int) -> Ready | None:
        """One full Ready cycle for `node_id`, if it has anything to do."""
        node = self.nodes.get(node_id)
        if node is None or not node.has_ready():
            return None
        rd = node.ready()
        self.persist(node_id, rd)
        self.send(rd.messages)
        self.advance(node_id, rd)
        return rd

    def apply(self, node_id: int, entry: Entry) -> None:
        """Apply `entry` at `node_id`, checking state machine safety."""
        applied = self.applied[node_id]
        assert entry.index == len(applied) + 1, f"node {node_id} applied {entry.index} out of order"
        applied.append(entry)
        chosen = self.chosen.setdefault(entry.index, entry)
        assert (chosen.term, chosen.data) == (entry.term, entry.data), (
            f"node {node_id} applied {entry} at {entry.index}; another node applied {chosen}"
        )

    def check(self, node_id: int) -> None:
        """Election safety: at most one leader per term, ever."""
        node = self.nodes.get(node_id)
        if node is not None and node.state == StateType.LEADER:
            other = self.leaders.setdefault(node.term, node_id)
            assert other == node_id, f"nodes {other} and {node_id} both led term {node.term}"

    # ---- the wire ------------------------------------------------------------------------

    def send(self, msgs: Iterable[Message]) -> None:
        """Put messages on the wire."""
        self.inflight.extend(msgs)

    def deliver(self, allow: Filter | None = None) -> int:
        """Deliver every in-flight message, dropping those `allow` rejects; return how many."""
        msgs, self.inflight = self.inflight, []
        delivered = 0
        for m in msgs:
            if m.frm in self.isolated or m.to in self.isolated:
                continue
            if allow is not None and not allow(m):
                continue
            node = self.nodes.get(m.to)
            if node is None:
                continue
            node.step(m)
            self.check(m.to)
            delivered += 1
        return delivered

    def take(self, pred: Filter) -> list[Message]:
        """Remove and return the in-flight messages matching `pred` (to hold or inspect)."""
        taken = [m for m in self.inflight if pred(m)]
        self.inflight = [m for m in self.inflight if not pred(m)]
        return taken

    def flush(self, allow: Filter | None = None) -> None:
        """Process Readies and deliver messages until nothing moves."""
        for _ in range(10_000):
            moved = False
            for i in sorted(self.nodes):
                if self.process(i) is not None:
                    moved = True
            if self.inflight:
                self.deliver(allow)
                moved = True
            if not moved:
                return
        raise AssertionError("the network did not settle")

    # ---- views -------------------------------------------------------------------------

    def leader(self) -> int | None:
        """The running node leading the highest term, if any."""
        best: tuple[int, int] | None = None
        for i, node in sorted(self.nodes.items()):
            if node.state == StateType.LEADER and (best is None or node.term > best[0]):
                best = (node.term, i)
        return None if best is None else best[1]

    def elect(self, node_id: int) -> RawNode:
        """Make `node_id` campaign and let the network settle; it must win."""
        self.campaign(node_id)
        self.flush()
        node = self.nodes[node_id]
        assert node.state == StateType.LEADER, f"node {node_id} did not win: {node!r}"
        return node

    def log_terms(self, node_id: int) -> list[int | None]:
        """The terms of the node's log entries from index 1."""
        node = self.nodes[node_id]
        return [node.term_at(i) for i in range(1, node.last_index() + 1)]
