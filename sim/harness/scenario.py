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
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from etcdcore import bugs as bugs_registry
from etcdcore.knobs import Knobs, buggify
from etcdcore.server.failpoints import REACHABLE
from etcdcore.server.raft_node import RaftTiming
from sim.cluster.config import RunConfig
from sim.cluster.liveness import LIVENESS_MODES
from sim.cluster.result import RunResult
from sim.cluster.workload import WorkloadConfig
from sim.harness.fault_mix import generate_faults
from sim.harness.runner import run
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

__all__ = ["FORMAT", "SWARM_SIZES", "Scenario", "ScenarioError", "run_scenario"]

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
            clients=self.mix.clients, ops_per_sec=int(self.mix.rate), bugs=self.bugs,
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
        """Read what `to_json` wrote; ScenarioError naming the field that is wrong."""
        if not isinstance(obj, dict):
            raise ScenarioError("a scenario is a JSON object")
        if obj.get("format") != FORMAT:
            raise ScenarioError(f'"format" must be "{FORMAT}", got {obj.get("format")!r}')
        if obj.get("version") != VERSION:
            raise ScenarioError(f'"version" must be {VERSION}, got {obj.get("version")!r}')
        known = {f.name for f in fields(cls)} | {"format", "version"}
        unknown = sorted(set(obj) - known)
        if unknown:
            raise ScenarioError(f"unknown field {unknown[0]!r}")
        seed = _int(obj, "seed", 0)
        members = _int(obj, "members", 1, 9, default=3)
        duration = _int(obj, "duration_us", 1, 86_400 * _S, default=60 * _S)
        timing = _sub(obj, "timing", RaftTiming)
        mix = _mix(obj)
        problem = mix.problem()
        if problem is not None:
            name, what = problem
            raise ScenarioError(f'"mix.{name}" {what}' if name else f'"mix": {what}')
        workload = obj.get("workload", "etcd")
        if workload not in ("etcd", "raft"):
            raise ScenarioError(f'"workload" must be "etcd" or "raft", got {workload!r}')
        faults_obj = obj.get("faults", [])
        if not isinstance(faults_obj, list):
            raise ScenarioError('"faults" must be a list')
        faults = tuple(_fault(f, i, members) for i, f in enumerate(faults_obj))
        names = obj.get("bugs", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ScenarioError('"bugs" must be a list of names')
        try:
            bugs_registry.check_names(frozenset(names))
        except ValueError as exc:
            raise ScenarioError(f'"bugs": {exc}') from None
        knobs = _sub(obj, "knobs", Knobs)
        try:
            knobs.validate()
        except ValueError as exc:
            raise ScenarioError(f'"knobs": {exc}') from None
        return cls(seed=seed, members=members, duration_us=duration, timing=timing,
                   workload=workload, mix=mix,
                   proposals_per_sec=_int(obj, "proposals_per_sec", 0, default=100),
                   faults=faults, bugs=frozenset(names),
                   liveness_bound_us=_int(obj, "liveness_bound_us", 1, default=10 * _S),
                   knobs=knobs, liveness=_choice(obj, "liveness", LIVENESS_MODES, "all"))

    @classmethod
    def loads(cls, text: str) -> Scenario:
        """Read scenario.json's text."""
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScenarioError(f"not JSON: {exc.msg} at line {exc.lineno}") from None
        return cls.from_json(obj)


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
        return _sub(obj, "mix", WorkloadConfig)  # type: ignore[no-any-return]
    skip = value["skip"]
    if not isinstance(skip, list) or not all(
            isinstance(p, list) and len(p) == 2
            and all(isinstance(x, int) and not isinstance(x, bool) for x in p) for p in skip):
        raise ScenarioError('"mix.skip" must be a list of [client, operation] pairs of whole '
                            "numbers")
    mix: WorkloadConfig = _sub({"mix": {k: v for k, v in value.items() if k != "skip"}}, "mix",
                               WorkloadConfig)
    return replace(mix, skip=tuple((int(c), int(n)) for c, n in skip))


def _choice(obj: dict[str, Any], name: str, choices: tuple[str, ...], default: str) -> str:
    value = obj.get(name, default)
    if value not in choices:
        raise ScenarioError(f'"{name}" must be one of {", ".join(choices)}, got {value!r}')
    return str(value)


def _int(obj: dict[str, Any], name: str, low: int, high: int | None = None,
         default: int | None = None) -> int:
    value = obj.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ScenarioError(f'"{name}" must be a whole number, got {value!r}')
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ScenarioError(f'"{name}" must be {bound}, got {value}')
    return value


def _sub(obj: dict[str, Any], name: str, kind: type[Any]) -> Any:
    value = obj.get(name, {})
    if not isinstance(value, dict):
        raise ScenarioError(f'"{name}" must be an object')
    known = {f.name: f for f in fields(kind)}
    for key, item in value.items():
        if key not in known:
            raise ScenarioError(f'"{name}.{key}" is not a field of {name}')
        expected = type(getattr(kind(), key))
        if isinstance(item, bool) != (expected is bool) or not isinstance(item, (int, float)):
            raise ScenarioError(f'"{name}.{key}" must be a number, got {item!r}')
        if expected is int and not isinstance(item, int):
            raise ScenarioError(f'"{name}.{key}" must be a whole number, got {item!r}')
        if item < 0:
            raise ScenarioError(f'"{name}.{key}" must be >= 0, got {item!r}')
    try:
        return kind(**value)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f'"{name}": {exc}') from None


def _fault(obj: Any, i: int, members: int) -> Fault:
    where = f'"faults"[{i}]'
    if not isinstance(obj, dict):
        raise ScenarioError(f"{where} must be an object")
    known = {f.name for f in fields(Fault)}
    unknown = sorted(set(obj) - known)
    if unknown:
        raise ScenarioError(f"{where}: unknown field {unknown[0]!r}")
    kind = obj.get("kind")
    if kind not in ALL_KINDS:
        raise ScenarioError(f"{where}.kind must be one of {', '.join(ALL_KINDS)}, got {kind!r}")
    values: dict[str, Any] = {"kind": kind}
    for name in ("at_us", "node", "peer", "duration_us", "value", "count"):
        v = obj.get(name, 0)
        if not isinstance(v, int) or isinstance(v, bool):
            raise ScenarioError(f"{where}.{name} must be a whole number, got {v!r}")
        values[name] = v
    if values["at_us"] < 0 or values["duration_us"] < 0:
        raise ScenarioError(f"{where}: at_us and duration_us must be >= 0")
    if values["count"] < 0:
        raise ScenarioError(f"{where}.count (messages held or delayed) must be >= 0, got "
                            f"{values['count']}")
    if values["count"] and kind not in MESSAGE_KINDS:
        raise ScenarioError(f"{where}.count applies only to {', '.join(MESSAGE_KINDS)}, "
                            f"not {kind}")
    for name in ("node", "peer"):
        if values[name] and not 1 <= values[name] <= members:
            raise ScenarioError(f"{where}.{name} must be a member (1..{members}), got "
                                f"{values[name]}")
    name_value = obj.get("name", "")
    if not isinstance(name_value, str):
        raise ScenarioError(f"{where}.name must be a string")
    if kind == "partition" and name_value not in PARTITION_KINDS:
        raise ScenarioError(f"{where}.name must be one of {', '.join(PARTITION_KINDS)}")
    if kind == "failpoint" and name_value not in REACHABLE:
        raise ScenarioError(f"{where}.name must be one of {', '.join(REACHABLE)}")
    if kind in _DISK_FAULTS:
        _check_disk_fault(where, kind, values, name_value)
    values["name"] = name_value
    _check_fault_targets(where, kind, values, members)
    return Fault(**values)


# Kinds that hit one member (`node`), and those that act on the link node -> peer.
_MEMBER_KINDS = ("crash", "failpoint", "pause", "disk_latency", "disk_stall", "disk_error",
                 "disk_corrupt", "disk_full", "clock_jump", "clock_drift", "disk_replace",
                 "disk_lost_writes", "disk_misdirect", "disk_bad_sector", "disk_truncate_wal",
                 "disk_bitflip", *TARGETED_KINDS)
_LINK_KINDS = ("cut", "clog")


def _check_fault_targets(where: str, kind: str, values: dict[str, Any], members: int) -> None:
    """What a fault hits must exist, and its value must be one the world can take."""
    name, value = values["name"], values["value"]
    if kind in _MEMBER_KINDS and not values["node"]:
        raise ScenarioError(f"{where}.node must be a member (1..{members}), got 0")
    if kind in _LINK_KINDS:
        if members < 2:
            raise ScenarioError(f"{where}: a {kind} needs two members, the cluster has one")
        if not values["node"] or not values["peer"] or values["node"] == values["peer"]:
            raise ScenarioError(f"{where}: a {kind} needs two different members as node and "
                                f"peer, got {values['node']} and {values['peer']}")
    if kind in TARGETED_KINDS and name not in ("", LEADER):
        raise ScenarioError(f'{where}.name must be "" or "{LEADER}", got {name!r}')
    if kind == "hold" and name not in PARTITION_KINDS:
        raise ScenarioError(f"{where}.name must be one of {', '.join(PARTITION_KINDS)}")
    if kind in ("clog", "hold") and value not in (0, 1):
        raise ScenarioError(f"{where}.value must be 0 (release shuffled) or 1 (in order), "
                            f"got {value}")
    if kind in ("clock_drift", "clock_skew") and value <= -1_000_000:
        raise ScenarioError(f"{where}.value (drift in ppm) must be above -1000000, got {value}")
    if kind in ("loss", "duplicate") and not 0 <= value <= 1_000:
        raise ScenarioError(f"{where}.value (per mille) must be between 0 and 1000, got {value}")
    if kind in ("slow_apply", "delay_spike", "delay") and value < 0:
        raise ScenarioError(f"{where}.value (microseconds) must be >= 0, got {value}")
    if kind == "crash_loop" and not 1 <= value <= 1_000:
        raise ScenarioError(f"{where}.value (number of crashes) must be between 1 and 1000, "
                            f"got {value}")


_DISK_FAULTS = frozenset(
    {"disk_lost_writes", "disk_misdirect", "disk_bad_sector", "disk_truncate_wal",
     "disk_bitflip"})


def _check_disk_fault(where: str, kind: str, values: dict[str, Any], name: str) -> None:
    """The fields of the disk faults that lose, misplace, cut or flip bytes."""
    if not values["node"]:
        raise ScenarioError(f"{where}.node must name the member whose disk it strikes")
    if kind == "disk_misdirect" and not 1 <= values["value"] <= 1000:
        raise ScenarioError(f"{where}.value must be the appends misdirected per mille "
                            f"(1..1000), got {values['value']}")
    if kind == "disk_truncate_wal":
        if values["value"] < 1:
            raise ScenarioError(f"{where}.value must be the synced bytes to cut (>= 1), "
                                f"got {values['value']}")
        if not name:
            raise ScenarioError(f'{where}.name must be the WAL file to cut, e.g. "wal/0.log"')
