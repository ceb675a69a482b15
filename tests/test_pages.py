"""Organiser and participant pages through the test client."""

from __future__ import annotations

import re

import pytest

from tests.conftest import correct_choice


def login(client, email="org@example.com", password="correct-horse-1"):
    return client.post("/auth/login", data={"email": email, "password": password})


def test_login_logout_and_old_cookie_stops_working(client, make_user):
    make_user()
    assert client.get("/competitions/").status_code == 302
    bad = login(client, password="wrong-password")
    assert (
        bad.status_code == 200
        and "Wrong email or password" in bad.get_data(as_text=True)
        or "密码" in bad.get_data(as_text=True)
    )
    assert login(client).status_code == 302
    assert client.get("/competitions/").status_code == 200
    cookie = client.get_cookie("session").value
    client.post("/auth/logout")
    client.set_cookie("session", cookie)
    assert client.get("/competitions/").status_code == 302


def test_login_is_throttled_per_account(client, make_user):
    make_user()
    for _ in range(10):
        login(client, password="wrong-password")
    assert login(client).status_code == 429


def test_create_competition_with_field_errors_then_success(client, make_user, make_bank):
    make_user()
    bank = make_bank()
    login(client)
    form = {
        "title": "",
        "theme": "主题",
        "opens_at": "2026-09-01T09:00",
        "closes_at": "2026-09-30T18:00",
        "time_limit": "10",
        "banks": [str(bank.id)],
        "single_count": "3",
        "single_points": "5",
        "multiple_count": "999",
        "multiple_points": "5",
        "judge_count": "2",
        "judge_points": "5",
        "attempts": "1",
        "reveal": "after_submit",
        "multiple_scoring": "all",
        "unit_metric": "average",
        "top_n": "10",
        "units": "东城区\n西城区,120",
        "mask_names": "y",
    }
    r = client.post("/competitions/new", data=form)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert page.count('class="error"') >= 2
    form |= {"title": "区级竞赛", "multiple_count": "40"}
    r = client.post("/competitions/new", data=form)
    assert r.status_code == 422 and "只有 12 道" in r.get_data(as_text=True)  # only 12 available
    form["multiple_count"] = "2"
    r = client.post("/competitions/new", data=form)
    assert r.status_code == 302
    detail = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "区级竞赛" in detail
    r = client.post(r.headers["Location"] + "/events", data={"name": "", "venue": ""})
    assert r.status_code == 302
    r = client.post(r.headers["Location"] + "/events", data={"name": "海淀会场", "venue": "剧院"})
    event_page = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "http://quiz.test/j/" in event_page and "qr.svg" in event_page
    poster = client.get(r.headers["Location"] + "/poster").get_data(as_text=True)
    assert "区级竞赛" in poster and "主题" in poster and "http://quiz.test/j/" in poster


def test_organisers_see_only_their_own(client, make_user, make_event):
    event = make_event()  # owned by 测试单位
    make_user(email="other@example.com", org="别的单位")
    login(client, email="other@example.com")
    comp_id = event.competition_id
    for url in (
        f"/competitions/{comp_id}",
        f"/competitions/events/{event.id}",
        f"/competitions/events/{event.id}/poster",
        f"/competitions/{comp_id}/leaderboard",
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/competitions/{comp_id}/events", data={"name": "x"}).status_code == 404
    assert "测试竞赛" not in client.get("/competitions/").get_data(as_text=True)


def test_admin_sees_everything(client, make_user, make_event):
    event = make_event()
    make_user(email="admin@example.com", org="市局", admin=True)
    login(client, email="admin@example.com")
    assert client.get(f"/competitions/{event.competition_id}").status_code == 200


def test_join_page_hooks_and_errors(client, make_event):
    event = make_event()
    page = client.get(f"/j/{event.join_token}").get_data(as_text=True)
    for hook in ('name="name"', 'name="phone"', 'name="unit_id"', 'type="submit"'):
        assert hook in page
    r = client.post(f"/j/{event.join_token}", data={"name": "", "phone": "1", "unit_id": ""})
    assert r.status_code == 422 and 'class="error"' in r.get_data(as_text=True)


def test_unknown_tokens_give_a_friendly_page(client):
    for url in ("/j/bogus", "/a/bogus", "/a/bogus/result", "/screen/bogus", "/j/bogus/qr.png"):
        r = client.get(url)
        assert r.status_code == 404 and "<html" in r.get_data(as_text=True)
        assert "Traceback" not in r.get_data(as_text=True)


def _no_js_join(client, event, phone="13600000000"):
    r = client.post(
        f"/j/{event.join_token}",
        data={"name": "赵六", "phone": phone, "unit_id": str(event.competition.units[1].id)},
    )
    assert r.status_code == 302
    return r.headers["Location"]


def test_quiz_without_javascript(client, make_event):
    """Plain form posts: save, reload keeps the answers, submit, result with hooks."""
    from quizapp.dbtypes import utcnow
    from quizapp.play.presenters import attempt_payload
    from quizapp.play.services import attempt_by_token

    event = make_event()
    quiz_url = _no_js_join(client, event)
    token = quiz_url.rsplit("/", 1)[1]
    page = client.get(quiz_url).get_data(as_text=True)
    assert (
        'data-action="submit-attempt"' in page
        and 'type="radio" name="q1"' in page
        or 'type="checkbox" name="q1"' in page
    )
    questions = attempt_payload(attempt_by_token(token), utcnow())["questions"]
    data = {}
    for q in questions:
        data[f"q{q['position']}"] = list(correct_choice(q))
    r = client.post(quiz_url, data=data | {"action": "save"})
    assert r.status_code == 302
    again = client.get(quiz_url).get_data(as_text=True)
    assert again.count(" checked") == sum(len(correct_choice(q)) for q in questions)
    assert _no_js_join(client, event) == quiz_url  # same person resumes the same attempt
    r = client.post(quiz_url, data=data | {"action": "submit"})
    assert r.headers["Location"].endswith("/result")
    result = client.get(r.headers["Location"]).get_data(as_text=True)
    assert re.search(r'data-score="45"', result) and re.search(r'data-rank="1"', result)
    assert "because" in result  # explanations revealed after submit


def test_screen_page_lists_participants(client, make_event):
    event = make_event()
    quiz_url = _no_js_join(client, event)
    client.post(quiz_url, data={"action": "submit"})
    page = client.get(f"/screen/{event.screen_token}").get_data(as_text=True)
    assert 'data-rank="1"' in page and "赵*" in page and "西城区" in page
    assert f"/j/{event.join_token}/qr.svg" in page


@pytest.mark.parametrize("payload", ["<img src=x onerror=alert(1)>", "{{7*7}}"])
def test_names_are_escaped(client, make_event, payload):
    from quizapp.competitions.models import Competition
    from quizapp.extensions import db

    event = make_event()
    comp = db.session.get(Competition, event.competition_id)
    comp.mask_names = False
    db.session.commit()
    r = client.post(
        f"/j/{event.join_token}",
        data={"name": payload[:30], "phone": "13500000000", "unit_id": str(comp.units[0].id)},
    )
    client.post(r.headers["Location"], data={"action": "submit"})
    page = client.get(f"/screen/{event.screen_token}").get_data(as_text=True)
    if payload.startswith("<"):
        assert payload not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    else:  # shown literally, never evaluated as a template
        assert ">{{7*7}}<" in page


def test_security_headers(client):
    r = client.get("/auth/login")
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in r.headers["Content-Security-Policy"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_healthz(client):
    assert client.get("/healthz").json == {"status": "ok"}


def test_results_page_shows_attempts_with_focus_losses(client, make_user, make_event):
    event = make_event()
    make_user()
    quiz_url = _no_js_join(client, event)
    token = quiz_url.rsplit("/", 1)[1]
    client.post(f"/api/v1/attempts/{token}/focus-loss")
    client.post(f"/api/v1/attempts/{token}/focus-loss")
    client.post(quiz_url, data={"action": "submit"})
    login(client)
    page = client.get(f"/competitions/{event.competition_id}/results").get_data(as_text=True)
    assert "赵六" in page and "136****0000" in page and "<td>2</td>" in page
    filtered = client.get(f"/competitions/{event.competition_id}/results?status=active").get_data(
        as_text=True
    )
    assert "赵六" not in filtered
    link = re.search(r'href="(/competitions/\d+/results/\d+)"', page).group(1)
    detail = client.get(link).get_data(as_text=True)
    assert "赵六" in detail and "because" not in detail


def test_draw_rule_rows_availability_and_preview(client, make_user, make_competition):
    comp = make_competition()
    make_user()
    login(client)
    page = client.get(f"/competitions/{comp.id}/rules").get_data(as_text=True)
    assert page.count('class="tag ok"') == 3
    r = client.post(
        f"/competitions/{comp.id}/rules",
        data={
            "qtype": "single",
            "category": "测试",
            "difficulty": "1",
            "count": "99",
            "points": "5",
        },
    )
    assert r.status_code == 422 and "只有 4 道" in r.get_data(as_text=True)  # 4 of difficulty 1
    r = client.post(
        f"/competitions/{comp.id}/rules",
        data={
            "qtype": "single",
            "category": "测试",
            "difficulty": "1",
            "count": "2",
            "points": "3",
        },
    )
    assert r.status_code == 302
    preview = client.get(f"/competitions/{comp.id}/preview").get_data(as_text=True)
    assert preview.count('<article class="card">') == 9
    from quizapp.competitions.models import Competition
    from quizapp.extensions import db

    rule_id = db.session.get(Competition, comp.id).rules[-1].id
    client.post(f"/competitions/{comp.id}/rules/{rule_id}/delete")
    db.session.expire_all()
    assert len(db.session.get(Competition, comp.id).rules) == 3


def test_draw_rules_freeze_once_participants_start(client, make_user, make_event, now):
    from quizapp.play import services

    event = make_event()
    services.join(
        event.join_token,
        name="甲",
        phone="13900000009",
        unit_id=event.competition.units[0].id,
        now=now,
    )
    make_user()
    login(client)
    r = client.post(
        f"/competitions/{event.competition_id}/rules",
        data={"qtype": "judge", "category": "", "difficulty": "", "count": "1", "points": "1"},
        follow_redirects=True,
    )
    assert "no longer change" in r.get_data(as_text=True) or "不能再修改" in r.get_data(
        as_text=True
    )


def test_bulk_events_qr_archive_and_copy(client, make_user, make_competition):
    import io
    import zipfile

    comp = make_competition()
    make_user()
    login(client)
    r = client.post(f"/competitions/{comp.id}/events/bulk", data={"events": "\n\n"})
    assert r.status_code == 422
    r = client.post(
        f"/competitions/{comp.id}/events/bulk",
        data={"events": "东城主会场，文化馆\n西城分会场,西单\n海淀"},
    )
    assert r.status_code == 302
    archive = zipfile.ZipFile(io.BytesIO(client.get(f"/competitions/{comp.id}/qr-codes.zip").data))
    names = archive.namelist()
    assert len([n for n in names if n.endswith(".png")]) == 3 and "events.csv" in names
    assert any("东城主会场" in n and "文化馆" in n for n in names)
    index = archive.read("events.csv").decode("utf-8-sig")
    assert "http://quiz.test/j/" in index
    r = client.post(f"/competitions/{comp.id}/copy", data={"title": "复制的竞赛"})
    assert r.status_code == 302
    assert "复制的竞赛" in client.get(r.headers["Location"]).get_data(as_text=True)
    from sqlalchemy import select

    from quizapp.competitions.models import Competition
    from quizapp.extensions import db

    copy = db.session.scalar(select(Competition).where(Competition.title == "复制的竞赛"))
    assert [u.name for u in copy.units] == ["东城区", "西城区", "朝阳区"]
    assert len(copy.rules) == 3 and copy.events == []
