"""Old Jepsen logs of a compare-and-set register, one event per ``jepsen.util`` line.

    INFO  jepsen.util - 1	:invoke	:cas	[2 0]

After ``jepsen.util -`` come the process (the client), the event type, ``:f`` and its value (EDN),
and, after a tab, an optional error (ignored), as Jepsen's ``op->str`` writes them. Time is the
line number. ``:read`` returns nil or an integer, ``:write v`` writes an integer, ``:cas [a b]``
sets the register to b if it holds a. A ``:fail :cas`` is an observation — the compare did not
hold and nothing changed — so it becomes an OK cas with result False. A ``:fail :read
:timed-out`` and every ``:info`` have unknown outcomes. Events of the ``:nemesis`` process are
skipped, and so are lines without ``jepsen.util -`` (other log output); a ``jepsen.util`` line
that is not an event is refused, with its line: nothing is skipped unread.
"""

from __future__ import annotations

import re
from typing import Any

from sim.lincheck.formats.edn_reader import EdnError, Keyword, read_edn
from sim.lincheck.formats.jsonl import Event, Invoke, Return, pair_events
from sim.lincheck.history import History, HistoryError

__all__ = ["MARKER", "parse"]

MARKER = "jepsen.util -"
MODEL_HINT = "cas-register"
# An event line: the process (a number, or a keyword such as :nemesis), the type, :f, the value;
# then, after a tab, an error.
_EVENT = re.compile(r"(\d+|:\S+)\s+:(\S+)\s+(\S+)(?:\s+(.*))?")  # of a stripped line
_KINDS = ("invoke", "ok", "fail", "info")
_OPS = ("read", "write", "cas")


def parse(text: str, source: str = "<string>") -> History:
    """Read the register events of a Jepsen log."""
    events: list[Event] = []
    for n, raw in enumerate(text.split("\n"), 1):
        at = raw.find(MARKER)
        if at < 0:
            continue
        ev = _event(raw[at + len(MARKER):].strip(), source, n)
        if ev is not None:
            events.append(ev)
    return pair_events(events, format="jepsen-log", source=source, model_hint=MODEL_HINT)


def _event(rest: str, source: str, n: int) -> Event | None:
    m = _EVENT.fullmatch(rest)
    if m is None:
        raise HistoryError(source, n, "a jepsen.util line that is not an event: expected "
                                      "'<process> :<type> :<f> <value>' after 'jepsen.util -'")
    process, kind, f, tail = m.groups()
    if process.startswith(":"):
        return None  # the nemesis: faults, not client operations
    if len(process) > 18:
        raise HistoryError(source, n, f"process of {len(process)} digits: at most 18")
    if kind not in _KINDS:
        raise HistoryError(
            source, n, f"unknown event kind :{kind[:40]} (expected :invoke, :ok, :fail or :info)"
        )
    if not f.startswith(":") or f[1:] not in _OPS:
        raise HistoryError(
            source, n,
            f"unknown operation {f[:40]} for jepsen-log (expected :read, :write or :cas)"
        )
    f = f[1:]
    shown = "nothing"
    value: Any = None
    if tail:
        text, _, _error = tail.partition("\t")  # op->str puts the error after a tab
        shown = text.strip()[:40]
        try:
            value = read_edn(text)
        except EdnError as e:
            raise HistoryError(source, n, f"bad value {shown!r}: {e.reason}") from None
    if kind == "invoke":
        return Invoke(n, n, process, f, _args(f, value, shown, source, n))
    if kind == "info" or (kind, f, value) == ("fail", "read", Keyword("timed-out")):
        return Return(n, n, process, "info", None, f)
    if kind == "fail":
        if f == "cas":
            return Return(n, n, process, "ok", False, f)
        return Return(n, n, process, "fail", None, f)
    if f == "read":
        if value is not None and not _is_int(value):
            raise HistoryError(source, n, f"a read returns nil or an integer, got {shown}")
        return Return(n, n, process, "ok", value, f)
    return Return(n, n, process, "ok", True if f == "cas" else None, f)


def _args(f: str, value: Any, shown: str, source: str, n: int) -> Any:
    if f == "read":
        return None
    if f == "write":
        if not _is_int(value):
            raise HistoryError(source, n, f":write takes an integer, got {shown}")
        return value
    if not (isinstance(value, tuple) and len(value) == 2 and all(_is_int(v) for v in value)):
        raise HistoryError(source, n, f":cas takes [expected new] integers, got {shown}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
