"""Domain exceptions and the HTML / JSON error handlers.

Services raise a ``DomainError`` subclass; views turn it into a flash, a form
error or the JSON error shape ``{"error": {"code", "message"}}`` of API v1.
"""

from __future__ import annotations

from flask import Flask, current_app, jsonify, make_response, render_template, request
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException

from quizapp import throttle


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


def register_error_handlers(app: Flask) -> None:
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
        return _error_response(
            status, _HTTP_CODES.get(status, "error"), err.description or err.name, headers
        )

    @app.errorhandler(Exception)
    def handle_unexpected(err: Exception):
        app.logger.exception("unhandled error on %s", request.path)
        message = str(_l("Something went wrong on our side. Please try again in a moment."))
        if _wants_json():
            return json_error(500, "internal_error", message)
        return render_template("error.html", status=500, message=message), 500
