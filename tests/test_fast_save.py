"""The fast paths in front of Flask (quizapp.play.fast_save), for the answer save and the
event info a phone reads on scanning: they answer exactly what the API view would, and
pass everything else on to Flask unchanged.

The test client runs its requests in the ``app`` fixture's app context, whose session a
request leaves in a transaction; the fast path then (rightly) leaves the save to the
view. So these tests end that transaction before a request, as the end of a request's
app context does in a server (``fresh``)."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from datetime import timedelta

import pytest
from flask import request_started
from sqlalchemy.exc import OperationalError
from werkzeug.test import Client

from quizapp.extensions import db
from quizapp.play import fast_save
from tests.conftest import correct_choice


@pytest.fixture
def attempt(client, make_event):
    event = make_event()
    body = {"name": "王五", "phone": "13700000000", "unit_id": event.competition.units[0].id}
    r = client.post(f"/api/v1/events/{event.join_token}/attempts", json=body)
    assert r.status_code == 201
    return r.json["attempt"]


def test_inside_a_session_transaction_the_view_saves(app, client, attempt):
    """A request made in an app context whose session is in a transaction (the test
    client's, after a request) goes to the view, which joins that transaction."""
    q = attempt["questions"][0]
    assert db.session().in_transaction()
    with flask_requests(app, fresh=False) as seen:
        r = client.put(_url(attempt), json={"choice": correct_choice(q)})
    assert r.status_code == 200 and len(seen) == 1


@contextmanager
def flask_requests(app, *, fresh=True):
    """The paths of the requests that reached Flask (its request_started signal).
    ``fresh``: end the session's transaction first."""
    if fresh:
        db.session.commit()
    seen: list[str] = []

    def record(_sender, **_extra):
        from flask import request

        seen.append(request.path)

    request_started.connect(record, app)
    try:
        yield seen
    finally:
        request_started.disconnect(record, app)


def _url(attempt, position=None):
    q = attempt["questions"][0]
    return f"/api/v1/attempts/{attempt['token']}/answers/{position or q['position']}"


def test_a_save_is_answered_in_front_of_flask(app, client, attempt):
    assert isinstance(app.wsgi_app, fast_save.AnswerSaveFastPath)
    q = attempt["questions"][0]
    with flask_requests(app) as seen:
        r = client.put(_url(attempt), json={"choice": correct_choice(q)})
    assert r.status_code == 200 and seen == []
    assert r.json == {"saved": True, "position": q["position"], "choice": correct_choice(q)}
    stored = client.get(f"/api/v1/attempts/{attempt['token']}").json["attempt"]["questions"][0]
    assert stored["choice"] == correct_choice(q)


@pytest.mark.parametrize("base_url", ["http://localhost", "https://localhost"])
def test_the_fast_answer_is_the_views_byte_for_byte(app, client, attempt, base_url):
    """Status, headers (but Flask's ``Vary: Cookie``, which Flask-Login's session access
    adds and the save never reads) and body, against the view behind the fast path."""
    q = attempt["questions"][0]
    behind = Client(app.wsgi_app.wsgi_app)
    for choice in (correct_choice(q), q["options"][-1]["key"] + "\u0020"):
        with flask_requests(app) as seen:
            fast = client.put(_url(attempt), json={"choice": choice}, base_url=base_url)
        view = behind.put(_url(attempt), json={"choice": choice}, base_url=base_url)
        assert seen == [] and fast.status_code == view.status_code == 200
        assert fast.get_data() == view.get_data()
        view_headers = [(k, v) for k, v in view.headers.items() if k != "Vary"]
        assert list(fast.headers.items()) == view_headers
    assert ("Strict-Transport-Security" in fast.headers) == base_url.startswith("https")


@pytest.mark.parametrize(
    ("position", "kwargs", "status", "code"),
    [
        (None, {"json": {"choice": "Z"}}, 422, "invalid_choice"),
        (None, {"json": {"choice": 5}}, 422, "invalid_choice"),
        (42, {"json": {"choice": "A"}}, 404, "not_found"),
        (None, {"data": "x"}, 400, "bad_json"),
        (None, {"data": "[1]"}, 400, "bad_json"),
        (None, {"data": b"\xff\xfe{"}, 400, "bad_json"),
        (None, {}, 400, "bad_json"),
    ],
)
def test_what_the_fast_path_does_not_save_flask_answers(
    app, client, attempt, position, kwargs, status, code
):
    with flask_requests(app) as seen:
        r = client.put(_url(attempt, position), **kwargs)
    assert r.status_code == status and r.json["error"]["code"] == code
    assert len(seen) == 1


def test_an_unknown_token_is_answered_and_throttled_by_flask(app, client):
    with flask_requests(app) as seen:
        r = client.put("/api/v1/attempts/nosuchtoken/answers/1", json={"choice": "A"})
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"
    assert seen == ["/api/v1/attempts/nosuchtoken/answers/1"]


def test_a_request_passed_on_keeps_its_body_and_saves_once(app, client, attempt):
    """A query string sends the request to Flask (which reads the body the fast path
    did not); a save the fast path tried and that wrote nothing is not tried twice."""
    from bench.profile_hot_paths import StatementLog

    q = attempt["questions"][0]
    with flask_requests(app) as seen:
        r = client.put(_url(attempt) + "?x=1", json={"choice": correct_choice(q)})
    assert r.status_code == 200 and r.json["choice"] == correct_choice(q) and len(seen) == 1
    db.session.commit()
    log = StatementLog(db.engine)
    got = []  # "H" needs 8 options: the UPDATE runs and writes nothing
    statements = log.capture(lambda: got.append(client.put(_url(attempt), json={"choice": "H"})))
    assert got[0].status_code == 422 and got[0].json["error"]["code"] == "invalid_choice"
    updates = [s for s in statements if s.startswith("UPDATE attempt_items")]
    assert len(updates) == 1, statements


def test_a_submitted_attempt_is_refused_by_flask(app, client, attempt):
    client.post(f"/api/v1/attempts/{attempt['token']}/submit")
    with flask_requests(app) as seen:
        r = client.put(_url(attempt), json={"choice": "A"})
    assert r.status_code == 409 and r.json["error"]["code"] == "already_submitted"
    assert len(seen) == 1


def test_a_body_too_large_is_refused_by_flask_without_being_read(app, client, attempt):
    app.config["MAX_FORM_BODY"] = 64
    with flask_requests(app) as seen:
        r = client.put(_url(attempt), json={"choice": "A", "pad": "x" * 100})
    assert r.status_code == 413 and len(seen) == 1


def test_an_error_in_the_fast_path_is_left_to_flask(app, client, attempt, monkeypatch, caplog):
    """A failed fast save (here a database error raised once) goes to Flask, which saves
    the answer itself (or answers the error as for any request)."""
    real = fast_save.save_in_one
    calls = []

    def fail_once(*args):
        calls.append(args)
        if len(calls) == 1:
            raise OperationalError("UPDATE", {}, Exception("server closed the connection"))
        return real(*args)

    monkeypatch.setattr(fast_save, "save_in_one", fail_once)
    q = attempt["questions"][0]
    with flask_requests(app) as seen, caplog.at_level(logging.DEBUG, "quizapp.play.fast_save"):
        r = client.put(_url(attempt), json={"choice": correct_choice(q)})
    assert r.status_code == 200 and r.json["choice"] == correct_choice(q)
    assert len(seen) == 1 and "server closed the connection" in caplog.text


@pytest.mark.parametrize("flag", ["FAST_ANSWER_SAVE", "FAST_EVENT_GET", "FAST_JOIN"])
def test_each_fast_path_can_be_turned_off(app, attempt, make_event, flag, monkeypatch):
    """With its setting off, a fast path passes every request of its kind on."""
    monkeypatch.setitem(app.config, flag, False)
    seen = []

    def flask(environ, start_response):
        seen.append(environ["PATH_INFO"].split("/")[3])
        start_response("204 No Content", [])
        return [b""]

    phone = Client(fast_save.AnswerSaveFastPath(app, flask))
    event = make_event(name="分会场")
    url = f"/api/v1/events/{event.join_token}"
    join = {"name": "赵六", "phone": "13700000001", "unit_id": event.competition.units[0].id}
    db.session.commit()
    choice = correct_choice(attempt["questions"][0])
    assert phone.put(_url(attempt), json={"choice": choice}).status_code == (
        204 if flag == "FAST_ANSWER_SAVE" else 200
    )
    assert phone.get(url).status_code == (204 if flag == "FAST_EVENT_GET" else 200)
    assert phone.post(f"{url}/attempts", json=join).status_code == (
        204 if flag == "FAST_JOIN" else 201
    )
    assert seen == [
        {"FAST_ANSWER_SAVE": "attempts", "FAST_EVENT_GET": "events"}.get(flag, "events")
    ]


def test_with_both_off_there_is_no_middleware(app):
    from quizapp import create_app

    off = create_app(
        {**app.config, "FAST_ANSWER_SAVE": False, "FAST_EVENT_GET": False, "FAST_JOIN": False}
    )
    assert not isinstance(off.wsgi_app, fast_save.AnswerSaveFastPath)


# --- the event info a phone reads on scanning -----------------------------------------


@pytest.fixture
def event_url(make_event):
    return f"/api/v1/events/{make_event().join_token}"


@pytest.mark.parametrize("base_url", ["http://localhost", "https://localhost"])
def test_the_event_info_is_answered_in_front_of_flask_as_the_view_would(
    app, client, event_url, base_url
):
    """Byte for byte the view's (but ``server_now``, the clock at each), the first time
    (which fills the cache) and after."""
    behind = Client(app.wsgi_app.wsgi_app)
    for _ in range(2):
        with flask_requests(app) as seen:
            fast = client.get(event_url, base_url=base_url)
        view = behind.get(event_url, base_url=base_url)
        assert seen == [] and fast.status_code == view.status_code == 200
        assert fast.json["server_now"] <= view.json["server_now"]
        same_clock = fast.get_data().replace(
            fast.json["server_now"].encode(), view.json["server_now"].encode()
        )
        assert same_clock == view.get_data()
        view_headers = [(k, v) for k, v in view.headers.items() if k != "Vary"]
        assert list(fast.headers.items()) == view_headers
    assert fast.json["competition"]["is_open"] is True


def test_the_event_info_follows_the_competitions_window_and_edits(app, client, make_event):
    """``is_open`` is computed for each request from the kept window; an edit committed
    in this process shows at once (the set-up cache is emptied)."""
    from quizapp.dbtypes import utcnow

    event = make_event()
    url = f"/api/v1/events/{event.join_token}"
    with flask_requests(app) as seen:
        assert client.get(url).json["competition"]["is_open"] is True
    assert seen == []
    comp = event.competition
    comp.closes_at = utcnow() - timedelta(seconds=1)
    comp.title = "质量月知识竞赛（已结束）"
    db.session.commit()
    with flask_requests(app) as seen:
        body = client.get(url).json
    assert seen == [] and body["competition"]["is_open"] is False
    assert body["competition"]["title"] == "质量月知识竞赛（已结束）"


def test_unknown_events_and_other_requests_go_to_flask(app, client, event_url):
    with flask_requests(app) as seen:
        assert client.get("/api/v1/events/nosuchtoken").status_code == 404
        assert client.get(event_url + "?x=1").status_code == 200
        assert client.head(event_url).status_code == 200
        assert client.post(event_url).status_code == 405
    assert seen == ["/api/v1/events/nosuchtoken", event_url, event_url, event_url]
