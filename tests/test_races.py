"""Races settled by the database: 20 threads at a barrier submit, save, or join at once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select, update

from quizapp.extensions import db
from quizapp.play.models import Attempt, AttemptItem, Participant
from tests.conftest import correct_choice

THREADS = 20


def _storm(app, fn):
    """Run fn(i) in THREADS threads released together; return results and errors."""
    barrier = threading.Barrier(THREADS)
    results, errors = [None] * THREADS, []

    def run(i):
        with app.app_context():
            barrier.wait()
            try:
                results[i] = fn(i)
            except Exception as err:  # collected, asserted below
                errors.append(err)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


@pytest.fixture
def attempt_data(app, make_event, client):
    event = make_event()
    r = client.post(
        f"/api/v1/events/{event.join_token}/attempts",
        json={"name": "并发", "phone": "13000000000", "unit_id": event.competition.units[0].id},
    )
    db.session.remove()
    return event, r.json["attempt"]


def test_twenty_concurrent_submits_give_one_result(app, attempt_data):
    _event, attempt = attempt_data
    token = attempt["token"]
    client = app.test_client()
    for q in attempt["questions"]:
        client.put(
            f"/api/v1/attempts/{token}/answers/{q['position']}", json={"choice": correct_choice(q)}
        )

    def submit(_i):
        return app.test_client().post(f"/api/v1/attempts/{token}/submit")

    responses, errors = _storm(app, submit)
    assert errors == []
    assert {r.status_code for r in responses} == {200}
    scores = {(r.json["result"]["score"], r.json["result"]["duration_ms"]) for r in responses}
    assert len(scores) == 1 and next(iter(scores))[0] == 45
    row = db.session.scalar(select(Attempt).where(Attempt.token == token))
    assert row.status == "submitted" and row.score == 45


def test_twenty_concurrent_answer_saves_keep_one_row_per_position(app, attempt_data):
    _event, attempt = attempt_data
    token = attempt["token"]
    single = next(q for q in attempt["questions"] if q["type"] == "single")
    keys = [o["key"] for o in single["options"]]

    def save(i):
        return app.test_client().put(
            f"/api/v1/attempts/{token}/answers/{single['position']}",
            json={"choice": keys[i % len(keys)]},
        )

    responses, errors = _storm(app, save)
    assert errors == [] and {r.status_code for r in responses} == {200}
    rows = db.session.scalars(
        select(AttemptItem)
        .join(Attempt)
        .where(Attempt.token == token, AttemptItem.position == single["position"])
    ).all()
    assert len(rows) == 1 and rows[0].choice in keys


def test_answers_racing_a_submit_are_counted_or_refused(app, attempt_data):
    """Half the threads save answers, half submit: every save that was acknowledged
    (200) before the submit won must be in the score; the rest get 409."""
    _event, attempt = attempt_data
    token = attempt["token"]
    questions = attempt["questions"]

    def act(i):
        client = app.test_client()
        if i % 2:
            return client.post(f"/api/v1/attempts/{token}/submit")
        q = questions[(i // 2) % len(questions)]
        return client.put(
            f"/api/v1/attempts/{token}/answers/{q['position']}", json={"choice": correct_choice(q)}
        )

    responses, errors = _storm(app, act)
    assert errors == []
    assert all(r.status_code in (200, 409) for r in responses)
    row = db.session.scalar(select(Attempt).where(Attempt.token == token))
    items = db.session.scalars(select(AttemptItem).where(AttemptItem.attempt_id == row.id)).all()
    assert row.status == "submitted"
    assert row.score == sum(i.points for i in items if i.choice == i.key)
    assert row.score == sum(i.awarded for i in items)


@pytest.mark.parametrize("outcome", ["submitted", "rolled back"])
def test_a_save_waits_for_a_submit_in_progress_and_sees_its_outcome(app, attempt_data, outcome):
    """A submit holds the attempt (PostgreSQL: its row lock; SQLite: the write lock) while
    it scores. An answer sent meanwhile waits; then it is refused (409) and not written
    when the submit commits, and saved when the submit rolls back."""
    _event, attempt = attempt_data
    q = attempt["questions"][0]
    path = f"/api/v1/attempts/{attempt['token']}/answers/{q['position']}"
    holder = db.engine.connect()
    holder.begin()
    holder.execute(
        update(Attempt).where(Attempt.token == attempt["token"]).values(status="submitted")
    )
    got = {}

    def save():
        with app.app_context():
            got["response"] = app.test_client().put(path, json={"choice": correct_choice(q)})
            db.session.remove()

    thread = threading.Thread(target=save)
    thread.start()
    thread.join(0.5)
    waited = thread.is_alive()
    if outcome == "submitted":
        holder.commit()
    else:
        holder.rollback()
    holder.close()
    thread.join(30)
    assert waited, "the save did not wait for the submit in progress"
    item = db.session.scalar(
        select(AttemptItem)
        .join(Attempt)
        .where(Attempt.token == attempt["token"], AttemptItem.position == q["position"])
    )
    if outcome == "submitted":
        assert got["response"].status_code == 409, got["response"].json
        assert item.choice is None
    else:
        assert got["response"].status_code == 200, got["response"].json
        assert item.choice == correct_choice(q)


def test_twenty_concurrent_joins_of_one_person_make_one_attempt(app, make_event):
    event = make_event()
    unit_id = event.competition.units[0].id
    token = event.join_token
    db.session.remove()

    def join(_i):
        return app.test_client().post(
            f"/api/v1/events/{token}/attempts",
            json={"name": "同一人", "phone": "13100000000", "unit_id": unit_id},
        )

    responses, errors = _storm(app, join)
    assert errors == []
    assert all(r.status_code in (200, 201) for r in responses), [
        r.get_data(as_text=True) for r in responses if r.status_code not in (200, 201)
    ]
    assert len({r.json["attempt"]["token"] for r in responses}) == 1
    assert db.session.scalar(select(func.count()).select_from(Participant)) == 1
    assert db.session.scalar(select(func.count()).select_from(Attempt)) == 1
