"""Reports in Chromium: the charts render under the page's CSP, the activity summary prints
on A4, and a certificate's QR code opens its public verification page."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
import zxingcpp
from PIL import Image

from quizapp.extensions import db
from tests.test_reports import by_text, play

pytestmark = pytest.mark.browser

DESKTOP = {
    "viewport": {"width": 1280, "height": 900},
    "device_scale_factor": 1,
    "is_mobile": False,
    "has_touch": False,
    "user_agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/120.0 Safari/537.36"
    ),
}
CHARTS_DRAWN = "canvas[data-chart][data-drawn='true']"


@pytest.fixture
def report_data(make_user, make_competition, make_event, now):
    """A finished competition day: five participants over two days, certificates at 30.
    Plain values only, before the live server starts (see the browser conftest)."""
    comp = make_competition(title="2024年质量月知识竞赛", opens_at=now - timedelta(days=3))
    comp.certificate_min_score = 30
    comp.units[0].headcount = 8
    db.session.commit()
    event = make_event(comp)
    yesterday = now - timedelta(days=1)
    play(event, "张小三", "13800000001", now=now, seconds=95)
    play(event, "李四", "13800000002", by_text({0: "wrong 0a"}), now=yesterday, unit=1)
    play(event, "王五", "13800000003", lambda q: "", now=now, unit=2)
    play(event, "赵六", "13800000004", now=yesterday, seconds=200)
    winner = play(event, "钱七", "13800000005", now=now, seconds=60)
    make_user()
    return {"competition_id": comp.id, "token": winner.token}


def _login(page, url: str) -> None:
    page.goto(url + "/auth/login")
    page.fill("input[name=email]", "org@example.com")
    page.fill("input[name=password]", "correct-horse-1")
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r"/competitions/"))


def _page_errors(page) -> list[str]:
    """Console errors (a CSP violation is one), script errors and failed loads but the
    favicon's, collected while the test runs."""
    errors: list[str] = []

    def on_console(message):
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    def on_response(response):
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            errors.append(f"{response.status} {response.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("response", on_response)
    return errors


def test_charts_render_and_the_summary_prints_on_a4(
    report_data, live_server, new_context, screenshots
):
    page = new_context(**DESKTOP).new_page()
    errors = _page_errors(page)
    _login(page, live_server.url)
    base = f"{live_server.url}/competitions/{report_data['competition_id']}"

    page.goto(base + "/statistics")
    page.wait_for_selector(CHARTS_DRAWN)
    assert page.locator(CHARTS_DRAWN).count() == 2
    size = page.locator("canvas[data-chart='scores']").bounding_box()
    assert size["width"] > 200 and size["height"] > 150
    page.screenshot(path=str(screenshots / "organiser-statistics.png"), full_page=True)

    page.goto(base + "/summary")
    page.wait_for_selector(CHARTS_DRAWN)
    assert page.locator(CHARTS_DRAWN).count() == 2
    assert "活动总结" in page.text_content(".summary-kicker")
    page.screenshot(path=str(screenshots / "organiser-summary.png"), full_page=True)

    page.emulate_media(media="print")
    assert page.locator(".topbar").is_hidden() and page.locator("#print-btn").is_hidden()
    pdf = page.pdf(prefer_css_page_size=True)
    boxes = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf)
    assert boxes and all(
        abs(float(w) - 595.3) < 2 and abs(float(h) - 841.9) < 2 for w, h in boxes
    ), "A4"
    assert not errors, errors


def test_certificate_qr_code_opens_the_verification_page(
    report_data, live_server, phone, screenshots
):
    errors = _page_errors(phone)
    phone.goto(f"{live_server.url}/a/{report_data['token']}/result")
    phone.click("[data-action=certificate]")
    phone.wait_for_url(re.compile(r"/certificate$"))
    assert phone.text_content(".cert-name") == "钱七"
    phone.screenshot(path=str(screenshots / "certificate.png"), full_page=True)

    shot = phone.locator(".cert-qr img").screenshot()
    codes = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))
    assert len(codes) == 1
    url = codes[0].text
    assert re.fullmatch(re.escape(live_server.url) + r"/certificates/[\w-]{22}", url)

    phone.goto(url)
    assert phone.locator("[data-valid=true]").is_visible()
    text = phone.text_content("main")
    assert "钱七" not in text and "钱*" in text and "2024年质量月知识竞赛" in text
    assert not errors, errors
