"""Domain exceptions and the HTML / JSON error handlers.

Services raise a ``DomainError`` subclass; views turn it into a flash, a form
error or the JSON error shape ``{"error": {"code", "message"}}`` of API v1.

A database that cannot answer for a moment (restarting, connection lost, pool
exhausted, SQLite busy past its timeout) is a 503 ``unavailable`` with
``Retry-After``, not a 500: the phone keeps the answer queued and sends it again.
"""

from __future__ import annotations

import sqlite3

from flask import Flask, current_app, jsonify, make_response, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException

from quizapp import throttle
from quizapp.extensions import db


class DomainError(Exception):
    """Base of every error a service raises on purpose. ``code`` is stable (API v1)."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str | None = None, *, field: str | None = None):
        self.message = str(message) if message is not None else str(self.default_message)
        self.field = field
        super().__init__(self.message)

    default_message = _l("The request could not be processed.")


class NotFound(DomainError):
    status, code = 404, "not_found"
    default_message = _l("Not found.")


class InvalidField(DomainError):
    status, code = 422, "invalid_field"
    default_message = _l("A field is invalid.")


class Conflict(DomainError):
    status, code = 409, "conflict"
    default_message = _l("The request conflicts with the current state.")


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def json_error(status: int, code: str, message: str, **extra):
    body = {"error": {"code": code, "message": message, **extra}}
    return jsonify(body), status


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_field",
    429: "rate_limited",
}


def _error_response(status: int, code: str, message: str, headers=(), **extra):
    if _wants_json():
        response, _status = json_error(status, code, message, **extra)
    else:
        response = make_response(render_template("error.html", status=status, message=message))
    response.status_code = status
    for name, value in headers:
        response.headers[name] = value
    if status == 429:
        current_app.logger.warning("429 on %s from %s", request.path, request.remote_addr)
    return response


def _over_guess_limit(status: int) -> bool:
    """An unknown token on a token route, from a client over the unknown-token limit
    (see quizapp.throttle: known tokens are never refused)."""
    return status == 404 and throttle.on_token_route() and throttle.unknown_token_over_limit()


def _too_many_guesses():
    message = str(_l("Too many unknown links from your network. Please wait a minute."))
    return _error_response(429, "rate_limited", message, [("Retry-After", "60")])


# Seconds a client should wait before retrying after a 503 (the database restarting).
RETRY_AFTER_S = 2

# SQLite reports mistakes (no such table, a syntax error) as OperationalError too; only
# these mean "busy or unreachable right now".
_SQLITE_TRANSIENT = (
    "database is locked",
    "database table is locked",
    "unable to open database file",
    "disk i/o error",
    "database or disk is full",
)


def database_unavailable(err: BaseException) -> bool:
    """True when ``err`` means the database cannot serve right now but a retry may
    succeed: the server is down or restarting, the connection was lost, the pool had
    no free connection in time, PostgreSQL refused for a transient reason (shutdown,
    too many connections, serialization failure, lock timeout), SQLite stayed busy."""
    if isinstance(err, sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True
    if isinstance(err, sa_exc.DBAPIError) and err.connection_invalidated:
        return True
    orig = err.orig if isinstance(err, sa_exc.DBAPIError) else err
    if isinstance(orig, sqlite3.Error):
        message = str(orig).lower()
        return isinstance(orig, sqlite3.OperationalError) and any(
            text in message for text in _SQLITE_TRANSIENT
        )
    return isinstance(err, sa_exc.OperationalError | sa_exc.InterfaceError)


def _one_line(err: BaseException) -> str:
    """The error's class and first line, for the log: never the SQL or its parameters
    (names and phone numbers), which SQLAlchemy's own message carries."""
    orig = getattr(err, "orig", None) or err
    lines = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {lines[0][:200] if lines else ''}"


def _release_session() -> None:
    """Roll back the request's session: it gives its connection back to the pool (which
    discards it when it is broken), so the session's next use, and the next request,
    check out a fresh, pre-pinged one."""
    try:
        db.session.rollback()
    except Exception:  # the connection is gone; closing the session discards it
        current_app.logger.debug("rollback after a database error failed", exc_info=True)


def _end_session(_exc: BaseException | None) -> None:
    """App context teardown, run before Flask-SQLAlchemy's (teardowns run last registered
    first): close the session. Closing rolls back the open read transaction; when the
    connection died after the view had its answer (the database restarting), that
    rollback fails. The answer is still right, so the error is logged and the broken
    session dropped instead of becoming a bare 500 from the server."""
    try:
        db.session.remove()
    except Exception as err:
        if not database_unavailable(err):
            raise
        current_app.logger.warning(
            "database connection lost while closing a session: %s", _one_line(err)
        )
        db.session.registry.clear()


def register_error_handlers(app: Flask) -> None:
    app.teardown_appcontext(_end_session)

    @app.errorhandler(DomainError)
    def handle_domain_error(err: DomainError):
        if _over_guess_limit(err.status):
            return _too_many_guesses()
        extra = {"field": err.field} if err.field and _wants_json() else {}
        return _error_response(err.status, err.code, err.message, **extra)

    @app.errorhandler(HTTPException)
    def handle_http(err: HTTPException):
        status = err.code or 500
        if _over_guess_limit(status):
            return _too_many_guesses()
        # Keep the exception's own headers: Allow on a 405, Retry-After on a 429.
        headers = [(k, v) for k, v in err.get_headers() if k.lower() != "content-type"]
        if err.response is not None:  # Flask-Limiter's prepared 429
            headers += [(k, v) for k, v in err.response.headers if k.lower() == "retry-after"]
        message = err.description or err.name
        if status == 413:  # Werkzeug's text names no limit and is not translated
            message = str(
                _l(
                    "This upload or form is too large. Files may be at most %(mb)d MB.",
                    mb=current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024),
                )
            )
        return _error_response(status, _HTTP_CODES.get(status, "error"), message, headers)

    @app.errorhandler(Exception)
    def handle_unexpected(err: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        message = str(_l("Something went wrong on our side. Please try again in a moment."))
        if _wants_json():
            return json_error(500, "internal_error", message)
        return render_template("error.html", status=500, message=message), 500

    @app.errorhandler(sa_exc.SQLAlchemyError)
    @app.errorhandler(sqlite3.Error)
    def handle_database_error(err: Exception):
        if not database_unavailable(err):
            return handle_unexpected(err)
        _release_session()
        app.logger.warning(
            "database unavailable on %s %s: %s", request.method, request.path, _one_line(err)
        )
        message = str(_l("The service is briefly unavailable. Please try again in a few seconds."))
        return _error_response(503, "unavailable", message, [("Retry-After", str(RETRY_AFTER_S))])
