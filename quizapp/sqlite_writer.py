"""SQLite in the embedded default: WAL, a busy timeout, and one writer at a time per process.

A transaction that writes holds the write lock from ``BEGIN IMMEDIATE``, so that
concurrent writers wait for the lock at the start of a transaction (where SQLite's busy
timeout applies) instead of failing with "database is locked" when a read turns into a
write in a stale snapshot.

SQLite's own wait is a polling sleep (1, 2, 5 … 100 ms), so with many threads waiting the
lock goes to whichever wakes first, a waiter can be starved for seconds, and the lock
often lies free while every waiter sleeps. So writers queue before ``BEGIN IMMEDIATE``:
inside a process on a Python lock (handed on the moment a transaction commits or rolls
back), and between processes (gunicorn workers, a cron command) on an advisory lock on
the file ``<database>-writer`` beside the database, polled every 0.1–2 ms. Measured with
``bench/load_bench.py`` (see bench/RESULTS.md).

Requests that should not change anything (GET, HEAD, OPTIONS: pages, screen polls, event
info) and the participant hot paths (inside :func:`reads_first`) begin a plain deferred
transaction and do not queue while they read: in WAL mode readers do not wait for
writers. Before their first write the read snapshot is ended and the transaction goes on
as BEGIN IMMEDIATE through the queue, so the write never meets "database is locked" and
the lock is held only from the first write to the commit. Reads before that point saw
committed data, as on PostgreSQL's READ COMMITTED, which the conditional UPDATEs and
unique constraints of the attempt engine are built for. Everything else (organiser
forms, commands) holds the lock for its whole transaction, as its reads may decide
its writes.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_reads_first: ContextVar[bool] = ContextVar("sqlite_reads_first", default=False)
_writes_now: ContextVar[bool] = ContextVar("sqlite_writes_now", default=False)
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")


class WriterQueue:
    """A lock taken at BEGIN and released after COMMIT/ROLLBACK: a thread lock within the
    process and, with ``lock_path``, an advisory file lock between processes.

    A thread already holding it (a second connection opened while the first is in a
    transaction) does not wait for itself. A waiter gives up queueing after ``timeout``
    seconds and falls back to SQLite's busy timeout, so a stuck holder can slow a
    request but never deadlock it.
    """

    def __init__(self, timeout: float, lock_path: str | None = None) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self._lock_path = lock_path
        self._fd: int | None = None
        self._fd_pid: int | None = None
        self._file_locked = False
        self.timeout = timeout

    def acquire(self) -> bool:
        me = threading.get_ident()
        if self._owner == me:
            return False
        deadline = time.monotonic() + self.timeout
        if not self._lock.acquire(timeout=self.timeout):
            return False
        self._owner = me
        if self._lock_path:
            self._file_locked = self._lock_file(deadline)
        return True

    def release(self) -> None:
        if self._file_locked:
            self._file_locked = False
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._owner = None
        self._lock.release()

    def _lock_file(self, deadline: float) -> bool:
        if self._fd is None or self._fd_pid != os.getpid():  # opened after a fork
            self._fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            self._fd_pid = os.getpid()
        pause = 0.0001
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, 0.002)


def _connection_class(queue: WriterQueue) -> type[sqlite3.Connection]:
    class QueuedConnection(sqlite3.Connection):
        """A DBAPI connection that hands the writer lock on after it ends a transaction."""

        holds_lock = False
        reading = False  # in a deferred (read) transaction
        queue: WriterQueue

        def begin_immediate(self) -> None:
            self.reading = False
            self.holds_lock = queue.acquire()
            try:
                self.execute("BEGIN IMMEDIATE")
            except BaseException:
                self._hand_on()
                raise

        def begin_deferred(self) -> None:
            self.execute("BEGIN")
            self.reading = True

        def upgrade(self) -> None:
            """End the read snapshot (nothing was written) and go on as a writer."""
            super().commit()
            self.begin_immediate()

        def _hand_on(self) -> None:
            self.reading = False
            if self.holds_lock:
                self.holds_lock = False
                queue.release()

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self._hand_on()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self._hand_on()

        def close(self) -> None:
            try:
                super().close()
            finally:
                self._hand_on()

    QueuedConnection.queue = queue
    return QueuedConnection


@contextmanager
def reads_first() -> Iterator[None]:
    """Transactions begun inside read without the write lock until their first write.

    For code whose reads need not be consistent with its writes, as under PostgreSQL's
    READ COMMITTED: every write is conditional (``WHERE status = 'active'``) or guarded
    by a unique constraint. The participant hot paths (join, answer save, submit) use it,
    so the writer lock is held only from the first write to the commit. Does nothing on
    other databases.
    """
    token = _reads_first.set(True)
    try:
        yield
    finally:
        _reads_first.reset(token)


@contextmanager
def writes_now() -> Iterator[None]:
    """Transactions begun inside take the writer lock at once (BEGIN IMMEDIATE through
    the queue), also inside :func:`reads_first`: for a transaction that only writes."""
    token = _writes_now.set(True)
    try:
        yield
    finally:
        _writes_now.reset(token)


def engine_options(database: str, busy_timeout_ms: int) -> dict:
    """``SQLALCHEMY_ENGINE_OPTIONS`` additions for the SQLite database file ``database``."""
    queue = WriterQueue(timeout=busy_timeout_ms / 1000, lock_path=database + "-writer")
    return {"connect_args": {"factory": _connection_class(queue), "check_same_thread": False}}


class Checkpointer:
    """WAL checkpoints in a background thread of each process.

    By default SQLite checkpoints inside the commit that takes the WAL past 1,000 pages:
    that commit copies the pages into the database file and syncs it (4–5 ms here, about
    half of all commit time in a run of joins; measured with ``bench/profile_hot_paths``),
    and it still holds the writer queue meanwhile, so every writer waits. Here the app's
    connections turn that off and a daemon thread runs a PASSIVE checkpoint (which waits
    for no reader or writer) every ``interval`` seconds on a connection of its own. It
    stops when its engine is gone. A process that never starts it (none does without a
    connection) still has SQLite's checkpoint when its last connection closes.

    A PASSIVE checkpoint copies the WAL but never starts it over: the next writer does
    that, and only when its transaction began after every frame was copied, which under
    a constant stream of writes almost never happens. The WAL file then grew by every
    write (843 MB beside a 54 MB database after 5,000 phones' quizzes). So once the WAL
    holds ``RESET_FRAMES`` frames, the thread takes the writer queue, as a writer would,
    and runs a TRUNCATE checkpoint: it copies what is left, waits (``RESET_WAIT_MS`` at
    most) for the readers still in the WAL's frames, which new readers no longer enter,
    and empties the file. Busy, it gives up and tries again at its next turn. Every
    writer waits meanwhile (25-55 ms here, most of it syncing the database file), so
    resets are kept rare: at 1,000 frames a start's joins met one every half second.
    """

    RESET_FRAMES = 10_000  # 40 MB of 4 KB pages: about 500 joins, or 5,000 answer saves
    RESET_WAIT_MS = 100

    def __init__(
        self, engine: Engine, database: str, interval: float, queue: WriterQueue | None = None
    ) -> None:
        self._engine = weakref.ref(engine)
        self.database = database
        self.interval = interval
        self.queue = queue
        self.last: tuple[int, int, int] | None = None  # busy, WAL frames, frames copied
        self.resets = 0  # TRUNCATE checkpoints that emptied the WAL
        self._pid: int | None = None
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        """Start the thread in this process (a forked worker starts its own)."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True).start()

    def _run(self) -> None:
        connection = None
        try:
            while self._engine() is not None and os.path.exists(self.database):
                time.sleep(self.interval)
                if connection is None:
                    connection = sqlite3.connect(self.database, check_same_thread=False)
                    connection.execute(f"PRAGMA busy_timeout = {int(self.RESET_WAIT_MS)}")
                self.last = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if self.last[1] >= self.RESET_FRAMES:
                    self._reset(connection)
        except sqlite3.Error:  # the database went away (a test's), or is broken: stop
            pass
        finally:
            if connection is not None:
                connection.close()
            self._pid = None

    def _reset(self, connection: sqlite3.Connection) -> None:
        """A TRUNCATE checkpoint between two writers of every process."""
        queued = self.queue.acquire() if self.queue is not None else False
        try:
            busy, _frames, _copied = connection.execute(
                "PRAGMA wal_checkpoint(TRUNCATE)"
            ).fetchone()
        finally:
            if queued:
                self.queue.release()
        self.resets += not busy


def configure(
    engine: Engine, busy_timeout_ms: int, checkpoint_s: float = 0, queue: WriterQueue | None = None
) -> None:
    """Pragmas on every new connection and BEGIN IMMEDIATE (through the queue) on begin;
    ``checkpoint_s`` > 0: WAL checkpoints in a background thread at that interval
    (:class:`Checkpointer`, kept as ``engine.checkpointer``) instead of in commits."""
    checkpointer = None
    if checkpoint_s > 0 and engine.url.database not in (None, "", ":memory:"):
        checkpointer = Checkpointer(engine, engine.url.database, checkpoint_s, queue)
    engine.checkpointer = checkpointer

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        if checkpointer is not None:
            cursor.execute("PRAGMA wal_autocheckpoint = 0")
            checkpointer.ensure_running()
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        dbapi_connection = conn.connection.dbapi_connection
        if not hasattr(dbapi_connection, "begin_immediate"):
            # an in-memory database or a connection made without the factory
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif not _writes_now.get() and (
            _reads_first.get() or (has_request_context() and request.method in _SAFE_METHODS)
        ):
            dbapi_connection.begin_deferred()
        else:
            dbapi_connection.begin_immediate()

    @event.listens_for(engine, "before_cursor_execute")
    def _before_execute(conn, _cursor, statement, _parameters, _context, _executemany):
        dbapi_connection = conn.connection.dbapi_connection
        if getattr(dbapi_connection, "reading", False) and _is_write(statement):
            dbapi_connection.upgrade()


def _is_write(statement: str) -> bool:
    return statement.lstrip()[:7].upper().startswith(_WRITES)
