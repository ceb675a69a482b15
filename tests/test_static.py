"""Static files on weak venue networks: cached by the phone, gzip-compressed when asked,
every asset served by the app itself, and the quiz page's first visit within 60 KB."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[1] / "quizapp" / "static"
GZIP = {"Accept-Encoding": "gzip, deflate"}
QUIZ_BUDGET = 60 * 1024
ASSET = re.compile(r'<(?:link|script)\b[^>]*?\b(?:href|src)="([^"]+)"')
ANY_URL = re.compile(r'\b(?:href|src|action|formaction|poster|data)="([^"]*)"')


def test_static_files_are_cached_by_the_phone_and_revalidated(client):
    for path in ("/static/css/app.css", "/static/js/quiz.js", "/static/js/elder-init.js"):
        r = client.get(path)
        assert r.status_code == 200
        assert r.cache_control.public and r.cache_control.max_age >= 3600, path
        assert r.headers["ETag"] and r.headers["Last-Modified"]
        again = client.get(path, headers={"If-None-Match": r.headers["ETag"]})
        assert again.status_code == 304 and again.data == b""


def test_pages_are_never_cached(client, make_event):
    event = make_event()
    r = client.get(f"/j/{event.join_token}", headers=GZIP)
    assert r.headers["Cache-Control"] == "no-store"
    assert "Content-Encoding" not in r.headers  # pages carry a CSRF token: never compressed


def test_static_text_is_gzipped_when_the_phone_accepts_it(client):
    plain = client.get("/static/css/app.css")
    packed = client.get("/static/css/app.css", headers=GZIP)
    assert packed.headers["Content-Encoding"] == "gzip"
    assert (
        "Accept-Encoding" in packed.headers["Vary"] and "Accept-Encoding" in plain.headers["Vary"]
    )
    assert gzip.decompress(packed.data) == plain.data
    assert len(packed.data) < len(plain.data) / 2
    assert int(packed.headers["Content-Length"]) == len(packed.data)
    assert "Accept-Ranges" not in packed.headers
    # Each representation has its own validator, and both revalidate.
    assert packed.headers["ETag"] != plain.headers["ETag"]
    again = client.get(
        "/static/css/app.css", headers={**GZIP, "If-None-Match": packed.headers["ETag"]}
    )
    assert again.status_code == 304 and again.data == b""
    assert packed.cache_control.max_age >= 3600
    # A client that does not ask for gzip gets the plain file.
    assert "Content-Encoding" not in plain.headers


def test_no_web_font_over_100_kb_and_no_url_to_another_host_in_css():
    fonts = [p for p in STATIC.rglob("*") if p.suffix in {".woff", ".woff2", ".ttf", ".otf"}]
    assert all(p.stat().st_size <= 100 * 1024 for p in fonts), fonts
    css = (STATIC / "css" / "app.css").read_text()
    assert not re.search(r"url\(\s*['\"]?(https?:)?//", css)
    assert "@import" not in css


def _join(client, event) -> str:
    unit_id = event.competition.units[0].id
    r = client.post(
        f"/j/{event.join_token}",
        data={"name": "称重", "phone": "13800000031", "unit_id": str(unit_id)},
    )
    assert r.status_code == 302, r.get_data(as_text=True)
    return r.headers["Location"]


def _wire_size(response) -> int:
    head = sum(len(k) + len(v) + 4 for k, v in response.headers.items())
    return len(response.data) + head


@pytest.mark.parametrize("questions", [20, 36])
def test_quiz_page_first_visit_is_within_60_kb_from_this_server_only(
    client, make_competition, make_event, questions
):
    per_type = questions // 3
    counts = {"single": questions - 2 * per_type, "multiple": per_type, "judge": per_type}
    event = make_event(competition=make_competition(counts=counts))
    quiz_url = _join(client, event)
    page = client.get(quiz_url, headers=GZIP)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count('class="card question"') == questions

    urls = ANY_URL.findall(html)
    assert all(not re.match(r"(https?:)?//", u) for u in urls), urls
    assets = [a for a in ASSET.findall(html) if not a.startswith("data:")]
    assert {"/static/css/app.css", "/static/js/quiz.js"} <= {a.split("?")[0] for a in assets}
    sizes = {quiz_url: _wire_size(page)}
    for asset in assets:
        r = client.get(asset, headers=GZIP)
        assert r.status_code == 200, asset
        sizes[asset] = _wire_size(r)
    total = sum(sizes.values())
    print(f"quiz page, {questions} questions: {total} bytes {sizes}")
    assert total <= QUIZ_BUDGET, sizes
