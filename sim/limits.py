"""The bounds of every value a user can set: one table, read by scenario.json's loader
(sim.harness.scenario) and by the command line's flags (sim.commands.cli), so that the two accept
exactly the same values and refuse the others with the same words.

A run's cost grows with its rates, sizes and counts. Each bound keeps a value where a run still
ends in a time proportional to its duration, and turns a value that would hang or crash a run (a
tick of 0, a rate of 100,000 a second, a number of 5,000 digits) into one line that names it.
The knobs (etcdcore.knobs.KNOBS) carry their own ranges; no flag sets them.

This module imports nothing of the simulator: `etcdsim check` builds the command line too.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = [
    "FAULT_VALUES",
    "MAX_DIGITS",
    "MAX_RATE",
    "MAX_SCENARIO_BYTES",
    "MAX_WORKERS",
    "SCENARIO",
    "SWEEP",
    "Bound",
    "HugeNumber",
    "number_text",
    "parse_number",
    "show",
]

_S = 1_000_000
MAX_DIGITS = 30  # longer integers are refused as they are read, before Python converts them
# Client operations, or Raft proposals, per simulated second. The raft workload proposes one
# entry each 1/rate s; at 100,000 a second a run of one simulated second took minutes.
MAX_RATE = 10_000
MAX_WORKERS = 256  # sweep processes on this machine (never more than seeds)
MAX_SCENARIO_BYTES = 16 * 1024 * 1024  # a shrunk scenario with thousands of skips is ~100 KB
MAX_DURATION_US = 86_400 * _S  # a simulated day
MAX_COUNT = 1_000_000_000  # operations a client may draw, messages a fault may hold


class HugeNumber:
    """An integer of more than MAX_DIGITS digits, kept as its length only (a JSON reader's
    `parse_int` hands these out, so that validation names the field it was given for)."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"a number of {self.digits} digits"


def show(value: object, limit: int = 60) -> str:
    """`value` for a one-line message: its repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


def number_text(x: float) -> str:
    """A number as a flag takes it back: 100 for 100.0, 12.5 as it is."""
    if isinstance(x, int):
        return str(x)
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _scaled(x: float, scale: int) -> str:
    # Exact: 2**63 - 1 must not come out as 2**63, nor 1 µs as 1e-06 s.
    if scale == 1:
        return number_text(x)
    text = format(Decimal(x) / scale, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


@dataclass(frozen=True)
class Bound:
    """A number's legal range; `whole` if it must be an integer; `least_positive`: a positive
    value must be at least this (a rate of 0 means idle, of 1e-300 nothing sensible)."""

    low: float
    high: float
    whole: bool = True
    unit: str = ""
    least_positive: float = 0.0

    def span(self, scale: int = 1, unit: str | None = None) -> str:
        """'between 1 and 64' (with the unit), or with a least positive value, '0 or between
        ...'; `scale` divides the numbers, shown in `unit` (µs shown as seconds)."""
        unit = self.unit if unit is None else unit
        tail = f" {unit}" if unit else ""
        high = _scaled(self.high, scale)
        if self.least_positive:
            return f"0 or between {_scaled(self.least_positive, scale)} and {high}{tail}"
        return f"between {_scaled(self.low, scale)} and {high}{tail}"

    def problem(self, value: object, scale: int = 1, unit: str | None = None) -> str | None:
        """What is wrong with `value` ('must be between 1 and 64, got 0'), or None; `scale`
        and `unit` as in `span`."""
        kind = "a whole number" if self.whole else "a number"
        if isinstance(value, HugeNumber):
            return f"must be {self.span(scale, unit)}, got {value!r}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be {kind}, got {show(value)}"
        if self.whole and not isinstance(value, int):
            return f"must be {kind}, got {show(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be {self.span(scale, unit)}, got {value}"
        if (not self.low <= value <= self.high
                or (self.least_positive and 0 < value < self.least_positive)):
            return f"must be {self.span(scale, unit)}, got {_scaled(value, scale)}"
        return None


_US = "µs"

# scenario.json's fields, by their path in the file. `mix.*` stands for every weight of an
# operation kind not named here; `knobs.*` are etcdcore.knobs.KNOBS's.
SCENARIO: dict[str, Bound] = {
    "seed": Bound(0, 2**63 - 1),
    "members": Bound(1, 9),
    "duration_us": Bound(1, MAX_DURATION_US, unit=_US),
    "proposals_per_sec": Bound(0, MAX_RATE, unit="proposals per simulated second"),
    "liveness_bound_us": Bound(1, MAX_DURATION_US, unit=_US),
    # A tick of at least a millisecond, as etcd's --heartbeat-interval (in ms); etcd refuses an
    # election timeout above 50 s (checked with the ticks, in sim.harness.scenario).
    "timing.tick_us": Bound(1_000, 10 * _S, unit=_US),
    "timing.heartbeat_ticks": Bound(1, 1_000),
    "timing.election_ticks": Bound(2, 50_000),
    "mix.clients": Bound(1, 64),
    "mix.rate": Bound(0, MAX_RATE, whole=False, least_positive=0.001,
                      unit="operations per simulated second"),
    "mix.keys": Bound(2, 10_000),
    "mix.*": Bound(0, 1_000_000),  # an operation kind's weight
    "mix.serializable": Bound(0, 1, whole=False),
    "mix.read_heavy": Bound(0, 1, whole=False),
    "mix.pinned": Bound(0, 1, whole=False),
    "mix.timeout_us": Bound(1, 60 * _S, unit=_US),
    "mix.max_ops": Bound(0, MAX_COUNT),
    "mix.skip": Bound(1, MAX_COUNT),  # an operation's number
    "faults": Bound(0, 100_000),  # how many
    "faults.at_us": Bound(0, MAX_DURATION_US, unit=_US),
    "faults.duration_us": Bound(0, MAX_DURATION_US, unit=_US),
    "faults.value": Bound(-MAX_DURATION_US, MAX_DURATION_US),
    "faults.count": Bound(0, MAX_COUNT),
    "faults.node": Bound(0, 9),
    "faults.peer": Bound(0, 9),
}

# What a fault's `value` means to each kind that reads one, and its range (a kind not named
# reads none: its value must be 0).
_PER_MILLE = Bound(0, 1_000)
_DRIFT = Bound(-999_999, 1_000_000)  # ppm: a clock never stops nor runs backwards
_STEP = Bound(-MAX_DURATION_US, MAX_DURATION_US, unit=_US)
FAULT_VALUES: dict[str, tuple[Bound, str]] = {
    "loss": (_PER_MILLE, "per mille"),
    "duplicate": (_PER_MILLE, "per mille"),
    "delay": (Bound(0, MAX_DURATION_US, unit=_US), "microseconds"),
    "delay_spike": (Bound(0, MAX_DURATION_US, unit=_US), "microseconds"),
    "slow_apply": (Bound(0, 60 * _S, unit=_US), "microseconds more per entry"),
    "disk_latency": (Bound(1, 1_000), "factor on fsync latency"),
    "disk_error": (_PER_MILLE, "per mille of operations failing"),
    "clock_jump": (_STEP, "the step"),
    "clock_leap": (_STEP, "the step"),
    "clock_drift": (_DRIFT, "drift in ppm"),
    "clock_skew": (_DRIFT, "drift in ppm"),
    "clog": (Bound(0, 1), "0: release shuffled, 1: in order"),
    "hold": (Bound(0, 1), "0: release shuffled, 1: in order"),
    "failpoint": (Bound(0, 1), "0: crash, 1: pause"),
    "crash_loop": (Bound(1, 1_000), "number of crashes"),
    "disk_misdirect": (Bound(1, 1_000), "appends misdirected, per mille"),
    "disk_truncate_wal": (Bound(1, 2**31), "synced bytes to cut"),
}

# The command line's own (no scenario field): sweeps and shrinking.
SWEEP: dict[str, Bound] = {
    "seeds": Bound(1, 1_000_000),  # how many seeds a sweep runs (each is kept, with its result)
    "workers": Bound(1, MAX_WORKERS),
    "max_runs": Bound(1, 100_000),
}


def parse_number(text: str, whole: bool) -> int | float | HugeNumber | None:
    """A number as a flag gives it, read as scenario.json's JSON reads it: a whole number is
    written as one (digits, a sign); any other number may be written as a decimal ("12.5",
    "1e3"). None if the text is not such a number."""
    text = text.strip()
    if _WHOLE.fullmatch(text):
        digits = len(text.lstrip("+-"))
        return HugeNumber(digits) if digits > MAX_DIGITS else int(text)
    if whole or len(text) > 100:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return float(value) if value.is_finite() else None


_WHOLE = re.compile(r"[+-]?[0-9]+")
