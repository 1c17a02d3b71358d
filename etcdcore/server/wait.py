"""The wait registry (etcd's pkg/wait): a request id waits for the apply loop to trigger it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from etcdcore.env import Future

__all__ = ["Wait", "WaitTime"]


class Wait:
    """Register an id, get a future; `trigger(id, x)` resolves it with x (once)."""

    def __init__(self, new_future: Callable[[], Future]) -> None:
        self._new = new_future
        self._m: dict[int, Future] = {}

    def register(self, id_: int) -> Future:
        """A future for `id_`; registering an id twice is a bug, as in etcd."""
        if id_ in self._m:
            raise ValueError(f"dup id {id_:x}")
        fut = self._new()
        self._m[id_] = fut
        return fut

    def trigger(self, id_: int, x: Any) -> None:
        """Resolve the waiter of `id_`, if any, with `x`."""
        fut = self._m.pop(id_, None)
        if fut is not None:
            fut.succeed(x)

    def is_registered(self, id_: int) -> bool:
        """True while someone waits on `id_`."""
        return id_ in self._m


class WaitTime:
    """Waiters on a growing index (etcd's applyWait): resolved once the index reaches theirs."""

    def __init__(self, new_future: Callable[[], Future]) -> None:
        self._new = new_future
        self._last = 0
        self._waiters: dict[int, Future] = {}

    def wait(self, deadline: int) -> Future:
        """A future resolved when `trigger(n)` is called with n >= deadline."""
        if deadline <= self._last:
            done = self._new()
            done.succeed()
            return done
        shared = self._waiters.get(deadline)
        if shared is None:
            self._waiters[deadline] = shared = self._new()
        return shared

    def trigger(self, deadline: int) -> None:
        """Everything up to `deadline` happened: resolve those waiters, in index order."""
        self._last = max(self._last, deadline)
        ready = sorted(d for d in self._waiters if d <= deadline)
        for d in ready:
            self._waiters.pop(d).succeed()
