"""The event screen in Chromium at 1920×1080 and 1280×720: whole rows only (long boards
page by themselves), a submission appears without a reload, and a banner says so while
the server does not answer."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from quizapp.dbtypes import utcnow
from quizapp.play.models import Attempt, Participant
from tests.browser.test_participant_flow import event_tokens

pytestmark = pytest.mark.browser

NAMES = [
    *("张晓明", "李建国", "王秀英", "刘志强", "陈静怡", "杨帆", "赵敏"),
    *("黄海涛", "周婷", "吴磊", "徐丽华", "孙浩", "马俊杰", "朱琳"),
]
DISTRICTS = [
    *("东城区", "西城区", "朝阳区", "海淀区", "丰台区", "石景山区", "门头沟区", "房山区"),
    *("通州区", "顺义区", "昌平区", "大兴区", "怀柔区", "平谷区", "密云区", "延庆区"),
    "北京经济技术开发区",
]

# Every visible row of both boards, with its box and its board's box (page coordinates).
MEASURE = """() => [...document.querySelectorAll('#s-top tr, #s-units tr')]
  .filter((tr) => !tr.hidden)
  .map((tr) => {
    const box = tr.getBoundingClientRect();
    const section = tr.closest('section').getBoundingClientRect();
    return {rank: tr.dataset.rank, top: box.top, bottom: box.bottom, right: box.right,
            sectionBottom: section.bottom, sectionRight: section.right};
  })"""


def _results(live_server, competition_id: int, event_id: int, count: int) -> None:
    """``count`` finished attempts spread over the units, written straight to the database."""

    def write(session):
        from quizapp.competitions.models import Competition

        units = session.get(Competition, competition_id).units
        now = utcnow()
        for i in range(count):
            person = Participant(
                competition_id=competition_id,
                name=NAMES[i % len(NAMES)],
                phone=f"139{i:08d}",
                unit_id=units[i % len(units)].id,
            )
            session.add(person)
            session.flush()
            session.add(
                Attempt(
                    participant_id=person.id,
                    competition_id=competition_id,
                    event_id=event_id,
                    status="submitted",
                    seed=1,
                    started_at=now - timedelta(minutes=5),
                    deadline_at=now + timedelta(minutes=5),
                    finished_at=now - timedelta(seconds=i),
                    score=40 - i,
                    max_score=45,
                    duration_ms=60_000 + 1000 * i,
                )
            )

    live_server.db(write)


def _assert_whole_rows(page, label: str) -> None:
    rows = page.evaluate(MEASURE)
    assert rows, label
    for row in rows:
        assert row["bottom"] <= row["sectionBottom"] + 0.5, f"{label}: row {row} is cut off"
        assert row["right"] <= row["sectionRight"] + 0.5, f"{label}: row {row} is too wide"
    width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1], f"{label}: horizontal overflow"


def test_screen_fits_updates_without_reload_and_says_when_stale(
    live_server, new_context, make_competition, make_event, screenshots
):
    comp = make_competition(units=DISTRICTS)
    event = make_event(comp)
    join_token, screen_token = event_tokens(event)
    _results(live_server, comp.id, event.id, 14)

    page = new_context(
        viewport={"width": 1920, "height": 1080},
        device_scale_factor=1,
        is_mobile=False,
        has_touch=False,
        user_agent=None,
        locale="zh-CN",
    ).new_page()
    errors = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{live_server.url}/screen/{screen_token}")
    expect(page.locator('#s-top tr[data-rank="1"]')).to_contain_text("张*明")
    expect(page.locator("#s-top tr:not([hidden])")).to_have_count(10)  # the top N
    expect(page.locator("#s-units-page")).to_have_text(re.compile(r"^1/\d$"))  # 17 units page
    _assert_whole_rows(page, "1920x1080")
    page.screenshot(path=str(screenshots / "screen-board-1080.png"), animations="disabled")

    page.set_viewport_size({"width": 1280, "height": 720})
    page.wait_for_timeout(300)
    _assert_whole_rows(page, "1280x720")
    page.screenshot(path=str(screenshots / "screen-board-720.png"), animations="disabled")
    expect(page.locator("#s-units-page")).to_have_text(re.compile(r"^2/\d$"), timeout=10_000)
    _assert_whole_rows(page, "1280x720, second page")

    # A new participant submits through the API: the screen updates in place.
    page.evaluate("window.__notReloaded = true")
    _, info = live_server.request("GET", f"/api/v1/events/{join_token}")
    status, body = live_server.request(
        "POST",
        f"/api/v1/events/{join_token}/attempts",
        {
            "name": "新来的",
            "phone": "13700000001",
            "unit_id": info["competition"]["units"][0]["id"],
        },
    )
    assert status == 201, body
    status, _ = live_server.request("POST", f"/api/v1/attempts/{body['attempt']['token']}/submit")
    assert status == 200
    expect(page.locator("#s-submitted")).to_have_text("15", timeout=6_000)
    expect(page.locator("#s-participants")).to_have_text("15")
    assert page.evaluate("window.__notReloaded") is True

    # The server stops answering: the last results stay up and a banner says so.
    page.route("**/api/v1/screens/**", lambda route: route.abort())
    expect(page.locator("#s-stale")).to_be_visible(timeout=10_000)
    expect(page.locator("#s-stale-since")).not_to_be_empty()
    expect(page.locator('#s-top tr[data-rank="1"]')).to_be_visible()
    page.screenshot(path=str(screenshots / "screen-stale-720.png"), animations="disabled")
    page.unroute("**/api/v1/screens/**")
    expect(page.locator("#s-stale")).to_be_hidden(timeout=10_000)
    assert page.evaluate("window.__notReloaded") is True
    assert errors == []
