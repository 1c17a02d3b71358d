"""The simulated disk: what survives a crash, when fsync completes, and what faults do."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable

import pytest
import simpy

from etcdcore.env import DiskError, DiskFullError
from sim.world.disk import DiskConfig, SimDisk
from sim.world.kernel import Environment
from sim.world.trace import Trace

FsyncResults = list[tuple[int, DiskError | None]]


def make_disk(
    seed: int = 1, config: DiskConfig | None = None
) -> tuple[simpy.Environment, SimDisk, Trace]:
    env = Environment()
    trace = Trace(lambda: int(env.now))
    return env, SimDisk(env, random.Random(seed), trace, node=1, config=config), trace


def fsync(env: simpy.Environment, disk: SimDisk, path: str, results: FsyncResults) -> None:
    disk.fsync(path, lambda err: results.append((int(env.now), err)))


def kinds(trace: Trace) -> list[str]:
    return [str(event[1]) for event in trace]


# -- durability -----------------------------------------------------------------------------


def test_a_crash_loses_everything_not_fsynced() -> None:
    env, disk, _ = make_disk(config=DiskConfig(torn_probability=0.0))
    disk.write("a", b"synced")
    results: FsyncResults = []
    fsync(env, disk, "a", results)
    env.run()
    disk.append("a", b"+lost")
    disk.write("b", b"never synced")
    disk.crash()
    assert disk.read("a") == b"synced"
    # Creation is metadata and so durable; the content is not.
    assert disk.exists("b")
    assert disk.read("b") == b""


def test_a_crash_reverts_an_unsynced_overwrite() -> None:
    env, disk, _ = make_disk()
    disk.write("a", b"old content")
    fsync(env, disk, "a", [])
    env.run()
    disk.write("a", b"new")
    disk.truncate("a", 1)
    disk.crash()
    assert disk.read("a") == b"old content"
    assert disk.size("a") == len(b"old content")


def test_fsync_makes_the_content_at_call_time_durable() -> None:
    env, disk, trace = make_disk()
    disk.write("a", b"first")
    results: FsyncResults = []
    fsync(env, disk, "a", results)
    disk.append("a", b"-after-call")
    assert disk.durable("a") == b""
    env.run()
    assert results == [(results[0][0], None)]
    assert 500 <= results[0][0] <= 1500
    assert disk.durable("a") == b"first"
    assert disk.read("a") == b"first-after-call"
    assert ("disk.fsync", 1, "a", 5) in [event[1:] for event in trace]


def test_an_older_fsync_completing_late_does_not_undo_a_newer_one() -> None:
    env, disk, _ = make_disk(config=DiskConfig(fsync_jitter_us=0))
    disk.write("a", b"v1")
    disk.set_latency_factor(5)
    fsync(env, disk, "a", [])
    disk.set_latency_factor(1)
    disk.write("a", b"v2")
    fsync(env, disk, "a", [])
    env.run()
    assert disk.durable("a") == b"v2"


def test_a_crash_may_leave_a_torn_prefix_of_the_last_unsynced_append() -> None:
    durable_part = b"header"
    tail = b"0123456789abcdef"
    outcomes: set[int] = set()
    for seed in range(200):
        env, disk, trace = make_disk(seed)
        disk.write("wal", durable_part)
        fsync(env, disk, "wal", [])
        env.run()
        disk.append("wal", tail)
        disk.crash()
        after = disk.read("wal")
        assert after.startswith(durable_part)
        torn = after[len(durable_part) :]
        assert tail.startswith(torn)
        assert len(torn) < len(tail)
        assert disk.durable("wal") == after
        crash_event = [e for e in trace if e[1] == "disk.crash"][-1]
        assert crash_event[2:] == (1, "wal", len(durable_part), len(torn))
        outcomes.add(len(torn))
    assert 0 in outcomes
    assert any(n > 0 for n in outcomes), "no seed produced a torn write"


def test_a_one_byte_unsynced_tail_never_tears() -> None:
    for seed in range(50):
        _, disk, _ = make_disk(seed, DiskConfig(torn_probability=1.0))
        disk.append("a", b"x")
        disk.crash()
        assert disk.read("a") == b""


def test_a_crash_cancels_inflight_fsyncs() -> None:
    env, disk, _ = make_disk(config=DiskConfig(torn_probability=0.0))
    disk.write("a", b"data")
    results: FsyncResults = []
    fsync(env, disk, "a", results)
    env.run(until=100)
    disk.crash()
    env.run()
    assert results == []
    assert disk.durable("a") == b""
    assert disk.read("a") == b""


def test_rename_carries_durability() -> None:
    env, disk, _ = make_disk(config=DiskConfig(torn_probability=0.0))
    disk.write("tmp", b"snapshot")
    fsync(env, disk, "tmp", [])
    env.run()
    disk.write("final", b"stale")
    disk.rename("tmp", "final")
    assert not disk.exists("tmp")
    assert disk.list() == ["final"]
    disk.crash()
    assert disk.read("final") == b"snapshot"


def test_an_fsync_in_flight_follows_its_file_through_a_rename() -> None:
    env, disk, _ = make_disk(config=DiskConfig(torn_probability=0.0))
    disk.write("tmp", b"payload")
    fsync(env, disk, "tmp", [])
    disk.rename("tmp", "final")
    env.run()
    assert disk.durable("final") == b"payload"


def test_wipe_leaves_an_empty_disk_and_drops_inflight_fsyncs() -> None:
    env, disk, _ = make_disk()
    disk.write("a", b"data")
    results: FsyncResults = []
    fsync(env, disk, "a", results)
    disk.wipe()
    env.run()
    assert disk.list() == []
    assert results == []
    with pytest.raises(FileNotFoundError):
        disk.read("a")


# -- file API -------------------------------------------------------------------------------


def test_file_operations_behave_like_a_file_system() -> None:
    _, disk, _ = make_disk()
    disk.append("b", b"12")
    disk.append("b", b"34")
    disk.write("a", b"x")
    assert disk.list() == ["a", "b"]
    assert disk.read("b") == b"1234"
    disk.truncate("b", 6)
    assert disk.read("b") == b"1234\x00\x00"
    disk.truncate("b", 1)
    assert disk.size("b") == 1
    disk.remove("a")
    assert not disk.exists("a")
    for op in (lambda: disk.read("a"), lambda: disk.remove("a"), lambda: disk.rename("a", "c")):
        with pytest.raises(FileNotFoundError):
            op()


# -- faults ---------------------------------------------------------------------------------


def test_write_errors_change_nothing() -> None:
    _, disk, trace = make_disk()
    disk.write("a", b"before")
    disk.write("b", b"other")
    disk.set_error_rate("write", 1.0)
    attempts: list[Callable[[], None]] = [
        lambda: disk.write("a", b"after"),
        lambda: disk.append("a", b"more"),
        lambda: disk.truncate("a", 0),
        lambda: disk.rename("a", "b"),
        lambda: disk.remove("a"),
        lambda: disk.write("new", b"x"),
    ]
    for attempt in attempts:
        with pytest.raises(DiskError):
            attempt()
    assert disk.list() == ["a", "b"]
    assert disk.read("a") == b"before"
    assert disk.read("b") == b"other"
    assert kinds(trace).count("disk.error") == len(attempts)
    disk.clear_faults()
    disk.append("a", b"!")
    assert disk.read("a") == b"before!"


def test_read_errors_are_injected() -> None:
    _, disk, trace = make_disk()
    disk.write("a", b"x")
    disk.set_error_rate("read", 1.0)
    with pytest.raises(DiskError):
        disk.read("a")
    assert ("disk.error", 1, "read", "a") in [event[1:] for event in trace]


def test_failed_fsync_makes_nothing_durable() -> None:
    env, disk, trace = make_disk()
    disk.write("a", b"data")
    disk.set_error_rate("fsync", 1.0)
    results: FsyncResults = []
    fsync(env, disk, "a", results)
    env.run()
    assert len(results) == 1
    assert isinstance(results[0][1], DiskError)
    assert results[0][0] >= 500
    assert disk.durable("a") == b""
    assert "disk.fsync" not in kinds(trace)


def test_a_full_disk_refuses_writes() -> None:
    _, disk, trace = make_disk()
    disk.write("a", b"12345")
    disk.set_capacity(8)
    full_attempts: list[Callable[[], None]] = [
        lambda: disk.append("a", b"6789"),
        lambda: disk.write("b", b"6789"),
        lambda: disk.truncate("a", 9),
        lambda: disk.write("a", b"123456789"),
    ]
    for attempt in full_attempts:
        with pytest.raises(DiskFullError):
            attempt()
    assert disk.list() == ["a"]
    assert disk.read("a") == b"12345"
    # Shrinking and growth within the limit still work.
    disk.append("a", b"678")
    disk.truncate("a", 2)
    disk.write("b", b"123456")
    assert disk.size("a") + disk.size("b") == 8
    assert "disk.full" in kinds(trace)


def test_removing_or_replacing_a_file_frees_its_space() -> None:
    _, disk, _ = make_disk()
    disk.set_capacity(4)
    disk.write("a", b"1234")
    with pytest.raises(DiskFullError):
        disk.write("b", b"1")
    disk.remove("a")
    disk.write("b", b"123")
    disk.write("c", b"1")
    # Renaming c over b drops b's three bytes.
    disk.rename("c", "b")
    disk.write("d", b"123")
    assert disk.size("b") + disk.size("d") == 4


def test_corruption_flips_one_synced_byte() -> None:
    env, disk, trace = make_disk()
    assert disk.corrupt() is None
    disk.write("a", b"synced data")
    disk.write("empty", b"")
    fsync(env, disk, "a", [])
    fsync(env, disk, "empty", [])
    env.run()
    disk.append("a", b" + unsynced")
    before_durable = disk.durable("a")
    before_current = disk.read("a")
    hit = disk.corrupt()
    assert hit is not None
    path, offset = hit
    assert path == "a"
    after_durable = disk.durable("a")
    diffs = [i for i in range(len(after_durable)) if after_durable[i] != before_durable[i]]
    assert diffs == [offset]
    after_current = disk.read("a")
    assert after_current[offset] == after_durable[offset]
    assert after_current[:offset] + after_current[offset + 1 :] == (
        before_current[:offset] + before_current[offset + 1 :]
    )
    assert ("disk.corrupt", 1, "a", offset) in [event[1:] for event in trace]


def synced_and_unsynced(seed: int, synced: int, unsynced: int) -> tuple[SimDisk, Trace]:
    """A disk whose file "w" has `synced` fsynced bytes and `unsynced` more appended after."""
    env, disk, trace = make_disk(seed)
    disk.append("w", bytes(range(1, 256)) * (synced // 255) + b"s" * (synced % 255))
    fsync(env, disk, "w", [])
    env.run()
    disk.append("w", b"u" * unsynced)
    return disk, trace


def test_unsynced_writes_lost_out_of_order_never_touch_synced_data() -> None:
    seen: set[tuple[bool, ...]] = set()
    for seed in range(40):
        disk, trace = synced_and_unsynced(seed, 700, 1500)
        before = disk.read("w")
        disk.lose_unsynced_out_of_order()
        disk.crash()
        after = disk.read("w")
        assert after[:700] == before[:700], "synced bytes touched"
        assert disk.durable("w") == after, "what survived a crash is durable"
        # Each unsynced sector was written back whole, or reads as zeros; the file ends with
        # the last one written back.
        sectors = [(max(700, k * 512), min(2200, (k + 1) * 512)) for k in range(1, 5)]
        kept = tuple(after[lo:hi] == before[lo:hi] for lo, hi in sectors if lo < len(after))
        for (lo, hi), was_kept in zip(sectors, kept, strict=False):
            assert was_kept or after[lo:hi] == bytes(hi - lo)
        assert len(after) == 700 or after[-1:] == b"u"
        seen.add(kept)
        event = [e for e in trace if e[1] == "disk.lost_writes"]
        assert event and event[0][2:5] == (1, "w", 700) and event[0][5] == len(after)
    # Any subset: a later sector survives an earlier lost one.
    assert any(not k[0] and any(k[1:]) for k in seen if k)


def test_only_the_next_crash_loses_writes_out_of_order() -> None:
    disk, trace = synced_and_unsynced(1, 100, 2000)
    disk.lose_unsynced_out_of_order()
    disk.crash()
    disk.append("w", b"x" * 1000)
    disk.crash()
    assert [e[1] for e in trace if e[1].startswith("disk.")][-2:] == ["disk.lost_writes",
                                                                     "disk.crash"]


def test_a_misdirected_append_lands_over_synced_bytes_and_leaves_zeros_in_its_place() -> None:
    env, disk, trace = make_disk(3)
    disk.append("a", b"A" * 600)
    disk.append("b", b"B" * 600)
    fsync(env, disk, "a", [])
    fsync(env, disk, "b", [])
    env.run()
    disk.set_misdirect_rate(1.0)
    disk.append("a", b"0123456789")
    disk.set_misdirect_rate(0.0)
    (event,) = [e[2:] for e in trace if e[1] == "disk.misdirect"]
    node, path, intended, target, offset, length = event
    assert (node, path, intended, length) == (1, "a", 600, 10)
    assert disk.read("a")[600:] == bytes(10)  # nothing reached the write's own place
    landed = disk.durable(str(target))[int(offset):int(offset) + 10]
    assert landed == b"0123456789"[: len(landed)]  # on the platter at once
    assert disk.read(str(target))[int(offset):int(offset) + len(landed)] == landed
    disk.crash()
    assert disk.read(str(target))[int(offset):int(offset) + len(landed)] == landed


def test_a_misdirected_write_survives_an_fsync_that_was_in_flight() -> None:
    env, disk, trace = make_disk(5)
    disk.append("a", b"A" * 600)
    fsync(env, disk, "a", [])
    env.run()
    disk.append("a", b"more")
    fsync(env, disk, "a", [])  # in flight: its snapshot was taken before the misdirect
    disk.set_misdirect_rate(1.0)
    disk.append("a", b"misplaced")
    env.run()
    (event,) = [e[2:] for e in trace if e[1] == "disk.misdirect"]
    offset = int(event[4])
    assert disk.durable("a")[offset:offset + 9] == b"misplaced"[: 604 - offset]


def test_an_append_goes_where_it_should_when_no_file_has_synced_bytes_to_land_on() -> None:
    _, disk, trace = make_disk()
    disk.set_misdirect_rate(1.0)
    disk.append("a", b"first")
    assert disk.read("a") == b"first"
    assert not [e for e in trace if e[1] == "disk.misdirect"]


def test_an_unreadable_sector_fails_every_read_until_it_is_rewritten() -> None:
    env, disk, trace = make_disk()
    disk.write("a", b"x" * 1500)
    fsync(env, disk, "a", [])
    env.run()
    path, start, end = disk.add_bad_sector("a") or ("", 0, 0)
    assert path == "a" and start % 512 == 0 and end == min(1500, start + 512)
    for _ in range(3):  # persistently
        with pytest.raises(DiskError, match="input/output error"):
            disk.read("a")
    assert [e[1] for e in trace].count("disk.bad_sector_read") == 3
    disk.crash()
    with pytest.raises(DiskError):
        disk.read("a")
    disk.write("a", b"rewritten")
    assert disk.read("a") == b"rewritten"


def test_an_unreadable_sector_cut_off_by_a_truncate_is_gone() -> None:
    _, disk, _ = make_disk()
    disk.write("a", b"x" * 1024)
    disk.add_bad_sector("a")
    disk.truncate("a", 0)
    disk.append("a", b"y" * 1024)
    assert disk.read("a") == b"y" * 1024


def test_truncating_the_synced_tail_loses_synced_bytes() -> None:
    disk, trace = synced_and_unsynced(1, 800, 100)
    assert disk.truncate_synced("w", 300) == 500
    assert disk.read("w") == disk.durable("w") and len(disk.read("w")) == 500
    disk.crash()
    assert len(disk.read("w")) == 500
    assert ("disk.truncate_synced", 1, "w", 800, 500) in [e[1:] for e in trace]


def test_a_bit_flip_changes_one_bit_of_the_named_files_synced_content() -> None:
    disk, trace = synced_and_unsynced(2, 400, 50)
    disk.append("other", b"o" * 10)
    before = disk.durable("w")
    hit = disk.flip_bit("w")
    assert hit is not None
    path, offset, bit = hit
    after = disk.durable("w")
    assert path == "w" and after[offset] == before[offset] ^ (1 << bit)
    assert after[:offset] + after[offset + 1:] == before[:offset] + before[offset + 1:]
    assert disk.read("w")[offset] == after[offset]
    assert ("disk.bitflip", 1, "w", offset, bit) in [e[1:] for e in trace]
    assert disk.flip_bit("missing") is None


def test_a_stall_holds_fsync_until_it_ends() -> None:
    env, disk, _ = make_disk()
    disk.write("a", b"x")
    results: FsyncResults = []
    fsync(env, disk, "a", results)
    disk.stall(10_000)
    fsync(env, disk, "a", results)
    env.run(until=9_999)
    assert results == []
    env.run()
    assert [t for t, _ in results] == [10_000, 10_000]
    assert disk.durable("a") == b"x"


def test_a_stall_extended_while_held_holds_longer() -> None:
    env, disk, _ = make_disk()
    disk.write("a", b"x")
    results: FsyncResults = []
    disk.stall(5_000)
    fsync(env, disk, "a", results)
    env.run(until=4_000)
    disk.stall(20_000)
    env.run()
    assert [t for t, _ in results] == [20_000]


def test_latency_factor_slows_fsync() -> None:
    config = DiskConfig(fsync_base_us=1000, fsync_jitter_us=0)
    env, disk, _ = make_disk(config=config)
    disk.write("a", b"x")
    results: FsyncResults = []
    fsync(env, disk, "a", results)
    env.run()
    disk.set_latency_factor(10)
    fsync(env, disk, "a", results)
    env.run()
    assert [t for t, _ in results] == [1000, 1000 + 10_000]
    with pytest.raises(ValueError):
        disk.set_latency_factor(0)


def test_clear_faults_restores_a_healthy_disk() -> None:
    env, disk, _ = make_disk(config=DiskConfig(fsync_jitter_us=0))
    disk.write("a", b"x")
    disk.set_latency_factor(5)
    disk.stall(1_000_000)
    disk.set_error_rate("fsync", 1.0)
    disk.set_error_rate("read", 1.0)
    disk.set_capacity(0)
    disk.clear_faults()
    results: FsyncResults = []
    fsync(env, disk, "a", results)
    env.run()
    assert results == [(1000, None)]
    disk.append("a", b"y")
    assert disk.read("a") == b"xy"


def test_no_faults_draws_nothing_for_file_operations() -> None:
    env = Environment()
    trace = Trace(lambda: int(env.now))
    rng = random.Random(1)
    disk = SimDisk(env, rng, trace, node=1)
    state = rng.getstate()
    disk.write("a", b"x")
    disk.append("a", b"y")
    disk.read("a")
    disk.rename("a", "b")
    disk.truncate("b", 0)
    disk.remove("b")
    assert rng.getstate() == state
    assert len(trace) == 0


# -- determinism ----------------------------------------------------------------------------


def run_scenario(seed: int) -> tuple[str, dict[str, bytes]]:
    env = Environment()
    trace = Trace(lambda: int(env.now))
    disk = SimDisk(env, random.Random(seed), trace, node=3)
    disk.set_error_rate("write", 0.2)
    disk.set_error_rate("fsync", 0.3)
    for i in range(40):
        path = f"f{i % 5}"
        with contextlib.suppress(DiskError):
            disk.append(path, bytes([i]) * (i % 7 + 1))
        if disk.exists(path) and i % 3 == 0:
            disk.fsync(path, lambda err: None)
        env.run(until=env.now + 300)
        if i == 20:
            disk.set_misdirect_rate(0.3)
    disk.corrupt()
    disk.flip_bit()
    disk.lose_unsynced_out_of_order()
    disk.crash()
    disk.add_bad_sector()
    disk.truncate_synced("f1", 3)
    env.run()
    contents = {}
    for path in disk.list():
        with contextlib.suppress(DiskError):
            contents[path] = disk.read(path)
    return trace.digest(), contents


def test_same_seed_same_outcomes() -> None:
    assert run_scenario(7) == run_scenario(7)
    assert run_scenario(7) != run_scenario(8)
