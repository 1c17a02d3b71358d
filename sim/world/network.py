"""The simulated network: directed links that delay, reorder, drop, duplicate, hold and cut.

Messages are opaque objects. Each directed link draws from its own named stream, so a message's
fate on one link never depends on traffic on another. A message's fate is decided when it is sent
(or released from a clog): a cut applied while a message is on the wire does not recall it.

Every message gets a sequence id, and the trace records its fate:

    ("net.send", id, src, dst, label)
    then ("net.drop", id, "cut" | "loss"), or ("net.deliver", id) at delivery,
    or ("net.hold", id) on a clogged link, later ("net.release", id) and one of the above;
    ("net.dup", id) adds a second, separately traced ("net.deliver", id).

A link holds what is sent on it while it is clogged (by hand, `clog`) or held by a partition that
holds instead of cutting (`apply_partition(..., hold=True)`, TCP buffers filling across a broken
path). Held messages are released when the hold ends: shuffled (from the link's own named
stream, `net/S->D/release`), each with a fresh latency, or in order, all at once after one
latency draw, as a stream's buffer is flushed.

A hold or a delay may carry a `Meter`: it counts the messages it held or delayed and, given a
limit, stops at it (later messages pass as if it were not there, traced once as
("net.spent", label, count)). A shrunk scenario keeps only the held or delayed messages that
matter this way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from random import Random

from sim.world.kernel import Environment
from sim.world.rng import Streams
from sim.world.trace import Trace

__all__ = ["Deliver", "Link", "Meter", "Network", "NetworkConfig"]

Link = tuple[int, int]
Deliver = Callable[[int, int, object], None]


def _check_probability(name: str, p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p!r}")


def _check_us(name: str, us: int) -> None:
    # Floats would leak into simpy's clock and break integer time.
    if not isinstance(us, int) or isinstance(us, bool) or us < 0:
        raise ValueError(f"{name} must be a non-negative int of microseconds, got {us!r}")


@dataclass(frozen=True)
class NetworkConfig:
    """Baseline link behaviour; faults change it and `Network.heal` restores it."""

    min_latency_us: int = 200
    mean_jitter_us: int = 800  # mean of the exponential jitter added to the minimum
    loss: float = 0.0
    duplicate: float = 0.0

    def __post_init__(self) -> None:
        _check_us("min_latency_us", self.min_latency_us)
        _check_us("mean_jitter_us", self.mean_jitter_us)
        _check_probability("loss", self.loss)
        _check_probability("duplicate", self.duplicate)


class Meter:
    """How many messages a hold or a delay affected, and how many more it may (-1: any)."""

    __slots__ = ("label", "left", "used")

    def __init__(self, label: str, limit: int = 0) -> None:
        self.label = label
        self.left = limit if limit > 0 else -1
        self.used = 0

    def take(self) -> bool:
        """Count one more message if the limit allows it."""
        if self.left == 0:
            return False
        self.used += 1
        if self.left > 0:
            self.left -= 1
        return True


class _Link:
    """Mutable state of one directed link."""

    __slots__ = (
        "clog_meter",
        "clogged",
        "cut",
        "delay_meter",
        "delay_us",
        "dst",
        "duplicate",
        "extra_us",
        "held",
        "hold_meter",
        "hold_partitioned",
        "holding",
        "in_order",
        "loss",
        "partitioned",
        "random",
        "rng",
        "spike_meter",
        "spike_us",
        "src",
        "stream",
    )

    def __init__(self, src: int, dst: int, rng: Random, config: NetworkConfig) -> None:
        self.src = src
        self.dst = dst
        self.rng = rng
        self.random = rng.random  # bound once: drawn for every message
        self.cut = False  # manual one-way cut
        self.partitioned = False  # cut by the current partition
        self.clogged = False  # held by hand (clog)
        self.hold_partitioned = False  # held by the current partition (a holding one)
        self.holding = False  # either: what the hot path checks
        self.in_order = False  # release what is held in send order (else shuffled)
        self.held: list[tuple[int, object]] = []
        self.loss = config.loss
        self.duplicate = config.duplicate
        self.delay_us = 0  # a delay fault on this link
        self.spike_us = 0  # a delay spike on this link's node
        self.extra_us = 0  # delay_us + spike_us: what every latency draw adds
        self.stream = False  # a TCP-like stream (client RPCs): never duplicated
        # What counts (and may limit) the messages held by the clog, held by the partition,
        # delayed by a delay fault, delayed by a spike: None when nothing does.
        self.clog_meter: Meter | None = None
        self.hold_meter: Meter | None = None
        self.delay_meter: Meter | None = None
        self.spike_meter: Meter | None = None


class _Arrival:
    """A message on the wire: delivered when the world's clock reaches it (a queue item)."""

    __slots__ = ("dst", "mid", "msg", "net", "src")

    def __init__(self, net: Network, mid: int, src: int, dst: int, msg: object) -> None:
        self.net = net
        self.mid = mid
        self.src = src
        self.dst = dst
        self.msg = msg

    def __call__(self, _event: object) -> None:
        self.net._arrive(self.mid, self.src, self.dst, self.msg)


class Network:
    """Directed links between `nodes`; `deliver(src, dst, msg)` is called when a message arrives."""

    def __init__(
        self,
        env: Environment,
        streams: Streams,
        trace: Trace,
        nodes: Sequence[int],
        deliver: Deliver,
        config: NetworkConfig | None = None,
    ) -> None:
        self.nodes: tuple[int, ...] = tuple(sorted(set(nodes)))
        if len(self.nodes) != len(nodes):
            raise ValueError(f"node ids must be distinct, got {list(nodes)}")
        self.config = config if config is not None else NetworkConfig()
        self._kernel = env.kernel
        self._trace = trace
        self._deliver = deliver
        self._min_us = self.config.min_latency_us
        self._jitter_rate = 1.0 / self.config.mean_jitter_us if self.config.mean_jitter_us else 0.0
        # Built in sorted order, so iterating the dict is deterministic.
        self._links: dict[Link, _Link] = {
            (s, d): _Link(s, d, streams.get(f"net/{s}->{d}"), self.config)
            for s in self.nodes
            for d in self.nodes
            if s != d
        }
        self._streams = streams
        self.partition: str | None = None  # name of the partition in force
        self._next_id = 0
        self.sent = 0
        self.delivered = 0
        self.dropped = 0
        self.duplicated = 0
        self.held = 0

    # -- the hot path -----------------------------------------------------------------------

    def send(self, src: int, dst: int, msg: object) -> None:
        """Put `msg` on the link src->dst; its fate is traced under a fresh sequence id."""
        link = self._links.get((src, dst))
        if link is None:
            raise ValueError(f"no link {src}->{dst}: nodes are {list(self.nodes)}")
        self._next_id += 1
        mid = self._next_id
        self.sent += 1
        label = getattr(msg, "label", None)
        trace = self._trace
        # Trace.emit, inlined for the one event every message has.
        trace.count += 1
        trace.flat.extend((
            6, self._kernel.now, "net.send", mid, src, dst,
            str(label()) if label is not None else type(msg).__name__,
        ))
        if link.cut or link.partitioned:
            self.dropped += 1
            trace.emit("net.drop", mid, "cut")
            return
        if link.holding and self._hold(link):
            link.held.append((mid, msg))
            self.held += 1
            trace.emit("net.hold", mid)
            return
        if link.loss or link.duplicate:
            self._transmit(link, mid, msg)
            return
        # The healthy link, inlined: one latency draw, one scheduled arrival.
        delay = self._min_us + (self._extra(link) if link.extra_us else 0)
        if self._jitter_rate:
            # expovariate(rate) as random.Random computes it, without its call; rounded to whole
            # microseconds so simulated time stays an int.
            delay += int(-math.log(1.0 - link.random()) / self._jitter_rate + 0.5)
        self._kernel.call_after(delay, _Arrival(self, mid, src, dst, msg))

    def _transmit(self, link: _Link, mid: int, msg: object) -> None:
        if link.cut or link.partitioned:
            self.dropped += 1
            self._trace.emit("net.drop", mid, "cut")
            return
        rng = link.rng
        if link.loss and rng.random() < link.loss:
            self.dropped += 1
            self._trace.emit("net.drop", mid, "loss")
            return
        self._schedule(link, mid, msg)
        if (link.duplicate and not link.stream and getattr(msg, "duplicable", True)
                and rng.random() < link.duplicate):
            self.duplicated += 1
            self._trace.probes.hit("net.duplicated")
            self._trace.emit("net.dup", mid)
            self._schedule(link, mid, msg)

    def _schedule(self, link: _Link, mid: int, msg: object) -> None:
        delay = self._min_us + (self._extra(link) if link.extra_us else 0)
        if self._jitter_rate:
            delay += int(-math.log(1.0 - link.random()) / self._jitter_rate + 0.5)
        self._kernel.call_after(delay, _Arrival(self, mid, link.src, link.dst, msg))

    def _hold(self, link: _Link) -> bool:
        # Whether the clog or the holding partition takes this message, within its limit.
        if link.clogged and self._take(link.clog_meter):
            return True
        return link.hold_partitioned and self._take(link.hold_meter)

    def _extra(self, link: _Link) -> int:
        # The delay and the spike this message gets, each within its limit.
        extra = 0
        if link.delay_us and self._take(link.delay_meter):
            extra += link.delay_us
        if link.spike_us and self._take(link.spike_meter):
            extra += link.spike_us
        return extra

    def _take(self, meter: Meter | None) -> bool:
        if meter is None:
            return True
        if not meter.take():
            return False
        if meter.left == 0:
            self._trace.emit("net.spent", meter.label, meter.used)
        return True

    def _arrive(self, mid: int, src: int, dst: int, msg: object) -> None:
        self.delivered += 1
        trace = self._trace  # Trace.emit, inlined
        trace.count += 1
        trace.flat.extend((3, self._kernel.now, "net.deliver", mid))
        self._deliver(src, dst, msg)

    # -- faults -----------------------------------------------------------------------------

    def cut(self, src: int, dst: int) -> None:
        """Drop every message sent src->dst from now on (a one-way cut)."""
        self._link(src, dst).cut = True
        self._trace.emit("net.cut", src, dst)

    def uncut(self, src: int, dst: int) -> None:
        """Lift a one-way cut made by `cut` (a partition's cuts stay)."""
        self._link(src, dst).cut = False
        self._trace.emit("net.uncut", src, dst)

    def clog(self, src: int, dst: int, in_order: bool = False,
             meter: Meter | None = None) -> None:
        """Hold every message sent src->dst (as many as `meter` allows) until `unclog` or
        `heal`; then release them in send order (`in_order`) or shuffled."""
        link = self._link(src, dst)
        link.clogged = link.holding = True
        link.in_order = in_order
        link.clog_meter = meter
        if in_order:
            self._trace.emit("net.clog", src, dst, "in_order")
        else:
            self._trace.emit("net.clog", src, dst)

    def unclog(self, src: int, dst: int) -> None:
        """Lift a clog: release what the link held, unless a holding partition still holds it."""
        link = self._link(src, dst)
        link.clogged = False
        link.clog_meter = None
        self._trace.emit("net.unclog", src, dst)
        if not link.hold_partitioned:
            link.holding = False
            self._release(link)

    def set_loss(self, p: float, link: Link | None = None) -> None:
        """Drop each message with probability `p`, on one link or (None) on all."""
        _check_probability("loss", p)
        for state in self._select(link):
            state.loss = p
        self._trace.emit("net.loss", repr(p), *self._fields(link))

    def set_duplicate(self, p: float, link: Link | None = None) -> None:
        """Deliver each message twice with probability `p`, on one link or (None) on all."""
        _check_probability("duplicate", p)
        for state in self._select(link):
            state.duplicate = p
        self._trace.emit("net.duplicate", repr(p), *self._fields(link))

    def set_stream(self, node: int) -> None:
        """Make every link to and from `node` a stream: loss and delay, but no duplicates.

        A client's gRPC call travels on a TCP stream, which never hands a request over twice;
        Raft's own messages are left to the full treatment.
        """
        for (src, dst), state in self._links.items():
            if node in (src, dst):
                state.stream = True

    def set_extra_latency(self, us: int, link: Link | None = None,
                          meter: Meter | None = None) -> None:
        """Add `us` to every latency draw (as many as `meter` allows), on one link or (None)
        on all."""
        _check_us("extra latency", us)
        for state in self._select(link):
            state.delay_us = us
            state.delay_meter = meter if us else None
            state.extra_us = us + state.spike_us
        self._trace.emit("net.latency", us, *self._fields(link))

    def set_spike(self, node: int, us: int, meter: Meter | None = None) -> None:
        """Add `us` to every latency draw on the links from and to `node` (a delay spike of
        seconds: a congested or rerouted path; as many as `meter` allows), on top of any delay
        fault; 0 lifts it."""
        _check_us("spike", us)
        if node not in self.nodes:
            raise ValueError(f"no node {node}: nodes are {list(self.nodes)}")
        for (src, dst), state in self._links.items():
            if node in (src, dst):
                state.spike_us = us
                state.spike_meter = meter if us else None
                state.extra_us = state.delay_us + us
        self._trace.emit("net.spike", node, us)

    def apply_partition(self, name: str, cuts: Iterable[Link], hold: bool = False,
                        in_order: bool = False, meter: Meter | None = None) -> None:
        """Replace the current partition by `cuts`; manual one-way cuts are kept.

        With `hold`, the partition's links hold what is sent on them (as many as `meter`
        allows, over all of them) instead of dropping it, and release it (in send order or
        shuffled) when a later partition or `heal` frees them.
        """
        wanted = sorted(set(cuts))
        for src, dst in wanted:
            self._link(src, dst)  # validate before changing anything
        freed: list[_Link] = []
        for state in self._links.values():
            was_held = state.hold_partitioned
            state.partitioned = state.hold_partitioned = False
            state.hold_meter = None
            if was_held and not state.clogged:
                state.holding = False
                freed.append(state)
        for src, dst in wanted:
            state = self._links[(src, dst)]
            if hold:
                state.hold_partitioned = state.holding = True
                state.hold_meter = meter
                if not state.clogged:
                    state.in_order = in_order
            else:
                state.partitioned = True
        self.partition = name
        links = " ".join(f"{s}->{d}" for s, d in wanted)
        if hold:
            self._trace.emit("net.partition", name, links, "hold in_order" if in_order else "hold")
        else:
            self._trace.emit("net.partition", name, links)
        for state in freed:
            if not state.holding:  # held again by the new partition: it keeps what it has
                self._release(state)

    def heal(self) -> None:
        """No cuts, no clogs (held messages released); loss, duplication, latency as configured."""
        self._trace.emit("net.heal")
        self.partition = None
        clogged = []
        for state in self._links.values():
            state.cut = state.partitioned = False
            state.loss = self.config.loss
            state.duplicate = self.config.duplicate
            state.extra_us = state.delay_us = state.spike_us = 0
            state.clog_meter = state.hold_meter = state.delay_meter = state.spike_meter = None
            if state.holding:
                state.clogged = state.hold_partitioned = state.holding = False
                clogged.append(state)
        for state in clogged:
            self._release(state)

    # -- queries ----------------------------------------------------------------------------

    def is_cut(self, src: int, dst: int) -> bool:
        """Whether src->dst is cut, by hand or by the current partition."""
        link = self._link(src, dst)
        return link.cut or link.partitioned

    def reachable(self, src: int, dst: int) -> bool:
        """Whether a message sent now can arrive without waiting for a fault to lift."""
        if src == dst:
            return src in self.nodes
        link = self._link(src, dst)
        return not (link.cut or link.partitioned or link.holding or link.loss >= 1.0)

    def counters(self) -> dict[str, int]:
        """Message counts for summaries."""
        return {
            "sent": self.sent,
            "delivered": self.delivered,
            "dropped": self.dropped,
            "duplicated": self.duplicated,
            "held": self.held,
        }

    # -- helpers ----------------------------------------------------------------------------

    def _link(self, src: int, dst: int) -> _Link:
        link = self._links.get((src, dst))
        if link is None:
            raise ValueError(f"no link {src}->{dst}: nodes are {list(self.nodes)}")
        return link

    def _select(self, link: Link | None) -> Iterable[_Link]:
        return self._links.values() if link is None else (self._link(*link),)

    @staticmethod
    def _fields(link: Link | None) -> tuple[int | None, int | None]:
        return (None, None) if link is None else link

    def _release(self, link: _Link) -> None:
        held, link.held = link.held, []
        if not held:
            return
        if not link.in_order:
            # Each message then draws its own latency: the burst arrives reordered.
            self._trace.probes.sometimes(len(held) > 1, "net.held_released_shuffled")
            self._streams.get(f"net/{link.src}->{link.dst}/release").shuffle(held)
            for mid, msg in held:
                self._trace.emit("net.release", mid)
                self._transmit(link, mid, msg)
            return
        # A stream's buffer, flushed: one latency for the burst, delivered in send order (the
        # kernel runs events of the same time in the order they were scheduled).
        delay = self._min_us + (self._extra(link) if link.extra_us else 0)
        if self._jitter_rate:
            delay += int(-math.log(1.0 - link.random()) / self._jitter_rate + 0.5)
        for mid, msg in held:
            self._trace.emit("net.release", mid)
            if link.cut or link.partitioned:
                self.dropped += 1
                self._trace.emit("net.drop", mid, "cut")
            elif link.loss and link.rng.random() < link.loss:
                self.dropped += 1
                self._trace.emit("net.drop", mid, "loss")
            else:
                self._kernel.call_after(delay, _Arrival(self, mid, link.src, link.dst, msg))
