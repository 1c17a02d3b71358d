"""The run report: one self-contained page of a run's members, faults, operations and violation."""

from __future__ import annotations

import json
import re
from functools import cache
from html import escape
from typing import TYPE_CHECKING, Any

from sim.cluster.config import RunConfig
from sim.cluster.result import RunResult
from sim.harness.runner import run
from sim.report import render_run_report, write_run_report
from sim.report.timeline import fault_bands, leader_spans, node_spans, trace_window
from sim.world.trace import Event

if TYPE_CHECKING:
    from pathlib import Path

    from browser import BrowserPage
    from playwright.sync_api import ConsoleMessage, Page

pytest_plugins = ["browser"]  # the browser_page fixture

EVIL = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"
BUGGY = RunConfig(seed=0, duration_us=20_000_000, bugs=frozenset({"linearizable-read-local"}))


# --- runs to draw ---------------------------------------------------------------------------


@cache
def buggy_run() -> RunResult:
    """A real run whose history is not linearizable (a planted bug; pinned seed)."""
    result = run(BUGGY)
    assert [v["check"] for v in result.violations] == ["linearizable"], result.checks
    return result


def history_line(**fields: Any) -> str:
    return json.dumps(fields)


def hand_made(**overrides: Any) -> tuple[RunResult, RunConfig]:
    """A small run written by hand: 3 members, every kind of span, three operations."""
    trace: list[Event] = [
        (0, "node.start", 1, 1),
        (0, "node.start", 2, 1),
        (0, "node.start", 3, 1),
        (0, "node.start", 101, 1),
        (1_000_000, "raft.leader", 1, 2),
        (2_000_000, "fault", "partition", 0, 0, 3_000_000, 0, "isolate"),
        (2_000_000, "net.partition", "isolate", "1->2 2->1 1->3 3->1"),
        *((2_000_000 + 10 * i, "net.send", i, 1, 2, "MsgApp") for i in range(50)),
        *((2_000_001 + 10 * i, "net.drop", i, "cut") for i in range(50)),
        (2_500_000, "raft.leader", 2, 3),
        (3_000_000, "fault", "crash", 1, 0, 1_000_000, 0, ""),
        (3_000_000, "node.crash", 1),
        (3_500_000, "fault", "failpoint", 3, 0, 500_000, 1, "raftAfterSave"),
        (3_600_000, "failpoint", 3, "raftAfterSave", "pause"),
        (3_600_000, "node.pause", 3),
        (4_000_000, "node.start", 1, 2),
        (4_100_000, "node.resume", 3),
        (4_200_000, "fault", "clock_jump", 2, 0, 0, 5000, ""),
        (4_200_000, "clock.jump", 2, 5000),
        (4_300_000, "fault", "disk_error", 2, 0, 400_000, 100, "fsync"),
        (4_500_000, "node.fail", 2, "wal: fsync: input/output error"),
        (6_000_000, "heal"),
        (6_000_000, "node.start", 2, 2),
        (6_400_000, "raft.leader", 1, 4),
        (6_500_000, "liveness.pass", 500_000),
        (8_000_000, "disk.fsync", 1, "wal/0.log", 10),
    ]
    history = "\n".join(
        [
            history_line(format="etcdsim-history", version=1, model="etcd"),
            history_line(client=101, kind="invoke", op="put", key="k",
                         args={"key": "k", "value": "v1"}, time=1_100_000),
            history_line(client=101, kind="ok", op="put", result={"revision": 2},
                         time=1_200_000),
            history_line(client=102, kind="invoke", op="put", key="k",
                         args={"key": "k", "value": EVIL}, time=2_100_000),
            history_line(client=102, kind="info", op="put", time=4_100_000),
            history_line(client=EVIL, kind="invoke", op="range", key="k",
                         args={"key": "k"}, time=5_000_000),
            history_line(client=EVIL, kind="fail", op="range", time=5_100_000),
        ]
    ) + "\n"
    violation = {
        "check": "election_safety",
        "node": 2,
        "time_us": 2_500_000,
        "detail": f"two leaders {EVIL}",
        "trace_tail": [list(e) for e in trace[-5:]],
    }
    config = RunConfig(seed=77, duration_us=8_000_000)
    fields: dict[str, Any] = dict(
        seed=77, digest="ab" * 32, sim_seconds=8.0, wall_seconds=0.1, events=len(trace),
        faults={"partition": 1, "crash": 1, "failpoint": 1, "clock_jump": 1, "disk_error": 1},
        checks={"election_safety": "fail", "liveness": "pass (fine)"},
        violations=[violation], proposed=0, committed=0, leaders=3, nodes=3, trace=trace,
        workload="etcd", history_source=history,
    )
    fields.update(overrides)
    return RunResult(**fields), config


def synthetic_long_run() -> tuple[RunResult, RunConfig]:
    """60 simulated seconds, 6,000 operations by 8 clients and about 100,000 trace events."""
    trace: list[Event] = [(0, "node.start", m, 1) for m in (1, 2, 3)]
    lines = [history_line(format="etcdsim-history", version=1, model="etcd")]
    events: list[Event] = []
    for i in range(6_000):
        t = i * 10_000
        client = 101 + i % 8
        lines.append(history_line(client=client, kind="invoke", op="put", key=f"key{i % 7}",
                                  args={"key": f"key{i % 7}", "value": f"c{client}-{i}"},
                                  time=t))
        lines.append(history_line(client=client, kind="ok", op="put",
                                  result={"revision": i + 2}, time=t + 8_000))
    for j in range(100_000):
        t = j * 600
        events.append((t, "net.send", j, 1 + j % 3, 1 + (j + 1) % 3, "MsgHeartbeat"))
    for k in range(20):
        kind = ("partition", "crash", "pause", "disk_latency", "delay")[k % 5]
        events.append((k * 2_000_000 + 1, "fault", kind, 1 + k % 3, 0, 900_000, 3, "halves"))
    trace += sorted(events, key=lambda e: (e[0], str(e[1])))
    violation = {"check": "liveness", "node": 0, "time_us": 58_000_000, "detail": "no leader",
                 "trace_tail": [list(e) for e in trace[-30:]]}
    result = RunResult(
        seed=5, digest="cd" * 32, sim_seconds=60.0, wall_seconds=1.0, events=len(trace),
        faults={"partition": 4}, checks={"liveness": "fail (no leader)"},
        violations=[violation], proposed=0, committed=0, leaders=1, nodes=3, trace=trace,
        workload="etcd", history_source="\n".join(lines) + "\n",
    )
    return result, RunConfig(seed=5, duration_us=60_000_000)


# --- what the trace says over time -----------------------------------------------------------


def test_member_states_follow_start_crash_pause_resume_and_fail() -> None:
    result, _ = hand_made()
    spans = node_spans(result.trace, [1, 2, 3], 8_000_000)
    assert [(s.state, s.start, s.end) for s in spans[1]] == [
        ("up", 0, 3_000_000), ("down", 3_000_000, 4_000_000), ("up", 4_000_000, 8_000_000)]
    assert [s.state for s in spans[2]] == ["up", "failed", "up"]
    assert "input/output error" in spans[2][1].detail
    assert [(s.state, s.start) for s in spans[3]] == [("up", 0), ("paused", 3_600_000),
                                                      ("up", 4_100_000)]


def test_a_leadership_ends_at_its_crash_or_at_the_next_election() -> None:
    result, _ = hand_made()
    spans = leader_spans(result.trace, [1, 2, 3], 8_000_000)
    assert [(s.label, s.start, s.end) for s in spans[1]] == [
        ("T2", 1_000_000, 2_500_000), ("T4", 6_400_000, 8_000_000)]
    assert [(s.label, s.start, s.end) for s in spans[2]] == [("T3", 2_500_000, 4_500_000)]
    assert spans[3] == []


def test_fault_bands_last_until_undone_and_touch_their_targets() -> None:
    result, config = hand_made()
    bands = {b.kind: b for b in fault_bands(result.trace, [1, 2, 3], config.heal_at_us, 8_000_000)}
    assert (bands["partition"].start, bands["partition"].end) == (2_000_000, 5_000_000)
    assert bands["partition"].targets == (1, 2, 3)
    assert "1->2" in bands["partition"].detail
    assert (bands["crash"].targets, bands["crash"].end) == ((1,), 4_000_000)
    # A failpoint acts when it is hit, for its duration.
    assert (bands["failpoint"].start, bands["failpoint"].end) == (3_600_000, 4_100_000)
    assert bands["failpoint"].armed_at == 3_500_000
    assert bands["clock_jump"].start == bands["clock_jump"].end == 4_200_000


def test_timing_fault_bands_show_whom_they_hit_and_how_long_they_lasted() -> None:
    trace: list[Event] = [
        (1_000_000, "fault", "hold", 0, 0, 4_000_000, 1, "halves"),
        (1_000_000, "net.partition", "halves", "1->2 2->1", "hold in_order"),
        (2_000_000, "fault", "long_pause", 1, 0, 3_000_000, 0, "leader"),
        (2_000_000, "fault.target", "long_pause", 3),
        (2_000_000, "node.pause", 3),
        (3_000_000, "fault", "partition", 0, 0, 1_000_000, 0, "isolate"),
        (3_500_000, "fault", "crash_loop", 2, 0, 2_000, 2, ""),
        (3_500_000, "node.crash", 2),
        (3_502_000, "node.start", 2, 2),
        (3_540_000, "node.crash", 2),
        (3_542_000, "node.start", 2, 3),
        (4_000_000, "fault", "slow_apply", 1, 0, 500_000, 20_000, ""),
        (6_000_000, "heal"),
    ]
    bands = {b.kind: b for b in fault_bands(trace, [1, 2, 3], 6_000_000, 8_000_000)}
    assert (bands["hold"].end, bands["hold"].targets) == (3_000_000, (1, 2, 3))  # replaced
    assert bands["hold"].label == "hold halves in order"
    assert (bands["long_pause"].targets, bands["long_pause"].end) == ((3,), 5_000_000)
    assert bands["long_pause"].label == "long_pause n3"
    assert "aimed at the leader" in bands["long_pause"].detail
    assert (bands["crash_loop"].start, bands["crash_loop"].end) == (3_500_000, 3_542_000)
    assert bands["crash_loop"].category == "crash"
    assert bands["slow_apply"].label == "slow apply +20ms n1"


def test_the_trace_window_keeps_rare_events_among_many_messages() -> None:
    trace: list[Event] = [(0, "fault", "crash", 1, 0, 5, 0, "")]
    trace += [(10 + i, "net.send", i, 1, 2, "m") for i in range(1_000)]
    times = [int(str(e[0])) for e in trace]
    window = trace_window(trace, times, 900, before=5, after=2)
    assert 0 in window, "the fault long before, among a thousand messages, is listed"
    assert len(window) <= 5 + 2 + 1


# --- the page as a string ---------------------------------------------------------------------


def test_page_has_a_lane_per_member_a_band_per_fault_and_a_bar_per_operation() -> None:
    result, config = hand_made()
    html = render_run_report(result, config)
    assert html.startswith("<!DOCTYPE html>")
    for m in (1, 2, 3):
        assert html.count(f'data-member="{m}"') == 1
    assert html.count('class="m-state ') >= 9
    assert html.count('class="lead"') == 3
    assert len(re.findall(r'data-fault="\d+"', html)) == 5
    for kind in ("partition", "crash", "failpoint", "clock_jump", "disk_error"):
        assert f'data-kind="{kind}"' in html
    assert len(re.findall(r'data-op-id="\d+"', html)) == 3
    for status in ("ok", "unknown", "fail"):
        assert f'data-status="{status}"' in html


def test_header_names_the_seed_digest_verdict_checks_and_replay_command() -> None:
    result, config = hand_made()
    html = render_run_report(result, config)
    assert '<p class="verdict bad">FAIL</p>' in html
    assert "ab" * 32 in html
    assert f'<code id="replay">{config.command_line()}</code>' in html
    assert '<tr data-check="election_safety"><td>election_safety</td><td class="bad">' in html


def test_the_violation_is_marked_with_the_trace_around_it() -> None:
    result, config = hand_made()
    html = render_run_report(result, config)
    assert html.count('data-violation="0"') == 1
    assert "--a:2500" in html.split('data-violation="0"')[1][:200]
    assert "The last 5 trace events" in html
    assert "The trace around 2.500000 s" in html
    assert "raft.leader</td><td>node=2 term=3" in html


def test_a_passing_run_has_no_violation_marker() -> None:
    result, config = hand_made(violations=[], checks={"liveness": "pass"})
    html = render_run_report(result, config)
    assert '<p class="verdict good">pass</p>' in html
    assert "data-violation" not in html
    assert "No violation" in html


def test_values_from_the_history_and_the_violation_are_escaped() -> None:
    result, config = hand_made()
    html = render_run_report(result, config, title=EVIL)
    assert "<script>alert" not in html
    assert "<img" not in html
    assert html.count("<script") == 2  # the data blob and the page's own script
    assert html.count("</script>") == 2


def test_page_needs_nothing_from_outside() -> None:
    result, config = hand_made()
    html = render_run_report(result, config)
    blob = html.index('id="run-data">')
    html = html[:blob] + html[html.index("</script>", blob) :]  # JSON: values stay text
    html = html.replace(escape(EVIL), "EVIL")  # escaped history values: text, not attributes
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "@import" not in html and "url(" not in html
    assert not re.search(r"""\b(src|href)\s*=\s*(?!["']?#)""", html)


def test_a_raft_run_without_history_still_draws_members_and_faults() -> None:
    config = RunConfig(seed=3, duration_us=3_000_000, workload="raft", liveness_bound_us=1_000_000)
    result = run(config)
    html = render_run_report(result, config)
    assert html.count('class="row member"') == 3
    assert "no client history" in html
    assert not re.search(r'data-op-id="\d', html)


def test_a_real_failing_run_marks_the_operation_that_cannot_be_linearized() -> None:
    result = buggy_run()
    html = render_run_report(result, BUGGY)
    assert html.count('data-violation="0"') == 1
    assert html.count('data-stuck="true"') >= 1
    assert "Cannot be linearized" in html
    faults = sum(1 for e in result.trace if e[1] == "fault")
    assert len(re.findall(r'data-fault="\d+"', html)) == faults
    assert "linearizable-read-local" in html


def test_a_sixty_second_run_stays_small() -> None:
    result, config = synthetic_long_run()
    html = render_run_report(result, config)
    assert len(html.encode()) < 5_000_000
    assert len(re.findall(r'data-op-id="\d+"', html)) == 6_000
    assert html.count("net.send") < 200, "messages are counted, not listed one by one"


def test_write_run_report_writes_the_page(tmp_path: Path) -> None:
    result, config = hand_made()
    out = write_run_report(tmp_path / "report.html", result, config)
    assert out.read_text(encoding="utf-8") == render_run_report(result, config)


# --- the page in a browser --------------------------------------------------------------------


def open_page(browser_page: BrowserPage, html: str) -> tuple[Page, list[str]]:
    """Open `html`, collecting console errors and warnings."""
    console: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            console.append(f"{message.type}: {message.text}")

    browser_page.page.on("console", on_console)
    browser_page.page.set_viewport_size({"width": 1400, "height": 900})
    return browser_page.open(html), console


def size(page: Page, selector: str) -> tuple[float, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not rendered"
    return box["width"], box["height"]


def test_browser_draws_lanes_bands_and_bars(browser_page: BrowserPage) -> None:
    result, config = hand_made()
    page, console = open_page(browser_page, render_run_report(result, config))
    assert not console
    for selector in ('.row.member[data-member="2"] .track', '.m-state[data-state="down"]',
                     ".lead", '.fault[data-kind="partition"]', '.fault[data-kind="clock_jump"]',
                     ".shade", '.op[data-status="ok"]', '.op[data-status="unknown"]',
                     '.op[data-status="fail"]', ".hist"):
        width, height = size(page, f"#tl {selector}")
        assert width > 0 and height > 0, selector
    assert page.locator(".tick").count() > 3, "the axis is labelled"


def test_browser_shows_tooltips_on_hover(browser_page: BrowserPage) -> None:
    result, config = hand_made()
    page, _ = open_page(browser_page, render_run_report(result, config))
    tip = page.locator("#tip")
    assert not tip.is_visible()
    page.locator('#tl .fault[data-kind="partition"]').hover()
    assert tip.is_visible()
    assert "partition isolate" in tip.inner_text()
    assert "duration_us: 3000000" in tip.inner_text()
    page.locator("#tl .lead").first.hover()
    assert "leader of term 2" in tip.inner_text()
    page.locator('.op[data-status="unknown"]').hover()
    text = tip.inner_text()
    assert "client 102" in text and "return unknown" in text
    assert EVIL in text, "history values are shown as text, not run"
    assert page.locator("img").count() == 0
    assert not browser_page.dialogs


def test_browser_shows_the_violation_marker(browser_page: BrowserPage) -> None:
    result, config = hand_made()
    page, console = open_page(browser_page, render_run_report(result, config))
    assert not console
    marker = page.locator('.vmark[data-violation="0"]')
    assert marker.is_visible()
    box = marker.bounding_box()
    lanes = page.locator("#tl .rows").bounding_box()
    assert box is not None and lanes is not None
    assert box["height"] >= lanes["height"] * 0.9, "the line crosses every lane"
    assert "election_safety" in marker.inner_text()
    marker.locator(".vlabel").hover()
    assert "two leaders" in page.locator("#tip").inner_text()
    assert page.locator("table.trace").first.is_visible()


def test_browser_zooms_to_the_failing_operation_of_a_real_run(browser_page: BrowserPage) -> None:
    page, console = open_page(browser_page, render_run_report(buggy_run(), BUGGY))
    assert not console
    before = page.locator("#tl").evaluate("e => getComputedStyle(e).getPropertyValue('--px')")
    page.locator("#to-violation").click()
    after = page.locator("#tl").evaluate("e => getComputedStyle(e).getPropertyValue('--px')")
    assert float(after.removesuffix("px")) > float(before.removesuffix("px"))
    stuck = page.locator('.op[data-stuck="true"]').first
    assert stuck.evaluate(
        "e => { const r = e.getBoundingClientRect(), s = document.getElementById('tl')"
        ".getBoundingClientRect(); return r.left >= s.left && r.right <= s.right; }"
    )
    stuck.hover()
    assert "cannot be linearized" in page.locator("#tip").inner_text()


def test_browser_handles_a_sixty_second_run(browser_page: BrowserPage) -> None:
    result, config = synthetic_long_run()
    page, console = open_page(browser_page, render_run_report(result, config))
    assert not console
    assert page.locator("#tl .op").count() == 6_000
    page.locator("#zoom").fill("1000")
    page.locator('.op[data-op-id="0"]').hover()
    assert "op 0" in page.locator("#tip").inner_text()
    width_px = page.locator("#tl .rows").evaluate("e => e.scrollWidth")
    assert width_px > 100_000, "zoomed in, the minute is wide enough to tell calls apart"
