"""The world's event loop: simpy's events and bare callbacks in one order."""

from __future__ import annotations

from typing import Any

import pytest

from sim.world.kernel import Environment


def test_callbacks_and_simpy_events_at_one_time_run_in_the_order_they_were_scheduled() -> None:
    env = Environment()
    seen: list[str] = []
    env.kernel.call_after(5, lambda _: seen.append("a"))
    env.timeout(5).callbacks.append(lambda _: seen.append("b"))
    env.kernel.call_after(5, lambda _: seen.append("c"))
    env.kernel.call_after(3, lambda _: seen.append("early"))
    env.run()
    assert seen == ["early", "a", "b", "c"] and env.now == 5


def test_run_until_leaves_what_is_due_at_its_end_queued_and_sets_the_clock() -> None:
    env = Environment()
    seen: list[int] = []
    for t in (4, 10, 12):
        env.kernel.call_after(t, lambda _, t=t: seen.append(t))
    env.kernel.run_until(10)
    assert seen == [4] and env.now == 10
    env.kernel.run_until(8)  # never backwards
    assert env.now == 10
    env.kernel.run_until(11)
    assert seen == [4, 10] and env.now == 11 and env.peek() == 12


def test_call_first_goes_ahead_of_normal_events_now_as_a_process_start_does() -> None:
    env = Environment()
    seen: list[str] = []
    env.kernel.call_after(0, lambda _: seen.append("normal"))
    env.kernel.call_first(lambda _: seen.append("first"))

    def proc() -> Any:
        seen.append("process")
        yield env.timeout(1)

    env.process(proc())
    env.run()
    assert seen == ["first", "process", "normal"]


def test_a_failed_event_nobody_handles_stops_the_run_with_its_error() -> None:
    env = Environment()
    env.event().fail(ValueError("boom"))
    with pytest.raises(ValueError, match="boom"):
        env.kernel.run_until(10)


def test_simulated_time_stays_whole_microseconds() -> None:
    with pytest.raises(TypeError, match="whole microseconds"):
        Environment().timeout(1.5)
