"""SQLite in the embedded default: writers queue per process and never see "database is locked"."""

from __future__ import annotations

import os
import threading

import pytest
from sqlalchemy import text

from quizapp.extensions import db
from quizapp.sqlite_writer import WriterQueue

pytestmark = pytest.mark.skipif(
    os.environ.get("QUIZ_TEST_DB") == "postgres", reason="the SQLite engine only"
)


def _queue(app) -> WriterQueue:
    return app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"]["factory"].queue


def test_many_threads_write_without_database_is_locked(app):
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
    errors: list[BaseException] = []
    barrier = threading.Barrier(16)

    def work():
        with app.app_context():
            barrier.wait()
            try:
                for _ in range(40):
                    # A read that turns into a write: the classic "database is locked".
                    n = db.session.execute(text("SELECT n FROM counter")).scalar_one()
                    db.session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
                    db.session.commit()
            except BaseException as err:  # noqa: BLE001 - collected and asserted below
                errors.append(err)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # Every read-modify-write was serialised: no increment lost.
    assert db.session.execute(text("SELECT n FROM counter")).scalar_one() == 16 * 40
    db.session.rollback()
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE counter"))


def test_the_queue_is_handed_on_after_commit_rollback_and_close(app):
    queue = _queue(app)
    db.session.execute(text("SELECT 1"))
    assert queue._lock.locked()
    db.session.commit()
    assert not queue._lock.locked()
    db.session.execute(text("SELECT 1"))
    db.session.rollback()
    assert not queue._lock.locked()
    db.session.execute(text("SELECT 1"))
    db.session.close()
    assert not queue._lock.locked()


def test_a_thread_holding_the_queue_does_not_wait_for_itself():
    queue = WriterQueue(timeout=30)  # waiting for itself would show as a 30 s stall
    assert queue.acquire()
    assert queue.acquire() is False  # not queued again; the first hold stays
    queue.release()
    assert not queue._lock.locked()


def test_a_stuck_holder_only_delays_others():
    queue = WriterQueue(timeout=0.05)
    assert queue.acquire()
    got: list[bool] = []
    t = threading.Thread(target=lambda: got.append(queue.acquire()))
    t.start()
    t.join()
    assert got == [False]  # gave up queueing; SQLite's busy timeout takes over
    queue.release()
