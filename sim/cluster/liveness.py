"""Liveness after the faults stop, as TigerBeetle's VOPR checks it.

At the heal, either every member comes back ("all"), or a random quorum does while the others
stay failed for good ("quorum": crashed, paused or cut off). From then on the members that must
make progress (the required ones) must settle on one leader within a bound, without more than a
few elections, and a fresh write must reach them (each cluster checks the write). A failure
comes with evidence: what each required member was doing, and what it was waiting on.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from etcdcore.raft.types import StateType
from etcdcore.server.raft_node import RaftNode
from sim.world.node import NodeStatus
from sim.world.world import World

__all__ = ["LIVENESS_MODES", "LeaderWatch", "describe_members", "fail_the_rest", "pick_quorum"]

LIVENESS_MODES = ("all", "quorum")
POLL_US = 10_000
# How many elections a healed cluster may need, and how many election timeouts to settle on a
# leader: a split vote or a disrupted first round is normal, a dozen is a bug (a lost heartbeat
# rule, a term that never stops growing). Measured over thousands of seeds of the unmodified
# code, settling took at most a few timeouts (see tests/test_liveness.py).
MAX_ELECTIONS = 3
SETTLE_TIMEOUTS = 6

_LEADER = StateType.LEADER
_FAILURES = ("crash", "pause", "isolate")


def pick_quorum(world: World, rng: random.Random) -> list[int]:
    """A random majority of the members, sorted, among those that can come back (a member that
    stopped itself, on a corrupt disk say, needs an operator): all of those if too few can."""
    healable = [i for i in world.node_ids if world.nodes[i].status is not NodeStatus.FAILED]
    size = len(world.node_ids) // 2 + 1
    return sorted(rng.sample(healable, size)) if len(healable) >= size else healable


def fail_the_rest(world: World, quorum: list[int], rng: random.Random) -> None:
    """Every member outside `quorum` fails for good: crashed, paused, or cut off from all."""
    for i in world.node_ids:
        if i in quorum:
            continue
        how = rng.choice(_FAILURES)
        world.trace.emit("liveness.fail_for_good", i, how)
        node = world.nodes[i]
        if how == "crash":
            node.crash()
        elif how == "pause":
            node.pause()
        else:
            for j in world.node_ids + world.client_ids:
                if j != i:
                    world.network.cut(i, j)
                    world.network.cut(j, i)


@dataclass
class _Settled:
    at_us: int
    leader: int
    term: int


class LeaderWatch:
    """From the heal on: when the required members first agree on a leader of the top term, and
    how many elections were won meanwhile (`elections` lists (time, term, node) of each win)."""

    def __init__(self, world: World, raft_of: Callable[[int], RaftNode | None],
                 required: list[int], heal_us: int, bound_us: int,
                 elections: list[tuple[int, int, int]], election_us: int) -> None:
        self.world = world
        self.raft_of = raft_of
        self.required = required
        self.heal_us = heal_us
        self.end_us = heal_us + bound_us
        self.elections = elections
        self.settle_bound_us = SETTLE_TIMEOUTS * election_us
        self.settled: _Settled | None = None

    def start(self) -> None:
        """Poll until settled or past the bound."""
        self.world.kernel.call_after(0, self._poll)

    def _poll(self, _event: object) -> None:
        world = self.world
        if self.settled is not None or world.now > self.end_us:
            return
        rafts = [r for r in (self.raft_of(i) for i in self.required) if r is not None]
        if rafts:
            top = max(r.term for r in rafts)
            leaders = [r for r in rafts if r.state == _LEADER and r.term == top]
            if leaders and all(r.lead == leaders[0].id for r in rafts):
                self.settled = _Settled(world.now, leaders[0].id, top)
                return
        world.kernel.call_after(POLL_US, self._poll)

    def won_since_heal(self) -> list[tuple[int, int, int]]:
        """Elections won from the heal to the end of the bound."""
        return [e for e in self.elections if self.heal_us <= e[0] <= self.end_us]

    def verdict(self) -> str | None:
        """None if the required members settled in time with few elections, else why not."""
        won = self.won_since_heal()
        if len(won) > MAX_ELECTIONS:
            terms = ", ".join(f"t{term} n{node} at {t - self.heal_us}us" for t, term, node in won)
            return (f"{len(won)} elections after the heal (at most {MAX_ELECTIONS}): {terms}")
        s = self.settled
        if s is None or s.at_us - self.heal_us > self.settle_bound_us:
            when = "never" if s is None else f"only {s.at_us - self.heal_us}us after the heal"
            return (f"members {self.required} settled on a leader {when} (bound "
                    f"{self.settle_bound_us}us, {SETTLE_TIMEOUTS} election timeouts)")
        return None

    def summary(self) -> str:
        """E.g. `leader n2 (t5) 812000us after heal, 1 election`."""
        s = self.settled
        won = len(self.won_since_heal())
        if s is None:
            return f"no settled leader, {won} elections"
        return (f"leader n{s.leader} (t{s.term}) {s.at_us - self.heal_us}us after heal, "
                f"{won} election{'s' if won != 1 else ''}")


def describe_members(world: World, raft_of: Callable[[int], RaftNode | None],
                     members: list[int], applied: Callable[[int], int] | None = None) -> str:
    """What each member is doing: its role, term, leader, commit and last index (or why it is
    not running): the evidence of a liveness failure."""
    parts = []
    for i in members:
        node = world.nodes[i]
        if node.status is not NodeStatus.UP:
            parts.append(f"n{i} {node.status.value}")
            continue
        r = raft_of(i)
        if r is None:
            parts.append(f"n{i} not started")
            continue
        role = r.state.name.lower()
        text = (f"n{i} {role} t{r.term} lead {r.lead or 'none'} commit {r.committed} "
                f"last {r.last_index()}")
        if applied is not None:
            text += f" applied {applied(i)}"
        parts.append(text)
    return "; ".join(parts)
