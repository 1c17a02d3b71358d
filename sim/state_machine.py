"""A hypothesis state machine: client operations and faults as rules, checks after every step.

    from sim.state_machine import EtcdStateMachine
    TestEtcd = EtcdStateMachine.TestCase          # a pytest test; HypoFuzz runs it as it is

Rules put, read (linearizable or serializable), delete, crash, restart, pause, resume,
isolate, heal and wait. After every step: Raft's invariants (watched inside the run), and no
two members disagree on the store at any revision both have. At teardown the faults are healed
and the whole history must be linearizable, with every member at the same revision and hash.
A failure shrinks to a short list of rules, printed as code that replays it.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from sim.cluster.scripted import ScriptedCluster
from sim.world.node import NodeStatus

__all__ = ["EtcdStateMachine"]

_KEYS = st.sampled_from([b"a", b"b", b"c"])
_MEMBERS = st.sampled_from([1, 2, 3])


class EtcdStateMachine(RuleBasedStateMachine):
    """Three etcd members and one client, driven rule by rule."""

    bugs: frozenset[str] = frozenset()  # a subclass may switch planted bugs on

    def __init__(self) -> None:
        super().__init__()
        self.c: ScriptedCluster | None = None
        self.n = 0

    @initialize(seed=st.integers(0, 2**16))
    def boot(self, seed: int) -> None:
        """Start a cluster on `seed` (its network latencies, clock skews, election timers)."""
        self.c = ScriptedCluster(seed=seed, bugs=self.bugs)

    @property
    def cluster(self) -> ScriptedCluster:
        assert self.c is not None
        return self.c

    def _value(self) -> bytes:
        self.n += 1
        return b"v%d" % self.n

    def _up(self, member: int) -> bool:
        return self.cluster.world.nodes[member].status is NodeStatus.UP

    @rule(key=_KEYS, member=_MEMBERS)
    def put(self, key: bytes, member: int) -> None:
        """A put through `member` (whatever the outcome, it goes into the history)."""
        self.cluster.put(key, self._value(), member)

    @rule(key=_KEYS, member=_MEMBERS, serializable=st.booleans())
    def read(self, key: bytes, member: int, serializable: bool) -> None:
        """A range of one key through `member`."""
        self.cluster.get(key, member, serializable=serializable)

    @rule(key=_KEYS, member=_MEMBERS)
    def delete(self, key: bytes, member: int) -> None:
        """A delete through `member`."""
        self.cluster.delete(key, member)

    @precondition(lambda self: sum(self._up(m) for m in (1, 2, 3)) >= 2)
    @rule(member=_MEMBERS)
    def crash(self, member: int) -> None:
        """Crash a member (at most one down at a time keeps a quorum to recover with)."""
        self.cluster.crash(member)

    @rule(member=_MEMBERS)
    def restart(self, member: int) -> None:
        """Start a crashed member from its disk."""
        self.cluster.restart(member)

    @rule(member=_MEMBERS)
    def pause(self, member: int) -> None:
        """Freeze a member."""
        self.cluster.pause(member)

    @rule(member=_MEMBERS)
    def resume(self, member: int) -> None:
        """Unfreeze a member."""
        self.cluster.resume(member)

    @rule(member=_MEMBERS)
    def isolate(self, member: int) -> None:
        """Cut a member off from the others."""
        self.cluster.isolate(member)

    @rule()
    def heal(self) -> None:
        """Undo network faults, restart and resume members."""
        self.cluster.heal()

    @rule(ms=st.integers(1, 3_000))
    def wait(self, ms: int) -> None:
        """Let time pass: elections, heartbeats, catching up."""
        self.cluster.run_for(ms * 1_000)

    @invariant()
    def members_agree_on_every_revision_they_share(self) -> None:
        """Two running members hash their stores equally up to the revision both reached."""
        if self.c is None:
            return
        servers = self.cluster.servers()
        if len(servers) < 2:
            return
        shared = min(s.store.rev() for s in servers.values())
        hashes = {i: s.store.hash_by_rev(shared)[0] for i, s in sorted(servers.items())
                  if s.store.compact_rev() < shared}
        assert len(set(hashes.values())) <= 1, f"stores differ at revision {shared}: {hashes}"

    def teardown(self) -> None:
        """Heal, catch up, and judge the whole history."""
        if self.c is not None:
            self.c.check()


EtcdStateMachine.TestCase.settings = settings(stateful_step_count=20)
