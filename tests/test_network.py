"""The simulated network: latency, reordering, loss, duplication, clogs, cuts and the trace."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
import simpy

from sim.world.kernel import Environment
from sim.world.network import Network, NetworkConfig
from sim.world.partitions import halves, isolate
from sim.world.rng import Streams
from sim.world.trace import Trace

NODES = (1, 2, 3)


@dataclass
class World:
    env: simpy.Environment
    trace: Trace
    net: Network
    got: list[tuple[int, int, int, object]]  # (time, src, dst, msg)

    def run(self, until: int | None = None) -> None:
        self.env.run(until=until)

    def payloads(self, src: int, dst: int) -> list[object]:
        return [m for _, s, d, m in self.got if (s, d) == (src, dst)]

    def kinds(self) -> Counter[object]:
        return Counter(event[1] for event in self.trace)


def world(
    seed: int = 1,
    nodes: tuple[int, ...] = NODES,
    config: NetworkConfig | None = None,
    streams: Streams | None = None,
) -> World:
    env = Environment()

    def now() -> int:
        # The network must keep simulated time integral; a float here fails the test.
        t = env.now
        assert isinstance(t, int)
        return t

    trace = Trace(now)
    got: list[tuple[int, int, int, object]] = []

    def deliver(src: int, dst: int, msg: object) -> None:
        got.append((now(), src, dst, msg))

    net = Network(env, streams or Streams(seed), trace, nodes, deliver, config)
    return World(env, trace, net, got)


def send_spaced(w: World, src: int, dst: int, count: int, gap_us: int = 100) -> None:
    """Send messages 0..count-1 on src->dst, one every `gap_us`."""

    def sender() -> simpy.events.ProcessGenerator:
        for i in range(count):
            w.net.send(src, dst, i)
            yield w.env.timeout(gap_us)

    w.env.process(sender())


class Labelled:
    def label(self) -> str:
        return "append(term=3)"


# -- latency and reordering ------------------------------------------------------------------


def test_a_message_arrives_no_sooner_than_the_minimum_latency_in_integer_time() -> None:
    w = world(config=NetworkConfig(min_latency_us=500, mean_jitter_us=300))
    for i in range(200):
        w.net.send(1, 2, i)
    w.run()
    assert len(w.got) == 200
    times = [t for t, *_ in w.got]
    assert all(t >= 500 for t in times)
    assert max(times) > 500  # the jitter is not always zero


def test_latency_draws_reorder_messages_on_a_link() -> None:
    w = world()
    send_spaced(w, 1, 2, 100, gap_us=100)
    w.run()
    order = w.payloads(1, 2)
    assert sorted(order, key=int) == list(range(100))  # type: ignore[arg-type]
    assert order != list(range(100))


def test_without_jitter_a_link_keeps_send_order() -> None:
    w = world(config=NetworkConfig(mean_jitter_us=0))
    send_spaced(w, 1, 2, 50, gap_us=1)
    w.run()
    assert w.payloads(1, 2) == list(range(50))
    assert all(t - i == 200 for i, (t, *_) in enumerate(w.got))


def test_extra_latency_delays_every_message_then_goes_away_on_heal() -> None:
    w = world()
    w.net.set_extra_latency(50_000)
    for i in range(50):
        w.net.send(2, 3, i)
    w.run()
    assert min(t for t, *_ in w.got) >= 50_200
    w.net.heal()
    start = w.env.now
    w.net.send(2, 3, "after")
    w.run()
    assert w.got[-1][0] - start < 50_000


def test_extra_latency_on_one_link_leaves_the_others_alone() -> None:
    w = world(config=NetworkConfig(mean_jitter_us=0))
    w.net.set_extra_latency(7_000, link=(1, 2))
    w.net.send(1, 2, "slow")
    w.net.send(2, 1, "fast")
    w.run()
    assert [(t, m) for t, _, _, m in w.got] == [(200, "fast"), (7_200, "slow")]


# -- cuts ------------------------------------------------------------------------------------


def test_a_cut_link_drops_every_message() -> None:
    w = world()
    w.net.cut(1, 2)
    for i in range(100):
        w.net.send(1, 2, i)
    w.run()
    assert w.payloads(1, 2) == []
    assert w.net.dropped == 100
    assert [e[3] for e in w.trace if e[1] == "net.drop"] == ["cut"] * 100


def test_a_one_way_cut_leaves_the_other_direction_open() -> None:
    w = world()
    w.net.cut(1, 2)
    for i in range(20):
        w.net.send(1, 2, i)
        w.net.send(2, 1, i)
    w.run()
    assert w.payloads(1, 2) == []
    assert sorted(w.payloads(2, 1), key=int) == list(range(20))  # type: ignore[arg-type]
    assert w.net.is_cut(1, 2) and not w.net.is_cut(2, 1)
    assert not w.net.reachable(1, 2) and w.net.reachable(2, 1)


def test_uncut_reopens_a_link() -> None:
    w = world()
    w.net.cut(1, 2)
    w.net.send(1, 2, "lost")
    w.net.uncut(1, 2)
    w.net.send(1, 2, "kept")
    w.run()
    assert w.payloads(1, 2) == ["kept"]


def test_a_partition_cuts_exactly_its_links() -> None:
    w = world(nodes=(1, 2, 3, 4, 5))
    cuts = isolate(w.net.nodes, 3)
    w.net.apply_partition("isolate", cuts)
    for s in w.net.nodes:
        for d in w.net.nodes:
            if s != d:
                assert w.net.is_cut(s, d) == ((s, d) in cuts)
                w.net.send(s, d, (s, d))
    w.run()
    delivered = {m for *_, m in w.got}
    assert delivered == {(s, d) for s in w.net.nodes for d in w.net.nodes if s != d} - set(cuts)
    assert ("net.partition", "isolate", "1->3 2->3 3->1 3->2 3->4 3->5 4->3 5->3") in {
        e[1:] for e in w.trace
    }


def test_a_new_partition_replaces_the_old_one_but_keeps_manual_cuts() -> None:
    w = world()
    w.net.cut(2, 3)
    w.net.apply_partition("first", [(1, 2), (2, 1)])
    w.net.apply_partition("second", [(1, 3)])
    assert not w.net.is_cut(1, 2) and not w.net.is_cut(2, 1)
    assert w.net.is_cut(1, 3)
    assert w.net.is_cut(2, 3)
    assert w.net.partition == "second"


def test_a_partition_over_an_unknown_link_is_rejected_without_a_change() -> None:
    w = world()
    w.net.apply_partition("p", [(1, 2)])
    with pytest.raises(ValueError, match="no link 1->9"):
        w.net.apply_partition("bad", [(2, 1), (1, 9)])
    assert w.net.is_cut(1, 2) and not w.net.is_cut(2, 1)


def test_sending_on_an_unknown_link_is_an_error() -> None:
    w = world()
    with pytest.raises(ValueError, match="no link 1->4"):
        w.net.send(1, 4, "x")
    with pytest.raises(ValueError, match="no link 2->2"):
        w.net.send(2, 2, "x")


# -- clogs -----------------------------------------------------------------------------------


def test_a_clog_holds_messages_then_delivers_them_all_when_lifted() -> None:
    w = world()
    w.net.clog(1, 2)
    assert not w.net.reachable(1, 2)
    for i in range(30):
        w.net.send(1, 2, i)
    w.net.send(2, 1, "open")
    w.run(until=1_000_000)
    assert w.payloads(1, 2) == []
    assert w.payloads(2, 1) == ["open"]
    assert w.net.held == 30
    w.net.unclog(1, 2)
    w.run()
    assert sorted(w.payloads(1, 2), key=int) == list(range(30))  # type: ignore[arg-type]
    assert all(t >= 1_000_200 for t, s, *_ in w.got if s == 1)  # fresh latencies from unclog


def release_order(seed: int) -> list[object]:
    w = world(seed=seed, config=NetworkConfig(mean_jitter_us=0))
    w.net.clog(1, 2)
    for i in range(10):
        w.net.send(1, 2, i)
    w.net.unclog(1, 2)
    w.run()
    return w.payloads(1, 2)


def test_a_clog_releases_held_messages_in_a_shuffled_order() -> None:
    # Without jitter the delivery order is the release order, so it shows the shuffle alone.
    orders = [release_order(seed) for seed in range(5)]
    assert all(sorted(o, key=int) == list(range(10)) for o in orders)  # type: ignore[arg-type]
    assert any(o != list(range(10)) for o in orders)
    assert release_order(3) == release_order(3)


def test_a_cut_outranks_a_clog() -> None:
    w = world()
    w.net.clog(1, 2)
    w.net.send(1, 2, "held")
    w.net.cut(1, 2)
    w.net.send(1, 2, "cut")
    w.net.unclog(1, 2)
    w.run()
    assert w.payloads(1, 2) == []
    drops = [e for e in w.trace if e[1] == "net.drop"]
    assert [(e[2], e[3]) for e in drops] == [(2, "cut"), (1, "cut")]


def test_a_clog_released_in_order_delivers_its_backlog_at_once_in_send_order() -> None:
    w = world()  # with jitter: each message alone would be reordered
    w.net.clog(1, 2, in_order=True)
    for i in range(30):
        w.net.send(1, 2, i)
    w.run(until=2_000_000)
    w.net.unclog(1, 2)
    w.run()
    assert w.payloads(1, 2) == list(range(30))
    assert len({t for t, s, *_ in w.got if s == 1}) == 1  # one burst, one arrival time
    assert all(t >= 2_000_200 for t, s, *_ in w.got if s == 1)


# -- holding partitions ----------------------------------------------------------------------


def test_a_holding_partition_keeps_what_crosses_it_and_delivers_it_when_it_ends() -> None:
    w = world(nodes=(1, 2, 3, 4, 5))
    cuts = isolate(w.net.nodes, 1)
    w.net.apply_partition("isolate", cuts, hold=True, in_order=True)
    assert not w.net.reachable(1, 2) and not w.net.is_cut(1, 2)  # held, not cut
    for i in range(20):
        w.net.send(1, 2, i)
        w.net.send(3, 1, i)
    w.net.send(2, 3, "inside")
    w.run(until=3_000_000)  # longer than an election timeout
    assert w.payloads(1, 2) == [] and w.payloads(3, 1) == []
    assert w.payloads(2, 3) == ["inside"]
    assert w.net.dropped == 0 and w.net.held == 40
    w.net.apply_partition("none", [])
    w.run()
    assert w.payloads(1, 2) == list(range(20)) and w.payloads(3, 1) == list(range(20))
    assert all(t >= 3_000_200 for t, s, d, _ in w.got if 1 in (s, d))


def test_a_holding_partition_released_shuffled_delivers_everything_in_another_order() -> None:
    def released(seed: int) -> list[object]:
        w = world(seed=seed, config=NetworkConfig(mean_jitter_us=0))
        w.net.apply_partition("halves", [(1, 2), (2, 1)], hold=True)
        for i in range(10):
            w.net.send(1, 2, i)
        w.net.heal()
        w.run()
        return w.payloads(1, 2)

    orders = [released(seed) for seed in range(5)]
    assert all(sorted(o, key=int) == list(range(10)) for o in orders)  # type: ignore[arg-type]
    assert any(o != list(range(10)) for o in orders)
    assert released(2) == released(2)


def test_a_link_held_by_the_next_partition_too_keeps_its_backlog() -> None:
    w = world()
    w.net.apply_partition("first", [(1, 2), (1, 3)], hold=True)
    w.net.send(1, 2, "a")
    w.net.send(1, 3, "b")
    w.net.apply_partition("second", [(1, 2)], hold=True)  # frees 1->3 only
    w.run()
    assert w.payloads(1, 3) == ["b"] and w.payloads(1, 2) == []
    w.net.apply_partition("cutting", [(1, 2)])  # a cut replaces the hold: the backlog is lost
    w.run()
    assert w.payloads(1, 2) == []
    assert [e[3] for e in w.trace if e[1] == "net.drop"] == ["cut"]


def test_a_clog_outlives_a_holding_partition_on_the_same_link() -> None:
    w = world()
    w.net.clog(1, 2)
    w.net.apply_partition("p", [(1, 2)], hold=True)
    w.net.send(1, 2, "x")
    w.net.apply_partition("none", [])
    w.run()
    assert w.payloads(1, 2) == []  # still clogged
    w.net.unclog(1, 2)
    w.run()
    assert w.payloads(1, 2) == ["x"]


# -- delay spikes ----------------------------------------------------------------------------


def test_a_delay_spike_slows_every_link_of_its_node_on_top_of_a_delay() -> None:
    w = world(config=NetworkConfig(mean_jitter_us=0))
    w.net.set_extra_latency(1_000)
    w.net.set_spike(1, 2_000_000)
    for src, dst in ((1, 2), (3, 1), (2, 3)):
        w.net.send(src, dst, (src, dst))
    w.run()
    assert {m: t for t, _, _, m in w.got} == {(2, 3): 1_200, (1, 2): 2_001_200,
                                              (3, 1): 2_001_200}
    w.net.set_spike(1, 0)  # the delay fault stays
    w.net.send(1, 2, "after")
    start = w.env.now
    w.run()
    assert w.got[-1][0] - start == 1_200
    w.net.heal()
    w.net.set_spike(2, 500)
    with pytest.raises(ValueError, match="no node 9"):
        w.net.set_spike(9, 1)


# -- loss and duplication --------------------------------------------------------------------


def test_loss_drops_roughly_the_given_share() -> None:
    w = world(config=NetworkConfig(loss=0.3))
    for i in range(4000):
        w.net.send(1, 3, i)
    w.run()
    share = w.net.dropped / 4000
    assert 0.26 < share < 0.34
    assert w.net.delivered + w.net.dropped == 4000


def test_loss_set_on_one_link_leaves_the_others_alone() -> None:
    w = world()
    w.net.set_loss(1.0, link=(1, 2))
    for i in range(50):
        w.net.send(1, 2, i)
        w.net.send(1, 3, i)
    w.run()
    assert w.payloads(1, 2) == []
    assert len(w.payloads(1, 3)) == 50
    assert not w.net.reachable(1, 2)


def test_duplication_delivers_twice() -> None:
    w = world(config=NetworkConfig(duplicate=1.0))
    for i in range(20):
        w.net.send(2, 1, i)
    w.run()
    assert Counter(w.payloads(2, 1)) == {i: 2 for i in range(20)}
    assert w.net.duplicated == 20
    assert w.net.delivered == 40
    kinds = w.kinds()
    assert kinds["net.dup"] == 20 and kinds["net.deliver"] == 40


def test_set_duplicate_for_all_links_overrides_each_link() -> None:
    w = world()
    w.net.set_duplicate(0.5, link=(1, 2))
    w.net.set_duplicate(0.0)
    for i in range(50):
        w.net.send(1, 2, i)
    w.run()
    assert w.net.duplicated == 0


def test_probabilities_and_latencies_are_checked() -> None:
    w = world()
    with pytest.raises(ValueError, match="probability"):
        w.net.set_loss(1.5)
    with pytest.raises(ValueError, match="probability"):
        NetworkConfig(duplicate=-0.1)
    with pytest.raises(ValueError, match="int of microseconds"):
        NetworkConfig(min_latency_us=1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="int of microseconds"):
        w.net.set_extra_latency(-1)


# -- heal ------------------------------------------------------------------------------------


def test_heal_restores_every_link() -> None:
    w = world(nodes=(1, 2, 3, 4))
    w.net.apply_partition("halves", [(1, 2), (2, 1), (3, 4)])
    w.net.cut(4, 1)
    w.net.clog(2, 3)
    w.net.send(2, 3, "held")
    w.net.set_loss(1.0)
    w.net.set_duplicate(1.0, link=(3, 1))
    w.net.set_extra_latency(1_000_000)
    w.net.set_spike(3, 1_000_000)
    w.net.apply_partition("held", [(4, 2)], hold=True)
    w.net.send(4, 2, "held too")
    w.net.heal()
    assert w.net.partition is None
    links = [(s, d) for s in w.net.nodes for d in w.net.nodes if s != d]
    assert all(w.net.reachable(s, d) and not w.net.is_cut(s, d) for s, d in links)
    for link in links:
        w.net.send(*link, link)
    w.run()
    assert Counter(m for *_, m in w.got) == Counter(["held", "held too", *links])
    assert max(t for t, *_ in w.got) < 1_000_000
    assert w.kinds()["net.heal"] == 1


def test_heal_keeps_the_configured_loss() -> None:
    w = world(config=NetworkConfig(loss=1.0))
    w.net.set_loss(0.0)
    w.net.heal()
    w.net.send(1, 2, "x")
    w.run()
    assert w.got == []


# -- the trace -------------------------------------------------------------------------------


def chaotic_run(seed: int, streams: Streams | None = None) -> World:
    """Traffic on every link under every kind of fault, lifted at the end."""
    w = world(seed=seed, nodes=(1, 2, 3, 4, 5), streams=streams)
    nodes = w.net.nodes
    faults = Streams(seed).get("faults")

    def traffic() -> simpy.events.ProcessGenerator:
        for i in range(400):
            src, dst = faults.sample(nodes, 2)
            w.net.send(src, dst, Labelled() if i % 7 == 0 else i)
            yield w.env.timeout(faults.randrange(0, 300))

    def nemesis() -> simpy.events.ProcessGenerator:
        for _ in range(12):
            yield w.env.timeout(5_000)
            w.net.apply_partition("halves", halves(nodes, faults))
            w.net.clog(*faults.sample(nodes, 2), in_order=faults.random() < 0.5)
            w.net.set_loss(0.2, link=(1, 2))
            w.net.set_duplicate(0.3)
            yield w.env.timeout(5_000)
            w.net.unclog(*faults.sample(nodes, 2))
            w.net.apply_partition("held", halves(nodes, faults), hold=True,
                                  in_order=faults.random() < 0.5)
            yield w.env.timeout(2_000)
            w.net.heal()

    w.env.process(traffic())
    w.env.process(nemesis())
    w.run()
    w.net.heal()
    w.run()
    return w


def test_every_message_fate_is_in_the_trace() -> None:
    w = chaotic_run(seed=7)
    sent = {e[2]: e for e in w.trace if e[1] == "net.send"}
    assert list(sent) == list(range(1, 401))
    fates: dict[object, list[str]] = {mid: [] for mid in sent}
    for e in w.trace:
        if e[1] in ("net.drop", "net.hold", "net.release", "net.dup", "net.deliver"):
            fates[e[2]].append(str(e[1]))
    shapes = Counter(tuple(f) for f in fates.values())
    allowed = {
        ("net.deliver",),
        ("net.drop",),
        ("net.dup", "net.deliver", "net.deliver"),
        ("net.hold", "net.release", "net.deliver"),
        ("net.hold", "net.release", "net.drop"),
        ("net.hold", "net.release", "net.dup", "net.deliver", "net.deliver"),
    }
    assert set(shapes) <= allowed
    # The run exercises every fate, so this test can tell a missing one.
    assert {"net.drop", "net.hold", "net.dup"} <= {k for f in fates.values() for k in f}
    kinds = w.kinds()
    assert kinds["net.deliver"] == w.net.delivered == len(w.got)
    assert kinds["net.drop"] == w.net.dropped
    assert kinds["net.dup"] == w.net.duplicated
    assert kinds["net.hold"] == w.net.held
    assert w.net.sent == 400
    assert w.net.delivered + w.net.dropped == w.net.sent + w.net.duplicated
    labels = {e[5] for e in sent.values()}
    assert labels == {"int", "append(term=3)"}


def test_same_seed_same_trace() -> None:
    assert chaotic_run(seed=11).trace.digest() == chaotic_run(seed=11).trace.digest()
    assert chaotic_run(seed=11).trace.digest() != chaotic_run(seed=12).trace.digest()


def test_another_stream_consumer_does_not_change_a_links_draws() -> None:
    plain = world(seed=5, nodes=(1, 2))
    crowded_streams = Streams(5)
    crowded_streams.get("disk/1").random()
    crowded_streams.get("net/2->1").random()
    crowded = world(nodes=(1, 2, 3, 4), streams=crowded_streams)
    for w in (plain, crowded):
        w.net.set_loss(0.2)
        for i in range(200):
            w.net.send(1, 2, i)
            if w is crowded:
                w.net.send(3, 2, i)
                w.net.send(2, 1, i)
        w.run()
    assert len(plain.got) > 100
    assert [(t, m) for t, s, _, m in crowded.got if s == 1] == [(t, m) for t, _, _, m in plain.got]
