"""A participant's whole path in Chromium: scan the QR code, join, answer, submit, see
the result, and the event screen updating live; plus reload/resume, a second device,
360 px layouts and the JavaScript-free path."""

from __future__ import annotations

import io
import json
import re
import time
from datetime import timedelta

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import select

from quizapp.play.models import Attempt
from tests.conftest import correct_choice

pytestmark = pytest.mark.browser

FULL_SCORE = 3 * 5 + 2 * 10 + 2 * 5  # make_competition's defaults: 7 questions

READ_QUESTIONS = """() => [...document.querySelectorAll("fieldset.question")].map((fs) => {
  const inputs = [...fs.querySelectorAll("input[name^='q']")];
  return {
    position: Number(inputs[0].name.slice(1)),
    type: inputs[0].type === "checkbox" ? "multiple"
      : (fs.dataset.type || (inputs.length === 2 ? "judge" : "single")),
    stem: [...fs.querySelector("legend").childNodes].filter((n) => n.nodeType === 3)
      .map((n) => n.textContent).join(" ").trim(),
    options: inputs.map((input) => {
      const label = input.closest("label");
      const text = label.querySelector(".text");
      return { key: input.value, text: (text || label).textContent.trim() };
    }),
  };
})"""


def event_tokens(event) -> tuple[str, str]:
    # Plain values only: the factories' objects must not open transactions in this
    # thread while the server runs (see conftest).
    return event.join_token, event.screen_token


def join(page, url: str, name: str, phone: str, unit: str = "东城区", shot=None) -> str:
    """Fill and post the join form; returns the attempt token from the quiz URL."""
    if page.url != url:
        page.goto(url)
    page.fill("input[name=name]", name)
    page.fill("input[name=phone]", phone)
    page.select_option("select[name=unit_id]", label=unit)
    if shot:
        page.screenshot(path=str(shot), full_page=True)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r"/a/[^/]+$"))
    return page.url.rsplit("/", 1)[1]


def questions_on(page) -> list[dict]:
    return page.evaluate(READ_QUESTIONS)


def option(page, position: int, key: str):
    return page.locator(f"label:has(input[name='q{position}'][value='{key}'])")


def answer_and_wait(page, question: dict, choice: str) -> None:
    """Tap the labels of ``choice`` one by one, each time waiting for the autosave
    (the PUT carrying the choice so far) and for the page to mark the question saved."""
    pos = question["position"]
    so_far = ""
    for key in sorted(choice):
        so_far = "".join(sorted(so_far + key))

        def is_save(response, pos=pos, want=so_far):
            req = response.request
            return (
                req.method == "PUT"
                and req.url.endswith(f"/answers/{pos}")
                and json.loads(req.post_data or "{}").get("choice") == want
            )

        with page.expect_response(is_save) as saved:
            option(page, pos, key).tap()
        assert saved.value.status == 200, saved.value.text()
        page.wait_for_selector(f"fieldset#q{pos} .save-state.ok", state="attached")


def answer_all_correctly(page) -> list[dict]:
    questions = questions_on(page)
    assert questions
    for q in questions:
        answer_and_wait(page, q, correct_choice(q))
    return questions


def timer_seconds(page) -> int:
    text = page.text_content("[role=timer]")
    minutes, seconds = re.search(r"(\d+):(\d\d)", text).groups()
    return int(minutes) * 60 + int(seconds)


def no_horizontal_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{page.url} is {width}px wide at 360px"


def test_scan_join_answer_submit_and_live_screen(
    live_server, phone, new_context, make_event, screenshots
):
    join_token, screen_token = event_tokens(make_event())

    # The QR code served to the event page encodes this server's join URL.
    status, ctype, png = live_server.get_bytes(f"/j/{join_token}/qr.png")
    assert status == 200 and ctype.startswith("image/png")
    codes = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(codes) == 1
    join_url = codes[0].text
    assert join_url == f"{live_server.url}/j/{join_token}"

    phone.goto(join_url)
    assert phone.locator("form input[name=name]").count() == 1
    attempt_token = join(
        phone, join_url, "张三", "13800138000", shot=screenshots / "phone-join.png"
    )

    questions = answer_all_correctly(phone)
    assert phone.locator(".sheet .cell.done").count() == len(questions)
    phone.evaluate("window.scrollTo(0, 0)")  # sticky bars sit where they belong
    phone.screenshot(path=str(screenshots / "phone-quiz.png"), full_page=True)

    phone.click('[data-action="submit-attempt"]')
    phone.wait_for_url(re.compile(r"/a/[^/]+/result$"))
    phone.screenshot(path=str(screenshots / "phone-result.png"), full_page=True)
    score = int(phone.get_attribute("[data-score]", "data-score"))
    rank = int(phone.get_attribute("[data-rank]", "data-rank"))
    assert phone.text_content("[data-score]").strip() == str(score)

    status, body = live_server.request("GET", f"/api/v1/attempts/{attempt_token}")
    assert status == 200 and body["attempt"]["status"] == "submitted"
    assert body["result"]["score"] == score == body["result"]["max_score"] == FULL_SCORE
    assert body["result"]["rank"] == rank == 1

    row = live_server.db(
        lambda s: s.execute(
            select(Attempt.status, Attempt.score, Attempt.max_score).where(
                Attempt.token == attempt_token
            )
        ).one()
    )
    assert tuple(row) == ("submitted", FULL_SCORE, FULL_SCORE)

    # The event screen at 1080p shows the masked name and the unit.
    screen = new_context(
        viewport={"width": 1920, "height": 1080},
        device_scale_factor=1,
        is_mobile=False,
        has_touch=False,
        user_agent=None,
    ).new_page()
    screen.goto(f"{live_server.url}/screen/{screen_token}")
    first = screen.locator('#s-top [data-rank="1"]')
    assert "张*" in first.inner_text() and "东城区" in first.inner_text()
    assert "张三" not in screen.content()
    assert screen.text_content("#s-participants").strip() == "1"
    assert screen.text_content("#s-submitted").strip() == "1"
    assert screen.text_content(".join-url").strip() == join_url
    screen.screenshot(path=str(screenshots / "screen-1080.png"), animations="disabled")

    # A second participant submits through the API; the next poll updates the counts.
    screen.evaluate("window.__notReloaded = true")
    _, event_info = live_server.request("GET", f"/api/v1/events/{join_token}")
    unit_id = next(u["id"] for u in event_info["competition"]["units"] if u["name"] == "西城区")
    status, body = live_server.request(
        "POST",
        f"/api/v1/events/{join_token}/attempts",
        {"name": "李四", "phone": "13900139000", "unit_id": unit_id},
    )
    assert status == 201, body
    status, _ = live_server.request("POST", f"/api/v1/attempts/{body['attempt']['token']}/submit")
    assert status == 200
    # (expect() polls from outside: the page's CSP forbids wait_for_function's eval)
    expect(screen.locator("#s-submitted")).to_have_text("2", timeout=8_000)
    assert screen.evaluate("window.__notReloaded") is True
    assert screen.text_content("#s-participants").strip() == "2"
    assert "李*" in screen.locator('#s-top [data-rank="2"]').inner_text()
    assert "西城区" in screen.locator("#s-units").inner_text()

    screen.set_viewport_size({"width": 1280, "height": 720})
    screen.screenshot(path=str(screenshots / "screen-720.png"), animations="disabled")
    for selector in ("#s-top", "#s-units", ".screen-join .qr", "#s-submitted"):
        box = screen.locator(selector).bounding_box()
        assert box and box["y"] + box["height"] <= 720 + 1, f"{selector} is cut off at 720p"


def test_reload_keeps_answers_and_clock_and_second_device_resumes(
    live_server, phone, new_context, make_event
):
    join_token, _ = event_tokens(make_event())
    join_url = f"{live_server.url}/j/{join_token}"
    token = join(phone, join_url, "王小明", "13700137000")
    quiz_url = phone.url

    questions = questions_on(phone)
    answered = {q["position"]: correct_choice(q) for q in questions[:3]}
    for q in questions[:3]:
        answer_and_wait(phone, q, answered[q["position"]])

    # Pretend the participant started two minutes ago: the server's clock decides.
    def shift(session):
        attempt = session.scalar(select(Attempt).where(Attempt.token == token))
        attempt.started_at -= timedelta(seconds=120)
        attempt.deadline_at -= timedelta(seconds=120)

    live_server.db(shift)

    def assert_resumed(page):
        for q in questions:
            for opt in q["options"]:
                checked = page.is_checked(f"input[name='q{q['position']}'][value='{opt['key']}']")
                assert checked == (opt["key"] in answered.get(q["position"], "")), (q, opt)
        _, body = live_server.request("GET", f"/api/v1/attempts/{token}")
        server_left = body["attempt"]["remaining_s"]
        shown = timer_seconds(page)
        assert server_left <= 600 - 120
        assert abs(shown - server_left) <= 2, (shown, server_left)
        time.sleep(1.2)
        assert timer_seconds(page) < shown  # still counting down

    phone.reload()
    assert phone.url == quiz_url
    assert_resumed(phone)
    assert phone.locator(".sheet .cell.done").count() == 3

    # Another phone, same name and number: the same attempt, answers and clock.
    other = new_context().new_page()
    assert join(other, join_url, "王小明", "137 0013 7000") == token
    assert other.url == quiz_url
    assert_resumed(other)


def test_no_horizontal_scroll_at_360px(live_server, phone, make_competition, make_event):
    comp = make_competition(
        title="2026年“质量月”全国质量知识竞赛暨海淀区市场监督管理局质量强国建设知识答题活动",
        units=("北京市海淀区中关村科学城管理委员会质量技术监督与标准化服务中心", "西城区"),
    )
    join_token, _ = event_tokens(
        make_event(
            competition=comp,
            name="中关村软件园主会场（一期多功能厅）",
            venue="北京市海淀区东北旺西路8号中关村软件园",
        )
    )
    phone.goto(f"{live_server.url}/j/{join_token}")
    no_horizontal_scroll(phone)
    join(
        phone,
        phone.url,
        "欧阳娜娜",
        "13600136000",
        unit="北京市海淀区中关村科学城管理委员会质量技术监督与标准化服务中心",
    )
    questions = questions_on(phone)
    answer_and_wait(phone, questions[0], correct_choice(questions[0]))
    no_horizontal_scroll(phone)
    phone.on("dialog", lambda dialog: dialog.accept())  # "N unanswered; submit anyway?"
    phone.click('[data-action="submit-attempt"]')
    phone.wait_for_url(re.compile(r"/result$"))
    no_horizontal_scroll(phone)


def test_without_javascript_join_answer_and_submit(live_server, new_context, make_event):
    join_token, _ = event_tokens(make_event())
    page = new_context(java_script_enabled=False).new_page()
    token = join(page, f"{live_server.url}/j/{join_token}", "赵六", "13500135000", unit="朝阳区")

    save = page.locator("button[name=action][value=save]")
    assert save.is_visible()  # quiz.js hides it: proof that no script ran
    fieldsets = page.locator("fieldset.question")
    count = fieldsets.count()
    assert count == 7
    half = count // 2
    for i in range(count):
        fs = fieldsets.nth(i)
        inputs = fs.locator("input[name^='q']")
        name = inputs.first.get_attribute("name")
        qtype = (
            "multiple"
            if inputs.first.get_attribute("type") == "checkbox"
            else ("judge" if inputs.count() == 2 else "single")
        )
        legend = fs.locator("legend").inner_text()
        options = [
            {
                "key": inputs.nth(j).get_attribute("value"),
                "text": fs.locator("label").nth(j).locator(".text").inner_text().strip(),
            }
            for j in range(inputs.count())
        ]
        for key in correct_choice({"type": qtype, "stem": legend, "options": options}):
            page.check(f"input[name='{name}'][value='{key}']")
        if i == half:  # a plain "save" post in the middle keeps what was ticked so far
            ticked = page.locator("input[name^='q']:checked").count()
            with page.expect_navigation():
                save.click()
            assert page.url.endswith(f"/a/{token}")
            assert page.locator("input[name^='q']:checked").count() == ticked
    page.click('[data-action="submit-attempt"]')
    page.wait_for_url(re.compile(r"/result$"))
    assert int(page.get_attribute("[data-score]", "data-score")) == FULL_SCORE
    _, body = live_server.request("GET", f"/api/v1/attempts/{token}")
    assert body["result"]["score"] == FULL_SCORE
