"""A new phone's join in one read and one write (services.join_new_phone; on PostgreSQL
two statements), answered for the API in front of Flask (quizapp.play.fast_save): the
same outcome and the same bytes as the session's path and the view, and every other
case left to them, which explain it.

The test client runs its requests in the ``app`` fixture's app context, whose session a
request leaves in a transaction; the two-statement path then (rightly) steps aside. So
these tests end that transaction before a join (``fresh``), as the end of a request's app
context does in a server."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, text

from quizapp.competitions.models import Competition
from quizapp.extensions import db
from quizapp.play import services
from quizapp.play.models import Attempt, AttemptItem, Participant
from tests.conftest import stored_and_drawn
from tests.test_fast_save import flask_requests

postgres_only = pytest.mark.skipif(
    "os.environ.get('QUIZ_TEST_DB') != 'postgres'", reason="a PostgreSQL path"
)


@contextmanager
def statements(*, fresh=True):
    """The SQL statements the engine runs meanwhile (first words of each)."""
    if fresh:
        db.session.commit()
        db.session.expunge_all()  # a request's session starts empty
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split()[:3]))

    engine = db.engine
    sa_event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa_event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def plain_event(make_event):
    """An event as plain values (the ORM objects are let go before each request)."""

    def make(competition=None) -> SimpleNamespace:
        event = make_event(competition)
        return SimpleNamespace(
            id=event.id,
            token=event.join_token,
            competition_id=event.competition_id,
            unit_id=event.competition.units[0].id,
        )

    return make


@contextmanager
def checkouts():
    """The connections taken from the engine's pool meanwhile."""
    taken: list[object] = []

    def record(dbapi_connection, _record, _proxy):
        taken.append(dbapi_connection)

    sa_event.listen(db.engine, "checkout", record)
    try:
        yield taken
    finally:
        sa_event.remove(db.engine, "checkout", record)


def _body(event, phone="13912345678", name="李四", **extra):
    return {"name": name, "phone": phone, "unit_id": event.unit_id, **extra}


def _join(client, event, **kw):
    """Join through the API, counting the statements the join runs."""
    body = _body(event, **kw)
    with statements() as seen:
        r = client.post(f"/api/v1/events/{event.token}/attempts", json=body)
    r.statements = seen
    return r


def _count(model) -> int:
    db.session.commit()
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_new_phone_joins_in_one_read_and_one_write_with_the_rows_as_drawn(
    app, client, plain_event
):
    event = plain_event()
    unit_id = event.unit_id
    # The first join after set-up changes loads the draw's pool into the set-up cache.
    assert _join(client, event, phone="13500000000").status_code == 201
    with flask_requests(app) as reached_flask, checkouts() as taken:
        r = _join(client, event, elder=True)
    seen = r.statements
    assert r.status_code == 201, r.json
    assert reached_flask == []
    assert len(taken) == 1  # the read and the write on one connection
    if db.engine.dialect.name == "postgresql":
        assert len(seen) == 2 and seen[0].startswith("SELECT") and seen[1].startswith("WITH")
    else:
        assert seen[0].startswith("SELECT") and len(seen) == 4
        assert [s.split()[:2] for s in seen[1:]] == [
            ["INSERT", "INTO"],
            ["INSERT", "INTO"],
            ["INSERT", "INTO"],
        ]
    body = r.json["attempt"]
    assert body["status"] == "active" and body["elder"] is True
    assert len(body["questions"]) == body["question_count"] == 7

    db.session.expire_all()
    attempt = db.session.scalar(select(Attempt).where(Attempt.token == body["token"]))
    participant = db.session.get(Participant, attempt.participant_id)
    assert (participant.name, participant.phone, participant.unit_id) == (
        "李四",
        "13912345678",
        unit_id,
    )
    comp = db.session.get(Competition, event.competition_id)
    assert (attempt.number, attempt.event_id, attempt.competition_id) == (1, event.id, comp.id)
    assert attempt.max_score == sum(rule.count * rule.points for rule in comp.rules)
    limit = comp.elder_time_limit_s or comp.time_limit_s  # it joined in elder mode
    assert attempt.deadline_at == min(attempt.started_at + timedelta(seconds=limit), comp.closes_at)
    stored, drawn = stored_and_drawn(attempt, comp)
    assert stored == drawn
    # What the phone was shown is what was stored, in order, with no key.
    assert [q["stem"] for q in body["questions"]] == [row[3] for row in stored]
    assert all("key" not in q and "explanation" not in q for q in body["questions"])

    # The attempt works on: an answer saves, and the quiz's state reads it back.
    q = body["questions"][0]
    key = q["options"][0]["key"]
    r = client.put(
        f"/api/v1/attempts/{body['token']}/answers/{q['position']}", json={"choice": key}
    )
    assert r.status_code == 200
    got = client.get(f"/api/v1/attempts/{body['token']}").json["attempt"]["questions"][0]
    assert got["choice"] == key


def test_a_returning_phone_resumes_through_the_session_path(app, client, plain_event):
    event = plain_event()
    first = _join(client, event).json["attempt"]
    fast_reads = []

    def record(_conn, _cursor, statement, *_args):
        fast_reads.extend(["unit_ok"] if "unit_ok" in statement else [])

    sa_event.listen(db.engine, "before_cursor_execute", record)
    try:
        with flask_requests(app) as reached_flask:
            r = _join(client, event)
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", record)
    assert r.status_code == 200 and r.json["attempt"]["token"] == first["token"]
    # the fast read found the participant, and the view resumed without reading so again
    assert len(reached_flask) == 1 and fast_reads == ["unit_ok"]
    assert len(r.statements) > 2
    assert _count(Participant) == 1 and _count(Attempt) == 1


@pytest.mark.parametrize(
    ("change", "status", "code", "field"),
    [
        ({"name": "王五"}, 409, "identity_mismatch", None),  # after a first join as 李四
        ({"phone": "13800000002", "unit_id": 2**31 + 5}, 422, "invalid_field", "unit_id"),
        ({"phone": "13800000002", "unit_id": 0}, 422, "invalid_field", "unit_id"),
        ({"phone": "12345"}, 422, "invalid_field", "phone"),
        ({"phone": "13800000002", "name": ""}, 422, "invalid_field", "name"),
        ({"phone": "13800000002", "name": "长" * 31}, 422, "invalid_field", "name"),
    ],
)
def test_every_other_case_is_explained_and_writes_nothing(
    client, plain_event, change, status, code, field
):
    event = plain_event()
    assert _join(client, event, phone="13800000001").status_code == 201
    before = (_count(Participant), _count(Attempt), _count(AttemptItem))
    r = _join(client, event, **{"phone": "13800000001", **change})
    if change.get("phone") == "13800000002":
        assert len(r.statements) >= 1  # the fast path read, wrote nothing
    assert r.status_code == status, r.json
    assert r.json["error"]["code"] == code
    assert r.json["error"].get("field") == field
    assert (_count(Participant), _count(Attempt), _count(AttemptItem)) == before


def test_a_unit_of_another_competition_is_refused(client, plain_event, make_competition):
    event = plain_event()
    other = make_competition(title="另一场", units=("海淀区",)).units[0].id
    r = _join(client, event, unit_id=other)
    assert r.status_code == 422 and r.json["error"]["field"] == "unit_id"
    assert _count(Participant) == 0


def test_a_closed_competition_and_an_unknown_event_are_refused(
    client, plain_event, make_competition, now
):
    closed = plain_event(make_competition(opens_at=now - timedelta(days=2), closes_at=now))
    r = _join(client, closed)
    assert r.status_code == 409 and r.json["error"]["code"] == "not_open"
    body = _body(closed)
    with statements():
        r = client.post("/api/v1/events/no-such-token/attempts", json=body)
    assert r.status_code == 404
    assert _count(Participant) == 0


def test_a_concurrent_join_of_the_same_phone_leaves_one_participant(
    client, plain_event, monkeypatch
):
    """The other join's participant row arrives between this join's read and its write:
    the write fails whole (unique phone per competition), and the session's path gives
    this phone an attempt of that participant."""
    event = plain_event()
    body = _body(event)
    _join(client, event, phone="13500000000")  # loads the set-up cache
    real_draw = services.draw_items

    def draw_while_the_other_joins(*args, **kwargs):
        with db.engine.connect() as other:
            other.execute(
                text(
                    "INSERT INTO participants (competition_id, name, phone, unit_id, created_at)"
                    " VALUES (:c, :n, :p, :u, CURRENT_TIMESTAMP)"
                ),
                {
                    "c": event.competition_id,
                    "n": body["name"],
                    "p": body["phone"],
                    "u": body["unit_id"],
                },
            )
            other.commit()
        monkeypatch.setattr(services, "draw_items", real_draw)
        return real_draw(*args, **kwargs)

    monkeypatch.setattr(services, "draw_items", draw_while_the_other_joins)
    with statements() as seen:
        r = client.post(f"/api/v1/events/{event.token}/attempts", json=body)
    assert r.status_code == 201, r.json
    # this join's read, the other's INSERT, this join's INSERT (chain), then the session's
    first_write = "WITH" if db.engine.dialect.name == "postgresql" else "INSERT INTO participants"
    assert [seen[0][:6], seen[1][:6]] == ["SELECT", "INSERT"]
    assert seen[2].startswith(first_write)
    assert len(seen) > 3
    assert _count(Participant) == 2 and _count(Attempt) == 2
    assert _count(AttemptItem) == 2 * len(r.json["attempt"]["questions"])


def test_the_join_form_takes_the_same_path(client, plain_event):
    event = plain_event()
    token = event.token
    form = {"name": "赵六", "phone": "13700001111", "unit_id": event.unit_id}
    db.session.commit()  # (a commit after set-up changes empties the set-up cache)
    client.get(f"/j/{token}")  # the page, as the phone saw it: fills the set-up cache
    db.session.rollback()  # the end of that request's app context
    with statements(fresh=False) as seen:
        r = client.post(f"/j/{token}", data=form)
    assert r.status_code == 302 and "/a/" in r.headers["Location"]
    if db.engine.dialect.name == "postgresql":  # (and the first loads the draw's pool)
        assert seen[0].startswith("SELECT events.id AS") and seen[-1].startswith("WITH")
    assert _count(Attempt) == 1


def test_off_with_fast_join_0_and_never_inside_a_transaction(app, client, plain_event, monkeypatch):
    event = plain_event()
    body = _body(event, phone="13600000001")
    url = f"/api/v1/events/{event.token}/attempts"
    with monkeypatch.context() as off:
        off.setitem(app.config, "FAST_JOIN", False)
        off.setattr(app.wsgi_app, "_joins", False)  # (as a middleware made with it off)
        with statements() as seen:
            assert client.post(url, json=body).status_code == 201
    assert len(seen) > 2
    db.session.execute(text("SELECT 1"))  # a transaction begun in this context
    with statements(fresh=False) as seen:
        assert client.post(url, json={**body, "phone": "13600000002"}).status_code == 201
    assert len(seen) > 2
    with flask_requests(app) as reached_flask:
        r = _join(client, event, phone="13600000003")
    assert r.status_code == 201 and reached_flask == []


@postgres_only
def test_a_join_that_loads_the_draw_pool_holds_one_connection_at_a_time(_schema, plain_event):
    """The first join after set-up changes reads the draw's pool through the session;
    that read ends before the write takes a connection, so a pool of one suffices
    (twenty phones at once once emptied a pool of fifteen, each thread holding two)."""
    from quizapp import create_app

    event = plain_event()
    db.session.commit()
    small = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": _schema,
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0, "pool_timeout": 3},
            "RATELIMIT_ENABLED": False,
        }
    )
    with small.app_context():
        try:
            with statements() as seen:
                r = small.test_client().post(
                    f"/api/v1/events/{event.token}/attempts", json=_body(event)
                )
            assert r.status_code == 201, r.json
            assert seen[0].startswith("SELECT events.id AS") and seen[-1].startswith("WITH")
        finally:
            db.session.remove()
            db.engine.dispose()


# --- the API's join answered in front of Flask ------------------------------------------


@pytest.fixture
def same_draw(app, monkeypatch):
    """Every join from here draws with one seed at one clock time, with the attempt
    tokens "fixed-1", "fixed-2", ... : two joins of two phones then differ only in
    their token."""
    from quizapp.api import routes
    from quizapp.dbtypes import utcnow
    from quizapp.play import fast_save

    tokens = iter(f"fixed-{i}" for i in range(1, 100))
    at = utcnow()
    monkeypatch.setattr(services, "new_token", lambda: next(tokens))
    monkeypatch.setattr(services.secrets, "randbits", lambda _bits: 424242)
    monkeypatch.setattr(fast_save, "utcnow", lambda: at)
    monkeypatch.setattr(routes, "utcnow", lambda: at)


@pytest.mark.parametrize("base_url", ["http://localhost", "https://localhost"])
@pytest.mark.parametrize("language", [None, "en-US,en;q=0.9", "zh-CN,zh;q=0.9", "fr"])
def test_the_fast_join_is_the_views_byte_for_byte(
    app, client, plain_event, same_draw, base_url, language
):
    """Status, headers (but Flask's ``Vary: Cookie``: the fast path takes no request
    with a cookie) and body, against the view behind the fast path, in the language the
    phone asks for (the judge questions' options)."""
    from werkzeug.test import Client

    event = plain_event()
    headers = {"Accept-Language": language} if language else {}
    url = f"/api/v1/events/{event.token}/attempts"
    behind = Client(app.wsgi_app.wsgi_app)
    _join(client, event, phone="13500000000")  # loads the draw's pool
    with flask_requests(app) as reached_flask:
        fast = client.post(
            url, json=_body(event, phone="13500000001"), headers=headers, base_url=base_url
        )
    view = behind.post(
        url, json=_body(event, phone="13500000002"), headers=headers, base_url=base_url
    )
    assert reached_flask == [] and fast.status_code == view.status_code == 201, view.json
    assert fast.json["attempt"]["token"] == "fixed-2" and view.json["attempt"]["token"] == "fixed-3"
    assert fast.get_data() == view.get_data().replace(b"fixed-3", b"fixed-2")
    view_headers = [(k, v) for k, v in view.headers.items() if k != "Vary"]
    assert list(fast.headers.items()) == view_headers
    judge = [q for q in fast.json["attempt"]["questions"] if q["type"] == "judge"]
    english = (language or "").startswith("en")
    assert judge and judge[0]["options"][0]["text"] == ("True" if english else "正确")


@pytest.mark.parametrize(
    ("change", "extra"),
    [
        ({"unit_id": "1"}, {}),  # a string: the view explains
        ({"unit_id": True}, {}),
        ({"name": 5}, {}),
        ({"unit_name": "新单位"}, {}),  # a unit typed in: the view settles it
        ({}, {"cookie": "session"}),  # its language may be kept in the session
        ({}, {"query_string": "lang=en"}),
    ],
)
def test_every_other_join_request_goes_to_flask(app, client, plain_event, change, extra):
    event = plain_event()
    url = f"/api/v1/events/{event.token}/attempts"
    if "cookie" in extra:
        client.set_cookie(extra.pop("cookie"), "not-a-signed-session")
    with flask_requests(app) as reached_flask:
        r = client.post(url, json={**_body(event), **change}, **extra)
    assert len(reached_flask) == 1
    assert r.status_code in (201, 422), r.json


def test_an_error_in_the_fast_join_is_left_to_flask(app, client, plain_event, monkeypatch):
    from quizapp.play import fast_save

    def broken(*_args, **_kwargs):
        raise RuntimeError("database went away")

    event = plain_event()
    monkeypatch.setattr(fast_save, "join_new_phone", broken)
    with flask_requests(app) as reached_flask:
        r = client.post(f"/api/v1/events/{event.token}/attempts", json=_body(event))
    assert r.status_code == 201 and len(reached_flask) == 1
    assert _count(Participant) == 1 and _count(Attempt) == 1
