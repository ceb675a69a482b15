"""A NUL character, which no text column can store (PostgreSQL refuses it), in a query
string, a form field or a JSON string: a clear 4xx or a cleaned value, never a 500."""

from __future__ import annotations

import pytest


@pytest.fixture
def event(make_event):
    return make_event()


def test_nul_in_a_form_field_or_query_is_400(client):
    assert client.post("/login", data={"email": "a\x00@b.cn", "password": "x"}).status_code == 400
    assert client.get("/login?next=%00").status_code == 400


@pytest.mark.parametrize("field", ["name", "phone", "unit_name"])
def test_nul_in_a_json_join_is_refused_or_cleaned(client, event, field):
    body = {"name": "王五", "phone": "13700000001", "unit_id": event.competition.units[0].id}
    body[field] = body.get(field, "东城区") + "\x00"
    response = client.post(f"/api/v1/events/{event.join_token}/attempts", json=body)
    assert response.status_code in (200, 201, 400, 422), response.get_data(as_text=True)
    assert response.is_json


def test_nul_in_a_json_answer_is_a_field_error(client, event):
    body = {"name": "王五", "phone": "13700000001", "unit_id": event.competition.units[0].id}
    attempt = client.post(f"/api/v1/events/{event.join_token}/attempts", json=body).json
    token = attempt["attempt"]["token"]
    response = client.put(f"/api/v1/attempts/{token}/answers/1", json={"choice": "A\x00"})
    assert response.status_code == 422 and response.json["error"]["field"] == "choice"
