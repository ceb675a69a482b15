"""Data for event screens and the public event description."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime

from sqlalchemy import select

from quizapp.competitions.models import Competition, Event
from quizapp.errors import NotFound
from quizapp.extensions import db
from quizapp.leaderboards import services
from quizapp.play.presenters import iso
from quizapp.play.services import close_overdue

TOP_N = 10
# Units shown on a screen: as many as fit at 1280x720 (the full list is on the
# organiser's leaderboard page).
UNITS_N = 10


def competition_info(comp: Competition, now: datetime) -> dict:
    return {
        "id": comp.id,
        "title": comp.title,
        "theme": comp.theme,
        "time_limit_s": comp.time_limit_s,
        "question_count": comp.question_count,
        "max_score": comp.max_score,
        "attempts_allowed": comp.attempts_allowed,
        "opens_at": iso(comp.opens_at),
        "closes_at": iso(comp.closes_at),
        "is_open": comp.is_open(now),
        "required_fields": ["name", "phone", "unit"],
        "units": None if comp.free_units else [{"id": u.id, "name": u.name} for u in comp.units],
    }


def event_info(event: Event, now: datetime) -> dict:
    """The body of ``GET /api/v1/events/{join_token}``."""
    return {
        "event": {"id": event.id, "name": event.name, "venue": event.venue},
        "competition": competition_info(event.competition, now),
        "server_now": iso(now),
    }


_CACHE: dict[str, tuple[float, dict, str]] = {}
CACHE_SECONDS = 2.0


def cached_screen_payload(token: str, now: datetime) -> tuple[dict, str]:
    """screen_payload, shared for CACHE_SECONDS by every screen and poll in this process,
    so many screens on one event do not multiply the work. ``server_now`` stays fresh."""
    hit = _CACHE.get(token)
    clock = time.monotonic()
    if hit is None or hit[0] < clock:
        body, etag = screen_payload(token, now)
        if len(_CACHE) > 1000:
            _CACHE.clear()
        hit = _CACHE[token] = (clock + CACHE_SECONDS, body, etag)
    return {**hit[1], "server_now": iso(now)}, hit[2]


def screen_payload(token: str, now: datetime) -> tuple[dict, str]:
    """The body of ``GET /api/v1/screens/{screen_token}`` and its ETag.

    Overdue attempts are finalised first, so the board treats them as submitted
    with what was saved. Raises NotFound.
    """
    event = db.session.scalar(select(Event).where(Event.screen_token == token))
    if event is None:
        raise NotFound("No event screen was found for this link.")
    comp = event.competition
    close_overdue(now, competition_id=comp.id)
    started, finished = services.counts(comp.id)
    ev_started, ev_finished = services.counts(comp.id, event.id)
    show = services.mask_name if comp.mask_names else (lambda s: s)
    top = [
        {
            "rank": p.rank,
            "name": show(p.name),
            "unit": p.unit,
            "score": p.score,
            "duration_ms": p.duration_ms,
        }
        for p in services.top_individuals(comp.id, limit=TOP_N)
    ]
    units = [
        {
            "rank": u.rank,
            "name": u.name,
            "participants": u.participants,
            "average_score": u.average_score,
        }
        for u in services.unit_ranking(comp.id, limit=UNITS_N)
    ]
    body = {
        "competition": {
            "id": comp.id,
            "title": comp.title,
            "theme": comp.theme,
            "max_score": comp.max_score,
        },
        "event": {
            "id": event.id,
            "name": event.name,
            "venue": event.venue,
            "join_token": event.join_token,
            "participants": ev_started,
            "submitted": ev_finished,
        },
        "participants": started,
        "submitted": finished,
        "top": top,
        "units": units,
    }
    etag = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]
    body["server_now"] = iso(now)
    return body, etag
