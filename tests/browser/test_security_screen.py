"""The event screen in Chromium with hostile names and units: rendered by the server and
by the live updates, they show as text; no script runs, no element is made from data,
and the page breaks no rule of its Content-Security-Policy (SECURITY.md, promise 7)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from quizapp.competitions.models import Competition

pytestmark = pytest.mark.browser

FIRST = ("<img src=x onerror=alert(1)>", "<svg onload=alert(2)>")
LATER = ('"><script>alert(3)</script>', "<iframe src=javascript:alert(4)>")


def test_live_screen_shows_hostile_names_as_text(live_server, new_context, make_event):
    event = make_event()
    join_token, screen_token, comp_id = event.join_token, event.screen_token, event.competition_id

    def reveal_names(session):
        comp = session.get(Competition, comp_id)
        comp.mask_names, comp.free_units = False, True

    live_server.db(reveal_names)

    def take_part(name: str, unit: str, phone: str) -> None:
        status, body = live_server.request(
            "POST",
            f"/api/v1/events/{join_token}/attempts",
            {"name": name, "phone": phone, "unit_name": unit},
        )
        assert status == 201, body
        token = body["attempt"]["token"]
        assert live_server.request("POST", f"/api/v1/attempts/{token}/submit")[0] == 200

    take_part(FIRST[0], FIRST[1], "13800000001")
    page = new_context(
        viewport={"width": 1280, "height": 720}, is_mobile=False, has_touch=False, user_agent=None
    ).new_page()
    dialogs, violations = [], []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(f"{live_server.url}/screen/{screen_token}")
    expect(page.locator("#s-submitted")).to_have_text("1")

    take_part(LATER[0], LATER[1], "13800000002")  # arrives through the live update
    expect(page.locator("#s-submitted")).to_have_text("2", timeout=10_000)
    expect(page.locator("#s-top")).to_contain_text(LATER[0], timeout=10_000)

    board = page.locator("#s-top").inner_text() + page.locator("#s-units").inner_text()
    for text in (*FIRST, *LATER):
        assert text in board, text
    made_from_data = "#s-top img, #s-top svg, #s-top script, #s-top iframe, #s-units img, #s-units svg, #s-units script, #s-units iframe"
    assert page.locator(made_from_data).count() == 0
    assert dialogs == [] and violations == []
