"""Node lifecycle and local clocks: crash, restart, pause, resume, skew."""

from __future__ import annotations

from typing import Any

from etcdcore.env import Process
from sim.world.clock import LocalClock
from sim.world.node import NodeEnv, NodeStatus
from sim.world.world import World


class Recorder:
    """A tiny service: records what happens to it, with global times."""

    def __init__(self, env: NodeEnv, world: World, log: list[tuple[int, str]]) -> None:
        self.env = env
        self.log = log
        self.world = world
        env.set_receiver(lambda src, msg: log.append((world.now, f"msg {src} {msg}")))


def make_world(boot_extra: Any = None) -> tuple[World, list[tuple[int, str]]]:
    log: list[tuple[int, str]] = []
    holder: dict[str, World] = {}

    def boot(env: NodeEnv) -> Recorder:
        svc = Recorder(env, holder["w"], log)
        if boot_extra is not None:
            boot_extra(env, svc)
        return svc

    world = World(7, [1, 2], boot)
    holder["w"] = world
    for node in world.nodes.values():
        node.clock, node.mono = LocalClock(), LocalClock()  # steady clocks: exact times
    world.start_all()
    return world, log


def test_a_timer_fires_after_its_local_delay() -> None:
    world, log = make_world()
    env = world.nodes[1].service.env  # type: ignore[union-attr]
    env.call_later(1_000, lambda: log.append((world.now, "fired")))
    world.run_until(5_000)
    assert log == [(1_000, "fired")]


def test_a_paused_nodes_timers_freeze_and_keep_their_remaining_time() -> None:
    world, log = make_world()
    node = world.nodes[1]
    node.service.env.call_later(1_000, lambda: log.append((world.now, "fired")))  # type: ignore[union-attr]
    world.at(400, node.pause)
    world.at(10_000, node.resume)
    world.run_until(20_000)
    assert log == [(10_600, "fired")]


def test_messages_to_a_paused_node_wait_and_arrive_in_order_on_resume() -> None:
    world, log = make_world()
    node = world.nodes[2]
    node.pause()
    for i in range(3):
        node.deliver(1, f"m{i}")
    world.run_until(5_000)
    assert log == []
    world.at(6_000, node.resume)
    world.run_until(7_000)
    assert log == [(6_000, "msg 1 m0"), (6_000, "msg 1 m1"), (6_000, "msg 1 m2")]


def test_a_crash_discards_timers_processes_and_messages() -> None:
    world, log = make_world()
    node = world.nodes[1]
    env = node.service.env  # type: ignore[union-attr]

    def proc() -> Process:
        yield env.sleep(2_000)
        log.append((world.now, "process woke"))

    env.spawn(proc(), "p")
    env.call_later(2_000, lambda: log.append((world.now, "timer")))
    world.at(1_000, node.crash)
    world.run_until(5_000)
    assert node.status is NodeStatus.DOWN
    node.deliver(2, "late")
    assert log == []
    # The old incarnation's env is inert: it can no longer schedule or send.
    env.call_later(10, lambda: log.append((world.now, "ghost")))
    world.run_until(6_000)
    assert log == []


def test_a_restart_boots_a_new_incarnation_from_the_disk() -> None:
    seen: list[bytes] = []

    def boot(env: NodeEnv, svc: Recorder) -> None:
        if env.disk.exists("f"):
            seen.append(env.disk.read("f"))
        env.disk.append("f", b"x")
        env.spawn(sync(env), "sync")

    def sync(env: NodeEnv) -> Process:
        yield env.disk.fsync("f")

    world, _ = make_world(boot)
    node = world.nodes[1]
    world.run_until(10_000)
    first = node.incarnation
    node.crash()
    node.start()
    assert node.incarnation > first
    assert seen == [b"x"]


def test_a_process_waits_for_a_future() -> None:
    world, log = make_world()
    env = world.nodes[1].service.env  # type: ignore[union-attr]
    fut = env.future()

    def waiter() -> Process:
        value = yield fut
        log.append((world.now, f"got {value}"))

    env.spawn(waiter(), "w")
    world.at(3_000, lambda: fut.succeed("v"))
    world.run_until(4_000)
    assert log == [(3_000, "got v")]


def test_a_clock_step_moves_the_wall_clock_and_no_timer() -> None:
    # Go's timers and time.Since run on the monotonic clock: a step of the wall clock (NTP,
    # an operator) moves neither etcd's ticks nor its deadlines.
    world, log = make_world()
    node = world.nodes[1]
    env = node.service.env  # type: ignore[union-attr]
    env.call_later(10_000, lambda: log.append((world.now, "fired")))
    world.at(1_000, lambda: node.clock_jump(5_000))
    world.run_until(2_000)
    assert node.local_now() == 7_000 and env.now() == 2_000
    world.run_until(20_000)
    assert log == [(10_000, "fired")]


def test_a_fast_drifting_clock_fires_timers_early_in_global_time() -> None:
    world, log = make_world()
    node = world.nodes[1]
    node.clock_drift(100_000)  # 10% fast
    node.service.env.call_later(110_000, lambda: log.append((world.now, "fired")))  # type: ignore[union-attr]
    world.run_until(200_000)
    assert log == [(100_000, "fired")]


def test_local_clock_is_monotonic_under_drift_changes() -> None:
    clock = LocalClock(offset_us=50, drift_ppm=-20_000)
    readings = []
    for t in range(0, 100_000, 7_000):
        if t == 35_000:
            clock.set_drift(t, 30_000)
        readings.append(clock.local(t))
    assert readings == sorted(readings)
    assert clock.global_at(clock.local(70_000), 50_000) == 70_000


def test_nodes_start_with_their_own_offset_and_a_small_drift() -> None:
    world = World(7, [1, 2, 3], lambda env: None)
    clocks = [world.nodes[i].clock for i in (1, 2, 3)]
    assert len({c.local(0) for c in clocks}) == 3
    assert all(-100 <= c.drift_ppm <= 100 for c in clocks)
    again = World(7, [1, 2, 3], lambda env: None)
    assert [again.nodes[i].clock.local(5_000_000) for i in (1, 2, 3)] == [
        c.local(5_000_000) for c in clocks]


def test_a_clock_step_while_paused_moves_no_frozen_timer_either() -> None:
    world, log = make_world()
    env = world.nodes[1].service.env  # type: ignore[union-attr]
    node = world.nodes[1]
    env.call_later(1_000_000, lambda: log.append((world.now, "fired")))
    node.clock_jump(-5_000_000)
    world.run_until(200_000)
    node.pause()
    node.clock_jump(5_000_000)
    world.run_until(300_000)
    node.resume()
    world.run_until(10_000_000)
    assert log == [(1_100_000, "fired")]  # 1 s of running time, plus the 0.1 s paused
