"""What a request gets when the database cannot answer, in process with real errors (no
mocks): a PostgreSQL port nobody listens on, an SQLite file another connection keeps
locked. API paths: 503 ``unavailable`` JSON with ``Retry-After``; pages: an HTML 503
without a trace; the log: one WARNING line. A mistake (a missing table) stays a 500."""

from __future__ import annotations

import logging
import sqlite3

import pytest

from quizapp import create_app
from quizapp.extensions import db
from tests.faults.conftest import free_port

TOKEN = "A" * 22


def _app(url: str, **extra):
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "t", **extra})
    return app


@pytest.fixture
def down_app():
    """The app on a PostgreSQL address where nothing listens (connection refused)."""
    app = _app(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/quiz")
    yield app
    with app.app_context():
        db.engine.dispose()


def _assert_json_503(r):
    assert r.status_code == 503, r.data[:500]
    assert r.mimetype == "application/json"
    assert r.headers["Retry-After"] == "2"
    error = r.get_json()["error"]
    assert error["code"] == "unavailable"
    assert error["message"]
    assert "Traceback" not in r.get_data(as_text=True)
    assert "psycopg" not in r.get_data(as_text=True)


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("GET", f"/api/v1/events/{TOKEN}", None),
        ("POST", f"/api/v1/events/{TOKEN}/attempts", {"name": "甲", "phone": "13800000000"}),
        ("PUT", f"/api/v1/attempts/{TOKEN}/answers/1", {"choice": "A"}),
        ("POST", f"/api/v1/attempts/{TOKEN}/submit", None),
        ("GET", f"/api/v1/screens/{TOKEN}", None),
    ],
)
def test_api_answers_503_unavailable_when_postgres_is_down(down_app, method, path, body):
    r = down_app.test_client().open(path, method=method, json=body)
    _assert_json_503(r)


@pytest.mark.parametrize("path", [f"/j/{TOKEN}", f"/a/{TOKEN}", f"/a/{TOKEN}/result", "/healthz"])
def test_pages_answer_an_html_503_without_a_trace(down_app, path):
    r = down_app.test_client().get(path, headers={"Accept-Language": "zh-CN"})
    assert r.status_code == 503
    assert r.mimetype == "text/html"
    assert r.headers["Retry-After"] == "2"
    page = r.get_data(as_text=True)
    assert "服务暂时不可用" in page  # the translated message
    assert "Traceback" not in page and "OperationalError" not in page


def test_the_log_has_one_warning_line_without_traceback(down_app, caplog):
    with caplog.at_level(logging.WARNING):
        down_app.test_client().put(f"/api/v1/attempts/{TOKEN}/answers/1", json={"choice": "A"})
    records = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING and records[0].exc_info is None
    assert "PUT /api/v1/attempts/" in records[0].getMessage()
    assert "OperationalError" in records[0].getMessage()


def test_openapi_documents_the_503(down_app):
    spec = down_app.test_client().get("/api/v1/openapi.json").get_json()
    save = spec["paths"]["/attempts/{token}/answers/{position}"]["put"]["responses"]
    assert "Retry-After" in save["503"]["headers"]


def test_sqlite_locked_past_the_busy_timeout_is_503_a_missing_table_500(tmp_path):
    from flask_migrate import upgrade

    path = tmp_path / "locked.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode = WAL")
    holder.execute("CREATE TABLE t (x)")
    app = _app(f"sqlite:///{path}", SQLITE_BUSY_TIMEOUT_MS=100, WTF_CSRF_ENABLED=False)
    client = app.test_client()
    save = f"/api/v1/attempts/{TOKEN}/answers/1"
    focus_loss = f"/api/v1/attempts/{TOKEN}/focus-loss"
    try:
        # No schema: a mistake, not an outage - stays a 500.
        r = client.put(save, json={"choice": "A"})
        assert r.status_code == 500 and r.get_json()["error"]["code"] == "internal_error"
        with app.app_context():
            upgrade()
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock past the timeout
        holder.execute("INSERT INTO t VALUES (1)")
        # A focus loss is one UPDATE: it waits for the lock, then gives up.
        _assert_json_503(client.post(focus_loss))
        # An organiser's form takes the lock from its start (its reads decide its writes).
        r = client.post("/auth/login", data={"email": "a@example.cn", "password": "x"})
        assert r.status_code == 503 and r.mimetype == "text/html"
        assert "OperationalError" not in r.get_data(as_text=True)
        # Flask-Limiter sets the login's Retry-After to its window's end when that is later.
        assert int(r.headers["Retry-After"]) >= 2
        holder.execute("ROLLBACK")
        # The lock is gone: the next one gets past it (to the unknown token).
        assert client.post(focus_loss).status_code == 404
    finally:
        holder.close()
        with app.app_context():
            db.engine.dispose()


def test_connection_lost_after_the_view_answered_keeps_the_answer(private_postgres, caplog):
    """The database goes away between the view's last query and the end of the request:
    closing the session then fails to roll back. The view's answer stands (no bare 500
    from the server) and the next request gets a fresh connection."""
    from sqlalchemy import text

    app = _app(private_postgres.url("postgres"))

    def lose_connection(response):
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
        with private_postgres.connect() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        return response

    app.after_request_funcs.setdefault(None, []).append(lose_connection)
    client = app.test_client()
    try:
        with caplog.at_level(logging.WARNING):
            assert client.get("/healthz").status_code == 200
        assert any(
            "database connection lost while closing a session" in r.getMessage()
            for r in caplog.records
        )
        app.after_request_funcs[None].remove(lose_connection)
        assert client.get("/healthz").status_code == 200
    finally:
        with app.app_context():
            db.engine.dispose()
