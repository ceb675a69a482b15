"""The quiz page of an active attempt is read in one statement (services.quiz_attempt),
and shows exactly what the session's read shows; every other attempt (finished,
overdue, paced, unknown) still goes through the session, which finishes, paces or
explains it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from quizapp.extensions import db
from quizapp.play import services
from quizapp.play.models import Attempt
from tests.test_fast_join import statements


def _clock(page: str) -> str:
    """The page without what moves with the clock (the timer, the server's time)."""
    page = re.sub(r'data-(remaining|server-now)="[^"]*"', "", page)
    return re.sub(r'id="timer-value">[^<]*<', "", page)


def _join(event, phone="13900000000", elder=False) -> str:
    attempt, _ = services.join(
        event.join_token,
        name="张三",
        phone=phone,
        unit_id=event.competition.units[0].id,
        elder=elder,
    )
    db.session.commit()
    return attempt.token


def _through_the_session(client, url, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(services, "quiz_attempt", lambda *_args: None)
        return client.get(url)


@pytest.mark.parametrize("answered", [False, True])
@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_one_statement_and_the_same_page(app, client, make_event, monkeypatch, answered, lang):
    event = make_event()
    token = _join(event)
    if answered:
        for item in services.attempt_by_token(token, with_all=True).items[:3]:
            services.save_answer(token, item.position, "T" if item.qtype == "judge" else "A")
        db.session.commit()
    url, headers = f"/a/{token}", {"Accept-Language": lang}
    with statements() as seen:
        fast = client.get(url, headers=headers)
    assert fast.status_code == 200 and len(seen) == 1, seen
    slow = _through_the_session(client, url, monkeypatch)
    page = fast.get_data(as_text=True)
    assert _clock(page) == _clock(slow.get_data(as_text=True))
    assert page.count('<fieldset class="card question"') == 7
    assert (" checked" in page) is answered


def test_elder_mode_from_the_attempt_or_its_event(app, client, make_competition, monkeypatch):
    from quizapp.competitions import services as competitions

    event = competitions.create_event(make_competition().id, "长辈场", elder_default=True)
    for token in (_join(event), _join(event, "13900000001", elder=True)):
        page = client.get(f"/a/{token}").get_data(as_text=True)
        assert "data-elder-default" in page
        slow = _through_the_session(client, f"/a/{token}", monkeypatch)
        assert _clock(page) == _clock(slow.get_data(as_text=True))


def test_overdue_finished_paced_and_unknown_go_through_the_session(
    app, client, make_event, make_competition, now, monkeypatch
):
    event = make_event()
    overdue = _join(event)
    # From the attempt's own deadline: the `now` fixture drops microseconds and is read
    # before the join, so "now + duration" can fall short of the deadline by up to a second.
    deadline = db.session.scalar(db.select(Attempt.deadline_at).filter_by(token=overdue))
    later = deadline + services.grace() + timedelta(seconds=1)
    monkeypatch.setattr("quizapp.play.routes.utcnow", lambda: later)
    r = client.get(f"/a/{overdue}")
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/a/{overdue}/result")
    db.session.expire_all()
    assert db.session.scalar(db.select(Attempt.status).filter_by(token=overdue)) == "expired"
    monkeypatch.undo()

    finished = _join(event, "13900000001")
    services.submit(finished)
    db.session.commit()
    assert client.get(f"/a/{finished}").status_code == 302

    paced = make_competition(title="限时赛")
    paced.question_time_s = 20
    db.session.commit()
    token = _join(make_event(paced), "13900000002")
    assert services.quiz_attempt(token, now) is None
    page = client.get(f"/a/{token}").get_data(as_text=True)
    assert 'data-paced="1"' in page

    assert client.get("/a/no-such-token").status_code == 404
