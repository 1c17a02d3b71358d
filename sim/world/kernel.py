"""The world's event loop: one global clock and queue, shared by simpy and the hot paths.

simpy's processes and events (the workload drivers, fault schedules) and the world's own
callbacks (message arrivals, fsync completions, timers) wait in one queue, ordered as simpy
orders events: by time, then priority, then the order they were scheduled.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from heapq import heappop
from typing import Any, Final

import simpy
from simpy.core import StopSimulation
from simpy.events import NORMAL, URGENT, Event

__all__ = ["Environment", "Kernel", "fire"]

# Final: mypyc keeps these in C statics rather than looking them up in the module dict.
_push: Final = heapq.heappush
_pop: Final = heapq.heappop
_NORMAL: Final = NORMAL
_URGENT: Final = URGENT


class Kernel:
    """The world's global clock and event queue, as plain native fields.

    An entry is (time, priority, sequence, item): item is a simpy event, or a callable taking
    one argument (None) that stands for an event with that callback alone. Hot paths (message
    delivery, fsync, timers) schedule callables here directly: no event object, and no lookup
    in simpy's instance dict for the clock, the queue or the counter.
    """

    def __init__(self) -> None:
        self.now = 0
        # Entries as plain tuples typed Any: mypyc would unbox and rebox a typed tuple's every
        # field on each push and pop.
        self.queue: list[Any] = []
        self.seq = 0  # simpy's event id: ties at one time and priority go first-scheduled first

    def time(self) -> int:
        """Global simulated time in microseconds."""
        return self.now

    def call_after(self, delay_us: int, fn: Callable[[Any], None]) -> None:
        """Call `fn(None)` after `delay_us`, where `env.timeout(delay_us)` would fire."""
        self.seq += 1
        _push(self.queue, (self.now + delay_us, _NORMAL, self.seq, fn))

    def call_first(self, fn: Callable[[Any], None]) -> None:
        """Call `fn(None)` now, ahead of the normal events now, as `env.process` starts one."""
        self.seq += 1
        _push(self.queue, (self.now, _URGENT, self.seq, fn))

    def push(self, item: Any, priority: int, delay: int) -> None:
        """Queue a simpy event (Environment.schedule)."""
        self.seq += 1
        _push(self.queue, (self.now + delay, priority, self.seq, item))

    def run_until(self, t_us: int) -> None:
        """Process every entry before global time `t_us`, then set the clock to it.

        What `env.run(until=t_us)` does (entries at `t_us` itself stay queued), without its
        stop event: every event of a run passes through this loop.
        """
        if t_us <= self.now:
            return
        queue = self.queue
        while queue:
            entry: tuple[Any, ...] = _pop(queue)
            now: int = entry[0]
            if now >= t_us:
                _push(queue, entry)  # the first entry past the end: back where it was
                break
            self.now = now
            item = entry[3]
            if isinstance(item, Event):
                fire(item)
            else:
                item(None)
        self.now = t_us


class Environment(simpy.Environment):
    """simpy's Environment over a Kernel: simpy's processes and events keep working, and the
    world's hot paths schedule bare callbacks on the same queue, in one order."""

    def __init__(self) -> None:
        super().__init__()
        self.kernel = Kernel()

    @property
    def now(self) -> int:
        """The current simulation time."""
        return self.kernel.now

    def schedule(self, event: Event, priority: int = NORMAL, delay: int | float = 0) -> None:
        """Schedule `event` with `priority` after `delay`, as simpy does."""
        if not isinstance(delay, int):
            raise TypeError(f"simulated time is whole microseconds, got a delay of {delay!r}")
        self.kernel.push(event, priority, delay)

    def peek(self) -> float:
        """Time of the next entry (infinity when none)."""
        queue = self.kernel.queue
        return queue[0][0] if queue else simpy.core.Infinity

    def step(self) -> None:
        """Process the next entry, as simpy's step does for events."""
        kernel = self.kernel
        try:
            kernel.now, _, _, item = heappop(kernel.queue)
        except IndexError:
            raise simpy.core.EmptySchedule() from None
        if not isinstance(item, Event):
            item(None)
            return
        try:
            fire(item)
        except StopSimulation:
            self.schedule(item, -1)  # as simpy: the callbacks after the stop run on resuming
            raise


def fire(event: Event) -> None:
    """Run a simpy event's callbacks, and raise its failure if nobody handled it (as simpy)."""
    callbacks = event.callbacks
    event.callbacks = None  # type: ignore[assignment]  # processed, as simpy marks it
    for i, callback in enumerate(callbacks):
        try:
            callback(event)
        except StopSimulation:
            event.callbacks = callbacks[i + 1:]
            raise
    if not event._ok and not hasattr(event, "_defused"):
        exc = type(event._value)(*event._value.args)
        exc.__cause__ = event._value
        raise exc
