"""A node's local clock: an offset and a drift rate over global simulated time; and a cheap
way to schedule a callback on the global clock.

Local time is piecewise linear in global time; a jump or a drift change re-anchors it, so the
past is never rewritten. All arithmetic is on integers (microseconds, parts per million).
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import simpy
from simpy.events import NORMAL, Event

__all__ = ["Environment", "LocalClock", "call_after", "fire"]

_PPM = 1_000_000


class LocalClock:
    """local(t) = local_anchor + (t - global_anchor) * (1 + drift_ppm / 1e6), floored."""

    def __init__(self, offset_us: int = 0, drift_ppm: int = 0) -> None:
        if drift_ppm <= -_PPM:
            raise ValueError("drift must be above -1,000,000 ppm")
        self._global_anchor = 0
        self._local_anchor = offset_us
        self.drift_ppm = drift_ppm

    def local(self, t: int) -> int:
        """Local time at global time `t` (t at or after the last re-anchoring)."""
        elapsed = t - self._global_anchor
        return self._local_anchor + elapsed + (elapsed * self.drift_ppm) // _PPM

    def global_at(self, local_deadline: int, now: int) -> int:
        """The earliest global time >= `now` at which local time reaches `local_deadline`."""
        behind = local_deadline - self._local_anchor
        if behind <= 0:
            return now
        if not self.drift_ppm:  # the common case: a steady clock
            return max(self._global_anchor + behind, now)
        # ceil(behind * 1e6 / (1e6 + drift)), then step up until floor rounding agrees.
        rate = _PPM + self.drift_ppm
        t = self._global_anchor + -(-behind * _PPM // rate)
        while self.local(t) < local_deadline:
            t += 1
        return max(t, now)

    def jump(self, now: int, delta_us: int) -> None:
        """Step the clock by `delta_us` (either way) at global time `now`."""
        self._reanchor(now)
        self._local_anchor += delta_us

    def set_drift(self, now: int, drift_ppm: int) -> None:
        """Change the drift rate from global time `now` on."""
        if drift_ppm <= -_PPM:
            raise ValueError("drift must be above -1,000,000 ppm")
        self._reanchor(now)
        self.drift_ppm = drift_ppm

    def _reanchor(self, now: int) -> None:
        self._local_anchor = self.local(now)
        self._global_anchor = now


class Environment(simpy.Environment):
    """simpy's Environment, whose queue also holds bare callbacks scheduled by `call_after`.

    A queue entry is (time, priority, id, item): item is a simpy event, or a callable taking
    one argument (None) that stands for an event with that callback alone. Skipping the event
    object saves an allocation and several attribute stores on every message, fsync and timer.
    """

    def step(self) -> None:
        """Process the next entry, as simpy's step does for events."""
        try:
            self._now, _, _, item = heappop(self._queue)
        except IndexError:
            raise simpy.core.EmptySchedule() from None
        if isinstance(item, Event):
            fire(item)
        else:
            item(None)


def fire(event: Event) -> None:
    """Run a simpy event's callbacks, and raise its failure if nobody handled it (as simpy)."""
    callbacks = event.callbacks
    event.callbacks = None  # type: ignore[assignment]  # processed, as simpy marks it
    for callback in callbacks:
        callback(event)
    if not event._ok and not hasattr(event, "_defused"):
        exc = type(event._value)(*event._value.args)
        exc.__cause__ = event._value
        raise exc


def call_after(env: simpy.Environment, delay_us: int, fn: Callable[[Any], None]) -> None:
    """Call `fn(None)` after `delay_us` of global time, as `env.timeout(delay_us)` would.

    Same priority and sequence numbers as a Timeout, so event order is unchanged; no event is
    made (`env` must be an `Environment` of this module).
    """
    queue: list[Any] = env._queue
    heappush(queue, (env._now + delay_us, NORMAL, next(env._eid), fn))
