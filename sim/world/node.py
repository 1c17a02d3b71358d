"""A node of the world: local clock, timers, processes, and its lifecycle.

A node hosts one service (etcdcore's server) per incarnation. Crashing ends the incarnation:
memory, timers, processes and queued work are gone, and the disk loses what was not fsynced.
A paused node does nothing: its timers freeze and everything addressed to it waits.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import Any

from etcdcore.env import DiskError, Process
from sim.world.clock import LocalClock
from sim.world.disk import SimDisk
from sim.world.kernel import Environment
from sim.world.rng import Streams
from sim.world.trace import Trace

__all__ = ["Node", "NodeEnv", "NodeStatus", "SimFuture"]


class NodeStatus(enum.Enum):
    """Where a node is in its lifecycle."""

    DOWN = "down"
    UP = "up"
    PAUSED = "paused"
    FAILED = "failed"  # stopped itself (fail-stop), e.g. on a disk error or a corrupt WAL


# NodeStatus members as module constants: an Enum class attribute lookup costs several times a
# global's, and delivery checks the status of every message.
_UP = NodeStatus.UP
_DOWN = NodeStatus.DOWN
_PAUSED = NodeStatus.PAUSED
_FAILED = NodeStatus.FAILED


class SimFuture:
    """A one-shot waitable; callbacks run when it resolves."""

    __slots__ = ("_callbacks", "exc", "triggered", "value")

    def __init__(self) -> None:
        self.triggered = False
        self.value: Any = None
        self.exc: BaseException | None = None
        # Most futures have exactly one waiter: the list is made only when one registers.
        self._callbacks: list[Callable[[SimFuture], None]] | None = None

    def succeed(self, value: Any = None) -> None:
        """Resolve with `value` (a second resolution is ignored, like closing a done channel)."""
        if self.triggered:
            return
        self.triggered = True
        self.value = value
        callbacks = self._callbacks
        if callbacks is not None:
            self._callbacks = None
            for fn in callbacks:
                fn(self)

    def fail(self, exc: BaseException) -> None:
        """Resolve with an exception, thrown into every waiting process."""
        if self.triggered:
            return
        self.triggered = True
        self.exc = exc
        callbacks = self._callbacks
        if callbacks is not None:
            self._callbacks = None
            for fn in callbacks:
                fn(self)

    def add_callback(self, fn: Callable[[SimFuture], None]) -> None:
        """Run `fn(self)` on resolution (at once if already resolved)."""
        if self.triggered:
            fn(self)
        elif self._callbacks is None:
            self._callbacks = [fn]
        else:
            self._callbacks.append(fn)


class _Timer:
    """A callback due at a monotonic-clock deadline; `version` invalidates stale wakeups."""

    __slots__ = ("deadline", "fn", "key", "node", "remaining", "version")

    def __init__(self, node: Node, key: int, deadline: int, fn: Callable[[], None]) -> None:
        self.node = node
        self.key = key
        self.deadline = deadline
        self.fn = fn
        self.version = 0
        self.remaining = 0

    def cancel(self) -> None:
        if self.node._timers.pop(self.key, None) is not None:
            self.version = -1


class _TimerWakeup:
    """A timer's scheduled wakeup (a queue item); stale once the timer is re-armed or gone."""

    __slots__ = ("node", "timer", "version")

    def __init__(self, node: Node, timer: _Timer, version: int) -> None:
        self.node = node
        self.timer = timer
        self.version = version

    def __call__(self, _event: object) -> None:
        self.node._fire(self.timer, self.version)


class Node:
    """One machine: clock, disk, timers, processes; hosts a service per incarnation."""

    def __init__(
        self,
        env: Environment,
        node_id: int,
        streams: Streams,
        trace: Trace,
        disk: SimDisk,
        transmit: Callable[[int, int, object], None],
        boot: Callable[[NodeEnv], object],
    ) -> None:
        self.env = env
        self.kernel = env.kernel
        self.id = node_id
        self.streams = streams
        self.trace = trace
        self.disk = disk
        # Real clocks disagree a little from the start: an offset, and a drift within what
        # crystal oscillators do (±100 ppm). Faults move them further.
        clock_rng = streams.get(f"clock/{node_id}")
        self.base_drift_ppm = clock_rng.randint(-100, 100)
        self.clock = LocalClock(clock_rng.randrange(10_000_000), self.base_drift_ppm)
        # The monotonic clock beside the wall clock, as an OS keeps both: it runs at the same
        # rate (drift included) but never steps. Timers, sleeps and the time a process reads
        # (env.now) follow it, as Go's timers and time.Since do; a clock step moves only the
        # wall clock.
        self.mono = LocalClock(self.clock.local(0), self.base_drift_ppm)
        self.status = _DOWN
        self.incarnation = 0
        self.service: object | None = None
        self.fail_reason: str | None = None
        self.retired = False  # taken out for good (retire): never starts again
        self._transmit = transmit
        self._boot = boot
        self._timers: dict[int, _Timer] = {}
        self._timer_seq = 0
        self._deferred: list[Callable[[], None]] = []
        # Work queued while the node is already handling something runs right after that
        # handler returns, in the same simpy step (like an event loop's ready queue): no
        # re-entrancy, and no extra kernel event per wakeup.
        self._runq: deque[Callable[[], None]] = deque()
        self._draining = False
        self._receiver: Callable[[int, Any], None] | None = None
        # Failpoints armed on this machine (name -> "crash" | "pause"), kept across restarts
        # until hit; `on_failpoint(node, name, action)` is told after the action is taken.
        self.failpoints: dict[str, str] = {}
        self.on_failpoint: Callable[[Node, str, str], None] | None = None
        # A slow-apply fault: what applying one entry costs this machine beyond the usual
        # (a busy CPU, a throttled disk under the backend); kept across restarts until lifted.
        self.apply_delay_us = 0

    # ---- lifecycle -------------------------------------------------------------------------

    @property
    def is_up(self) -> bool:
        """Running or paused (its memory exists)."""
        return self.status in (_UP, _PAUSED)

    def start(self) -> None:
        """Boot a new incarnation from whatever is on the disk (a retired node stays down)."""
        if self.is_up or self.retired:
            return
        self.incarnation += 1
        self.status = _UP
        self.fail_reason = None
        self.trace.emit("node.start", self.id, self.incarnation)
        self.service = self._boot(NodeEnv(self, self.incarnation))

    def crash(self) -> None:
        """Lose memory, timers and queued work; the disk keeps only what was fsynced."""
        if not self.is_up:
            return
        self._end_incarnation(_DOWN)
        self.trace.emit("node.crash", self.id)
        self.disk.crash()

    def fail(self, reason: str) -> None:
        """The service stopped itself (fail-stop); the disk is left as it is."""
        if not self.is_up:
            return
        self._end_incarnation(_FAILED)
        self.fail_reason = reason
        self.trace.emit("node.fail", self.id, reason)
        # The process exits: the OS page cache survives a process exit, but we model the
        # harsher case of a machine that goes down with it.
        self.disk.crash()

    def retire(self, reason: str) -> None:
        """Take the node out for good, as an operator takes out a member whose disk lost data
        it had acknowledged: it stops (if running) as a failed node and never starts again."""
        if self.is_up:
            self._end_incarnation(_FAILED)
            self.disk.crash()
        self.status = _FAILED
        self.retired = True
        self.fail_reason = reason
        self.trace.emit("node.retire", self.id, reason)

    def pause(self) -> None:
        """Freeze the node: timers keep their remaining time, deliveries wait."""
        if self.status is not _UP:
            return
        self.status = _PAUSED
        mono_now = self.mono_now()
        for timer in self._timers.values():
            timer.remaining = max(0, timer.deadline - mono_now)
            timer.version += 1  # the scheduled wakeup is now stale
        self.trace.emit("node.pause", self.id)

    def resume(self) -> None:
        """Unfreeze: timers restart with their remaining time, waiting work runs in order."""
        if self.status is not _PAUSED:
            return
        self.status = _UP
        self.trace.emit("node.resume", self.id)
        mono_now = self.mono_now()
        for timer in list(self._timers.values()):
            timer.deadline = mono_now + timer.remaining
            self._arm(timer)
        deferred, self._deferred = self._deferred, []
        for fn in deferred:
            self._soon(fn)

    def _end_incarnation(self, status: NodeStatus) -> None:
        self.incarnation += 1
        self.status = status
        self.service = None
        self._receiver = None
        for timer in self._timers.values():
            timer.version = -1
        self._timers.clear()
        self._deferred.clear()
        self._runq.clear()

    # ---- clock -----------------------------------------------------------------------------

    def gnow(self) -> int:
        """Global simulated time."""
        return self.kernel.now

    def local_now(self) -> int:
        """This node's wall clock reading now (steps included)."""
        return self.clock.local(self.kernel.now)

    def mono_now(self) -> int:
        """This node's monotonic clock reading now: drift, never a step."""
        return self.mono.local(self.kernel.now)

    def clock_jump(self, delta_us: int) -> None:
        """Step the wall clock. Timers run on the monotonic clock, as Go's do: a step moves
        none of them (etcd's ticks, deadlines and sleeps are relative)."""
        self.clock.jump(self.gnow(), delta_us)
        self.trace.emit("clock.jump", self.id, delta_us)

    def clock_drift(self, drift_ppm: int) -> None:
        """Change the clock's rate (the crystal's: both clocks); pending timers follow it."""
        now = self.gnow()
        self.clock.set_drift(now, drift_ppm)
        self.mono.set_drift(now, drift_ppm)
        self.trace.emit("clock.drift", self.id, drift_ppm)
        self._rearm_all()

    def _rearm_all(self) -> None:
        if self.status is _UP:
            for timer in list(self._timers.values()):
                self._arm(timer)

    # ---- timers and scheduling ------------------------------------------------------------

    def call_later(self, delay_us: int, fn: Callable[[], None]) -> _Timer:
        """Run `fn` once the local clock has advanced by `delay_us`."""
        self._timer_seq += 1
        timer = _Timer(self, self._timer_seq, self.mono_now() + max(0, delay_us), fn)
        self._timers[timer.key] = timer
        if self.status is _PAUSED:
            timer.remaining = max(0, delay_us)
        else:
            self._arm(timer)
        return timer

    def _arm(self, timer: _Timer) -> None:
        timer.version += 1
        version = timer.version
        kernel = self.kernel
        now = kernel.now
        kernel.call_after(self.mono.global_at(timer.deadline, now) - now,
                          _TimerWakeup(self, timer, version))

    def _fire(self, timer: _Timer, version: int) -> None:
        if timer.version != version or self._timers.pop(timer.key, None) is None:
            return
        timer.version = -1
        self._enter(timer.fn)

    def _enter(self, fn: Callable[[], None]) -> None:
        """Run `fn` as one step of the node, then everything it queued."""
        if self._draining:
            self._runq.append(fn)
            return
        self._draining = True
        try:
            fn()
            runq = self._runq
            while runq:
                runq.popleft()()
        finally:
            self._draining = False

    def _soon(self, fn: Callable[[], None]) -> None:
        """Run `fn` at the current time, after what is already queued, in this incarnation."""
        incarnation = self.incarnation

        def item() -> None:
            self._run_if_current(incarnation, fn)

        if self._draining:
            self._runq.append(item)
        else:
            self.kernel.call_after(0, lambda _ev: self._enter(item))

    def _run_if_current(self, incarnation: int, fn: Callable[[], None]) -> None:
        if incarnation != self.incarnation:
            return
        if self.status is _PAUSED:
            self._deferred.append(fn)
        else:
            fn()

    def _enter_current(self, incarnation: int, fn: Callable[[], None]) -> None:
        """`_enter(fn)` if `incarnation` is still current, deferring it while paused.

        The same as `_enter(lambda: _run_if_current(incarnation, fn))`, without the wrapper
        when the node is idle (the checks cannot change before `fn` would run).
        """
        if self._draining:
            self._runq.append(lambda: self._run_if_current(incarnation, fn))
            return
        if incarnation != self.incarnation:
            return
        if self.status is _PAUSED:
            self._deferred.append(fn)
            return
        self._draining = True
        try:
            fn()
            runq = self._runq
            while runq:
                runq.popleft()()
        finally:
            self._draining = False

    # ---- messages --------------------------------------------------------------------------

    def deliver(self, src: int, msg: object) -> None:
        """A message arrives from the network."""
        receiver = self._receiver
        status = self.status
        if receiver is None or status is _DOWN or status is _FAILED:
            self.trace.emit("node.discard", self.id, src)
            return
        if status is _PAUSED:
            self._deferred.append(lambda: receiver(src, msg))
            return
        if self._draining:
            self._runq.append(lambda: receiver(src, msg))
            return
        # Inlined _enter: delivery is the hottest way into a node.
        self._draining = True
        try:
            receiver(src, msg)
            runq = self._runq
            while runq:
                runq.popleft()()
        finally:
            self._draining = False

    # ---- processes -------------------------------------------------------------------------

    def spawn(self, process: Process, name: str) -> None:
        """Start a generator process; it runs at once until its first wait."""
        _Task(self, process).step(None, None)


def _ignore_future(_fut: SimFuture) -> None:
    """A finished task's wake."""


def _do_nothing() -> None:
    """A finished task's resume."""


class _Task:
    """A generator process on a node: resumes it when what it waits on resolves.

    One object per process, its callbacks bound once: a process waits and wakes for every
    Ready, so per-wait closures would be made tens of thousands of times a run.
    """

    __slots__ = ("_resume", "_wake", "fut", "incarnation", "node", "process")

    def __init__(self, node: Node, process: Process) -> None:
        self.node = node
        self.process = process
        self.incarnation = node.incarnation
        self.fut: SimFuture | None = None
        self._wake = self.wake
        self._resume = self.resume

    def step(self, value: Any, exc: BaseException | None) -> None:
        """Run the process until it waits again (or ends)."""
        try:
            waitable = self.process.throw(exc) if exc is not None else self.process.send(value)
        except StopIteration:
            self._end()
            return
        except BaseException:
            self._end()
            raise
        fut: SimFuture = waitable  # type: ignore[assignment]  # NodeEnv hands out SimFutures
        self.fut = fut
        fut.add_callback(self._wake)

    def _end(self) -> None:
        # The bound callbacks make a cycle (task -> its bound methods -> task) that only the
        # collector could free, with the process's frame and all it holds: thousands of tasks a
        # run. Cut it, so reference counting frees a finished task at once.
        self.fut = None
        self._wake = _ignore_future
        self._resume = _do_nothing

    def wake(self, _fut: SimFuture) -> None:
        """What it waits on resolved: resume it soon, as _soon would, in this incarnation."""
        node = self.node
        if self.incarnation != node.incarnation:
            return
        if node._draining:
            node._runq.append(self._resume)
        else:
            resume = self._resume
            node.kernel.call_after(0, lambda _ev: node._enter(resume))

    def resume(self) -> None:
        """As _soon's item: skip a stale incarnation, wait while paused.

        Deferred work is queued again through _soon on resume, which checks once more.
        """
        node = self.node
        if self.incarnation != node.incarnation:
            return
        if node.status is _PAUSED:
            node._deferred.append(self._resume)
            return
        fut = self.fut
        assert fut is not None
        self.step(fut.value, fut.exc)


class _NodeDisk:
    """The node's view of its disk: fsync becomes a waitable of this incarnation."""

    def __init__(self, node: Node, incarnation: int) -> None:
        self._node = node
        self._disk = node.disk
        self._incarnation = incarnation
        self.write = self._disk.write
        self.append = self._disk.append
        self.read = self._disk.read
        self.rename = self._disk.rename
        self.truncate = self._disk.truncate
        self.list = self._disk.list
        self.remove = self._disk.remove
        self.exists = self._disk.exists

    def fsync(self, path: str) -> SimFuture:
        fut = SimFuture()
        self._disk.fsync(path, partial(self._fsynced, fut))
        return fut

    def _fsynced(self, fut: SimFuture, err: DiskError | None) -> None:
        # The disk calls back from a bare simpy event: enter the node, if still this incarnation.
        if err is None:
            self._node._enter_current(self._incarnation, fut.succeed)
        else:
            self._node._enter_current(self._incarnation, partial(fut.fail, err))


class NodeEnv:
    """etcdcore's Env for one incarnation of one node; inert once that incarnation ends."""

    def __init__(self, node: Node, incarnation: int) -> None:
        self._node = node
        self._incarnation = incarnation
        self.node_id = node.id
        self.disk = _NodeDisk(node, incarnation)
        self.probes = node.trace.probes

    @property
    def alive(self) -> bool:
        """True while this incarnation is the node's current one."""
        return self._incarnation == self._node.incarnation

    def now(self) -> int:
        return self._node.mono_now()

    def rand(self, name: str) -> random.Random:
        return self._node.streams.get(f"node/{self.node_id}/{name}")

    def sleep(self, us: int) -> SimFuture:
        fut = SimFuture()
        if self.alive:
            self._node.call_later(us, fut.succeed)
        return fut

    def apply_delay_us(self) -> int:
        return self._node.apply_delay_us

    def call_later(self, us: int, fn: Callable[[], None]) -> _Timer:
        if not self.alive:
            return _Timer(self._node, -1, 0, fn)
        return self._node.call_later(us, fn)

    def future(self) -> SimFuture:
        return SimFuture()

    def spawn(self, process: Process, name: str) -> None:
        if self.alive:
            self._node.spawn(process, name)

    def send(self, to: int, msg: Any) -> None:
        node = self._node
        if self._incarnation == node.incarnation:  # self.alive, inlined: one call per message
            node._transmit(self.node_id, to, msg)

    def set_receiver(self, fn: Callable[[int, Any], None]) -> None:
        if self.alive:
            self._node._receiver = fn

    def fail(self, reason: str) -> None:
        if self.alive:
            self._node.fail(reason)

    def trace(self, kind: str, *fields: object) -> None:
        self._node.trace.emit(kind, self.node_id, *fields)

    @property
    def armed(self) -> dict[str, str]:
        return self._node.failpoints

    def failpoint(self, name: str) -> SimFuture:
        """Take the armed action now: a crash ends this incarnation at once (the future never
        resolves, so the process that reached the point never runs again); a pause freezes
        the node, and the process goes on once it is resumed."""
        fut = SimFuture()
        node = self._node
        action = node.failpoints.pop(name, None) if self.alive else None
        if action is None:
            fut.succeed()
            return fut
        self.trace("failpoint", name, action)
        self.probes.hit("fault.failpoint_reached")
        if action == "crash":
            node.crash()
        else:
            node.pause()
            fut.succeed()
        if node.on_failpoint is not None:
            node.on_failpoint(node, name, action)
        return fut
