"""The HTML report: self-contained, escaped, and showing the witness in a real browser."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Hashable, Iterable
from typing import TYPE_CHECKING, Any

import pytest

from sim.lincheck.history import Operation, Status
from sim.lincheck.model import Model
from sim.lincheck.report_html import MAX_DRAWN_PARTS, MAX_PART_OPS, render_html
from sim.lincheck.result import CheckResult, PartResult, Verdict

if TYPE_CHECKING:
    from browser import BrowserPage

pytest_plugins = ["browser"]  # the browser_page fixture

STUCK_RED = "rgb(214, 39, 40)"


class Register(Model):
    """A read/write register starting at 0, enough to describe hand-made results."""

    name = "test-register"

    def init(self) -> Hashable:
        return 0

    def step(self, state: Any, op: Operation) -> Iterable[Hashable]:
        if op.f == "write":
            return [op.args]
        if op.status is Status.UNKNOWN or op.result == state:
            return [state]
        return []


def op(
    id: int,
    client: str,
    call: int,
    ret: int | None,
    f: str,
    args: Any = None,
    result: Any = None,
    status: Status = Status.OK,
    key: str | None = "x",
) -> Operation:
    return Operation(id, client, call, ret, f, args, result, status, line=id + 1, key=key)


def failing_part() -> PartResult:
    """Key x: read 3 after write 1 and read 1 cannot be placed; a write of 2 is unknown."""
    ops = [
        op(0, "c1", 0, 10, "write", 1),
        op(1, "c3", 5, None, "write", 2, status=Status.UNKNOWN),
        op(2, "c2", 20, 30, "read", None, 1),
        op(3, "c2", 35, 38, "write", 5, status=Status.FAIL),
        op(4, "c1", 40, 50, "read", None, 3),
    ]
    return PartResult("x", ops, Verdict.NOT_LINEARIZABLE, order=[0, 2], stuck=[4], explored=7)


def good_part() -> PartResult:
    ops = [op(5, "c1", 60, 70, "write", 7, key="y"), op(6, "c10", 65, 80, "read", None, 7, key="y")]
    return PartResult("y", ops, Verdict.LINEARIZABLE, order=[5, 6], explored=3)


def result_of(*parts: PartResult) -> CheckResult:
    bad = any(p.verdict is Verdict.NOT_LINEARIZABLE for p in parts)
    return CheckResult(
        Verdict.NOT_LINEARIZABLE if bad else Verdict.LINEARIZABLE,
        list(parts),
        operations=sum(len(p.ops) for p in parts),
        elapsed=0.25,
    )


def report(*parts: PartResult, title: str = "history.jsonl") -> str:
    return render_html(result_of(*parts), Register(), title)


# --- the page as a string -------------------------------------------------------------------


def test_report_is_one_document_with_verdict_and_counts() -> None:
    html = report(good_part(), failing_part())
    assert html.startswith("<!DOCTYPE html>")
    assert '<p class="verdict bad">not linearizable</p>' in html
    assert "7 operations" in html
    assert "2 parts, 1 not linearizable" in html
    assert "0.250 s" in html


def test_report_needs_nothing_from_outside() -> None:
    html = report(good_part(), failing_part())
    assert "http://" not in html
    assert "https://" not in html
    assert "<link" not in html
    assert not re.search(r"""\b(src|href)\s*=\s*(?!["']?#)""", html), "no external resources"
    assert "@import" not in html
    assert "url(" not in html


def test_history_values_are_escaped_everywhere() -> None:
    evil = "</script><script>alert(1)</script>"
    ops = [
        op(0, '<img src=x onerror="alert(2)">', 0, 5, "write", evil, key=evil),
        op(1, "c&2", 6, 9, "read", None, "<b>bold</b>", key=evil),
    ]
    part = PartResult(evil, ops, Verdict.NOT_LINEARIZABLE, order=[0], stuck=[1])
    html = report(part, title="<title>x</title>")
    assert "<script>alert" not in html
    assert "<img" not in html
    assert "<b>bold" not in html
    assert "<title>x</title>" not in html
    assert html.count("<script") == 2  # the data blob and the page's own script
    assert html.count("</script>") == 2
    assert "&lt;img src=x onerror=&quot;alert(2)&quot;&gt;" in html


def test_failing_parts_are_drawn_first() -> None:
    html = report(good_part(), failing_part())
    assert html.index('data-part="x"') < html.index('data-part="y"')


def test_every_operation_carries_stable_hooks() -> None:
    html = report(failing_part())
    assert 'data-op-id="4" data-status="ok" data-stuck="true"' in html
    assert 'data-op-id="1" data-status="unknown"' in html
    assert 'data-op-id="3" data-status="fail"' in html
    assert 'data-op-id="2" data-status="ok" data-lin="2"' in html
    assert html.count('data-stuck="true"') == 1


def test_huge_results_are_capped_and_say_so() -> None:
    parts = [
        PartResult(
            f"k{i}",
            [op(i, "c1", i, i + 1, "write", i, key=f"k{i}")],
            Verdict.LINEARIZABLE,
            order=[i],
        )
        for i in range(MAX_DRAWN_PARTS + 10)
    ]
    html = report(*parts)
    assert html.count('<section class="part"') == MAX_DRAWN_PARTS
    assert "10 more part(s) with 10 operations are not drawn" in html


def test_a_huge_failing_part_is_drawn_around_the_failure() -> None:
    n = MAX_PART_OPS * 3
    ops = [op(i, f"c{i % 8}", 10 * i, 10 * i + 25, "write", i) for i in range(n)]
    failed = n * 5 // 6
    part = PartResult(
        "all", ops, Verdict.NOT_LINEARIZABLE, order=list(range(failed)), stuck=[failed]
    )
    html = report(part)
    assert html.count('<div class="op ') == MAX_PART_OPS
    assert f'data-op-id="{failed}" data-status="ok" data-stuck="true"' in html
    assert f'data-op-id="{failed - 100}"' in html
    assert 'data-op-id="0"' not in html
    assert f"Drawn: {MAX_PART_OPS} of the {n} operations" in html


def test_browser_opens_a_long_timeline_at_the_failure(browser_page: BrowserPage) -> None:
    ops = [op(i, f"c{i % 4}", 10 * i, 10 * i + 25, "write", i) for i in range(2_000)]
    part = PartResult("all", ops, Verdict.NOT_LINEARIZABLE, order=list(range(1_500)), stuck=[1_500])
    page = browser_page.open(report(part))
    assert page.locator(".scroll").evaluate("e => e.scrollLeft") > 0
    stuck = page.locator('[data-stuck="true"]')
    assert stuck.evaluate(
        "e => { const r = e.getBoundingClientRect(), s = e.closest('.scroll')"
        ".getBoundingClientRect(); return r.left >= s.left && r.right <= s.right; }"
    )


def test_ten_thousand_operations_stay_reasonably_small() -> None:
    ops = [
        op(i, f"c{i % 20}", 10 * i, 10 * i + 35, "write" if i % 3 else "read", i, i - 1)
        for i in range(10_000)
    ]
    part = PartResult("all", ops, Verdict.LINEARIZABLE, order=list(range(10_000)))
    html = report(part)
    assert len(html.encode()) < 3_000_000


# --- the page in a browser ------------------------------------------------------------------


def test_browser_shows_verdict_and_marks_the_stuck_operation(browser_page: BrowserPage) -> None:
    page = browser_page.open(report(good_part(), failing_part()))
    assert page.locator(".verdict").inner_text() == "not linearizable"
    stuck = page.locator('[data-stuck="true"]')
    assert stuck.count() == 1
    assert stuck.get_attribute("data-op-id") == "4"
    assert stuck.is_visible()
    assert stuck.evaluate("e => getComputedStyle(e).backgroundColor") == STUCK_RED
    legend = page.locator(".legend .swatch.stuck")
    assert legend.evaluate("e => getComputedStyle(e).backgroundColor") == STUCK_RED
    assert "could not be linearized" in page.locator(".legend").inner_text()
    assert "read(None) -> 3" in page.locator('[data-part="x"] .stuck-list').inner_text()
    assert not browser_page.outside


def test_browser_numbers_the_linearization(browser_page: BrowserPage) -> None:
    page = browser_page.open(report(good_part(), failing_part()))
    good = page.locator('[data-part="y"] .op')
    assert [good.nth(i).inner_text() for i in range(good.count())] == ["1", "2"]
    prefix = page.locator('[data-part="x"] .op[data-lin]')
    assert [prefix.nth(i).get_attribute("data-op-id") for i in range(prefix.count())] == [
        "0",
        "2",
    ]


def test_browser_hover_shows_operation_details(browser_page: BrowserPage) -> None:
    page = browser_page.open(report(good_part(), failing_part()))
    tip = page.locator("#tip")
    assert not tip.is_visible()
    page.locator('[data-op-id="4"]').hover()
    assert tip.is_visible()
    text = tip.inner_text()
    for expected in [
        "client c1",
        "line 5",
        "call 40",
        "return 50",
        "read(None) -> 3",
        "status ok",
        "stuck",
    ]:
        assert expected in text
    page.locator('[data-op-id="1"]').hover()
    assert "return unknown" in tip.inner_text()


def test_unknown_outcome_extends_to_the_end_dashed(browser_page: BrowserPage) -> None:
    page = browser_page.open(report(failing_part()))
    unknown = page.locator('[data-op-id="1"]')
    last = page.locator('[data-op-id="4"]')
    right = "e => e.getBoundingClientRect().right"
    assert unknown.evaluate(right) >= last.evaluate(right) - 2
    assert unknown.evaluate("e => getComputedStyle(e).borderTopStyle") == "dashed"


def test_browser_runs_no_script_from_the_history(browser_page: BrowserPage) -> None:
    evil = "</script><script>alert(1)</script><img src=x onerror=alert(2)>"
    ops = [op(0, evil, 0, 5, "write", evil), op(1, "c2", 6, 9, "read", None, evil)]
    part = PartResult(evil, ops, Verdict.NOT_LINEARIZABLE, order=[0], stuck=[1])
    page = browser_page.open(report(part, title=evil))
    page.locator('[data-op-id="0"]').hover()
    assert evil in page.locator("#tip").inner_text()
    assert page.locator("img").count() == 0
    assert not browser_page.dialogs
    assert not browser_page.errors


def test_browser_draws_ten_thousand_operations(browser_page: BrowserPage) -> None:
    ops = [op(i, f"c{i % 20}", 10 * i, 10 * i + 35, "write", i) for i in range(10_000)]
    part = PartResult("all", ops, Verdict.LINEARIZABLE, order=list(range(10_000)))
    page = browser_page.open(report(part))
    assert page.locator(".op").count() == 10_000
    page.locator('[data-op-id="9999"]').hover()
    assert "op 9999" in page.locator("#tip").inner_text()


def test_browser_page_notices_a_request_leaving_the_page(browser_page: BrowserPage) -> None:
    page = browser_page.open('<img src="http://192.0.2.1/x.png">')
    page.wait_for_load_state("load")
    assert browser_page.outside == ["http://192.0.2.1/x.png"]
    browser_page.outside.clear()  # seen: the fixture would otherwise fail this test


# --- with the real checker ------------------------------------------------------------------

HAVE_CHECKER = all(
    importlib.util.find_spec(name) is not None
    for name in ["sim.lincheck.checker", "sim.lincheck.models.register"]
)


@pytest.mark.skipif(not HAVE_CHECKER, reason="sim.lincheck.checker or models.register missing")
def test_real_checker_witness_is_drawn(browser_page: BrowserPage) -> None:
    from sim.lincheck.checker import check
    from sim.lincheck.models.register import CasRegister

    bad = [
        op(0, "c1", 0, 10, "write", 1, key=None),
        op(1, "c3", 5, None, "cas", (1, 2), status=Status.UNKNOWN, key=None),
        op(2, "c2", 20, 30, "read", None, 1, key=None),
        op(3, "c1", 40, 50, "read", None, 3, key=None),
    ]
    good = [
        op(4, "c1", 0, 10, "write", 1, key=None),
        op(5, "c2", 5, 15, "read", None, 1, key=None),
        op(6, "c1", 20, 30, "cas", (1, 2), True, key=None),
    ]
    model = CasRegister()
    failing = check(bad, model, timeout=10)
    assert failing.verdict is Verdict.NOT_LINEARIZABLE
    page = browser_page.open(render_html(failing, model, "bad.jsonl"), "bad.html")
    assert page.locator(".verdict").inner_text() == "not linearizable"
    stuck = page.locator('[data-stuck="true"]')
    assert stuck.get_attribute("data-op-id") == "3"
    assert stuck.evaluate("e => getComputedStyle(e).backgroundColor") == STUCK_RED
    stuck.hover()
    assert "read() = 3" in page.locator("#tip").inner_text()

    passing = check(good, model, timeout=10)
    assert passing.verdict is Verdict.LINEARIZABLE
    page = browser_page.open(render_html(passing, model, "good.jsonl"), "good.html")
    assert page.locator(".verdict").inner_text() == "linearizable"
    numbered = page.locator(".op[data-lin]")
    assert sorted(numbered.nth(i).inner_text() for i in range(numbered.count())) == [
        "1",
        "2",
        "3",
    ]
    assert page.locator('[data-stuck="true"]').count() == 0
