"""Accessibility of the participant and screen pages: axe-core at WCAG 2.1 AA with no
violations, the keyboard alone through the join form and the quiz with a visible focus,
and reflow on the smallest phones (320 px, WeChat) with the quiz page's weight on the wire.

axe-core is a test tool vendored under tests/browser/vendor/axe-core (never served by the
app); Playwright injects it, so the axe contexts bypass the page's CSP (script-src 'self').
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from quizapp.extensions import db
from tests.browser.test_participant_flow import (
    answer_and_wait,
    event_tokens,
    join,
    option,
    questions_on,
)
from tests.conftest import correct_choice

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
SCREEN = {
    "viewport": {"width": 1920, "height": 1080},
    "device_scale_factor": 1,
    "is_mobile": False,
    "has_touch": False,
    "user_agent": None,
}
QUIZ_BUDGET = 60 * 1024  # bytes on the wire: HTML + CSS + JS, headers included


def axe_violations(page) -> list[str]:
    """Run axe-core on the page as it is now; one readable line per rule it breaks.

    Besides the violations, the checks axe could not decide count too ("incomplete"),
    except colour contrast, which axe leaves undecided for one-character cells and
    symbols (the answer sheet's numbers, the ✓/✗ keys) that a person has looked at.
    """
    page.evaluate("window.scrollTo(0, 0)")  # nothing under the sticky bars
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """(tags) => axe.run(document, {runOnly: {type: "tag", values: tags}})""",
        AXE_TAGS,
    )
    undecided = [r for r in result["incomplete"] if r["id"] != "color-contrast"]
    return [
        f"{r['id']} ({r['impact']}): {r['help']} at "
        + "; ".join(
            f"{n['target']} {n['failureSummary'] or ''}".strip().replace("\n", " ")
            for n in r["nodes"][:4]
        )
        for r in result["violations"] + undecided
    ]


def assert_accessible(page, what: str) -> None:
    found = axe_violations(page)
    assert not found, f"{what}: " + "\n".join(found)


def set_elder(page, on: bool) -> None:
    page.evaluate("(on) => localStorage.setItem('qm-elder', on ? '1' : '0')", on)


def test_participant_pages_pass_axe_normal_and_elder(
    live_server, new_context, make_event, screenshots
):
    join_token, screen_token = event_tokens(make_event())
    page = new_context(bypass_csp=True).new_page()
    join_url = f"{live_server.url}/j/{join_token}"

    page.goto(join_url)
    assert_accessible(page, "join")
    page.check("[data-elder-toggle]")
    assert_accessible(page, "join, elder mode")

    # A join form sent back with errors (labels tied to their messages).
    page.click("form button[type=submit]")
    page.wait_for_selector(".field.has-error")
    assert_accessible(page, "join with errors, elder mode")

    join(page, join_url, "无障碍", "13800000011")
    questions = questions_on(page)
    answer_and_wait(page, questions[0], correct_choice(questions[0]))
    assert page.locator(".elder-pager").is_visible()
    assert_accessible(page, "quiz, elder mode")

    set_elder(page, False)
    page.reload()
    assert page.locator("fieldset.question:visible").count() == len(questions)
    assert_accessible(page, "quiz")

    for q in questions[1:]:
        for key in correct_choice(q):
            option(page, q["position"], key).tap()
    page.click('[data-action="submit-attempt"]')
    page.wait_for_url(re.compile(r"/result$"))
    assert page.locator(".review-item").count() == len(questions)
    assert_accessible(page, "result with review")
    set_elder(page, True)
    page.reload()
    assert_accessible(page, "result with review, elder mode")

    screen = new_context(bypass_csp=True, **SCREEN).new_page()
    screen.goto(f"{live_server.url}/screen/{screen_token}")
    assert screen.locator('#s-top [data-rank="1"]').count() == 1
    assert_accessible(screen, "event screen at 1920x1080")


def test_paced_quiz_passes_axe(live_server, new_context, make_competition, make_event):
    comp = make_competition(counts={"single": 1, "multiple": 1, "judge": 1})
    comp.question_time_s = 20
    db.session.commit()
    join_token, _ = event_tokens(make_event(comp))
    page = new_context(bypass_csp=True).new_page()
    join(page, f"{live_server.url}/j/{join_token}", "限时", "13800000012")
    assert_accessible(page, "paced quiz, before the first question")
    page.click('[data-action="next-question"]')
    page.wait_for_selector("fieldset#q1")
    assert_accessible(page, "paced quiz, a question")
    set_elder(page, True)
    page.reload()
    assert page.locator(".elder-pager").count() == 0  # already one question per screen
    assert_accessible(page, "paced quiz, elder mode")


FOCUSED = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const label = el.closest("label");
  return {
    tag: el.tagName.toLowerCase(), name: el.name || "", type: el.type || "",
    text: (el.textContent || "").trim().slice(0, 20),
    elder: el.hasAttribute("data-elder-toggle"), action: el.dataset.action || "",
    outline: style.outlineStyle === "none" ? 0 : parseFloat(style.outlineWidth),
    optionOutline: label && label.classList.contains("option")
      ? parseFloat(getComputedStyle(label).outlineWidth) : null,
  };
}"""


def tab(page) -> dict:
    page.keyboard.press("Tab")
    focused = page.evaluate(FOCUSED)
    assert focused["outline"] >= 2, f"no visible focus on {focused}"
    return focused


def test_keyboard_only_join_and_quiz_with_visible_focus(live_server, phone, make_event):
    join_token, _ = event_tokens(make_event())
    phone.goto(f"{live_server.url}/j/{join_token}")

    order = [tab(phone) for _ in range(6)]
    assert [f["tag"] for f in order] == ["a", "input", "input", "input", "select", "button"]
    assert order[1]["elder"], "the elder switch comes before the form"
    assert [f["name"] for f in order[2:5]] == ["name", "phone", "unit_id"]

    # Back to the name, fill the form with the keyboard alone and send it with Enter.
    for _ in range(3):
        phone.keyboard.press("Shift+Tab")
    assert phone.evaluate(FOCUSED)["name"] == "name"
    phone.keyboard.type("键盘")
    tab(phone)
    phone.keyboard.type("13800000013")
    tab(phone)
    phone.keyboard.press("ArrowDown")  # the first unit
    assert tab(phone)["tag"] == "button"
    phone.keyboard.press("Enter")
    phone.wait_for_url(re.compile(r"/a/[^/]+$"))

    # The quiz: Tab reaches the answer sheet, then the first question's options; arrow
    # keys choose (and the choice is saved); the submit button is reachable.
    questions = questions_on(phone)
    first = questions[0]
    seen = []
    for _ in range(30):
        focused = tab(phone)
        seen.append(focused)
        if focused["name"] == f"q{first['position']}":
            break
    assert any(f["tag"] == "a" and f["text"] == "1" for f in seen), "answer sheet skipped"
    assert seen[-1]["optionOutline"] and seen[-1]["optionOutline"] >= 2
    with phone.expect_response(lambda r: r.request.method == "PUT") as saved:
        if first["type"] == "multiple":
            phone.keyboard.press("Space")
        else:
            phone.keyboard.press("ArrowDown")
    assert saved.value.status == 200
    for _ in range(80):
        if tab(phone)["action"] == "submit-attempt":
            break
    else:
        pytest.fail("the submit button is not reachable with Tab")


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def wire_bytes(request) -> int:
    sizes = request.sizes()
    return sum(sizes[k] for k in ("responseBodySize", "responseHeadersSize"))


@pytest.mark.parametrize("elder", [False, True], ids=["normal", "elder"])
def test_320px_wechat_reflows_and_quiz_page_is_light(
    live_server, new_context, make_competition, make_event, elder
):
    comp = make_competition(
        title="2026年“质量月”全国质量知识竞赛暨海淀区市场监督管理局质量强国建设知识答题活动",
        units=("北京市海淀区中关村科学城管理委员会质量技术监督与标准化服务中心", "西城区"),
        counts={"single": 10, "multiple": 5, "judge": 5},
    )
    join_token, _ = event_tokens(
        make_event(competition=comp, name="中关村软件园主会场", venue="东北旺西路8号")
    )
    narrow = {"viewport": {"width": 320, "height": 568}}
    page = new_context(**narrow).new_page()
    if elder:
        page.context.add_init_script("localStorage.setItem('qm-elder', '1')")
    page.goto(f"{live_server.url}/j/{join_token}")
    assert page.evaluate("document.documentElement.classList.contains('elder')") is elder
    assert page_width(page) <= 320, "join page scrolls sideways at 320px"
    join(
        page,
        page.url,
        "欧阳娜娜",
        "13600136009",
        unit="北京市海淀区中关村科学城管理委员会质量技术监督与标准化服务中心",
    )
    quiz_url = page.url

    # The quiz page opened cold (nothing cached), like a phone that follows a quiz link:
    # everything comes from this server, and all of it stays within the budget.
    page = new_context(**narrow).new_page()
    if elder:
        page.context.add_init_script("localStorage.setItem('qm-elder', '1')")
    loaded = []
    page.on("requestfinished", lambda request: loaded.append(request))
    page.goto(quiz_url)
    page.wait_for_load_state("networkidle")
    assert page_width(page) <= 320, "quiz page scrolls sideways at 320px"
    assert {urlsplit(r.url).netloc for r in loaded} == {urlsplit(live_server.url).netloc}
    weight = {urlsplit(r.url).path: wire_bytes(r) for r in loaded}
    assert sum(weight.values()) <= QUIZ_BUDGET, weight
    assert any(path.endswith(".css") for path in weight) and any(
        path.endswith("quiz.js") for path in weight
    )
    print(f"quiz page, 20 questions, {'elder' if elder else 'normal'}: {weight}")

    questions = questions_on(page)
    assert page.locator("fieldset.question:visible").count() == (1 if elder else len(questions))
    page.on("dialog", lambda dialog: dialog.accept())
    answer_and_wait(page, questions[0], correct_choice(questions[0]))
    page.click('[data-action="submit-attempt"]')
    page.wait_for_url(re.compile(r"/result$"))
    assert page_width(page) <= 320, "result page scrolls sideways at 320px"
