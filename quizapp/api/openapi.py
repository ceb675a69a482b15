"""The OpenAPI 3.1 description of API v1, served at ``/api/v1/openapi.json``."""

from __future__ import annotations

from functools import cache

TOKEN = {
    "name": "token",
    "in": "path",
    "required": True,
    "description": "URL-safe token (22 characters as issued); any other shape is 404.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9_-]+$"},
}
POSITION = {
    "name": "position",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647},
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


UNAVAILABLE = {
    **_json(
        _ref("Error"),
        "the database is briefly unavailable (restarting, busy): "
        "error code unavailable; retry after Retry-After seconds",
    ),
    "headers": {
        "Retry-After": {
            "description": "seconds to wait before retrying",
            "schema": {"type": "integer", "minimum": 0},
        }
    },
}


def _errors(*statuses: int) -> dict:
    """Error responses; every operation on a token may answer 429 (too many unknown
    tokens from one address, see SECURITY.md) and 503 (the database cannot answer for a
    moment; a retry after ``Retry-After`` seconds can succeed)."""
    responses = {str(s): _json(_ref("Error"), "error") for s in (*statuses, 429)}
    return {**responses, "503": UNAVAILABLE}


SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "field": {"type": "string"},
                },
            }
        },
    },
    "Option": {
        "type": "object",
        "required": ["key", "text"],
        "properties": {"key": {"type": "string"}, "text": {"type": "string"}},
    },
    "Question": {
        "type": "object",
        "required": ["position", "type", "stem", "options", "choice"],
        "properties": {
            "position": {"type": "integer"},
            "type": {"enum": ["single", "multiple", "judge"]},
            "stem": {"type": "string"},
            "options": {"type": "array", "items": _ref("Option")},
            "choice": {"type": "string"},
            "opened_at": {"type": ["string", "null"], "format": "date-time"},
            "question_deadline_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "Attempt": {
        "type": "object",
        "required": [
            "token",
            "status",
            "started_at",
            "deadline_at",
            "server_now",
            "remaining_s",
            "questions",
        ],
        "properties": {
            "token": {"type": "string"},
            "status": {"enum": ["active", "submitted", "expired"]},
            "started_at": {"type": "string", "format": "date-time"},
            "deadline_at": {"type": "string", "format": "date-time"},
            "server_now": {"type": "string", "format": "date-time"},
            "remaining_s": {"type": "integer", "minimum": 0},
            "question_count": {"type": "integer"},
            "question_time_s": {"type": ["integer", "null"]},
            "speed_bonus": {"type": "boolean"},
            "elder": {"type": "boolean"},
            "questions": {"type": "array", "items": _ref("Question")},
        },
    },
    "ReviewItem": {
        "type": "object",
        "required": ["position", "choice", "correct_choice", "is_correct", "explanation"],
        "properties": {
            "position": {"type": "integer"},
            "stem": {"type": "string"},
            "choice": {"type": "string"},
            "correct_choice": {"type": "string"},
            "is_correct": {"type": "boolean"},
            "explanation": {"type": "string"},
        },
    },
    "Result": {
        "type": "object",
        "required": [
            "score",
            "max_score",
            "correct_count",
            "question_count",
            "duration_ms",
            "rank",
            "status",
            "review",
        ],
        "properties": {
            "score": {"type": "integer"},
            "max_score": {"type": "integer"},
            "correct_count": {"type": "integer"},
            "question_count": {"type": "integer"},
            "duration_ms": {"type": ["integer", "null"]},
            "rank": {"type": ["integer", "null"]},
            "unit_rank": {"type": ["integer", "null"]},
            "status": {"enum": ["active", "submitted", "expired"]},
            "server_now": {"type": "string", "format": "date-time"},
            "review": {"oneOf": [{"type": "null"}, {"type": "array", "items": _ref("ReviewItem")}]},
        },
    },
    "Competition": {
        "type": "object",
        "required": [
            "title",
            "theme",
            "time_limit_s",
            "question_count",
            "opens_at",
            "closes_at",
            "is_open",
            "required_fields",
            "units",
        ],
        "properties": {
            "id": {"type": "integer"},
            "title": {"type": "string"},
            "theme": {"type": "string"},
            "time_limit_s": {"type": "integer"},
            "question_count": {"type": "integer"},
            "max_score": {"type": "integer"},
            "attempts_allowed": {"type": "integer"},
            "opens_at": {"type": "string", "format": "date-time"},
            "closes_at": {"type": ["string", "null"], "format": "date-time"},
            "is_open": {"type": "boolean"},
            "required_fields": {"type": "array", "items": {"type": "string"}},
            "units": {
                "oneOf": [
                    {"type": "null"},
                    {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["id", "name"],
                            "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
                        },
                    },
                ]
            },
        },
    },
    "JoinRequest": {
        "type": "object",
        "required": ["name", "phone"],
        "description": "422 invalid_field also for values the schema cannot express: a name "
        "of at most 30 characters, an 11-digit mainland mobile number, a unit of this "
        "competition (or a unit name in a free-entry one).",
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "phone": {"type": "string", "minLength": 1},
            "unit_id": {"type": "integer", "minimum": 1},
            "unit_name": {"type": "string"},
            "elder": {"type": "boolean"},
        },
    },
    "Screen": {
        "type": "object",
        "required": ["competition", "event", "participants", "submitted", "top", "units"],
        "properties": {
            "competition": {"type": "object"},
            "event": {"type": "object"},
            "participants": {"type": "integer"},
            "submitted": {"type": "integer"},
            "top": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["rank", "name", "unit", "score", "duration_ms"],
                    "properties": {
                        "rank": {"type": "integer"},
                        "name": {"type": "string"},
                        "unit": {"type": "string"},
                        "score": {"type": "integer"},
                        "duration_ms": {"type": "integer"},
                    },
                },
            },
            "units": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["rank", "name", "participants", "average_score"],
                    "properties": {
                        "rank": {"type": "integer"},
                        "name": {"type": "string"},
                        "participants": {"type": "integer"},
                        "average_score": {"type": "number"},
                    },
                },
            },
            "server_now": {"type": "string", "format": "date-time"},
        },
    },
}


@cache
def spec() -> dict:
    attempt_body = {
        "type": "object",
        "required": ["attempt"],
        "properties": {"attempt": _ref("Attempt"), "result": _ref("Result")},
    }
    result_body = {
        "type": "object",
        "required": ["result"],
        "properties": {"result": _ref("Result")},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Quality Month Quiz API", "version": "1.0.0"},
        "servers": [{"url": "/api/v1"}],
        "paths": {
            "/events/{token}": {
                "get": {
                    "operationId": "getEvent",
                    "parameters": [TOKEN],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["event", "competition"],
                                "properties": {
                                    "event": {"type": "object"},
                                    "competition": _ref("Competition"),
                                },
                            },
                            "the event and its competition",
                        ),
                        **_errors(404),
                    },
                }
            },
            "/events/{token}/attempts": {
                "post": {
                    "operationId": "joinEvent",
                    "parameters": [TOKEN],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("JoinRequest")}},
                    },
                    "responses": {
                        "201": _json(attempt_body, "a new attempt"),
                        "200": _json(attempt_body, "the active attempt, resumed"),
                        **_errors(400, 404, 409, 422),
                    },
                }
            },
            "/attempts/{token}": {
                "get": {
                    "operationId": "getAttempt",
                    "parameters": [TOKEN],
                    "responses": {"200": _json(attempt_body, "the attempt"), **_errors(404)},
                }
            },
            "/attempts/{token}/answers/{position}": {
                "put": {
                    "operationId": "saveAnswer",
                    "parameters": [
                        TOKEN,
                        POSITION,
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["choice"],
                                    "properties": {"choice": {"type": "string"}},
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["saved", "position", "choice"],
                                "properties": {
                                    "saved": {"type": "boolean"},
                                    "position": {"type": "integer"},
                                    "choice": {"type": "string"},
                                },
                            },
                            "saved",
                        ),
                        **_errors(400, 404, 409, 422),
                    },
                }
            },
            "/attempts/{token}/questions/{position}/open": {
                "post": {
                    "operationId": "openQuestion",
                    "description": "Paced competitions: show the next question and start its "
                    "clock (idempotent for an opened question; 409 not_next out of order).",
                    "parameters": [
                        TOKEN,
                        POSITION,
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["question", "server_now"],
                                "properties": {
                                    "question": _ref("Question"),
                                    "server_now": {"type": "string", "format": "date-time"},
                                },
                            },
                            "the opened question",
                        ),
                        **_errors(404, 409),
                    },
                }
            },
            "/attempts/{token}/submit": {
                "post": {
                    "operationId": "submitAttempt",
                    "parameters": [TOKEN],
                    "responses": {
                        "200": _json(result_body, "the result (idempotent)"),
                        **_errors(404, 409),
                    },
                }
            },
            "/attempts/{token}/focus-loss": {
                "post": {
                    "operationId": "recordFocusLoss",
                    "parameters": [TOKEN],
                    "responses": {"200": _json({"type": "object"}, "recorded"), **_errors(404)},
                }
            },
            "/screens/{token}": {
                "get": {
                    "operationId": "getScreen",
                    "parameters": [TOKEN],
                    "responses": {
                        "200": _json(_ref("Screen"), "live leaderboard data"),
                        "304": {"description": "not modified since the given ETag"},
                        **_errors(404),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "responses": {"200": _json({"type": "object"}, "this document")},
                }
            },
        },
        "components": {"schemas": SCHEMAS},
    }
