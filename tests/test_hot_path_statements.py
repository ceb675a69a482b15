"""The SQL the participant hot paths send, as a regression guard (counts, not times):
the event GET a phone sends on scanning is served from the set-up cache, a join writes in
three INSERTs with no read between its first write and its commit (SQLite's writer lock
is held only for those), an answer save is one conditional UPDATE, a submit reloads
nothing it has just written and writes its awards in one statement."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bench.profile_hot_paths import StatementLog
from quizapp.extensions import db
from quizapp.play.models import Attempt, AttemptItem
from tests.conftest import correct_choice

WRITES = ("INSERT", "UPDATE", "DELETE", "WITH")


@pytest.fixture
def statements(app):
    """The statements a request sends: ``statements.during(fn)`` -> list of SQL."""
    log = StatementLog(db.engine)
    log.during = log.capture
    return log


@pytest.fixture
def event(make_event):
    return make_event()


def _join(client, event, phone):
    body = {"name": "王五", "phone": phone, "unit_id": event.competition.units[0].id}
    response = client.post(f"/api/v1/events/{event.join_token}/attempts", json=body)
    assert response.status_code == 201, response.json
    return response.json["attempt"]


def test_event_get_is_served_from_the_cache(client, event, statements):
    url = f"/api/v1/events/{event.join_token}"
    assert statements.during(lambda: client.get(url))  # the first one reads
    assert statements.during(lambda: client.get(url)) == []


def test_a_join_writes_last_in_three_inserts(client, event, statements):
    _join(client, event, "13700000001")  # warms the set-up cache
    got = {}
    sql = statements.during(lambda: got.update(_join(client, event, "13700000002")))
    writes = [i for i, s in enumerate(sql) if s.upper().startswith(WRITES)]
    assert [sql[i].split()[2] for i in writes] == ["participants", "attempts", "attempt_items"]
    assert writes == list(range(len(sql) - 3, len(sql))), sql  # nothing read after a write
    assert len(sql) <= 8, sql
    assert len(got["questions"]) == 7


def test_an_answer_save_is_one_conditional_write(client, event, statements, db_session):
    attempt = _join(client, event, "13700000001")
    q = attempt["questions"][0]
    path = f"/api/v1/attempts/{attempt['token']}/answers/{q['position']}"
    db_session.commit()  # the test's session is the requests' (one app context): end its
    sql = statements.during(lambda: client.put(path, json={"choice": correct_choice(q)}))
    # UPDATE attempt_items ... WHERE attempt_id = (the attempt taking answers [FOR SHARE])
    assert len(sql) == 1 and sql[0].startswith("UPDATE attempt_items"), sql


def test_a_refused_save_is_explained_by_a_second_look(client, event, statements, db_session):
    attempt = _join(client, event, "13700000001")
    q = next(q for q in attempt["questions"] if q["type"] == "single")
    path = f"/api/v1/attempts/{attempt['token']}/answers/{q['position']}"
    db_session.commit()
    got = {}
    sql = statements.during(lambda: got.update(r=client.put(path, json={"choice": "H"})))
    assert got["r"].status_code == 422 and got["r"].json["error"]["field"] == "choice"
    assert [s.split()[0] for s in sql] == ["UPDATE", "SELECT"], sql


def test_a_submit_reloads_nothing_it_wrote(client, event, statements):
    attempt = _join(client, event, "13700000001")
    for q in attempt["questions"]:
        client.put(
            f"/api/v1/attempts/{attempt['token']}/answers/{q['position']}",
            json={"choice": correct_choice(q)},
        )
    got = {}
    sql = statements.during(
        lambda: got.update(client.post(f"/api/v1/attempts/{attempt['token']}/submit").json)
    )
    assert got["result"]["score"] == got["result"]["max_score"] == 45
    # The attempt with its competition; its row taken; its items; their awards (one
    # UPDATE); its score; both ranks (one count, without Redis's rank index).
    assert len(sql) == 6, sql
    assert sum(s.startswith("SELECT attempt_items") for s in sql) == 1, sql
    assert sum(s.startswith("UPDATE attempt_items") for s in sql) == 1, sql
    db.session.expunge_all()
    stored = db.session.scalars(
        select(AttemptItem.awarded).join(Attempt).where(Attempt.token == attempt["token"])
    ).all()
    assert len(stored) == 7 and sum(stored) == 45


def _queue_holds(app, request) -> tuple:
    """Run ``request()``; return its response and, for every time it took SQLite's
    writer queue, the statements sent while holding it."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's writer queue")
    from sqlalchemy import event as sa_event

    queue = app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["factory"].queue
    db.session.remove()  # the test's own transaction ended, as a worker's between requests
    held: list[list[str]] = []
    acquire = queue.acquire

    def counting_acquire():
        held.append([])
        return acquire()

    def record(_conn, _cursor, statement, *_args):
        if queue._lock.locked() and held:
            held[-1].append(statement.split()[0])

    queue.acquire = counting_acquire
    sa_event.listen(db.engine, "before_cursor_execute", record)
    try:
        response = request()
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", record)
        queue.acquire = acquire
    return response, held


def test_a_submit_holds_the_sqlite_writer_lock_only_for_its_writes(app, client, event):
    """The rank count after the finish's commit is a read: it began in the POST's
    new transaction, as BEGIN IMMEDIATE through the writer queue, and held every other
    writer off while it counted (3.5 ms at the median in a 5,000-phone start)."""
    attempt = _join(client, event, "13700000001")
    url = f"/api/v1/attempts/{attempt['token']}/submit"
    response, held = _queue_holds(app, lambda: client.post(url))
    assert response.status_code == 200 and response.json["result"]["rank"] == 1
    # Once, for the finish: its row taken, its items, their awards, its score.
    assert held == [["UPDATE", "SELECT", "UPDATE", "UPDATE"]], held


def test_a_focus_loss_is_one_write(app, client, event):
    """It read the attempt holding the writer queue, and again after its commit."""
    attempt = _join(client, event, "13700000001")
    url = f"/api/v1/attempts/{attempt['token']}/focus-loss"
    response, held = _queue_holds(app, lambda: client.post(url))
    assert response.status_code == 200 and held == [["UPDATE"]], held
    assert client.post("/api/v1/attempts/nosuchtoken/focus-loss").status_code == 404
    client.post(f"/api/v1/attempts/{attempt['token']}/submit")
    assert client.post(url).status_code == 200  # a finished attempt: nothing to count
    db.session.expire_all()
    stored = db.session.scalar(select(Attempt).where(Attempt.token == attempt["token"]))
    assert stored.focus_losses == 1


def test_the_join_page_is_served_from_the_cache(client, event, statements):
    url = f"/j/{event.join_token}"
    assert client.get(url).status_code == 200
    assert statements.during(lambda: client.get(url)) == []


def test_the_quiz_page_reads_the_attempt_in_one_statement(client, event, statements):
    attempt = _join(client, event, "13700000001")
    url = f"/a/{attempt['token']}"
    sql = statements.during(lambda: client.get(url))
    assert len(sql) == 1, sql  # the attempt, its competition and event, its items
    page = client.get(url).get_data(as_text=True)
    assert page.count('class="card question"') == len(attempt["questions"])


def test_the_quiz_page_read_is_one_round_trip_on_a_server(app, client, event):
    """On PostgreSQL the read runs alone in autocommit: no BEGIN before it and no
    ROLLBACK after it (three round trips in the session's transaction)."""
    from sqlalchemy import event as sa_event

    attempt = _join(client, event, "13700000001")
    seen = []

    def record(conn, _cursor, statement, *_args):
        seen.append((statement.split()[0], conn.connection.dbapi_connection.autocommit))

    if db.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL path (SQLite has no round trips)")
    db.session.remove()  # the test's own transaction ended, as a worker's between requests
    sa_event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert client.get(f"/a/{attempt['token']}").status_code == 200
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", record)
    assert seen == [("SELECT", True)]


@pytest.fixture
def paced_attempt(client, make_competition, make_event):
    comp = make_competition(counts={"single": 2, "multiple": 0, "judge": 1})
    comp.question_time_s = 20
    event = make_event(comp)
    db.session.commit()
    return _join(client, event, "13700000001")


def test_a_paced_question_opens_holding_the_writer_lock_for_its_write_only(
    app, client, paced_attempt
):
    """The API's open of the next question (a paced quiz: every question, every phone)
    read the attempt and the item holding SQLite's writer queue."""
    url = f"/api/v1/attempts/{paced_attempt['token']}/questions/1/open"
    response, held = _queue_holds(app, lambda: client.post(url))
    assert response.status_code == 200 and response.json["question"]["stem"]
    assert held == [["UPDATE"]], held
    response, held = _queue_holds(app, lambda: client.post(url))  # opened: reads only
    assert response.status_code == 200 and held == [], held


def test_the_paced_pages_next_holds_the_writer_lock_for_its_writes_only(app, client, paced_attempt):
    """The quiz page's form (a paced quiz's "next", and the quiz without JavaScript)."""
    url = f"/a/{paced_attempt['token']}"
    response, held = _queue_holds(app, lambda: client.post(url, data={"action": "next"}))
    assert response.status_code == 302 and held == [["UPDATE"]], held
    page = client.get(url).get_data(as_text=True)
    choice = re.search(r'name="q1" value="([^"]+)"', page).group(1)
    response, held = _queue_holds(
        app, lambda: client.post(url, data={"action": "next", "q1": choice})
    )
    # The answer saved; the next question opened.
    assert response.status_code == 302 and held == [["UPDATE"], ["UPDATE"]], held
