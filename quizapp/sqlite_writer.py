"""SQLite in the embedded default: WAL, a busy timeout, and one writer at a time per process.

Every transaction starts with ``BEGIN IMMEDIATE`` so that concurrent writers wait for the
write lock at the start of a transaction (where SQLite's busy timeout applies) instead of
failing with "database is locked" when a read turns into a write.

SQLite's own wait is a polling sleep (1, 2, 5 … 100 ms), so with many threads waiting the
lock goes to whichever wakes first and a waiter can be starved for seconds. Inside one
process the threads therefore queue on a Python lock before ``BEGIN IMMEDIATE`` and the
lock is handed on the moment the transaction commits or rolls back; only one thread per
gunicorn worker polls SQLite. Measured with ``bench/load_bench.py`` (see bench/RESULTS.md).

Requests that should not change anything (GET, HEAD, OPTIONS: pages, screen polls, event
info) begin a plain deferred transaction and never queue: in WAL mode readers do not wait
for writers. When such a request writes after all (an overdue attempt is closed while a
page shows it), the read snapshot is ended and the transaction goes on as BEGIN IMMEDIATE
through the queue before the first write, so the write never meets "database is locked".
Reads before that point saw committed data, as on PostgreSQL's READ COMMITTED, which
the conditional UPDATEs of the attempt engine are built for.
"""

from __future__ import annotations

import sqlite3
import threading

from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")


class WriterQueue:
    """A process-wide lock taken at BEGIN and released after COMMIT/ROLLBACK.

    Re-entrant per thread in the sense that a thread already holding it (a second
    connection opened while the first is in a transaction) does not wait for itself.
    A waiter gives up queueing after ``timeout`` seconds and falls back to SQLite's
    busy timeout, so a stuck holder can slow a request but never deadlock it.
    """

    def __init__(self, timeout: float) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None
        self.timeout = timeout

    def acquire(self) -> bool:
        me = threading.get_ident()
        if self._owner == me:
            return False
        if not self._lock.acquire(timeout=self.timeout):
            return False
        self._owner = me
        return True

    def release(self) -> None:
        self._owner = None
        self._lock.release()


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


def engine_options(busy_timeout_ms: int) -> dict:
    """``SQLALCHEMY_ENGINE_OPTIONS`` additions for a file-backed SQLite database."""
    queue = WriterQueue(timeout=busy_timeout_ms / 1000)
    return {"connect_args": {"factory": _connection_class(queue), "check_same_thread": False}}


def configure(engine: Engine, busy_timeout_ms: int) -> None:
    """Pragmas on every new connection and BEGIN IMMEDIATE (through the queue) on begin."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        dbapi_connection = conn.connection.dbapi_connection
        if not hasattr(dbapi_connection, "begin_immediate"):
            # an in-memory database or a connection made without the factory
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        elif has_request_context() and request.method in _SAFE_METHODS:
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
