"""SQLite in the embedded default: writers queue per process and never see "database is locked"."""

from __future__ import annotations

import os
import threading
import time

import pytest
from sqlalchemy import select, text

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


def test_reads_in_a_get_request_do_not_queue_behind_a_writer(app):
    """A page or poll (GET) reads while another request holds the write lock."""
    holding, done = threading.Event(), threading.Event()

    def writer():
        with app.app_context():
            db.session.execute(text("SELECT 1"))  # BEGIN IMMEDIATE: holds both locks
            holding.set()
            done.wait(10)
            db.session.rollback()
            db.session.remove()

    t = threading.Thread(target=writer)
    t.start()
    assert holding.wait(10)
    try:
        queue = _queue(app)
        queue.timeout = 30  # a GET that queued would stall here for 30 s
        with app.test_request_context("/", method="GET"):
            assert db.session.execute(text("SELECT count(*) FROM users")).scalar_one() == 0
            db.session.rollback()
    finally:
        done.set()
        t.join()


def test_a_get_request_that_writes_after_others_committed_is_not_locked_out(app):
    """The snapshot of a read transaction is stale once another connection commits; a
    plain upgrade to writing would fail with "database is locked" at once. The reader is
    turned into a queued writer before its first write instead."""
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE counter (n INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO counter VALUES (0)"))
    try:
        with app.test_request_context("/", method="GET"):
            assert db.session.execute(text("SELECT n FROM counter")).scalar_one() == 0

            def other_writer():
                with app.app_context():
                    db.session.execute(text("UPDATE counter SET n = n + 10"))
                    db.session.commit()
                    db.session.remove()

            t = threading.Thread(target=other_writer)
            t.start()
            t.join()
            db.session.execute(text("UPDATE counter SET n = n + 1"))
            db.session.commit()
        assert db.session.execute(text("SELECT n FROM counter")).scalar_one() == 11
        db.session.rollback()
    finally:
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE counter"))


def test_a_get_that_closes_an_overdue_attempt_stores_it(app, client, make_event, now):
    from datetime import timedelta

    from quizapp.play import services
    from quizapp.play.models import Attempt

    event = make_event()
    attempt, _ = services.join(
        event.join_token, name="张三", phone="13800138000", unit_name="东城区", now=now
    )
    token = attempt.token
    attempt.deadline_at = now - timedelta(minutes=5)  # overdue, not yet closed
    db.session.commit()
    db.session.remove()
    response = client.get(f"/api/v1/attempts/{token}")  # a GET that writes
    assert response.status_code == 200
    assert response.json["attempt"]["status"] == "expired"
    assert db.session.scalar(select(Attempt.status).where(Attempt.token == token)) == "expired"


def test_processes_queue_on_the_file_lock(tmp_path):
    """Two queues on one lock file stand for two gunicorn workers (flock locks belong to
    open files, so two opens in one process exclude each other as two processes do)."""
    path = str(tmp_path / "db.sqlite3-writer")
    first, second = WriterQueue(timeout=5, lock_path=path), WriterQueue(0.05, lock_path=path)
    assert first.acquire() and first._file_locked
    result: list[bool] = []
    t = threading.Thread(target=lambda: result.append(second.acquire() and second._file_locked))
    t.start()
    t.join()
    assert result == [False]  # gave up after 0.05 s: SQLite's busy timeout takes over
    second.release()
    first.release()
    waiter = WriterQueue(timeout=5, lock_path=path)
    assert first.acquire()
    got: list[float] = []

    def wait():
        start = time.monotonic()
        waiter.acquire()
        got.append(time.monotonic() - start)
        waiter.release()

    t = threading.Thread(target=wait)
    t.start()
    time.sleep(0.2)
    first.release()  # the waiter gets it within a few milliseconds
    t.join()
    assert 0.15 < got[0] < 0.5


def test_the_app_queues_on_a_file_beside_its_database(app):
    queue = _queue(app)
    assert queue._lock_path == db.engine.url.database + "-writer"
    db.session.execute(text("SELECT 1"))
    assert queue._file_locked
    db.session.commit()
    assert not queue._file_locked


def test_hot_paths_read_without_the_writer_lock_until_their_first_write(app):
    from quizapp.sqlite_writer import reads_first

    queue = _queue(app)
    with reads_first():
        db.session.execute(text("SELECT count(*) FROM users"))
        assert not queue._lock.locked()  # reading: others may write meanwhile
        db.session.execute(text("UPDATE users SET email = email WHERE id = -1"))
        assert queue._lock.locked() and queue._file_locked
        db.session.commit()
    assert not queue._lock.locked()
    db.session.execute(text("SELECT 1"))  # outside: the whole transaction holds it
    assert queue._lock.locked()
    db.session.rollback()


def test_wal_checkpoints_run_in_a_background_thread_not_in_commits(app):
    """Commits never checkpoint (that held the writer queue for milliseconds); the
    process's checkpoint thread copies the WAL into the database file."""
    assert db.session.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 0
    db.session.rollback()
    checkpointer = db.engine.checkpointer
    assert checkpointer.interval == 0.5
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE wal_filler (x TEXT)"))
    try:
        for _ in range(20):
            with db.engine.begin() as conn:
                conn.execute(text("INSERT INTO wal_filler VALUES (:x)"), [{"x": "x" * 900}] * 20)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (checkpointer.last and checkpointer.last[2]):
            time.sleep(0.05)
        busy, frames, copied = checkpointer.last
        assert copied > 0 and frames >= copied
        assert any(t.name == "sqlite-checkpoint" for t in threading.enumerate())
    finally:
        with db.engine.begin() as conn:
            conn.execute(text("DROP TABLE wal_filler"))


def test_sqlite_checkpoints_in_commits_when_the_thread_is_off(tmp_path):
    from quizapp import create_app

    other = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'own.sqlite3'}",
            "SECRET_KEY": "t",
            "SQLITE_CHECKPOINT_S": 0,
        }
    )
    with other.app_context():
        assert db.engine.checkpointer is None
        assert db.session.execute(text("PRAGMA wal_autocheckpoint")).scalar_one() == 1000
        db.session.remove()
        db.engine.dispose()


def test_the_wal_file_stays_small_under_a_constant_stream_of_writes(tmp_path, monkeypatch):
    """With writes never pausing, a PASSIVE checkpoint copies the WAL but the next writer
    can never start it over (it began its transaction before the copy ended), so the file
    grew by every write: 843 MB for a 54 MB database after 5,000 phones' quizzes. The
    checkpoint thread now resets it, between writers, once it passes RESET_FRAMES."""
    from quizapp import create_app
    from quizapp.sqlite_writer import Checkpointer

    monkeypatch.setattr(Checkpointer, "RESET_FRAMES", 200, raising=False)
    path = tmp_path / "busy.sqlite3"
    other = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
            "SECRET_KEY": "t",
            "SQLITE_CHECKPOINT_S": 0.02,
        }
    )
    wal = f"{path}-wal"
    stop = threading.Event()
    reads: list[int] = []

    def read():  # short read transactions all the time, as pages and polls do
        with other.app_context():
            while not stop.is_set():
                reads.append(db.session.execute(text("SELECT count(*) FROM filler")).scalar_one())
                db.session.rollback()

    with other.app_context():
        with db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE filler (x TEXT)"))
        reader = threading.Thread(target=read)
        reader.start()
        largest = 0
        try:
            for n in range(1500):
                with db.engine.begin() as conn:
                    conn.execute(text("INSERT INTO filler VALUES (:x)"), {"x": f"{n:04d}" * 2500})
                if n % 50 == 0:
                    largest = max(largest, os.path.getsize(wal))
        finally:
            stop.set()
            reader.join()
        # 1,500 writes of a 10 KB row: 3 pages each, 18 MB if never reset (11 MB seen,
        # where a writer now and then began just after a complete copy); 1.2 MB now.
        assert db.session.execute(text("SELECT count(*) FROM filler")).scalar_one() == 1500
        assert reads and largest < 4 * 1024 * 1024, largest
        assert db.engine.checkpointer.resets > 0
        db.session.remove()
        db.engine.dispose()
