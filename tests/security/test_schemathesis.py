"""API v1 against its own OpenAPI document, fuzzed by schemathesis through the WSGI app.

Every operation is called with generated input twice: as generated (random tokens, so
the unknown-token paths) and again with the token replaced by a real one of the right
kind (a live event's join or screen token, an active attempt's token), so bodies and
positions are fuzzed against real objects too. Checks: no 5xx, every status and body
documented and matching its schema, content types, and the negative-data checks.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from quizapp.api.openapi import spec

# Joining and answering check values no JSON Schema can express (a mobile number, a
# unit of this competition, the letters a question offers): 422 is the documented answer
# to such schema-valid input, so it counts as accepted for those two operations.
CONFIG = schemathesis.Config.from_dict(
    {
        "operations": [
            {
                "include-operation-id": ["joinEvent", "saveAnswer"],
                "checks": {
                    "positive_data_acceptance": {
                        "expected-statuses": ["2xx", "404", "409", "422", "429"]
                    }
                },
            }
        ]
    }
)
schema = schemathesis.openapi.from_dict(spec(), config=CONFIG)

EXAMPLES = 25


@pytest.fixture
def live_tokens(app, make_event, now):
    from quizapp.play import services

    app.config["TOKEN_GUESS_LIMIT"] = "1000000/minute"  # the fuzzer is not a guesser
    event = make_event()
    attempt, _created = services.join(
        event.join_token,
        name="模糊测试",
        phone="13900000001",
        unit_id=event.competition.units[0].id,
        now=now,
    )
    return {
        "/events/": event.join_token,
        "/screens/": event.screen_token,
        "/attempts/": attempt.token,
    }


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_matches_its_spec(case, app, live_tokens):
    case.call_and_validate(app=app)
    if "token" in (case.path_parameters or {}):
        prefix = next(p for p in live_tokens if case.path.startswith(p))
        real = case.operation.Case(
            path_parameters={**case.path_parameters, "token": live_tokens[prefix]},
            headers=case.headers,
            query=case.query,
            body=case.body,
            media_type=case.media_type,
        )
        real.call_and_validate(app=app)


def _header(response, name: str) -> str:
    return next(v[0] for k, v in response.headers.items() if k.lower() == name.lower())


def _call(operation: str, app, **parts):
    """Call one operation with the given parts and validate the answer against the spec."""
    case = schema.find_operation_by_id(operation).Case(**parts)
    return case.call_and_validate(app=app)


def test_every_documented_success_matches_the_spec(app, make_event):
    """A participant's whole journey through API v1, each answer checked against the
    document (the fuzzer mostly meets errors; this pins the 2xx/304 shapes)."""
    event = make_event()
    unit_id = event.competition.units[0].id
    body = {"name": "王五", "phone": "13700000000", "unit_id": unit_id}
    assert _call("getOpenApi", app).status_code == 200
    assert _call("getEvent", app, path_parameters={"token": event.join_token}).status_code == 200
    joined = _call("joinEvent", app, path_parameters={"token": event.join_token}, body=body)
    assert joined.status_code == 201
    resumed = _call("joinEvent", app, path_parameters={"token": event.join_token}, body=body)
    assert resumed.status_code == 200
    attempt = joined.json()["attempt"]
    token = {"token": attempt["token"]}
    first = attempt["questions"][0]
    choice = "T" if first["type"] == "judge" else first["options"][0]["key"]
    saved = _call(
        "saveAnswer",
        app,
        path_parameters={**token, "position": first["position"]},
        body={"choice": choice},
    )
    assert saved.status_code == 200
    assert _call("recordFocusLoss", app, path_parameters=token).status_code == 200
    assert _call("getAttempt", app, path_parameters=token).status_code == 200
    assert _call("submitAttempt", app, path_parameters=token).status_code == 200
    after = _call("getAttempt", app, path_parameters=token)
    assert after.status_code == 200 and after.json()["result"]["status"] == "submitted"
    late = _call(
        "saveAnswer",
        app,
        path_parameters={**token, "position": first["position"]},
        body={"choice": choice},
    )
    assert late.status_code == 409
    screen = _call("getScreen", app, path_parameters={"token": event.screen_token})
    assert screen.status_code == 200 and screen.json()["top"]
    cached = _call(
        "getScreen",
        app,
        path_parameters={"token": event.screen_token},
        headers={"If-None-Match": _header(screen, "ETag")},
    )
    assert cached.status_code == 304
