"""App-wide web wiring: user loading, security headers, health check, home."""

from __future__ import annotations

import re

from flask import Blueprint, Flask, abort, current_app, redirect, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import text

from quizapp import signing
from quizapp.extensions import db, login_manager
from quizapp.jsonio import OrjsonProvider

bp = Blueprint("main", __name__)


class QuizFlask(Flask):
    """Flask, answering ``ensure_sync`` once per function: Flask asks ``inspect`` whether
    each hook and the view are coroutine functions on every request (eight times for an
    answer save; ``bench/profile_hot_paths.py``). The app's functions never change kind.
    Its JSON is written and read with orjson (quizapp.jsonio)."""

    json_provider_class = OrjsonProvider

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._sync_of: dict = {}

    def ensure_sync(self, func):
        try:
            return self._sync_of[func]
        except KeyError:
            sync = self._sync_of[func] = super().ensure_sync(func)
            return sync
        except TypeError:  # unhashable
            return super().ensure_sync(func)


class SessionInterface(signing.SessionInterface):
    """Flask's signed-cookie session (written without zlib: quizapp.signing), with its
    serializer built once per secret key instead of on every request (a tenth of an API
    request's own time in Flask)."""

    _serializer: tuple | None = None

    def get_signing_serializer(self, app: Flask):
        key = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        cached = self._serializer
        if cached is None or cached[0] != key:
            cached = self._serializer = (key, super().get_signing_serializer(app))
        return cached[1]


CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("competitions.index"))
    return redirect(url_for("auth.login"))


@bp.get("/healthz")
def healthz():
    db.session.execute(text("SELECT 1"))
    return {"status": "ok"}


def base_url() -> str:
    """Where phones reach this server: ``PUBLIC_BASE_URL``, else the request's host."""
    configured = current_app.config.get("PUBLIC_BASE_URL")
    if configured:
        return configured
    try:
        return request.host_url.rstrip("/")
    except RuntimeError:
        return "http://localhost:8000"


# Tokens are URL-safe base64 (quizapp.dbtypes.new_token); ids fit a 32-bit integer column.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_ID = 2**31 - 1


def _limit_body(_endpoint, _values) -> None:
    """Only a file upload (multipart) may use all of MAX_CONTENT_LENGTH; an urlencoded or
    JSON body is parsed whole, so it stops at MAX_FORM_BODY with 413 before it is read.
    (A URL value preprocessor runs before CSRF protection reads the form.)"""
    if request.mimetype != "multipart/form-data":
        limits = (current_app.config["MAX_CONTENT_LENGTH"], current_app.config["MAX_FORM_BODY"])
        request.max_content_length = min(limit for limit in limits if limit is not None)


def _check_url_values(_endpoint, values) -> None:
    """404 before any query for a token that no token can equal (NUL, '%', 200 chars…)
    or an id no row can have: PostgreSQL refuses NUL in text and SQLite ints past 2**63,
    and either would surface as a 500."""
    for name, value in (values or {}).items():
        if name == "token" and not _TOKEN_SHAPE.fullmatch(value):
            abort(404)
        if isinstance(value, int) and value > _MAX_ID:
            abort(404)


_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _refuse_nul() -> None:
    """400 for a NUL character in a query or form field: no text column can store it.
    (Only form bodies have form fields: a JSON body is not run through the form parser.)"""
    sources = (request.args, request.form) if request.mimetype in _FORM_TYPES else (request.args,)
    for data in sources:
        for key, values in data.lists():
            if "\x00" in key or any("\x00" in v for v in values):
                abort(400)


SECURITY_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)


def _security_headers(response):
    """The headers every response carries, unless the view set its own (one pass over
    the response's headers instead of a lookup per header: it runs on every request)."""
    headers = response.headers
    present = {key.lower() for key, _value in headers.items()}
    wanted = list(SECURITY_HEADERS)
    if request.is_secure:
        wanted.append(("Strict-Transport-Security", "max-age=31536000"))
    if request.endpoint and request.endpoint != "static":
        wanted.append(("Cache-Control", "no-store"))
    headers.extend([(key, value) for key, value in wanted if key.lower() not in present])
    return response


@login_manager.user_loader
def load_user(user_id: str):
    from quizapp.auth.models import User

    try:
        uid, version = (int(part) for part in user_id.split(":"))
    except ValueError:
        return None
    user = db.session.get(User, uid)
    if user is None or user.session_version != version:
        return None
    return user


def init_app(app: Flask) -> None:
    from quizapp import static_gzip

    app.register_blueprint(bp)
    app.session_interface = SessionInterface()
    app.after_request(_security_headers)
    static_gzip.init_app(app)
    app.url_value_preprocessor(_limit_body)
    app.url_value_preprocessor(_check_url_values)
    app.before_request(_refuse_nul)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please log in to continue.")
    login_manager.session_protection = "basic"

    @app.context_processor
    def _globals():
        return {"current_locale": str(get_locale() or "zh"), "base_url": base_url}
