"""The participant's most frequent requests answered in front of Flask.

``PUT /api/v1/attempts/<token>/answers/<position>`` is the request a quiz sends most: 20
or more per participant, all of them at once at an on-site start. Its common case (a
JSON object with a choice the question takes, an attempt taking answers) is one
conditional UPDATE (:func:`quizapp.play.services.save_in_one`), yet Flask's request
machinery around it (request context, URL matching, session cookie, the hooks of five
extensions, the response object) cost about three times the save itself: in process on
SQLite, 0.22 ms a save through Flask, 0.06 ms here (``bench/RESULTS.md``, session 9).

This WSGI middleware answers exactly that case and nothing else: it runs
:func:`save_in_one` and, when it wrote the answer, answers 200 with the body and headers
the API view sends (``tests/test_fast_save.py`` compares them byte for byte). Anything
else is passed on to Flask unchanged, body included: another method or path, a query
string, no or too large a Content-Length, a body that is not a JSON object, and every
save that wrote nothing (unknown token or position, a finished or overdue attempt, an
invalid choice, per-question time limits), which the API view then tells apart and
answers as always, without running the same UPDATE again. So is a request made inside
an app context whose database session is in a transaction (a test's, or an app that
calls this one): the view's save joins that transaction instead of waiting for its
lock. An error while saving also goes to Flask, which runs the save again and answers
what fails there as for any request (503 when the database is down).

Off with ``FAST_ANSWER_SAVE=0`` in the environment: the API view then does every save.

The same middleware answers ``GET /api/v1/events/<join_token>``, which every phone sends
on scanning the QR code, from bytes kept in the set-up cache (``quizapp.setup_cache``:
emptied by a set-up commit in this process, at most ``SETUP_CACHE_S`` old otherwise).
The body is the view's with the clock-dependent ``is_open`` and ``server_now`` filled in
for this request: in process 0.31 ms a GET through Flask, a tenth of that here. An
unknown token, a query string or any other method goes to Flask (which throttles
unknown tokens). Off with ``FAST_EVENT_GET=0``.

And it answers the join that follows, ``POST /api/v1/events/<join_token>/attempts``, in
its common case: a new phone choosing its unit from the list at an open event
(:func:`quizapp.play.services.join_new_phone`: one read, one write), with the view's
201 and body, the judge questions' options in the language the phone's Accept-Language
picks. Everything else goes to Flask: a field of another type, a unit typed in, a
request with a session cookie (its language may be kept there) or a query string, and
every join that wrote nothing (a returning phone, an invalid field, a closed
competition...), which the view then settles and explains without running the same
read again. An error also goes to Flask, which joins again (a phone whose first
attempt was written meanwhile resumes it). Off with ``FAST_JOIN=0``, which also sends
the view's joins through the session's path.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, has_app_context
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from quizapp.dbtypes import utcnow
from quizapp.errors import NotFound
from quizapp.extensions import db
from quizapp.i18n import browser_locale
from quizapp.jsonio import dumps_bytes, loads
from quizapp.play.presenters import attempt_payload, iso
from quizapp.play.services import join_new_phone, save_in_one, session_in_transaction
from quizapp.setup_cache import setup_cache

log = logging.getLogger(__name__)

# The API route's URL (quizapp.api.routes.answer) with the shapes quizapp.web accepts: a
# token of URL-safe base64, a position of ASCII digits (no sign, no other digits).
_PATH = re.compile(r"/api/v1/attempts/([A-Za-z0-9_-]{1,64})/answers/([0-9]{1,10})")
_MAX_POSITION = 2**31 - 1
# Set on a request passed on after save_in_one wrote nothing (the view then skips it).
TRIED = "quizapp.fast_save.tried"
# The API route of the event info a phone reads on scanning (quizapp.api.routes.event).
_EVENT_PATH = re.compile(r"/api/v1/events/([A-Za-z0-9_-]{1,64})")
# The API route of the join that follows (quizapp.api.routes.join).
_JOIN_PATH = re.compile(r"/api/v1/events/([A-Za-z0-9_-]{1,64})/attempts")
# Set on a join passed on after join_new_phone wrote nothing (the view then skips it).
JOIN_TRIED = "quizapp.fast_join.tried"
_NOW = "@@server_now@@"  # stands for the clock in the kept body until a request fills it


@dataclass(frozen=True)
class _EventBody:
    """The event info's JSON around ``server_now``, for an open and a closed competition."""

    parts: dict[bool, tuple[bytes, bytes]]
    opens_at: datetime
    closes_at: datetime | None

    def render(self, now: datetime) -> bytes:
        from quizapp.leaderboards.screen import open_between

        head, tail = self.parts[open_between(self.opens_at, self.closes_at, now)]
        return head + iso(now).encode() + tail


class AnswerSaveFastPath:
    """WSGI middleware in front of ``app.wsgi_app`` (inside ProxyFix: it sees the
    request's real scheme)."""

    def __init__(self, app: Flask, wsgi_app: Callable) -> None:
        self.app = app
        self.wsgi_app = wsgi_app
        self._engine = None
        self._headers_of: dict[bool, list[tuple[str, str]]] = {}
        self._saves = app.config.get("FAST_ANSWER_SAVE", True)
        self._event_gets = app.config.get("FAST_EVENT_GET", True)
        self._joins = app.config.get("FAST_JOIN", True)
        self._session_cookie = app.config["SESSION_COOKIE_NAME"] + "="

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        answered, status = None, "200 OK"
        if environ.get("QUERY_STRING"):
            pass
        elif method == "GET" and self._event_gets:
            match = _EVENT_PATH.fullmatch(environ.get("PATH_INFO", ""))
            answered = match and self._event_info(match[1])
        elif method == "PUT" and self._saves:
            match = _PATH.fullmatch(environ.get("PATH_INFO", ""))
            if match and not (has_app_context() and session_in_transaction()):
                answered = self._save(environ, match[1], int(match[2]))
        elif method == "POST" and self._joins:
            match = _JOIN_PATH.fullmatch(environ.get("PATH_INFO", ""))
            if match and not (has_app_context() and session_in_transaction()):
                answered, status = self._join(environ, match[1]), "201 CREATED"
        if not answered:
            return self.wsgi_app(environ, start_response)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(answered)))]
        headers += self._headers(environ.get("wsgi.url_scheme") == "https")
        start_response(status, headers)
        return [answered]

    def _json_body(self, environ: dict[str, Any]) -> dict | None:
        """The request's body as a JSON object, or None (with the body put back for Flask
        to read, unless it was not read: no or too large a Content-Length)."""
        config = self.app.config
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        limit = min(x for x in (config["MAX_CONTENT_LENGTH"], config["MAX_FORM_BODY"]) if x)
        if not 0 < length <= limit:
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        try:
            data = loads(body)
        except ValueError:  # not JSON (orjson.JSONDecodeError is a ValueError)
            return None
        return data if isinstance(data, dict) else None

    def _save(self, environ: dict[str, Any], token: str, position: int) -> bytes | None:
        """The response body when the answer was saved here; None to pass the request on
        (with its body put back for Flask to read)."""
        if position > _MAX_POSITION:
            return None
        data = self._json_body(environ)
        if data is None:
            return None
        config = self.app.config
        now = utcnow()
        grace = timedelta(seconds=config.get("ANSWER_GRACE_S", 5))
        try:
            choice = save_in_one(self._db_engine(), token, position, data.get("choice"), now, grace)
        except Exception as err:  # noqa: BLE001 - passed on: the view saves again
            # Not logged as a failure here: the view runs the save again and logs and
            # answers what fails there as for any request (503 when the database is down).
            log.debug("answer save failed in the fast path (%r); passed on", err)
            return None
        if choice is None:
            environ[TRIED] = True
            return None
        payload = {"saved": True, "position": position, "choice": choice}
        return dumps_bytes(payload) + b"\n"  # as jsonify (quizapp.jsonio)

    def _join(self, environ: dict[str, Any], token: str) -> bytes | None:
        """The response body when a new phone joined here (201); None to pass the request
        on: every other case, and a request with a session cookie (whose language may be
        kept in that session)."""
        data = self._json_body(environ)
        if data is None or self._session_cookie in environ.get("HTTP_COOKIE", ""):
            return None
        name, phone, unit_id = data.get("name"), data.get("phone"), data.get("unit_id")
        if not (
            isinstance(name, str)
            and isinstance(phone, str)
            and type(unit_id) is int
            and data.get("unit_name") is None
        ):
            return None  # (the view explains a field of the wrong type)
        now = utcnow()
        try:
            with self.app.app_context():
                attempt = join_new_phone(
                    token, name, phone, unit_id, now, elder=data.get("elder") is True
                )
                if attempt is None:
                    environ[JOIN_TRIED] = True
                    return None
                locale = None
                if any(item.qtype == "judge" for item in attempt.items):
                    accept = parse_accept_header(
                        environ.get("HTTP_ACCEPT_LANGUAGE"), LanguageAccept
                    )
                    locale = browser_locale(accept, self.app.config)
                payload = {"attempt": attempt_payload(attempt, now, locale)}
                return dumps_bytes(payload) + b"\n"  # as jsonify (quizapp.jsonio)
        except Exception as err:  # noqa: BLE001 - passed on: the view joins (or resumes)
            log.debug("join failed in the fast path (%r); passed on", err)
            return None

    def _event_info(self, token: str) -> bytes | None:
        """The event info's body for this request; None (to Flask) for an unknown token,
        or when it is not kept and this request runs inside a session's transaction."""
        try:
            kept = self._setup_cache().get(("event-body", token), lambda: self._event_body(token))
        except NotFound:
            return None
        except Exception as err:  # noqa: BLE001 - passed on: the view reads again
            log.debug("event info failed in the fast path (%r); passed on", err)
            return None  # and Flask answers what fails there (503 when the database is down)
        return kept.render(utcnow())

    def _event_body(self, token: str) -> _EventBody:
        from quizapp.leaderboards.screen import event_info_entry

        if has_app_context() and session_in_transaction():
            # As for saves: the view reads in that transaction instead of waiting for
            # its lock (SQLite) from another session.
            raise NotFound
        with self.app.app_context():
            info, opens_at, closes_at = event_info_entry(token)  # raises NotFound
            parts = {}
            for is_open in (True, False):
                competition = {**info["competition"], "is_open": is_open}
                body = {**info, "competition": competition, "server_now": _NOW}
                head, tail = self.app.json.response(body).get_data().split(_NOW.encode())
                parts[is_open] = (head, tail)
        return _EventBody(parts, opens_at, closes_at)

    def _setup_cache(self):
        cache = self.app.extensions.get("setup_cache")
        if cache is None:
            with self.app.app_context():
                cache = setup_cache()
        return cache

    def _db_engine(self):
        if self._engine is None:
            with self.app.app_context():
                self._engine = db.engine
        return self._engine

    def _headers(self, secure: bool) -> list[tuple[str, str]]:
        """The headers quizapp.web adds to every API response, in its order."""
        headers = self._headers_of.get(secure)
        if headers is None:
            from quizapp.web import SECURITY_HEADERS

            hsts = [("Strict-Transport-Security", "max-age=31536000")] if secure else []
            headers = [*SECURITY_HEADERS, *hsts, ("Cache-Control", "no-store")]
            self._headers_of[secure] = headers
        return headers


def init_app(app: Flask) -> None:
    if any(
        app.config.get(flag, True) for flag in ("FAST_ANSWER_SAVE", "FAST_EVENT_GET", "FAST_JOIN")
    ):
        app.wsgi_app = AnswerSaveFastPath(app, app.wsgi_app)
