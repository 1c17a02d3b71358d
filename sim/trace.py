"""The run's trace: a list of structured events whose digest names the run."""

from __future__ import annotations

import hashlib
import json
import marshal
import os
from collections.abc import Callable, Iterable, Iterator

__all__ = ["Event", "Trace", "encode_event", "write_trace"]

# (time_us, kind, *fields); fields are ints, strs, bools or None so the encoding is canonical.
Event = tuple[object, ...]


def encode_event(event: Event) -> str:
    """Canonical one-line JSON of an event (what the digest hashes)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=True)


class Trace:
    """Append-only list of events stamped with global simulated time."""

    def __init__(self, now: Callable[[], int]) -> None:
        self.now = now  # the clock events are stamped with; hot paths may append directly
        self.events: list[Event] = []

    def emit(self, kind: str, *fields: object) -> None:
        """Record one event at the current simulated time."""
        self.events.append((self.now(), kind, *fields))

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def tail(self, n: int) -> list[Event]:
        """The last `n` events (for violation reports)."""
        return self.events[-n:]

    def digest(self) -> str:
        """sha256 of the events in marshal's version 0 format.

        Events hold only ints, strs, bools and None. Version 0 writes each by its value alone
        (no back-references, no interning marks, which would depend on refcounts and on how the
        strings were made), so the bytes are canonical; and marshal is several times faster
        than repr or JSON over the hundred thousand events of a run.
        """
        return hashlib.sha256(marshal.dumps(self.events, 0)).hexdigest()


def write_trace(path: str | os.PathLike[str], events: Iterable[Event]) -> None:
    """Write `events` to `path`, one JSON event per line (trace.jsonl)."""
    with open(path, "w", encoding="utf-8") as f:
        for event in events:
            f.write(encode_event(event) + "\n")
