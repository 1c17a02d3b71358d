"""What a run's trace says over time: member states, leaderships, faults, message counts.

Pure functions from trace events (``(time_us, kind, *fields)``) to spans; the page is drawn from
these by `sim.report.run_report`. Leadership is what the trace records: a member leads from its
``raft.leader`` event until it goes down or another member is elected (Raft emits no event when
a leader steps down, so a deposed leader's span ends at its successor's election).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field

from sim.world.trace import Event

__all__ = [
    "FAULT_CATEGORY",
    "NET_KINDS",
    "NOISY_KINDS",
    "FaultBand",
    "MessageCounts",
    "Span",
    "fault_bands",
    "leader_spans",
    "message_counts",
    "node_spans",
    "trace_window",
]

# Per-message events: counted per time bucket, never drawn one by one.
NET_KINDS = frozenset(
    {"net.send", "net.deliver", "net.drop", "net.dup", "net.hold", "net.release"}
)

# Events too frequent to mark one by one or to list by default: messages, fsyncs, discards.
NOISY_KINDS = NET_KINDS | {"disk.fsync", "node.discard"}

# A fault kind's colour family on the page.
FAULT_CATEGORY = {
    "partition": "partition",
    "cut": "partition",
    "clog": "partition",
    "loss": "network",
    "duplicate": "network",
    "delay": "network",
    "crash": "crash",
    "disk_corrupt": "crash",
    "pause": "pause",
    "failpoint": "failpoint",
    "disk_latency": "disk",
    "disk_stall": "disk",
    "disk_error": "disk",
    "disk_full": "disk",
    "clock_jump": "clock",
    "clock_drift": "clock",
    "slow_apply": "disk",
    "hold": "partition",
    "delay_spike": "network",
    "clock_skew": "clock",
    "clock_leap": "clock",
    "long_pause": "pause",
    "crash_loop": "crash",
    # disk damage and lost writes (they crash the member, or retire it)
    "disk_lost_writes": "crash",
    "disk_misdirect": "disk",
    "disk_bad_sector": "crash",
    "disk_truncate_wal": "crash",
    "disk_bitflip": "crash",
}
_NETWORK_WIDE = frozenset({"partition", "hold", "loss", "duplicate", "delay"})
_PARTITIONS = ("partition", "hold")  # each replaces the one before


@dataclass(frozen=True, slots=True)
class Span:
    """[start, end) in µs of one state of one member; `label` is drawn, `detail` hovered."""

    start: int
    end: int
    state: str  # "up" | "down" | "paused" | "failed" | "leader"
    label: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FaultBand:
    """One injected fault, from when it took effect to when it ended."""

    index: int  # order among the run's faults
    start: int
    end: int
    kind: str
    node: int
    peer: int
    duration_us: int
    value: int
    name: str
    targets: tuple[int, ...]  # the members it touches
    armed_at: int  # when it was injected (a failpoint takes effect later, when hit)
    hit: bool = True  # False for a failpoint never reached
    detail: str = ""  # e.g. the partition's cuts, the failpoint's action

    @property
    def category(self) -> str:
        """Colour family: partition, network, crash, pause, failpoint, disk, clock or other."""
        return FAULT_CATEGORY.get(self.kind, "other")

    @property
    def label(self) -> str:
        """Short text drawn on the band."""
        if self.kind == "partition":
            return f"partition {self.name}"
        if self.kind in ("cut", "clog"):
            return f"{self.kind} n{self.node}\u2192n{self.peer}"
        if self.kind in ("loss", "duplicate"):
            return f"{self.kind} {self.value / 10:g}%"
        if self.kind == "delay":
            return f"delay +{self.value / 1000:g}ms"
        if self.kind == "failpoint":
            return f"failpoint {self.name} n{self.node}"
        if self.kind == "hold":
            return f"hold {self.name}" + (" in order" if self.value else "")
        node = f"n{self.targets[0] if self.targets else self.node}"
        if self.kind == "slow_apply":
            return f"slow apply +{self.value / 1000:g}ms {node}"
        if self.kind == "delay_spike":
            return f"delay spike +{self.value / 1_000_000:g}s {node}"
        if self.kind == "clock_skew":
            return f"clock skew {self.value / 10_000:+g}% {node}"
        if self.kind == "clock_leap":
            return f"clock leap {self.value / 1_000_000:+g}s {node}"
        if self.kind == "crash_loop":
            return f"crash loop x{self.value} {node}"
        return f"{self.kind} {node}"

    def fields(self) -> dict[str, object]:
        """The fault as the trace recorded it, for the tooltip."""
        return {
            "kind": self.kind,
            "node": self.node,
            "peer": self.peer,
            "duration_us": self.duration_us,
            "value": self.value,
            "name": self.name,
        }


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _time(event: Sequence[object]) -> int:
    return _int(event[0])


def node_spans(trace: Sequence[Event], members: Sequence[int], end: int) -> dict[int, list[Span]]:
    """Each member's up / down / paused / failed spans over [0, end), from node.* events."""
    spans: dict[int, list[Span]] = {m: [] for m in members}
    state: dict[int, tuple[int, str, str]] = {m: (0, "down", "not started") for m in members}
    incarnation: dict[int, int] = {}

    def move(node: int, t: int, new: str, detail: str) -> None:
        start, old, old_detail = state[node]
        if t > start:
            spans[node].append(Span(start, t, old, detail=old_detail))
        state[node] = (t, new, detail)

    for event in trace:
        kind = event[1]
        if not isinstance(kind, str) or not kind.startswith("node.") or len(event) < 3:
            continue
        node = _int(event[2], -1)
        if node not in state:
            continue
        t = _time(event)
        if kind == "node.start":
            incarnation[node] = _int(event[3]) if len(event) > 3 else 0
            move(node, t, "up", f"incarnation {incarnation[node]}")
        elif kind == "node.crash":
            move(node, t, "down", "crashed")
        elif kind == "node.fail":
            move(node, t, "failed", f"failed: {event[3] if len(event) > 3 else ''}")
        elif kind == "node.retire":
            move(node, t, "failed", f"retired: {event[3] if len(event) > 3 else ''}")
        elif kind == "node.pause":
            move(node, t, "paused", "paused")
        elif kind == "node.resume":
            move(node, t, "up", f"incarnation {incarnation.get(node, 0)} (resumed)")
    for node in members:
        move(node, end, "", "")
    return spans


def leader_spans(
    trace: Sequence[Event], members: Sequence[int], end: int
) -> dict[int, list[Span]]:
    """Each member's leaderships, labelled with the term, as far as the trace tells."""
    spans: dict[int, list[Span]] = {m: [] for m in members}
    current: tuple[int, int, int] | None = None  # node, term, since

    def close(t: int) -> None:
        nonlocal current
        if current is not None:
            node, term, since = current
            spans[node].append(
                Span(since, max(t, since), "leader", f"T{term}", f"leader of term {term}")
            )
            current = None

    for event in trace:
        kind = event[1]
        if kind == "raft.leader" and len(event) >= 4:
            node = _int(event[2], -1)
            if node in spans:
                close(_time(event))
                current = (node, _int(event[3]), _time(event))
        elif (
            kind in ("node.crash", "node.fail", "node.retire")
            and len(event) >= 3
            and current is not None
            and current[0] == _int(event[2], -1)
        ):
            close(_time(event))
    close(end)
    return spans


def fault_bands(
    trace: Sequence[Event], members: Sequence[int], heal_at: int, end: int
) -> list[FaultBand]:
    """One band per `fault` event: when it acted, whom it touched, and when it stopped.

    Every fault stops at the heal; a partition also when the next one replaces it, a clock drift
    when the next drift on its node does. A failpoint acts when hit, for its duration.
    """
    heal = next((_time(e) for e in trace if e[1] == "heal"), heal_at)
    raw: list[tuple[int, list[object], str]] = []  # time, fields, detail
    hits: dict[tuple[int, str], list[tuple[int, str]]] = {}
    for i, event in enumerate(trace):
        kind = event[1]
        if kind == "fault":
            detail = ""
            following = trace[i + 1] if i + 1 < len(trace) else None
            if (
                event[2] == "partition"
                and following is not None
                and following[1] == "net.partition"
                and len(following) > 3
            ):
                detail = f"cuts {following[3]}"
            if following is not None and following[1] == "fault.target" and len(following) > 3:
                # Aimed at the leader: the member it hit is the one the injector resolved.
                detail = f"aimed at the leader: n{following[3]}"
                fields = list(event[2:])
                fields[1] = following[3]
                raw.append((_time(event), fields, detail))
                continue
            raw.append((_time(event), list(event[2:]), detail))
        elif kind == "failpoint" and len(event) >= 5:
            key = (_int(event[2], -1), str(event[3]))
            hits.setdefault(key, []).append((_time(event), str(event[4])))
    bands: list[FaultBand] = []
    all_members = tuple(members)
    for index, (t, fields, detail) in enumerate(raw):
        kind = str(fields[0]) if fields else "?"
        node, peer, duration, value = (
            _int(fields[k]) if len(fields) > k else 0 for k in (1, 2, 3, 4)
        )
        name = str(fields[5]) if len(fields) > 5 and fields[5] is not None else ""
        start, stop, hit, armed = t, min(t + duration, heal), True, t
        if kind in _PARTITIONS:
            later = [u for u, f, _ in raw[index + 1 :] if f and f[0] in _PARTITIONS]
            stop = min([stop, *later[:1]])
        elif kind == "crash_loop":
            stop = _crash_loop_end(trace, t, node, value, heal)
        elif kind == "clock_jump":
            stop = t
        elif kind == "clock_drift":
            later = [u for u, f, _ in raw[index + 1 :] if f[:1] == ["clock_drift"] and f[1] == node]
            stop = min([heal, end, *later[:1]])
        elif kind == "failpoint":
            found = [h for h in hits.get((node, name), []) if h[0] >= t]
            if found:
                hit_at, action = found[0]
                hits[(node, name)].remove(found[0])
                start, stop = hit_at, min(hit_at + duration, max(heal, hit_at))
                detail = f"armed at {t} us, hit at {hit_at} us: {action}"
            else:
                stop, hit = max(t, heal), False
                detail = "armed, never reached before the heal"
        targets = all_members if kind in _NETWORK_WIDE else tuple(
            m for m in members if m in (node, peer if kind in ("cut", "clog") else node)
        )
        bands.append(
            FaultBand(
                index, start, max(start, min(stop, end)), kind, node, peer, duration, value,
                name, targets, armed, hit, detail,
            )
        )
    return bands


def _crash_loop_end(trace: Sequence[Event], start: int, node: int, crashes: int,
                    heal: int) -> int:
    """When a crash loop's last restart came: after its `crashes` crashes, or at the heal."""
    seen = 0
    for event in trace:
        t = _time(event)
        if t < start or len(event) < 3 or event[2] != node:
            continue
        if t >= heal:
            break
        if event[1] == "node.crash":
            seen += 1
        elif event[1] == "node.start" and seen >= crashes:
            return t
    return heal


@dataclass
class MessageCounts:
    """Messages per time bucket: sent and dropped."""

    bucket_us: int
    sent: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)


def message_counts(trace: Sequence[Event], end: int, buckets: int) -> MessageCounts:
    """net.send and net.drop events counted in `buckets` equal slices of [0, end)."""
    width = max(1, -(-end // max(1, buckets)))
    n = max(1, -(-end // width))
    counts = MessageCounts(width, [0] * n, [0] * n)
    last = n - 1
    for event in trace:
        kind = event[1]
        if kind == "net.send":
            counts.sent[min(last, _time(event) // width)] += 1
        elif kind == "net.drop":
            counts.dropped[min(last, _time(event) // width)] += 1
    return counts


def trace_window(
    trace: Sequence[Event],
    times: Sequence[int],
    t: int,
    before: int,
    after: int,
    lookback_us: int = 10_000_000,
) -> list[int]:
    """Indexes of the events around time `t`: `before`/`after` of every kind, and as many again
    within `lookback_us` that are not `NOISY_KINDS` (a busy network must not hide the rest)."""
    at = bisect_left(times, t + 1)
    chosen = set(range(max(0, at - before), min(len(trace), at + after)))
    i, found = at - 1, 0
    while i >= 0 and found < before and times[i] >= t - lookback_us:
        if trace[i][1] not in NOISY_KINDS:
            chosen.add(i)
            found += 1
        i -= 1
    i, found = at, 0
    while i < len(trace) and found < after and times[i] <= t + lookback_us:
        if trace[i][1] not in NOISY_KINDS:
            chosen.add(i)
            found += 1
        i += 1
    return sorted(chosen)
