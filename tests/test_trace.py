"""The trace digest names a run by its events' values alone."""

from __future__ import annotations

from sim.trace import Trace


def _digest(*events: tuple[object, ...]) -> str:
    trace = Trace(lambda: 0)
    trace.events.extend(events)
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
    assert _digest((1, "a"), (2, "b")) != _digest((1, "a", 2, "b"))
    assert _digest((1, "é")) != _digest((1, "e"))
