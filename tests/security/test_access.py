"""Access: organisers reach only their own organization's objects; logged-out visitors
reach no organiser page; sessions rotate at login and die at logout; login is throttled.

The routes are enumerated from the app's URL map, so a route added later is covered
without touching this file, and a route with an argument this file cannot fill (or a
public route nobody declared public) fails the suite until someone decides about it.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text

from quizapp.extensions import db

# Reachable without logging in: the login page, health check, static files, the API
# document, and every route that takes a ``<token>`` (participant, screen and
# certificate links: the 128-bit token is the credential; see test_tokens.py).
PUBLIC_ENDPOINTS = {"static", "auth.login", "main.healthz", "api.openapi"}

INTRUDER_FORM = {
    # A plausible body for every organiser form, so that a POST which skipped the
    # ownership check would really change something (CSRF is off in tests).
    "name": "入侵者的活动",
    "venue": "别处",
    "names": "入侵者的活动\n另一个",
    "title": "入侵者复制",
    "qtype": "judge",
    "count": "1",
    "points": "1",
    "category": "",
    "difficulty": "",
    "type": "single",
    "stem": "被篡改的题目",
    "options": "甲\n乙",
    "answer": "A",
    "explanation": "",
    "source": "",
    "is_active": "",
    "active": "0",
    "token": "",
}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def login(client, email, password="correct-horse-1", **extra):
    return client.post("/auth/login", data={"email": email, "password": password, **extra})


def _is_public(rule) -> bool:
    return rule.endpoint in PUBLIC_ENDPOINTS or "token" in rule.arguments


def organiser_rules(app):
    return [r for r in app.url_map.iter_rules() if not _is_public(r)]


def _methods(rule) -> list[str]:
    return [m for m in METHODS if m in rule.methods]


def _id_args(rule) -> list[str]:
    """The rule's object-id arguments, in URL order (``any(...)`` choices are not ids)."""
    names = [n for n in rule.arguments if not hasattr(rule._converters[n], "items")]
    return sorted(names, key=rule.rule.index)


def _urls(rule, ids: dict[str, int]) -> list[str]:
    """The rule's URLs with each id taken from ``ids``, one per choice of its ``any(...)``
    arguments. Fails for an argument nobody taught this test to fill."""
    values = {}
    for name in _id_args(rule):
        assert name in ids, f"{rule.rule}: teach tests/security/test_access.py '{name}'"
        values[name] = ids[name]
    urls = [values]
    for name in set(rule.arguments) - set(values):
        urls = [{**u, name: item} for u in urls for item in sorted(rule._converters[name].items)]
    return [rule.build(u, append_unknown=False)[1] for u in urls]


def db_fingerprint() -> dict[str, tuple[int, str]]:
    """Row count and a checksum of every row of every table (order-independent)."""
    db.session.rollback()
    found = {}
    for table in sorted(t.name for t in db.metadata.sorted_tables):
        rows = db.session.execute(text(f'SELECT * FROM "{table}"')).all()
        digest = hashlib.sha256()
        for line in sorted(repr(tuple(map(str, row))) for row in rows):
            digest.update(line.encode())
        found[table] = (len(rows), digest.hexdigest())
    db.session.rollback()
    return found


def _organization(name, make_user, email, make_bank, make_competition, make_event, now):
    """An organization with an organiser, a private bank, a competition on it, an event,
    a submitted attempt and a staged (unconfirmed) import: one object of every kind."""
    from quizapp.auth.services import get_or_create_organization
    from quizapp.banks import manage
    from quizapp.play import services as play

    user = make_user(email=email, org=name)
    org = get_or_create_organization(name)
    bank = make_bank(name=f"{name}题库", n=4, organization=org)
    comp = make_competition(org=name, bank=bank, title=f"{name}竞赛")
    event = make_event(competition=comp, name=f"{name}会场")
    attempt, _ = play.join(
        event.join_token,
        name=f"{name}选手",
        phone="13800000000",
        unit_id=comp.units[0].id,
        now=now,
    )
    play.submit(attempt.token, now)
    csv = "题型,题干,选项A,选项B,答案\n单选,暂存题,甲,乙,A\n".encode()
    staged = manage.stage_import(user, f"{name}暂存", "staged.csv", csv, max_rows=100)
    return {
        "user": user,
        "competition_id": comp.id,
        "event_id": event.id,
        "attempt_id": attempt.id,
        "rule_id": comp.rules[0].id,
        "bank_id": bank.id,
        "question_id": bank.questions[0].id,
        "unit_id": comp.units[0].id,
        "participant": f"{name}选手",
        "pending_token": staged.token,
    }


@pytest.fixture
def orgs(app, make_user, make_bank, make_competition, make_event, now):
    """Two organizations, 甲 (the victim) and 乙 (the organiser who tries)."""
    a = _organization(
        "甲单位", make_user, "a@example.com", make_bank, make_competition, make_event, now
    )
    b = _organization(
        "乙单位", make_user, "b@example.com", make_bank, make_competition, make_event, now
    )
    return a, b


def test_every_public_route_is_a_token_route_or_declared(app):
    """Default deny: a new route is an organiser route unless it takes a token or is
    declared public above (and the declared ones still exist)."""
    endpoints = {r.endpoint for r in app.url_map.iter_rules()}
    assert endpoints >= PUBLIC_ENDPOINTS
    token_routes = [r for r in app.url_map.iter_rules() if "token" in r.arguments]
    assert {r.endpoint.split(".")[0] for r in token_routes} <= {
        "play",
        "leaderboards",
        "api",
        "reports",
    }
    assert len(organiser_rules(app)) >= 25


def test_logged_out_every_organiser_route_redirects_to_login(app, client, orgs):
    a, _b = orgs
    before = db_fingerprint()
    checked = 0
    for rule in organiser_rules(app):
        for url in _urls(rule, a):
            for method in _methods(rule):
                r = client.open(url, method=method, data=INTRUDER_FORM)
                assert r.status_code == 302, (method, url, r.status_code)
                assert urlsplit(r.headers["Location"]).path == "/auth/login", (method, url)
                checked += 1
    assert checked >= 30
    assert db_fingerprint() == before


def test_another_organizations_objects_are_404_and_untouched(app, client, orgs):
    """Every organiser route that takes an object id, filled with 甲's objects and called
    by 乙's organiser with every method it accepts: 404, and the database unchanged."""
    a, _b = orgs
    login(client, "b@example.com")
    before = db_fingerprint()
    checked = []
    for rule in organiser_rules(app):
        if not _id_args(rule):
            continue
        for url in _urls(rule, a):
            for method in _methods(rule):
                r = client.open(url, method=method, data=INTRUDER_FORM)
                assert r.status_code == 404, (method, url, r.status_code)
                assert "甲单位" not in r.get_data(as_text=True), (method, url)
                checked.append(rule.endpoint)
    assert len(set(checked)) >= 20, checked
    assert db_fingerprint() == before


def test_mixed_ids_reveal_nothing_and_change_nothing(app, client, orgs):
    """Routes with two ids, called by 乙 with its own first id and 甲's second (e.g. 乙's
    competition with 甲's draw rule or attempt): answered exactly as for an id that does
    not exist, so they are no oracle, and nothing changes."""
    a, b = orgs
    login(client, "b@example.com")
    before = db_fingerprint()
    missing = dict.fromkeys(a, 2**31 - 7)
    mixed_rules = [r for r in organiser_rules(app) if len(_id_args(r)) >= 2]
    assert mixed_rules
    for rule in mixed_rules:
        for foreign in _id_args(rule)[1:]:
            urls = zip(
                _urls(rule, {**b, foreign: a[foreign]}),
                _urls(rule, {**b, foreign: missing[foreign]}),
                strict=True,
            )
            for url, nowhere in urls:
                for method in _methods(rule):
                    r = client.open(url, method=method, data=INTRUDER_FORM)
                    nothing = client.open(nowhere, method=method, data=INTRUDER_FORM)
                    assert r.status_code in (302, 404), (method, url, r.status_code)
                    assert (r.status_code, r.headers.get("Location")) == (
                        nothing.status_code,
                        nothing.headers.get("Location"),
                    ), (method, url)
    assert db_fingerprint() == before


def test_foreign_ids_in_query_strings_and_forms_show_nothing(app, client, orgs):
    """乙's own pages filtered by 甲's event or unit show none of 甲's results; 甲's staged
    import cannot be confirmed by 乙; 甲's private bank cannot be used in 乙's competition."""
    a, b = orgs
    login(client, "b@example.com")
    before = db_fingerprint()
    comp = b["competition_id"]
    for url in (
        f"/competitions/{comp}/results?event={a['event_id']}&unit={a['unit_id']}",
        f"/competitions/{comp}/leaderboard?event={a['event_id']}",
        f"/competitions/{comp}/results.csv?event={a['event_id']}",
    ):
        r = client.get(url)
        assert r.status_code in (200, 404), url
        assert a["participant"] not in r.get_data(as_text=True), url
    r = client.post("/banks/import/confirm", data={"token": a["pending_token"]})
    assert r.status_code == 302
    r = client.post(
        "/competitions/new",
        data={
            "title": "用别人的题库",
            "opens_at": "2026-09-01T09:00",
            "closes_at": "2026-09-30T18:00",
            "time_limit": "10",
            "banks": [str(a["bank_id"])],
            "single_count": "1",
            "single_points": "5",
            "multiple_count": "0",
            "multiple_points": "5",
            "judge_count": "0",
            "judge_points": "5",
            "attempts": "1",
            "reveal": "after_submit",
            "multiple_scoring": "all",
            "unit_metric": "average",
            "top_n": "10",
            "free_units": "y",
        },
    )
    assert r.status_code == 422
    assert db_fingerprint() == before


def test_session_rotates_at_login(app, client, make_user):
    """Whatever was in the session before login (a planted value, the old CSRF token) is
    gone after it, and the pre-login cookie does not carry the login."""
    make_user()
    app.config["WTF_CSRF_ENABLED"] = True
    page = client.get("/auth/login").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"
        old_csrf = session["csrf_token"]
    before = client.get_cookie("session").value
    r = login(client, "org@example.com", csrf_token=csrf)
    assert r.status_code == 302
    after = client.get_cookie("session").value
    assert after != before
    with client.session_transaction() as session:
        assert "planted" not in session
        assert session.get("csrf_token") != old_csrf
        assert session.get("_user_id")
    client.set_cookie("session", before)
    assert client.get("/competitions/").status_code == 302


def test_logout_kills_the_old_session_and_remember_cookies(app, client, make_user):
    make_user()
    phone, laptop = app.test_client(), app.test_client()
    assert login(phone, "org@example.com", remember="y").status_code == 302
    assert login(laptop, "org@example.com").status_code == 302
    session_cookie = phone.get_cookie("session").value
    remember_cookie = phone.get_cookie("remember_token").value
    assert phone.post("/auth/logout").status_code == 302
    assert phone.get("/competitions/").status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", session_cookie)
    assert replay.get("/competitions/").status_code == 302
    replay = app.test_client()
    replay.set_cookie("remember_token", remember_cookie)
    assert replay.get("/competitions/").status_code == 302
    replay.set_cookie("session", session_cookie)
    assert replay.get("/competitions/").status_code == 302
    # Logout ends the account's sessions everywhere (session_version), not only here.
    assert laptop.get("/competitions/").status_code == 302


def test_login_throttled_per_ip(app, client, make_user):
    """Ten failures from one address, each on a different account, and the eleventh
    try from there is refused, even with the right password."""
    make_user()
    ip = {"REMOTE_ADDR": "198.51.100.10"}
    for i in range(10):
        r = client.post(
            "/auth/login",
            data={"email": f"guess{i}@example.com", "password": "wrong-password"},
            environ_base=ip,
        )
        assert r.status_code == 200
    r = client.post(
        "/auth/login",
        data={"email": "org@example.com", "password": "correct-horse-1"},
        environ_base=ip,
    )
    assert r.status_code == 429 and r.headers.get("Retry-After")
    other = client.post(
        "/auth/login",
        data={"email": "org@example.com", "password": "correct-horse-1"},
        environ_base={"REMOTE_ADDR": "198.51.100.11"},
    )
    assert other.status_code == 302


def test_login_throttled_per_account_across_addresses(app, client, make_user):
    make_user()
    for i in range(10):
        r = client.post(
            "/auth/login",
            data={"email": "ORG@example.com ", "password": "wrong-password"},
            environ_base={"REMOTE_ADDR": f"203.0.113.{i + 1}"},
        )
        assert r.status_code == 200
    r = client.post(
        "/auth/login",
        data={"email": "ｏｒｇ@example.com", "password": "correct-horse-1"},
        environ_base={"REMOTE_ADDR": "203.0.113.99"},
    )
    assert r.status_code == 429


def test_successful_logins_are_not_limited(app, client, make_user):
    """Only failures count: many organisers logging in from one office never see 429."""
    make_user()
    for _ in range(11):
        assert login(client, "org@example.com").status_code == 302
        assert client.post("/auth/logout").status_code == 302


def test_at_most_ten_failures_in_any_minute(app, client, make_user, monkeypatch):
    """A moving window: ten failures spread up to a fixed window's edge do not buy ten
    more just after it."""
    import limits.storage.memory as memory

    clock = {"now": 1_000_000.0}

    class FakeTime:
        @staticmethod
        def time():
            return clock["now"]

    monkeypatch.setattr(memory, "time", FakeTime)
    make_user()

    def fail():
        return client.post(
            "/auth/login", data={"email": "org@example.com", "password": "wrong-password"}
        ).status_code

    assert fail() == 200
    clock["now"] += 58
    assert [fail() for _ in range(9)] == [200] * 9
    clock["now"] += 3  # 61 s after the first failure, 3 s after the other nine
    assert fail() == 200  # the first one has left the window
    assert fail() == 429
    clock["now"] += 58
    assert fail() == 200


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/\\evil.example/",
        "/\t/evil.example/",
        "/\n/evil.example/",
        " //evil.example/",
        "https://evil.example/",
        "javascript:alert(1)",
    ],
)
def test_login_never_redirects_off_site(client, make_user, target):
    """``next`` is followed only to a path on this site; browsers read "/\\x" as "//x"
    and drop tabs and newlines, so those are refused too."""
    make_user()
    r = client.post(
        "/auth/login",
        query_string={"next": target},
        data={"email": "org@example.com", "password": "correct-horse-1"},
    )
    assert r.status_code == 302 and r.headers["Location"] == "/competitions/"


def test_login_keeps_a_local_next(client, make_user):
    make_user()
    r = client.post(
        "/auth/login?next=/banks/",
        data={"email": "org@example.com", "password": "correct-horse-1"},
    )
    assert r.headers["Location"] == "/banks/"


def test_the_participant_api_skips_the_limiter_check_and_pages_do_not(client, monkeypatch):
    """Flask-Limiter's before-request check runs for pages (the login limits) and not for
    the participant JSON API, which has no limits (quizapp.extensions._Limiter)."""
    import flask_limiter

    calls: list[str] = []
    original = flask_limiter.Limiter._check_request_limit

    def counting(self, *args, **kwargs):
        from flask import request

        calls.append(request.path)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(flask_limiter.Limiter, "_check_request_limit", counting)
    client.get("/api/v1/events/0123456789abcdef0123456789abcdef")
    client.put("/api/v1/attempts/0123456789abcdef0123456789abcdef/answers/1", json={})
    assert calls == []
    client.get("/login")
    assert calls == ["/login"]


def test_a_new_secret_key_invalidates_sessions_signed_with_the_old_one(app, client, make_user):
    """The session serializer is built once per secret key (quizapp.web.SessionInterface):
    rotating SECRET_KEY still logs everyone out, and a key kept in SECRET_KEY_FALLBACKS
    still reads the sessions it signed."""
    make_user()
    assert login(client, "org@example.com").status_code == 302
    assert client.get("/competitions/").status_code == 200
    old_key, cookie = app.secret_key, client.get_cookie("session").value
    app.config["SECRET_KEY"] = "rotated"
    assert client.get("/competitions/").status_code == 302
    app.config["SECRET_KEY_FALLBACKS"] = [old_key]
    client.set_cookie("session", cookie)  # the redirect to the login page replaced it
    assert client.get("/competitions/").status_code == 200
