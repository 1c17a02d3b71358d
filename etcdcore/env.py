"""The environment etcdcore runs in: the only way the server waits, talks, stores or draws.

etcdcore never imports the world; `sim` implements these Protocols on simpy. A process is a
generator that yields `Waitable`s obtained from the environment (a sleep, an fsync, a future);
the value a waitable resolves to is sent back into the generator, and a failure is thrown in.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Container, Generator
from typing import Any, Protocol

from etcdcore.probes import Probes

__all__ = [
    "Disk",
    "DiskError",
    "DiskFullError",
    "Env",
    "Future",
    "Process",
    "Timer",
    "Waitable",
]


class DiskError(OSError):
    """An I/O error reported by the node's disk (EIO)."""


class DiskFullError(DiskError):
    """The disk has no space left (ENOSPC)."""


class Waitable(Protocol):
    """Something a process can yield to wait on; opaque to etcdcore."""

    @property
    def triggered(self) -> bool: ...


class Future(Waitable, Protocol):
    """A waitable that code resolves itself, like a one-shot channel."""

    def succeed(self, value: Any = None) -> None: ...

    def fail(self, exc: BaseException) -> None: ...


class Timer(Protocol):
    """A pending callback; cancel() is idempotent."""

    def cancel(self) -> None: ...


Process = Generator[Waitable, Any, Any]


class Disk(Protocol):
    """A node's disk as the node sees it. Every call may raise DiskError."""

    def write(self, path: str, data: bytes) -> None:
        """Replace the whole content of `path` (created if missing); not durable until fsync."""

    def append(self, path: str, data: bytes) -> None:
        """Append to `path` (created if missing); not durable until fsync."""

    def read(self, path: str) -> bytes:
        """The current content of `path` (FileNotFoundError if missing)."""
        ...

    def rename(self, src: str, dst: str) -> None:
        """Atomically rename `src` to `dst`, replacing `dst`."""

    def truncate(self, path: str, size: int) -> None:
        """Cut `path` to `size` bytes."""

    def list(self) -> list[str]:
        """All file names, sorted."""
        ...

    def remove(self, path: str) -> None:
        """Delete `path`."""

    def exists(self, path: str) -> bool:
        """True if `path` exists."""
        ...

    def fsync(self, path: str) -> Waitable:
        """Make `path`'s content as of now durable; resolves when done, fails with DiskError."""
        ...


class Env(Protocol):
    """One node's view of the world, for one incarnation (a crash discards it)."""

    node_id: int
    disk: Disk
    probes: Probes  # the run's sometimes points (etcdcore.probes): observation, never behaviour

    def now(self) -> int:
        """The node's monotonic clock, in integer microseconds: its drift included, never a
        step of the wall clock (what Go's time.Since and timers measure)."""
        ...

    def rand(self, name: str) -> random.Random:
        """This node's random stream called `name`."""
        ...

    def sleep(self, us: int) -> Waitable:
        """Resolves after `us` microseconds of the node's monotonic clock."""
        ...

    def call_later(self, us: int, fn: Callable[[], None]) -> Timer:
        """Call `fn` after `us` microseconds of the node's monotonic clock."""
        ...

    def apply_delay_us(self) -> int:
        """What applying one committed entry costs this machine now beyond the usual, in
        microseconds of local time: 0 unless the world slows it (a slow-apply fault)."""
        ...

    def future(self) -> Future:
        """A new unresolved future."""
        ...

    def spawn(self, process: Process, name: str) -> None:
        """Run a generator process on this node (a goroutine)."""

    def send(self, to: int, msg: Any) -> None:
        """Send `msg` to node `to`; fire and forget."""

    def set_receiver(self, fn: Callable[[int, Any], None]) -> None:
        """Route incoming messages, as fn(sender, msg), to `fn`."""

    def fail(self, reason: str) -> None:
        """Stop this node at once, as a Go panic would (fail-stop)."""

    def trace(self, kind: str, *fields: object) -> None:
        """Record an event in the run's trace."""

    @property
    def armed(self) -> Container[str]:
        """Names of the failpoints armed on this node (see etcdcore.server.failpoints)."""
        ...

    def failpoint(self, name: str) -> Waitable:
        """Reach failpoint `name`: wait on what the scenario does there (a crash: forever)."""
        ...
