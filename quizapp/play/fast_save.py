"""The answer save's common case answered in front of Flask.

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
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, has_app_context

from quizapp.dbtypes import utcnow
from quizapp.errors import NotFound
from quizapp.extensions import db
from quizapp.play.presenters import iso
from quizapp.play.services import save_in_one, session_in_transaction
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

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD")
        answered = None
        if environ.get("QUERY_STRING"):
            pass
        elif method == "GET" and self._event_gets:
            match = _EVENT_PATH.fullmatch(environ.get("PATH_INFO", ""))
            answered = match and self._event_info(match[1])
        elif method == "PUT" and self._saves:
            match = _PATH.fullmatch(environ.get("PATH_INFO", ""))
            if match and not (has_app_context() and session_in_transaction()):
                answered = self._save(environ, match[1], int(match[2]))
        if not answered:
            return self.wsgi_app(environ, start_response)
        headers = [("Content-Type", "application/json"), ("Content-Length", str(len(answered)))]
        headers += self._headers(environ.get("wsgi.url_scheme") == "https")
        start_response("200 OK", headers)
        return [answered]

    def _save(self, environ: dict[str, Any], token: str, position: int) -> bytes | None:
        """The response body when the answer was saved here; None to pass the request on
        (with its body put back for Flask to read)."""
        config = self.app.config
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        limit = min(x for x in (config["MAX_CONTENT_LENGTH"], config["MAX_FORM_BODY"]) if x)
        if not 0 < length <= limit or position > _MAX_POSITION:
            return None
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        try:
            data = json.loads(body)
        except ValueError:  # not JSON (UnicodeDecodeError is a ValueError)
            return None
        if not isinstance(data, dict):
            return None
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
        text = json.dumps(payload, separators=(",", ":"), sort_keys=True)  # as jsonify
        return (text + "\n").encode()

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
    if app.config.get("FAST_ANSWER_SAVE", True) or app.config.get("FAST_EVENT_GET", True):
        app.wsgi_app = AnswerSaveFastPath(app, app.wsgi_app)
