"""Injection and escaping: whatever people type or import is shown as text, everywhere.

Payloads go in through the real entry points - the organiser's forms, the bank import
page, the participant's join form (free-entry units) - and every page that shows them
is parsed: no element, attribute, inline script or javascript: link may come from the
data, and the payload must be readable as text (so the test cannot pass by showing
nothing). Headers, the screen's scripts and the spreadsheets are checked too.
"""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from openpyxl import load_workbook

from quizapp.extensions import db
from tests.security.test_access import _urls, login, organiser_rules

IMG = "<img src=x onerror=alert(1)>"
SVG = "<svg onload=alert(1)>"
SSTI = "{{7*7}}"
JS = "javascript:alert(1)"
SCRIPT = '"><script>alert(1)</script>'
ATTR = "' onmouseover='alert(1)"
PAYLOADS = (IMG, SVG, SSTI, JS, SCRIPT, ATTR)
FORMULA_NAME = '=HYPERLINK("http://x.cn","y")'
FORMULA_UNIT = "@SUM(A1)"
FORMULA_STEM = "=1+1 这是公式吗？"
FORMULA_START = tuple("=+-@\t\r＝＋－＠")
STATIC_JS = Path(__file__).resolve().parents[2] / "quizapp" / "static" / "js"


class Page(HTMLParser):
    """What a browser would build from the HTML: elements with attributes, and text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._script: dict | None = None
        self.inline_scripts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        found = {k: v or "" for k, v in attrs}
        self.tags.append((tag, found))
        if tag == "script":
            self._script = found

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None

    def handle_data(self, data):
        if self._in_inline_script() and data.strip():
            self.inline_scripts.append(data)
        self.text.append(data)

    def _in_inline_script(self) -> bool:
        script = self._script
        return (
            script is not None and "src" not in script and script.get("type") != "application/json"
        )

    def readable(self) -> str:
        """Text nodes and attribute values, as decoded by the browser."""
        return "\n".join([*self.text, *(v for _t, a in self.tags for v in a.values())])


def assert_safe_page(url: str, response) -> Page:
    body = response.get_data(as_text=True)
    page = Page(body)
    for tag, attrs in page.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (url, tag, name)
            assert name != "style", (url, tag, "inline style: CSP refuses it")
            if name in ("href", "src", "action", "formaction", "xlink:href"):
                assert not value.strip().lower().startswith("javascript:"), (url, tag, value)
        assert not (tag == "img" and attrs.get("src") == "x"), url
        assert tag != "style", (url, "a <style> block: CSP refuses it")
    assert not page.inline_scripts, (url, page.inline_scripts)
    assert_security_headers(url, response)
    return page


def assert_security_headers(url: str, response) -> None:
    csp = response.headers.get("Content-Security-Policy", "")
    directives = dict((d.strip().split(" ", 1) + [""])[:2] for d in csp.split(";") if d.strip())
    script_src = directives.get("script-src", directives.get("default-src", ""))
    assert "'self'" in script_src, (url, csp)
    assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src, (url, csp)
    assert directives.get("object-src") == "'none'", (url, csp)
    assert directives.get("frame-ancestors") == "'none'", (url, csp)
    assert directives.get("base-uri") == "'self'", (url, csp)
    assert response.headers.get("X-Content-Type-Options") == "nosniff", url
    assert response.headers.get("X-Frame-Options") == "DENY", url
    assert response.headers.get("Referrer-Policy") == "same-origin", url
    assert response.headers.get("Permissions-Policy"), url
    if response.status_code == 200:  # pages with data are never cached
        assert "no-store" in response.headers.get("Cache-Control", ""), url


def _bank_csv() -> bytes:
    """Questions whose stems, options, explanations, categories and sources carry the
    payloads (and formulas, for the exports)."""
    rows = [
        [
            "题型",
            "题干",
            "选项A",
            "选项B",
            "选项C",
            "选项D",
            "答案",
            "解析",
            "分类",
            "难度",
            "来源",
        ],
        ["单选", f"{IMG} 题干一", SVG, SSTI, JS, SCRIPT, "A", f"解析 {ATTR}", IMG, "1", JS],
        ["单选", f"{SSTI} 题干二", ATTR, IMG, "乙", "丙", "B", f"{SCRIPT} 解析", "普通", "2", SVG],
        ["多选", f"{SCRIPT} 多选", f"{JS} 项", SVG, "对的", "错的", "AC", SSTI, "普通", "3", ""],
        ["判断", f"{ATTR} 判断", "", "", "", "", "对", f"{SVG}{IMG}", "普通", "1", ""],
        ["判断", FORMULA_STEM, "", "", "", "", "错", "=cmd|' /C calc'!A0", "普通", "1", ""],
    ]
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode("utf-8")


@pytest.fixture
def hostile(app, client, make_user, make_competition, now):
    """A competition built from hostile input through the real forms, with participants
    whose names and (free-entry) units are payloads, some finished, one still active."""
    from quizapp.banks.services import get_bank
    from quizapp.competitions.models import Competition
    from quizapp.play.models import Attempt
    from quizapp.reports import certificates

    make_user(org=f"{SVG}单位")
    db.session.commit()
    login(client, "org@example.com")
    r = client.post(
        "/banks/import",
        data={"bank_name": "攻击题库", "file": (io.BytesIO(_bank_csv()), "bank.csv")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    token = re.search(r'name="token"[^>]*value="([^"]+)"', r.get_data(as_text=True)).group(1)
    assert client.post("/banks/import/confirm", data={"token": token}).status_code == 302
    bank = get_bank("攻击题库")
    comp = make_competition(
        org=f"{SVG}单位",
        bank=bank,
        counts={"single": 2, "multiple": 1, "judge": 2},
        units=(IMG, FORMULA_UNIT),
        free_units=True,
        title=f"{IMG} {SSTI} 竞赛",
    )
    comp = db.session.get(Competition, comp.id)
    comp.theme = f"{SCRIPT} {JS}"
    comp.mask_names = False
    comp.certificate_min_score = 0
    db.session.commit()
    r = client.post(f"/competitions/{comp.id}/events", data={"name": f"{SVG} 会场", "venue": ATTR})
    event_id = int(r.headers["Location"].rsplit("/", 1)[1])
    from quizapp.competitions.models import Event

    event = db.session.get(Event, event_id)
    join_token, screen_token = event.join_token, event.screen_token
    db.session.commit()
    tokens = []
    people = [*PAYLOADS, FORMULA_NAME]
    for i, name in enumerate(people):
        phone = app.test_client()
        unit = [SVG, SSTI, JS, SCRIPT, ATTR, IMG, FORMULA_UNIT][i]
        r = phone.post(
            f"/j/{join_token}", data={"name": name, "phone": f"1390000{i:04d}", "unit_name": unit}
        )
        assert r.status_code == 302, (name, r.get_data(as_text=True)[:2000])
        quiz = r.headers["Location"]
        tokens.append(quiz.rsplit("/", 1)[1])
        if i < len(people) - 1:
            assert phone.post(quiz, data={"action": "submit"}).status_code == 302
    db.session.commit()
    finished = db.session.scalar(db.select(Attempt).where(Attempt.token == tokens[0]))
    certificate = certificates.certificate_for(finished.token).certificate_token
    db.session.commit()
    first_item = finished.items[0]
    return {
        "competition_id": comp.id,
        "event_id": event_id,
        "attempt_id": finished.id,
        "rule_id": comp.rules[0].id,
        "bank_id": bank.id,
        "question_id": first_item.question_id,
        "join": join_token,
        "screen": screen_token,
        "finished": tokens[:-1],
        "active": tokens[-1],
        "certificate": certificate,
    }


# Where each payload must be readable: page → strings that page shows.
def _expected(h) -> dict[str, tuple[str, ...]]:
    return {
        f"/j/{h['join']}": (IMG, SSTI, SCRIPT, JS, SVG, ATTR),
        f"/a/{h['active']}": (IMG, SSTI),
        f"/a/{h['finished'][0]}/result": (SSTI,),
        f"/a/{h['finished'][0]}/certificate": (IMG,),
        f"/screen/{h['screen']}": (IMG, SSTI, SVG, JS, SCRIPT, ATTR),
        f"/competitions/{h['competition_id']}/results": PAYLOADS,
        f"/competitions/{h['competition_id']}": (IMG, SSTI),
        f"/banks/{h['bank_id']}": (IMG, SSTI, SCRIPT, ATTR),
        f"/competitions/events/{h['event_id']}": (SVG, ATTR),
    }


def test_every_page_shows_hostile_input_only_as_text(app, client, hostile):
    expected = _expected(hostile)
    public = [
        f"/j/{hostile['join']}",
        f"/a/{hostile['active']}",
        f"/certificates/{hostile['certificate']}",
        *(f"/a/{t}/result" for t in hostile["finished"]),
        *(f"/a/{t}/certificate" for t in hostile["finished"][:1]),
        f"/screen/{hostile['screen']}",
    ]
    organiser = [
        url
        for rule in organiser_rules(app)
        if "GET" in rule.methods
        for url in _urls(rule, hostile)
    ]
    seen = {}
    for url in [*public, *organiser]:
        r = client.get(url)
        assert r.status_code in (200, 302), (url, r.status_code)
        if r.status_code != 200 or r.mimetype != "text/html":
            continue
        seen[url] = assert_safe_page(url, r).readable()
    assert len(seen) >= 25, sorted(seen)
    for url, strings in expected.items():
        for payload in strings:
            assert payload in seen[url], (url, payload)
    everything = "\n".join(seen.values())
    for payload in PAYLOADS:
        assert payload in everything


@pytest.mark.parametrize(
    "html",
    [
        f"<p>{IMG}</p>",
        f"<p>{SVG}</p>",
        f'<input value="{SCRIPT}">',
        f"<input value='{ATTR}'>",
        f'<a href="{JS}">x</a>',
        '<p style="color:red">x</p>',
        "<script>alert(1)</script>",
    ],
)
def test_the_page_check_catches_markup_from_data(app, html):
    """The checker above is not vacuous: each of these fails it."""
    response = app.response_class(f"<!doctype html><html><body>{html}</body></html>")
    for name, value in (
        (
            "Content-Security-Policy",
            "script-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'",
        ),
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "same-origin"),
        ("Permissions-Policy", "camera=()"),
        ("Cache-Control", "no-store"),
    ):
        response.headers[name] = value
    with pytest.raises(AssertionError):
        assert_safe_page("/fake", response)


def test_screen_updates_as_text(client, hostile):
    """The screen's data API carries the names as JSON strings (never HTML), and the
    screen's scripts write data with textContent only."""
    r = client.get(f"/api/v1/screens/{hostile['screen']}")
    assert r.mimetype == "application/json"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    names = {row["name"] for row in r.json["top"]}
    assert {IMG, SVG, SSTI} <= names
    assert_js_has_no_html_sinks()


def assert_js_has_no_html_sinks():
    sinks = re.compile(
        r"\.innerHTML\b|\.outerHTML\b|insertAdjacentHTML|document\.write|\beval\s*\("
        r"|new\s+Function\s*\(|createContextualFragment|DOMParser"
    )
    scripts = sorted(STATIC_JS.glob("**/*.js"))
    assert scripts
    for path in scripts:
        code = re.sub(r"//[^\n]*|/\*.*?\*/", "", path.read_text(encoding="utf-8"), flags=re.S)
        assert not sinks.search(code), f"{path.name}: {sinks.search(code).group(0)}"


def test_error_pages_and_api_errors_escape_and_carry_headers(client):
    for url in (f"/j/{'x' * 10}", "/no/such/page", f"/competitions/{IMG}"):
        r = client.get(url)
        assert r.status_code in (302, 404)
        if r.status_code == 404:
            assert_safe_page(url, r)
    r = client.post(
        "/api/v1/events/abcdefghijklmnopqrstuv/attempts", json={"name": IMG, "phone": "1"}
    )
    assert r.status_code == 404 and r.mimetype == "application/json"


def test_hsts_over_https_only(client):
    assert "Strict-Transport-Security" not in client.get("/auth/login").headers
    secure = client.get("/auth/login", base_url="https://quiz.test")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


def _cells_xlsx(data: bytes):
    book = load_workbook(io.BytesIO(data))
    for sheet in book.worksheets:
        assert not sheet.title.startswith(FORMULA_START)
        for row in sheet.iter_rows():
            yield from row


def _assert_no_formulas(url: str, response) -> list[str]:
    assert response.status_code == 200, url
    texts = []
    if url.endswith(".csv"):
        for row in csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))):
            for value in row:
                assert not value.startswith(FORMULA_START), (url, value)
                texts.append(value)
    else:
        for cell in _cells_xlsx(response.get_data()):
            assert cell.data_type != "f", (url, cell.coordinate, cell.value)
            if isinstance(cell.value, str):
                assert not cell.value.startswith(FORMULA_START), (url, cell.coordinate)
                texts.append(cell.value)
    return texts


def test_exports_contain_no_formula_cells(client, hostile):
    bank, comp = hostile["bank_id"], hostile["competition_id"]
    for fmt in ("csv", "xlsx"):
        url = f"/banks/{bank}/export.{fmt}"
        texts = _assert_no_formulas(url, client.get(url))
        assert "'" + FORMULA_STEM in texts  # shown, neutralised, not dropped
        url = f"/competitions/{comp}/results.{fmt}"
        texts = _assert_no_formulas(url, client.get(url))
        assert any(FORMULA_NAME in t for t in texts) and any(FORMULA_UNIT in t for t in texts)
    url = f"/competitions/{comp}/summary.xlsx"
    _assert_no_formulas(url, client.get(url))


def test_names_are_normalised_before_uniqueness(app, make_user, make_event, now):
    """NFKC, trimmed, whitespace collapsed, invisible characters dropped: 'ａｄｍｉｎ ',
    'admin' and 'ad\u200bmin' are one organization, one account, one bank, one unit and
    one participant."""
    from quizapp.auth.services import create_user, get_or_create_organization
    from quizapp.banks.services import get_or_create_bank
    from quizapp.competitions.models import Competition
    from quizapp.errors import Conflict
    from quizapp.play import services

    org = get_or_create_organization("ａｄｍｉｎ ")
    assert get_or_create_organization("admin").id == org.id
    assert get_or_create_organization("ad\u200bmin\u3000").id == org.id
    create_user("ＡＤＭＩＮ@example.com ", "correct-horse-1", "admin")
    with pytest.raises(Conflict):
        create_user("admin@example.com", "correct-horse-1", "admin")
    bank = get_or_create_bank("ｂａｎｋ　一", org)
    assert get_or_create_bank("bank 一", org).id == bank.id
    db.session.commit()

    event = make_event()
    comp = db.session.get(Competition, event.competition_id)
    comp.free_units = True
    db.session.commit()
    first, _ = services.join(
        event.join_token, name="张三", phone="13900000001", unit_name="ＡＢＣ公司", now=now
    )
    again, created = services.join(
        event.join_token,
        name=" 张\u200b三\u3000",
        phone="１３９００００００01",
        unit_name="ABC公司",
        now=now,
    )
    assert not created and again.id == first.id
    other, _ = services.join(
        event.join_token, name="李四", phone="13900000002", unit_name="ABC\u200b公司 ", now=now
    )
    assert other.participant.unit_id == first.participant.unit_id
