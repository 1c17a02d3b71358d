"""Scenario: everything a run depends on, as one frozen value that round-trips through JSON.

A scenario names the cluster, the workload, the whole fault schedule (every fault with its time
and targets), the planted bugs switched on and the root seed; `run_scenario` runs it and gives
the same trace digest in any process. `Scenario.from_seed` draws one in the swarm-testing way:
each seed switches whole fault kinds and workload features on or off, so that rare
combinations (only clock faults; only partitions and compactions; ...) get their turn.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from etcdcore import bugs as bugs_registry
from etcdcore.knobs import KNOBS, Knobs, buggify
from etcdcore.server.failpoints import REACHABLE
from etcdcore.server.raft_node import RaftTiming
from sim.cluster.config import RunConfig
from sim.cluster.liveness import LIVENESS_MODES
from sim.cluster.result import RunResult
from sim.cluster.workload import WorkloadConfig
from sim.harness.fault_mix import generate_faults
from sim.harness.runner import run
from sim.limits import (
    FAULT_VALUES,
    MAX_DIGITS,
    MAX_SCENARIO_BYTES,
    SCENARIO,
    Bound,
    HugeNumber,
    show,
)
from sim.world.faults import (
    ALL_KINDS,
    FAULT_KINDS,
    LEADER,
    MESSAGE_KINDS,
    PARTITION_KINDS,
    TARGETED_KINDS,
    Fault,
)
from sim.world.rng import Streams

__all__ = ["FORMAT", "SWARM_SIZES", "Scenario", "ScenarioError", "loads_json",
           "run_scenario"]

FORMAT = "etcdsim-scenario"
SWARM_SIZES = (1, 2, 3, 3, 4, 5, 5, 6, 7)  # cluster sizes a swarm seed draws from (3, 5 twice)
VERSION = 1
_S = 1_000_000
_PAIR = re.compile(r"\[\s+(-?\d+),\s+(-?\d+)\s+\]")


class ScenarioError(ValueError):
    """A scenario file or value that is not one: the message names the field."""


@dataclass(frozen=True)
class Scenario:
    """One run, completely: replaying it gives the same digest."""

    seed: int
    members: int = 3
    duration_us: int = 60 * _S
    timing: RaftTiming = field(default_factory=RaftTiming)
    workload: str = "etcd"  # "etcd" | "raft"
    mix: WorkloadConfig = field(default_factory=WorkloadConfig)
    proposals_per_sec: int = 100  # the raft workload's rate
    faults: tuple[Fault, ...] = ()
    bugs: frozenset[str] = frozenset()
    liveness_bound_us: int = 10 * _S
    knobs: Knobs = field(default_factory=Knobs)  # BUGGIFY: unusual-but-legal values
    liveness: str = "all"  # "all" | "quorum": who comes back at the heal (sim.cluster.liveness)

    # ---- running ------------------------------------------------------------------------------

    def to_config(self) -> RunConfig:
        """The runner's config for this scenario (its fault schedule given in full)."""
        return RunConfig(
            seed=self.seed, nodes=self.members, duration_us=self.duration_us,
            faults="default", workload=self.workload, proposals_per_sec=self.proposals_per_sec,
            clients=self.mix.clients, ops_per_sec=self.mix.rate, bugs=self.bugs,
            timing=self.timing, liveness_bound_us=self.liveness_bound_us,
            fault_schedule=self.faults, workload_mix=self.mix, knobs=self.knobs,
            liveness=self.liveness,
        )

    @property
    def heal_at_us(self) -> int:
        """When the faults stop."""
        return self.to_config().heal_at_us

    # ---- drawing ------------------------------------------------------------------------------

    @classmethod
    def from_seed(cls, seed: int, duration_us: int = 60 * _S, swarm: bool = True,
                  bugs: frozenset[str] = frozenset()) -> Scenario:
        """A scenario drawn from `seed`: with `swarm`, each fault kind and workload feature is
        on or off by the seed; without, every kind and feature is on (etcdsim run's mix)."""
        rng = Streams(seed).get("scenario")
        kinds: tuple[str, ...] = FAULT_KINDS
        mix = WorkloadConfig()
        knobs = Knobs()
        members = 3
        if swarm:
            chosen = tuple(k for k in FAULT_KINDS if rng.random() < 0.5)
            kinds = chosen or (rng.choice(FAULT_KINDS),)
            mix = _swarm_mix(rng)
            knobs = buggify(rng)
            # Every size from a lone member to seven, even sizes included (two members need
            # both for a quorum; four tolerate no more than three do).
            members = rng.choice(SWARM_SIZES)
        base = cls(seed=seed, members=members, duration_us=duration_us, mix=mix, bugs=bugs,
                   knobs=knobs)
        if swarm and Streams(seed).get("scenario/liveness").random() < 0.3:
            base = replace(base, liveness="quorum")
        schedule = generate_faults(Streams(seed).get("faults"), list(range(1, base.members + 1)),
                                   _S, base.heal_at_us, kinds=kinds)
        return replace(base, faults=tuple(schedule))

    @classmethod
    def from_config(cls, config: RunConfig) -> Scenario:
        """The scenario `run(config)` runs, with its fault schedule drawn out in full."""
        base = cls(seed=config.seed, members=config.nodes, duration_us=config.duration_us,
                   timing=config.timing, workload=config.workload,
                   mix=config.workload_mix or WorkloadConfig(clients=config.clients,
                                                             rate=float(config.ops_per_sec)),
                   proposals_per_sec=config.proposals_per_sec, bugs=config.bugs,
                   liveness_bound_us=config.liveness_bound_us, knobs=config.knobs,
                   liveness=config.liveness)
        if config.fault_schedule is not None:
            schedule = list(config.fault_schedule)
        elif config.faults == "default":
            # The same stream and arguments run() draws its schedule with.
            schedule = generate_faults(Streams(config.seed).get("faults"),
                                       list(range(1, config.nodes + 1)), _S, config.heal_at_us)
        else:
            schedule = []
        return replace(base, faults=tuple(schedule))

    # ---- JSON ---------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """A plain JSON object (what scenario.json holds)."""
        return {
            "format": FORMAT, "version": VERSION, "seed": self.seed, "members": self.members,
            "duration_us": self.duration_us, "timing": asdict(self.timing),
            "workload": self.workload, "mix": _mix_json(self.mix),
            "proposals_per_sec": self.proposals_per_sec,
            "faults": [f.to_json() for f in self.faults], "bugs": sorted(self.bugs),
            "liveness_bound_us": self.liveness_bound_us, "knobs": asdict(self.knobs),
            "liveness": self.liveness,
        }

    def dumps(self) -> str:
        """scenario.json's text (a pair of numbers, as `mix.skip` holds, on one line)."""
        text = json.dumps(self.to_json(), indent=1, sort_keys=False)
        return _PAIR.sub(r"[\1, \2]", text) + "\n"

    @classmethod
    def from_json(cls, obj: Any) -> Scenario:
        """Read what `to_json` wrote; ScenarioError naming the field that is wrong. Every
        number is held to its bound in sim.limits.SCENARIO, the table the command line's
        flags read too."""
        if not isinstance(obj, dict):
            raise ScenarioError("a scenario is a JSON object")
        if obj.get("format") != FORMAT:
            raise ScenarioError(f'"format" must be "{FORMAT}", got {show(obj.get("format"))}')
        if obj.get("version") != VERSION:
            raise ScenarioError(f'"version" must be {VERSION}, got {show(obj.get("version"))}')
        known = {f.name for f in fields(cls)} | {"format", "version"}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise ScenarioError(f"unknown field {show(unknown[0])}")
        seed = _int(obj, "seed")
        members = _int(obj, "members", default=3)
        duration = _int(obj, "duration_us", default=60 * _S)
        timing = _timing(obj)
        mix = _mix(obj)
        problem = mix.problem()
        if problem is not None:
            name, what = problem
            raise ScenarioError(f'"mix.{name}" {what}' if name else f'"mix": {what}')
        workload = obj.get("workload", "etcd")
        if workload not in ("etcd", "raft"):
            raise ScenarioError(f'"workload" must be "etcd" or "raft", got {show(workload)}')
        names = obj.get("bugs", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ScenarioError('"bugs" must be a list of names')
        try:
            bugs_registry.check_names(frozenset(names))
        except ValueError as exc:
            raise ScenarioError(f'"bugs": {_line(exc)}') from None
        knobs = _sub(obj, "knobs", Knobs, _knob_bound)
        base = cls(seed=seed, members=members, duration_us=duration, timing=timing,
                   workload=workload, mix=mix,
                   proposals_per_sec=_int(obj, "proposals_per_sec", default=100),
                   bugs=frozenset(names),
                   liveness_bound_us=_int(obj, "liveness_bound_us", default=10 * _S),
                   knobs=knobs, liveness=_choice(obj, "liveness", LIVENESS_MODES, "all"))
        faults_obj = obj.get("faults", [])
        if not isinstance(faults_obj, list):
            raise ScenarioError('"faults" must be a list')
        most = int(SCENARIO["faults"].high)
        if len(faults_obj) > most:
            raise ScenarioError(f'"faults" must hold at most {most} faults, got '
                                f"{len(faults_obj)}")
        heal = base.heal_at_us
        faults = tuple(_fault(f, i, members, heal) for i, f in enumerate(faults_obj))
        return replace(base, faults=faults)

    @classmethod
    def loads(cls, text: str) -> Scenario:
        """Read scenario.json's text."""
        if len(text) > MAX_SCENARIO_BYTES:
            raise ScenarioError(f"larger than a scenario can be ({MAX_SCENARIO_BYTES} bytes at "
                                "most)")
        return cls.from_json(loads_json(text))


def loads_json(text: str) -> Any:
    """JSON as scenario files are read: ScenarioError for text that is not JSON (NaN and
    Infinity included, which Python's reader would take), nested deeper than Python's reader
    goes, or holding an integer too long to be one a scenario could use (kept as a HugeNumber,
    so that the field it is given for is named)."""
    try:
        return json.loads(text, parse_int=_parse_int, parse_constant=_not_a_number)
    except json.JSONDecodeError as exc:
        raise ScenarioError(f"not JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise ScenarioError("not a scenario: nested too deeply") from None


def _parse_int(digits: str) -> int | HugeNumber:
    length = len(digits.lstrip("-"))
    return HugeNumber(length) if length > MAX_DIGITS else int(digits)


def _not_a_number(name: str) -> Any:
    raise ScenarioError(f"not JSON: {name} is not a JSON number")


def _line(exc: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(exc).split())


def run_scenario(scenario: Scenario) -> RunResult:
    """Run it: the same scenario gives the same digest in any process."""
    return run(scenario.to_config())


def _swarm_mix(rng: random.Random) -> WorkloadConfig:
    """Workload features on or off: each operation kind, serializable reads, read-heavy phases,
    clients pinned to their member, the rate."""
    def weight(default: int) -> int:
        return default if rng.random() < 0.7 else 0

    base = WorkloadConfig()
    mix = WorkloadConfig(
        clients=rng.choice((1, 2, 4, 4, 8)), rate=float(rng.choice((20, 50, 100, 100, 200))),
        keys=rng.choice((3, 10, 10, 50)), put=30, range_key=weight(20), range_prefix=weight(10),
        delete=weight(8), cas=weight(15), multi_txn=weight(10), compact=weight(1),
        serializable=rng.choice((0.0, 0.2, 0.5)),
        create=weight(base.create), cas_value=weight(base.cas_value),
        guarded_read=weight(base.guarded_read), compare_txn=weight(base.compare_txn),
        delete_put=weight(base.delete_put), read_heavy=rng.choice((0.0, 0.0, 0.2, 0.5, 1.0)),
        pinned=rng.choice((0.0, 0.25, 0.5, 0.75, 1.0)),
    )
    return mix


def _mix_json(mix: WorkloadConfig) -> dict[str, Any]:
    # What only a shrunk scenario sets stays out of the file while it is the default.
    out = asdict(mix)
    del out["skip"]
    if not mix.max_ops:
        del out["max_ops"]
    if mix.skip:
        out["skip"] = [list(pair) for pair in mix.skip]
    return out


def _mix(obj: dict[str, Any]) -> WorkloadConfig:
    """The "mix" object: numbers, and `skip`, a list of [client, operation] pairs."""
    value = obj.get("mix", {})
    if not isinstance(value, dict) or "skip" not in value:
        return _sub(obj, "mix", WorkloadConfig, _mix_bound)  # type: ignore[no-any-return]
    skip = value["skip"]
    if not isinstance(skip, list) or not all(
            isinstance(p, list) and len(p) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in p) for p in skip):
        raise ScenarioError('"mix.skip" must be a list of [client, operation] pairs of whole '
                            "numbers")
    most = SCENARIO["mix.skip"].high
    for _, n in skip:  # below 1, WorkloadConfig.problem says why
        if n > most:
            raise ScenarioError(f'"mix.skip": an operation number must be at most {most:.0f}, '
                                f"got {n}")
    mix: WorkloadConfig = _sub({"mix": {k: v for k, v in value.items() if k != "skip"}}, "mix",
                               WorkloadConfig, _mix_bound)
    return replace(mix, skip=tuple((int(c), int(n)) for c, n in skip))


def _mix_bound(key: str) -> Bound:
    return SCENARIO.get(f"mix.{key}", SCENARIO["mix.*"])


def _knob_bound(key: str) -> Bound:
    knob = KNOBS[key]
    return Bound(knob.low, knob.high, unit="µs" if key.endswith("_us") else "")


def _timing(obj: dict[str, Any]) -> RaftTiming:
    """The "timing" object: Raft's ticks, as etcd's flags would allow them."""
    timing: RaftTiming = _sub(obj, "timing", RaftTiming,
                              lambda key: SCENARIO[f"timing.{key}"])
    if timing.election_ticks <= timing.heartbeat_ticks:
        raise ScenarioError(
            f'"timing.election_ticks" must be more than "timing.heartbeat_ticks" (Raft '
            f"elects only once heartbeats are missed), got {timing.election_ticks} and "
            f"{timing.heartbeat_ticks}")
    election_us = timing.election_ticks * timing.tick_us
    if election_us > _MAX_ELECTION_US:
        raise ScenarioError(
            f'"timing": the election timeout (election_ticks x tick_us) must be at most '
            f"{_MAX_ELECTION_US} µs, as etcd's --election-timeout, got {election_us}")
    return timing


_MAX_ELECTION_US = 50 * _S  # etcd's maxElectionMs


def _choice(obj: dict[str, Any], name: str, choices: tuple[str, ...], default: str) -> str:
    value = obj.get(name, default)
    if value not in choices:
        raise ScenarioError(f'"{name}" must be one of {", ".join(choices)}, got {show(value)}')
    return str(value)


def _int(obj: dict[str, Any], name: str, default: int | None = None) -> int:
    """A whole-number field, held to its bound (sim.limits.SCENARIO)."""
    value = obj.get(name, default)
    problem = SCENARIO[name].problem(value)
    if problem is not None:
        raise ScenarioError(f'"{name}" {problem}')
    assert isinstance(value, int)
    return value


def _sub(obj: dict[str, Any], name: str, kind: type[Any],
         bound_of: Callable[[str], Bound]) -> Any:
    """An object of numbers (`kind`'s fields), each held to `bound_of(field)`."""
    value = obj.get(name, {})
    if not isinstance(value, dict):
        raise ScenarioError(f'"{name}" must be an object')
    known = {f.name for f in fields(kind)}
    for key in sorted(value):
        if key not in known:
            raise ScenarioError(f'"{name}.{show(key)[1:-1]}" is not a field of {name}')
        problem = bound_of(key).problem(value[key])
        if problem is not None:
            raise ScenarioError(f'"{name}.{key}" {problem}')
    try:
        return kind(**value)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f'"{name}": {_line(exc)}') from None


def _fault(obj: Any, i: int, members: int, heal_at_us: int) -> Fault:
    where = f'"faults"[{i}]'
    if not isinstance(obj, dict):
        raise ScenarioError(f"{where} must be an object")
    known = {f.name for f in fields(Fault)}
    unknown = sorted(set(obj) - known)
    if unknown:
        raise ScenarioError(f"{where}: unknown field {show(unknown[0])}")
    kind = obj.get("kind")
    if kind not in ALL_KINDS:
        raise ScenarioError(f"{where}.kind must be one of {', '.join(ALL_KINDS)}, got "
                            f"{show(kind)}")
    values: dict[str, Any] = {"kind": kind}
    for name in ("at_us", "node", "peer", "duration_us", "value", "count"):
        v = obj.get(name, 0)
        problem = SCENARIO[f"faults.{name}"].problem(v)
        if problem is not None:
            raise ScenarioError(f"{where}.{name} {problem}")
        values[name] = v
    if values["at_us"] >= heal_at_us:
        raise ScenarioError(
            f"{where}.at_us must be before the heal at {heal_at_us} µs, got {values['at_us']}: "
            "faults stop at the heal (the last 30% of the run, and at least "
            "liveness_bound_us, is quiet), so it would never strike")
    if values["count"] and kind not in MESSAGE_KINDS:
        raise ScenarioError(f"{where}.count applies only to {', '.join(MESSAGE_KINDS)}, "
                            f"not {kind}")
    for name in ("node", "peer"):
        if values[name] and not 1 <= values[name] <= members:
            raise ScenarioError(f"{where}.{name} must be a member (1..{members}), got "
                                f"{values[name]}")
    _check_fault_value(where, kind, values["value"])
    name_value = obj.get("name", "")
    if not isinstance(name_value, str) or len(name_value) > _MAX_NAME:
        raise ScenarioError(f"{where}.name must be a string of at most {_MAX_NAME} "
                            f"characters, got {show(name_value)}")
    _check_fault_name(where, kind, name_value)
    if kind in _DISK_FAULTS and not values["node"]:
        raise ScenarioError(f"{where}.node must name the member whose disk it strikes")
    values["name"] = name_value
    _check_fault_targets(where, kind, values, members)
    return Fault(**values)


_MAX_NAME = 255


def _check_fault_value(where: str, kind: str, value: int) -> None:
    """A fault's value, as its kind reads it (sim.limits.FAULT_VALUES); 0 if it reads none."""
    entry = FAULT_VALUES.get(kind)
    if entry is None:
        if value:
            raise ScenarioError(f"{where}.value must be 0: a {kind} takes no value, got {value}")
        return
    bound, meaning = entry
    problem = bound.problem(value)
    if problem is not None:
        raise ScenarioError(f"{where}.value ({meaning}) {problem}")


def _check_fault_name(where: str, kind: str, name: str) -> None:
    """A fault's name, as its kind reads it; "" if it reads none."""
    if kind in ("partition", "hold"):
        if name not in PARTITION_KINDS:
            raise ScenarioError(f"{where}.name must be one of {', '.join(PARTITION_KINDS)}, "
                                f"got {show(name)}")
    elif kind == "failpoint":
        if name not in REACHABLE:
            raise ScenarioError(f"{where}.name must be one of {', '.join(REACHABLE)}, got "
                                f"{show(name)}")
    elif kind == "disk_error":
        if name not in _DISK_OPS:
            raise ScenarioError(f"{where}.name must be the operation that fails, one of "
                                f"{', '.join(_DISK_OPS)}, got {show(name)}")
    elif kind == "disk_truncate_wal":
        if not name:
            raise ScenarioError(f'{where}.name must be the WAL file to cut, e.g. "wal/0.log"')
    elif kind in TARGETED_KINDS:
        if name not in ("", LEADER):
            raise ScenarioError(f'{where}.name must be "" or "{LEADER}", got {show(name)}')
    elif kind not in ("disk_bitflip", "disk_bad_sector") and name:
        raise ScenarioError(f'{where}.name must be "": a {kind} takes no name, got '
                            f"{show(name)}")


_DISK_OPS = ("read", "write", "fsync")


# Kinds that hit one member (`node`), and those that act on the link node -> peer.
_MEMBER_KINDS = ("crash", "failpoint", "pause", "disk_latency", "disk_stall", "disk_error",
                 "disk_corrupt", "disk_full", "clock_jump", "clock_drift", "disk_replace",
                 "disk_lost_writes", "disk_misdirect", "disk_bad_sector", "disk_truncate_wal",
                 "disk_bitflip", *TARGETED_KINDS)
_LINK_KINDS = ("cut", "clog")


def _check_fault_targets(where: str, kind: str, values: dict[str, Any], members: int) -> None:
    """What a fault hits must exist."""
    if kind in _MEMBER_KINDS and not values["node"]:
        raise ScenarioError(f"{where}.node must be a member (1..{members}), got 0")
    if kind in _LINK_KINDS:
        if members < 2:
            raise ScenarioError(f"{where}: a {kind} needs two members, the cluster has one")
        if not values["node"] or not values["peer"] or values["node"] == values["peer"]:
            raise ScenarioError(f"{where}: a {kind} needs two different members as node and "
                                f"peer, got {values['node']} and {values['peer']}")


_DISK_FAULTS = frozenset(
    {"disk_lost_writes", "disk_misdirect", "disk_bad_sector", "disk_truncate_wal",
     "disk_bitflip"})
