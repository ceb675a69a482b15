"""Ping a pooled database connection before use only when it has sat idle.

SQLAlchemy's ``pool_pre_ping`` sends a ping on every checkout: on PostgreSQL one more
network round trip for every request, a fifth of an answer save's (pre-ping, SELECT,
two UPDATEs, COMMIT; ``bench/load_bench.py``). A connection that went back to the pool
less than ``DB_PING_IDLE_S`` seconds ago (default 1) has just worked, so it is used as
is; one idle for longer (the server may have restarted or a firewall dropped it since)
is pinged first and, if the ping finds it dead, every pooled connection older than it is
replaced (as with ``pool_pre_ping``). A server that fails while connections are busy is
noticed by the statement that fails: SQLAlchemy invalidates the pool, the request answers
503 ``unavailable`` with ``Retry-After`` (``quizapp.errors``), and the phone resends.
"""

from __future__ import annotations

from time import monotonic

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

_IDLE_SINCE = "quizapp.idle_since"


def configure(engine: Engine, idle_s: float) -> None:
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection, record):
        if record is not None:
            record.info[_IDLE_SINCE] = monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection, record, _proxy):
        since = record.info.get(_IDLE_SINCE)
        if since is None or monotonic() - since < idle_s:
            return  # new, or back in the pool a moment ago
        try:
            alive = dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as err:
            if not dialect.is_disconnect(err, dbapi_connection, None):
                raise
            alive = False
        if not alive:
            record.info.pop(_IDLE_SINCE, None)
            raise exc.InvalidatePoolError()  # the pool replaces it and all older ones

    @event.listens_for(engine, "connect")
    def _on_connect(_dbapi_connection, record):
        record.info.pop(_IDLE_SINCE, None)
