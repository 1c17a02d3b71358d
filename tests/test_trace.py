"""The trace digest names a run by its events' values alone."""

from __future__ import annotations

import pickle

from sim.cluster.config import RunConfig
from sim.harness.runner import run
from sim.world.trace import Trace


def _digest(*events: tuple[object, ...]) -> str:
    trace = Trace(lambda: 0)
    for time, kind, *fields in events:
        trace.now = lambda t=time: t  # type: ignore[misc]
        assert isinstance(kind, str)
        trace.emit(kind, *fields)
    return trace.digest()


def test_a_digest_depends_on_values_not_on_how_the_strings_were_made() -> None:
    built = "".join(["net.", "send"])  # equal to the literal, but a distinct, uninterned object
    assert built is not "net.send"  # noqa: F632  # the point: two objects, one value
    assert _digest((1, "net.send", 7)) == _digest((1, built, 7))
    shared = "x"
    assert _digest((1, shared), (2, shared)) == _digest((1, "x"), (2, "".join(["x"])))


def test_a_digest_tells_apart_values_that_print_alike() -> None:
    assert _digest((1, "a", 1)) != _digest((1, "a", True))
    assert _digest((1, "a", 1)) != _digest((1, "a", "1"))
    assert _digest((1, "a", None)) != _digest((1, "a", "None"))
    assert _digest((1, "a"), (2, "b")) != _digest((1, "a", 2, "b"))  # the same atoms, laid flat
    assert _digest((1, "é")) != _digest((1, "e"))


def test_events_read_back_as_recorded_and_grow_with_the_trace() -> None:
    clock = [5]
    trace = Trace(lambda: clock[0])
    trace.emit("a", 1, "x", None)
    assert trace.events == [(5, "a", 1, "x", None)]
    clock[0] = 9
    trace.emit("b")
    trace.emit("c", True)
    assert trace.events == [(5, "a", 1, "x", None), (9, "b"), (9, "c", True)]
    assert len(trace) == 3 and list(trace) == trace.events and trace.tail(1) == [(9, "c", True)]


def test_a_runs_trace_reads_as_a_list_of_events_and_crosses_processes_as_one() -> None:
    result = run(RunConfig(seed=2, duration_us=2_000_000, workload="raft", faults="none"))
    events = list(result.trace)
    assert len(result.trace) == result.events == len(events) > 0
    assert result.trace[0] == events[0] and result.trace[-3:] == events[-3:]
    assert events[0][1] == "node.start"
    copy = pickle.loads(pickle.dumps(result.trace))
    assert type(copy) is list and copy == events and result.trace == copy
