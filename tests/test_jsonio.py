"""JSON on orjson (quizapp.jsonio): what Flask's default provider writes, in UTF-8."""

from __future__ import annotations

import json
from collections import namedtuple
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from flask.json.provider import DefaultJSONProvider
from sqlalchemy import select, text

from quizapp.extensions import db
from quizapp.jsonio import OrjsonProvider
from quizapp.play.models import Attempt, AttemptItem


@dataclass
class _Point:
    x: int
    y: str


_Pair = namedtuple("_Pair", "left right")

VALUES = [
    {"b": 1, "a": [1, 2.5, None, True], "中": "质量月"},
    {"when": datetime(2026, 9, 1, 8, 30, tzinfo=UTC), "amount": Decimal("1.50")},
    [_Pair(1, "x"), _Point(3, "四")],
    {"nested": {"z": {"y": 1, "x": 2}}},
]


@pytest.mark.parametrize("value", VALUES)
def test_values_read_back_as_flasks_own_provider_writes_them(app, value):
    assert isinstance(app.json, OrjsonProvider)
    flask_default = DefaultJSONProvider(app)
    ours = app.json.dumps(value)
    assert json.loads(ours) == json.loads(flask_default.dumps(value))
    # compact, sorted, UTF-8 (no \\u escapes)
    compact = json.dumps(json.loads(ours), ensure_ascii=False, separators=(",", ":"))
    assert ours == compact and "\\u" not in ours


def test_a_datetime_is_an_http_date_as_in_flask(app):
    when = datetime(2026, 9, 1, 8, 30, tzinfo=UTC)
    assert app.json.dumps({"t": when}) == '{"t":"Tue, 01 Sep 2026 08:30:00 GMT"}'


def test_keys_are_sorted_and_a_response_ends_with_a_newline(app):
    with app.test_request_context():
        response = app.json.response({"b": 1, "a": "质量"})
    assert response.mimetype == "application/json"
    assert response.get_data() == '{"a":"质量","b":1}\n'.encode()


def test_options_of_the_standard_library_keep_its_output(app):
    # (the session cookie's serializer passes separators)
    value = {"b": "质", "a": 1}
    assert app.json.dumps(value, separators=(",", ":")) == json.dumps(
        value, separators=(",", ":"), sort_keys=True
    )


def test_debug_responses_stay_indented(app):
    app.debug = True
    try:
        with app.test_request_context():
            body = app.json.response({"a": 1}).get_data(as_text=True)
    finally:
        app.debug = False
    assert body == '{\n  "a": 1\n}\n'


def test_bad_json_bodies_are_400_not_500(client, make_event):
    event = make_event()
    for raw in (b"{", b"NaN", b'{"name": "\xff"}', b"[1,]"):
        r = client.post(
            f"/api/v1/events/{event.join_token}/attempts",
            data=raw,
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 400, (raw, r.status_code)
        assert r.is_json and r.json["error"]["code"]


def test_the_join_answers_in_utf8_and_stores_options_that_read_back(client, make_event):
    event = make_event()
    unit_id = event.competition.units[0].id
    r = client.post(
        f"/api/v1/events/{event.join_token}/attempts",
        json={"name": "王五", "phone": "13800001111", "unit_id": unit_id},
    )
    assert r.status_code == 201
    raw = r.get_data()
    assert b"\\u" not in raw and "王五".encode() not in raw  # (the name is not echoed)
    questions = r.json["attempt"]["questions"]
    db.session.expire_all()
    attempt = db.session.scalar(select(Attempt).where(Attempt.token == r.json["attempt"]["token"]))
    item = db.session.scalar(
        select(AttemptItem).where(AttemptItem.attempt_id == attempt.id, AttemptItem.position == 1)
    )
    shown = next(q for q in questions if q["position"] == 1)
    assert [o["text"] for o in shown["options"]] == item.options or item.qtype == "judge"
    stored = db.session.execute(
        text("SELECT options FROM attempt_items WHERE id = :id"), {"id": item.id}
    ).scalar()
    if isinstance(stored, str):  # SQLite keeps the text as written: UTF-8, no escapes
        assert json.loads(stored) == item.options and "\\u" not in stored
