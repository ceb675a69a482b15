"""Pooled PostgreSQL connections are pinged before use only after sitting idle
(``quizapp.pool_ping``): a connection back in the pool a moment ago is used as is (one
network round trip less per request), one idle for longer is pinged, so a database that
restarted meanwhile costs no request an error. On the private cluster, in process."""

from __future__ import annotations

import time

import pytest

from quizapp import create_app
from quizapp.extensions import db


def _app(database, **config):
    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database.url,
            "SECRET_KEY": "t",
            "SETUP_CACHE_S": 0,  # every event GET reads the database...
            # ...once, in the view (the fast path would retry a failed read in the view)
            "FAST_EVENT_GET": False,
            "RATELIMIT_ENABLED": False,
            **config,
        }
    )


@pytest.fixture
def pings(monkeypatch):
    """How many pings the pool sent (the dialect's do_ping, counted)."""
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    sent = []
    original = PGDialect_psycopg.do_ping

    def counted(self, dbapi_connection):
        sent.append(time.monotonic())
        return original(self, dbapi_connection)

    monkeypatch.setattr(PGDialect_psycopg, "do_ping", counted)
    return sent


def _get_event(client, database) -> int:
    token = database.demo["events"][0]["join_token"]
    return client.get(f"/api/v1/events/{token}").status_code


def test_busy_connections_are_not_pinged_idle_ones_are(pg_database, pings):
    app = _app(pg_database, DB_PING_IDLE_S=0.3)
    client = app.test_client()
    try:
        for _ in range(20):
            assert _get_event(client, pg_database) == 200
        assert pings == []  # new, then back in the pool a moment ago each time
        time.sleep(0.4)
        assert _get_event(client, pg_database) == 200
        assert len(pings) == 1
        assert _get_event(client, pg_database) == 200
        assert len(pings) == 1
    finally:
        with app.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("idle_s, first_status", [(0.2, 200), (3600, 503)])
def test_a_restart_while_connections_sat_idle(
    private_postgres, pg_database, pings, idle_s, first_status
):
    """Pinged (idle past DB_PING_IDLE_S): the first request after the restart is served.
    Not pinged (the control): that request finds its connection dead and answers 503
    ``unavailable``, and the next one is served on a new connection."""
    app = _app(pg_database, DB_PING_IDLE_S=idle_s)
    client = app.test_client()
    try:
        assert _get_event(client, pg_database) == 200
        private_postgres.stop("fast")
        private_postgres.start()
        time.sleep(0.3)
        assert _get_event(client, pg_database) == first_status
        assert _get_event(client, pg_database) == 200
        assert len(pings) == (1 if idle_s < 1 else 0)
    finally:
        private_postgres.ensure_running()
        with app.app_context():
            db.engine.dispose()
