"""The run's trace: a list of structured events whose digest names the run."""

from __future__ import annotations

import hashlib
import json
import marshal
import os
from collections.abc import Callable, Iterable, Iterator

from etcdcore.probes import Probes

__all__ = ["Event", "Trace", "encode_event", "write_trace"]

# (time_us, kind, *fields); fields are ints, strs, bools or None so the encoding is canonical.
Event = tuple[object, ...]


def encode_event(event: Event) -> str:
    """Canonical one-line JSON of an event (what the digest hashes)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=True)


class Trace:
    """Append-only record of events stamped with global simulated time.

    The events lie end to end in one flat list, each as (size, time, kind, *fields): a run
    records a hundred thousand of them, and as tuples each would be a container the garbage
    collector scans before it learns it holds only atoms. `events` builds the tuples on demand.
    """

    def __init__(self, now: Callable[[], int]) -> None:
        self.now = now  # the clock events are stamped with
        self.flat: list[object] = []  # hot paths may extend it directly (and bump `count`)
        self.count = 0
        self._events: list[Event] = []  # the tuples built so far from `flat`
        self._built = 0  # how much of `flat` they cover
        # The run's sometimes points (etcdcore.probes): kept beside the events, never digested.
        self.probes = Probes()

    def emit(self, kind: str, *fields: object) -> None:
        """Record one event at the current simulated time."""
        self.count += 1
        self.flat.extend((len(fields) + 2, self.now(), kind, *fields))

    @property
    def events(self) -> list[Event]:
        """Every event so far, as (time_us, kind, *fields) tuples."""
        flat = self.flat
        events = self._events
        i = self._built
        end = len(flat)
        while i < end:
            size = flat[i]
            assert isinstance(size, int)
            events.append(tuple(flat[i + 1:i + 1 + size]))
            i += 1 + size
        self._built = i
        return events

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def tail(self, n: int) -> list[Event]:
        """The last `n` events (for violation reports)."""
        return self.events[-n:]

    def digest(self) -> str:
        """sha256 of the events in marshal's version 0 format.

        Events hold only ints, strs, bools and None. Version 0 writes each by its value alone
        (no back-references, no interning marks, which would depend on refcounts and on how the
        strings were made), so the bytes are canonical; each event's size comes first, so the
        flat list stands for exactly one sequence of events; and marshal is several times
        faster than repr or JSON over the hundred thousand events of a run.
        """
        return hashlib.sha256(marshal.dumps(self.flat, 0)).hexdigest()


def write_trace(path: str | os.PathLike[str], events: Iterable[Event]) -> None:
    """Write `events` to `path`, one JSON event per line (trace.jsonl)."""
    with open(path, "w", encoding="utf-8") as f:
        for event in events:
            f.write(encode_event(event) + "\n")
