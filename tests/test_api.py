"""API v1 as documented in shared/API.md: shapes, statuses and the error format."""

from __future__ import annotations

import pytest

from tests.conftest import correct_choice


@pytest.fixture
def event(make_event):
    return make_event()


def _join(client, event, **body):
    body = {
        "name": "王五",
        "phone": "13700000000",
        "unit_id": event.competition.units[0].id,
        **body,
    }
    return client.post(f"/api/v1/events/{event.join_token}/attempts", json=body)


def _error(response, status, code):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.json["error"]["code"] == code
    assert response.json["error"]["message"]


def test_event_info(client, event):
    body = client.get(f"/api/v1/events/{event.join_token}").json
    comp = body["competition"]
    assert body["event"]["name"] == "主会场"
    assert comp["question_count"] == 7 and comp["time_limit_s"] == 600 and comp["is_open"]
    assert [u["name"] for u in comp["units"]] == ["东城区", "西城区", "朝阳区"]
    assert comp["required_fields"] == ["name", "phone", "unit"]


def test_join_answer_submit_flow(client, event):
    first = _join(client, event)
    assert first.status_code == 201
    attempt = first.json["attempt"]
    assert attempt["status"] == "active" and attempt["remaining_s"] > 590
    assert attempt["server_now"].endswith("Z") and len(attempt["questions"]) == 7
    again = _join(client, event)
    assert again.status_code == 200 and again.json["attempt"]["token"] == attempt["token"]
    token = attempt["token"]
    for q in attempt["questions"]:
        r = client.put(
            f"/api/v1/attempts/{token}/answers/{q['position']}", json={"choice": correct_choice(q)}
        )
        assert r.json == {"saved": True, "position": q["position"], "choice": correct_choice(q)}
    got = client.get(f"/api/v1/attempts/{token}").json["attempt"]
    assert all(q["choice"] for q in got["questions"])
    result = client.post(f"/api/v1/attempts/{token}/submit").json["result"]
    assert result["score"] == result["max_score"] == 45 and result["rank"] == 1
    assert len(result["review"]) == 7 and result["review"][0]["explanation"]
    repeat = client.post(f"/api/v1/attempts/{token}/submit").json["result"]
    assert repeat | {"server_now": None} == result | {"server_now": None}
    _error(
        client.put(f"/api/v1/attempts/{token}/answers/1", json={"choice": "A"}),
        409,
        "already_submitted",
    )
    _error(_join(client, event), 409, "attempts_exhausted")


def test_full_width_choice_is_accepted(client, event):
    token = _join(client, event).json["attempt"]["token"]
    q = next(
        q for q in _join(client, event).json["attempt"]["questions"] if q["type"] == "multiple"
    )
    full = "、".join(chr(ord(c) + 0xFEE0) for c in correct_choice(q))
    r = client.put(f"/api/v1/attempts/{token}/answers/{q['position']}", json={"choice": full})
    assert r.status_code == 200 and r.json["choice"] == correct_choice(q)


@pytest.mark.parametrize(
    "body,status,code",
    [
        ({"name": "", "phone": "13700000000"}, 422, "invalid_field"),
        ({"name": "王五", "phone": "123"}, 422, "invalid_field"),
        ({"name": "王五", "phone": "13700000000", "unit_id": "abc"}, 422, "invalid_field"),
        ({"name": ["x"], "phone": {"a": 1}}, 422, "invalid_field"),
    ],
)
def test_join_field_errors(client, event, body, status, code):
    r = client.post(f"/api/v1/events/{event.join_token}/attempts", json=body)
    _error(r, status, code)
    assert "field" in r.json["error"]


def test_bad_json_unknown_tokens_and_choices(client, event):
    _error(
        client.post(
            f"/api/v1/events/{event.join_token}/attempts",
            data="{not json",
            content_type="application/json",
        ),
        400,
        "bad_json",
    )
    _error(client.post(f"/api/v1/events/{event.join_token}/attempts", json=[1, 2]), 400, "bad_json")
    _error(client.get("/api/v1/events/unknown"), 404, "not_found")
    _error(client.post("/api/v1/events/unknown/attempts", json={}), 404, "not_found")
    _error(client.get("/api/v1/attempts/unknown"), 404, "not_found")
    _error(client.get("/api/v1/screens/unknown"), 404, "not_found")
    token = _join(client, event).json["attempt"]["token"]
    _error(
        client.put(f"/api/v1/attempts/{token}/answers/1", json={"choice": "Z"}),
        422,
        "invalid_choice",
    )
    _error(
        client.put(f"/api/v1/attempts/{token}/answers/1", json={"choice": 5}), 422, "invalid_choice"
    )
    _error(
        client.put(f"/api/v1/attempts/{token}/answers/42", json={"choice": "A"}), 404, "not_found"
    )
    _error(client.put(f"/api/v1/attempts/{token}/answers/1", data="x"), 400, "bad_json")
    _error(client.delete(f"/api/v1/attempts/{token}/submit"), 405, "method_not_allowed")


def test_deadline_passed_over_http(client, app, event, now):
    from datetime import timedelta

    from quizapp.extensions import db
    from quizapp.play.models import Attempt

    token = _join(client, event).json["attempt"]["token"]
    attempt = db.session.query(Attempt).filter_by(token=token).one()
    attempt.deadline_at = now - timedelta(seconds=30)
    db.session.commit()
    _error(
        client.put(f"/api/v1/attempts/{token}/answers/1", json={"choice": "T"}),
        409,
        "deadline_passed",
    )
    body = client.get(f"/api/v1/attempts/{token}").json
    assert body["attempt"]["status"] == "expired" and body["result"]["score"] == 0


def test_screen_data_masks_names_and_supports_etag(client, event):
    token = _join(client, event).json["attempt"]["token"]
    client.post(f"/api/v1/attempts/{token}/submit")
    r = client.get(f"/api/v1/screens/{event.screen_token}")
    assert r.json["participants"] == 1 and r.json["submitted"] == 1
    assert r.json["top"][0]["name"] == "王*" and r.json["top"][0]["rank"] == 1
    # The documented fields (more may be added: the API only ever adds fields).
    assert {
        k: r.json["units"][0][k] for k in ("rank", "name", "participants", "average_score")
    } == {"rank": 1, "name": "东城区", "participants": 1, "average_score": 0.0}
    again = client.get(
        f"/api/v1/screens/{event.screen_token}", headers={"If-None-Match": r.headers["ETag"]}
    )
    assert again.status_code == 304


def test_openapi_lists_every_api_route(client, app):
    spec = client.get("/api/v1/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    documented = {
        p.replace("{token}", "<token>").replace("{position}", "<int:position>")
        for p in spec["paths"]
    }
    routes = {
        r.rule.removeprefix("/api/v1")
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/api/v1")
    }
    assert routes == documented
