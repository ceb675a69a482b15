"""Elder mode (长辈模式) on the phone: the switch on the join page, remembered on the device
and applied before the first paint on every participant page; large type, high contrast,
large tap targets; one question per screen with 上一题/下一题 and the answer sheet to jump."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_participant_flow import (
    FULL_SCORE,
    answer_and_wait,
    event_tokens,
    join,
    no_horizontal_scroll,
    questions_on,
)
from tests.conftest import correct_choice

pytestmark = pytest.mark.browser

ELDER_ON = "document.documentElement.classList.contains('elder')"
BASE_FONT = "parseFloat(getComputedStyle(document.body).fontSize)"
# Every control a finger has to hit, with its height and width in CSS pixels.
TAP_TARGETS = """() => [...document.querySelectorAll(
    "button, a.btn, .sheet .cell, label.option, .elder-switch, input[type=text], input[type=tel], select")]
  .filter((el) => el.offsetParent !== null)
  .map((el) => {
    const box = el.getBoundingClientRect();
    return {what: el.outerHTML.slice(0, 60), height: box.height, width: box.width};
  })"""


def small_targets(page, minimum: int = 48) -> list[dict]:
    return [t for t in page.evaluate(TAP_TARGETS) if min(t["height"], t["width"]) < minimum]


def visible_positions(page) -> list[int]:
    return [
        int(pos)
        for pos in page.locator("fieldset.question:visible").evaluate_all(
            "(list) => list.map((fs) => fs.dataset.pos)"
        )
    ]


def head_script_runs_before_paint(page) -> bool:
    """The class comes from a classic, blocking script in <head> (not a module, not deferred)."""
    return page.evaluate(
        """() => [...document.head.querySelectorAll("script[src]")].some((s) =>
             s.src.endsWith("/elder-init.js") && !s.type && !s.defer && !s.async)"""
    )


def test_elder_switch_is_remembered_and_pages_the_quiz(live_server, phone, make_event, screenshots):
    join_token, _ = event_tokens(make_event())
    join_url = f"{live_server.url}/j/{join_token}"
    phone.goto(join_url)
    switch = phone.get_by_role("checkbox", name=re.compile("长辈模式"))
    assert switch.is_visible() and not switch.is_checked()
    assert phone.evaluate(ELDER_ON) is False
    normal_font = phone.evaluate(BASE_FONT)

    switch.check()
    assert phone.evaluate(ELDER_ON) is True
    assert phone.evaluate("localStorage.getItem('qm-elder')") == "1"
    assert phone.evaluate(BASE_FONT) >= 20 > normal_font
    assert phone.evaluate("getComputedStyle(document.body).color") == "rgb(0, 0, 0)"
    assert small_targets(phone) == []
    phone.fill("input[name=name]", "王奶奶")
    phone.fill("input[name=phone]", "13800000021")
    phone.select_option("select[name=unit_id]", label="东城区")
    phone.screenshot(path=str(screenshots / "phone-elder-join.png"), full_page=True)

    join(phone, join_url, "王奶奶", "13800000021")
    assert phone.evaluate(ELDER_ON) is True and head_script_runs_before_paint(phone)
    questions = questions_on(phone)
    assert visible_positions(phone) == [1]
    pager = phone.locator(".elder-pager")
    prev, nxt = (
        pager.get_by_role("button", name="上一题"),
        pager.get_by_role("button", name="下一题"),
    )
    assert prev.is_disabled() and nxt.is_enabled()
    assert phone.locator(".sheet .cell[aria-current]").inner_text() == "1"
    assert small_targets(phone) == []
    no_horizontal_scroll(phone)
    phone.screenshot(path=str(screenshots / "phone-elder-quiz.png"))

    # 下一题 / 上一题 move one question at a time; the answer sheet jumps; answers autosave.
    answer_and_wait(phone, questions[0], correct_choice(questions[0]))
    nxt.click()
    assert visible_positions(phone) == [2]
    prev.click()
    assert visible_positions(phone) == [1]
    phone.locator('.sheet .cell[data-pos="4"]').click()
    assert visible_positions(phone) == [4]
    assert phone.locator(".sheet .cell[aria-current]").inner_text() == "4"
    phone.locator('.sheet .cell[data-pos="2"]').click()
    for q in questions[1:]:
        assert visible_positions(phone) == [q["position"]]
        answer_and_wait(phone, q, correct_choice(q))
        if q is not questions[-1]:
            nxt.click()

    # A reload keeps elder mode (the device remembers) and opens the first unanswered.
    phone.reload()
    assert phone.evaluate(ELDER_ON) is True
    assert phone.locator(".sheet .cell.done").count() == len(questions)

    # On the last question the pager's right button is 交卷.
    phone.locator(f'.sheet .cell[data-pos="{len(questions)}"]').click()
    submit = pager.get_by_role("button", name="交卷")
    submit.click()
    phone.wait_for_url(re.compile(r"/result$"))
    assert phone.evaluate(ELDER_ON) is True
    assert int(phone.get_attribute("[data-score]", "data-score")) == FULL_SCORE


def test_elder_mode_off_from_the_quiz_shows_every_question(live_server, phone, make_event):
    join_token, _ = event_tokens(make_event())
    phone.goto(f"{live_server.url}/j/{join_token}")
    phone.evaluate("localStorage.setItem('qm-elder', '1')")
    join(phone, phone.url, "李爷爷", "13800000022")
    total = len(questions_on(phone))
    assert visible_positions(phone) == [1]
    phone.locator(".phone-bar [data-elder-toggle]").uncheck()
    assert phone.evaluate(ELDER_ON) is False
    assert phone.evaluate("localStorage.getItem('qm-elder')") == "0"
    assert visible_positions(phone) == list(range(1, total + 1))
    assert phone.locator(".elder-pager").count() == 0
    # The answer sheet is back above the questions.
    assert phone.evaluate("document.getElementById('answer-sheet').nextElementSibling.id === 'q1'")


def test_event_default_applies_unless_the_device_chose(live_server, new_context, make_event):
    """A view that passes elder_default=True marks <html data-elder-default>; a device
    without a choice of its own follows it, one that switched elder mode off does not."""
    join_token, _ = event_tokens(make_event())
    join_url = f"{live_server.url}/j/{join_token}"

    def with_default(route):
        response = route.fetch()
        html = response.text().replace("<html ", "<html data-elder-default ", 1)
        route.fulfill(response=response, body=html)

    context = new_context()
    context.route(join_url, with_default)
    page = context.new_page()
    page.goto(join_url)
    assert page.evaluate(ELDER_ON) is True
    assert page.locator("[data-elder-toggle]").is_checked()
    page.locator("[data-elder-toggle]").uncheck()
    page.reload()
    assert page.evaluate(ELDER_ON) is False


def test_without_javascript_the_switch_is_hidden_and_the_quiz_unpaged(
    live_server, new_context, make_event
):
    join_token, _ = event_tokens(make_event())
    page = new_context(java_script_enabled=False).new_page()
    page.goto(f"{live_server.url}/j/{join_token}")
    assert page.locator("[data-elder-switch]").first.is_hidden()
    join(page, page.url, "赵六", "13500135001", unit="朝阳区")
    assert page.locator("fieldset.question:visible").count() == 7
