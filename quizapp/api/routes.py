"""JSON API v1 for phones, mini-programs and event screens (see shared/API.md)."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from quizapp.api.openapi import spec
from quizapp.dbtypes import utcnow
from quizapp.errors import DomainError, InvalidField
from quizapp.leaderboards import screen
from quizapp.play import fast_save, pacing, presenters, services
from quizapp.sqlite_writer import reads_first

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class BadJson(DomainError):
    status, code = 400, "bad_json"


def _body() -> dict:
    data = request.get_json(silent=True, force=True)
    if not isinstance(data, dict):
        raise BadJson("The request body must be a JSON object.")
    return data


def _typed(data: dict, **types: type) -> dict:
    """The fields of ``data`` named in ``types``, each absent, null or of its JSON type
    (a bool is no integer here); raises InvalidField naming the first that is not."""
    for name, kind in types.items():
        value = data.get(name)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise InvalidField(
                f"{name} must be a {'string' if kind is str else 'integer'}.", field=name
            )
    return data


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec())


@bp.get("/events/<token>")
def event(token: str):
    return jsonify(screen.cached_event_info(token, utcnow()))


@bp.post("/events/<token>/attempts")
def join(token: str):
    data = _typed(_body(), name=str, phone=str, unit_id=int, unit_name=str)
    now = utcnow()
    attempt, created = services.join(
        token,
        name=data.get("name"),
        phone=data.get("phone"),
        unit_id=data.get("unit_id"),
        unit_name=data.get("unit_name"),
        elder=data.get("elder") is True,
        now=now,
        fast=not request.environ.get(fast_save.JOIN_TRIED, False),
    )
    return jsonify({"attempt": presenters.attempt_payload(attempt, now)}), 201 if created else 200


@bp.get("/attempts/<token>")
def attempt(token: str):
    now = utcnow()
    attempt = services.attempt_by_token(token)
    services.finalize_if_overdue(attempt, now)
    body = {"attempt": presenters.attempt_payload(attempt, now)}
    if attempt.status != "active":
        body["result"] = presenters.result_payload(attempt, now)
    return jsonify(body)


@bp.put("/attempts/<token>/answers/<int:position>")
def answer(token: str, position: int):
    data = _body()
    tried = request.environ.get(fast_save.TRIED, False)
    choice = services.save_answer(token, position, data.get("choice"), utcnow(), tried_in_one=tried)
    return jsonify({"saved": True, "position": position, "choice": choice})


@bp.post("/attempts/<token>/questions/<int:position>/open")
@reads_first()  # its write is conditional (SQLite: the writer queue is held for it alone)
def open_question(token: str, position: int):
    now = utcnow()
    attempt = services.attempt_by_token(token)
    services.guard_active(attempt, now)
    item = pacing.open_question(attempt, position, now)
    return jsonify(
        {"question": presenters.question_view(item, attempt), "server_now": presenters.iso(now)}
    )


@bp.post("/attempts/<token>/submit")
def submit(token: str):
    now = utcnow()
    attempt = services.submit(token, now)
    return jsonify({"result": presenters.result_payload(attempt, now)})


@bp.post("/attempts/<token>/focus-loss")
def focus_loss(token: str):
    services.record_focus_loss(token)
    return jsonify({"recorded": True})


@bp.get("/screens/<token>")
def screen_data(token: str):
    data, etag = screen.cached_screen_payload(token, utcnow())
    if request.if_none_match.contains(etag):
        return "", 304, {"ETag": f'"{etag}"'}
    response = jsonify(data)
    response.set_etag(etag)
    return response
