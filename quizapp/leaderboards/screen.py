"""Data for event screens and the public event description.

A screen polls ``GET /api/v1/screens/<token>`` every couple of seconds. Each poll costs
one indexed query (``quizapp.leaderboards.state``): the event and its competition's
settings, plus a change signature of the competition's attempts (the newest attempt id
per status and the number of active attempts: a start raises a newest id, a finish lowers
the active count; nothing else changes a board). The board itself - counts, top
individuals, unit ranking - is computed only when that signature or a setting moved, at
most once per ``SCREEN_MIN_INTERVAL_S`` per competition, and shared by every screen of
the competition through ``quizapp.leaderboards.cache`` (in Redis when configured). So idle
polls cost the same at 1,000 or 100,000 attempts, and a submission shows within one poll
plus that interval.

A frozen competition's board is computed as of the freeze, once, and then served as is.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from flask import current_app

from quizapp.competitions.models import Competition, Event
from quizapp.dbtypes import utcnow
from quizapp.leaderboards import cache, services
from quizapp.leaderboards.state import ScreenState, load_state
from quizapp.play.presenters import iso
from quizapp.play.services import close_overdue, event_by_join_token, grace
from quizapp.setup_cache import setup_cache

# Units sent to a screen; it pages through those that do not fit.
UNITS_MAX = 100


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


def event_info_entry(token: str) -> tuple[dict, datetime, datetime | None]:
    """``(event_info, opens_at, closes_at)`` of the event with this join token, from this
    process's set-up cache (every phone at a venue asks for it on scanning); the info's
    clock-dependent fields are as of its loading. Raises NotFound (not cached)."""

    def load():
        event = event_by_join_token(token)
        comp = event.competition
        return event_info(event, utcnow()), comp.opens_at, comp.closes_at

    return setup_cache().get(("event", token), load)


def open_between(opens_at: datetime, closes_at: datetime | None, now: datetime) -> bool:
    """``Competition.is_open`` from its two columns."""
    return opens_at <= now and (closes_at is None or now < closes_at)


def cached_event_info(token: str, now: datetime) -> dict:
    """``event_info`` from ``event_info_entry``, its clock-dependent fields for ``now``."""
    info, opens_at, closes_at = event_info_entry(token)
    return {
        **info,
        "competition": {**info["competition"], "is_open": open_between(opens_at, closes_at, now)},
        "server_now": iso(now),
    }


# --- the shared board ----------------------------------------------------------------


_LETTERS = str.maketrans("0123456789abcdef", "ghijklmnopabcdef")


def _row_key(*parts: object) -> str:
    """A stable, opaque row key (letters only) so a screen can animate a row moving."""
    text = ":".join(map(str, parts))
    return hashlib.sha256(text.encode()).hexdigest()[:12].translate(_LETTERS)


def compute_board(state: ScreenState) -> dict:
    """Counts, top individuals and unit ranking of the competition (as of the freeze when
    frozen), names masked as the competition says and phones always masked."""
    cid, as_of = state.competition_id, state.frozen_at
    show = services.mask_name if state.mask_names else (lambda name: name)
    units, (started, finished) = services.unit_board(
        cid, metric=state.unit_metric, as_of=as_of, limit=UNITS_MAX
    )
    top = [
        {
            "rank": p.rank,
            "name": show(p.name),
            "unit": p.unit,
            "score": p.score,
            "duration_ms": p.duration_ms,
            "phone": services.mask_phone(p.phone),
            "key": _row_key(cid, p.participant_id),
        }
        for p in services.top_individuals(cid, limit=state.top_n, as_of=as_of)
    ]
    return {
        "participants": started,
        "submitted": finished,
        "top": top,
        "units": [
            {
                "rank": u.rank,
                "id": u.unit_id,
                "key": _row_key(cid, "unit", u.unit_id),
                "name": u.name,
                "participants": u.participants,
                "average_score": u.average_score,
                "total_score": u.total_score,
                "full_score_count": u.full_score_count,
                "full_score_rate": u.full_score_rate,
                "headcount": u.headcount,
                "participation_rate": u.participation_rate,
            }
            for u in units
        ],
        "events": {
            str(k): v for k, v in services.event_counts(cid, as_of, (started, finished)).items()
        },
    }


def _store():
    extensions = current_app.extensions
    store = extensions.get("leaderboards_store")
    if store is None:
        url = current_app.config.get("REDIS_URL")
        prefix = current_app.config.get("SCREEN_CACHE_PREFIX") or _default_prefix()
        store = cache.RedisStore(url, prefix) if url else cache.MemoryStore()
        extensions["leaderboards_store"] = store
    return store


def _default_prefix() -> str:
    """Keys of one database apart from another's on a shared Redis."""
    return f"quizapp:screen:{cache.database_tag()}:"


def _policy() -> cache.Policy:
    config = current_app.config
    return cache.Policy(
        min_interval_s=float(config.get("SCREEN_MIN_INTERVAL_S", 1.0)),
        max_age_s=float(config.get("SCREEN_MAX_AGE_S", 60.0)),
    )


# --- the response --------------------------------------------------------------------


def _assemble(state: ScreenState, entry: dict, now: datetime) -> tuple[dict, str]:
    board = entry["body"]
    started, finished = board["events"].get(str(state.event_id), [0, 0])
    own = {
        "competition": {
            "id": state.competition_id,
            "title": state.title,
            "theme": state.theme,
            "max_score": state.max_score,
        },
        "event": {
            "id": state.event_id,
            "name": state.event_name,
            "venue": state.venue,
            "join_token": state.join_token,
            "participants": started,
            "submitted": finished,
        },
        "unit_metric": state.unit_metric,
        "top_n": state.top_n,
        "frozen": state.frozen_at is not None,
        "frozen_at": iso(state.frozen_at),
        "revealed_at": iso(state.revealed_at),
    }
    tag = entry["digest"] + json.dumps(own, sort_keys=True, ensure_ascii=False)
    etag = hashlib.sha256(tag.encode()).hexdigest()[:32]
    body = {
        **own,
        "participants": board["participants"],
        "submitted": board["submitted"],
        "top": board["top"],
        "units": board["units"],
        "server_now": iso(now),
    }
    return body, etag


def _current_state(token: str, now: datetime) -> ScreenState:
    """The state, after finalising overdue attempts when there are any (the board then
    treats them as submitted with what was saved)."""
    state = load_state(token)
    if state.first_deadline is not None and state.first_deadline < now - grace():
        close_overdue(now, competition_id=state.competition_id)
        state = load_state(token)
    return state


def cached_screen_payload(token: str, now: datetime) -> tuple[dict, str]:
    """The body of ``GET /api/v1/screens/{screen_token}`` and its ETag, from the shared
    board when it still holds (see the module docstring). Raises NotFound."""
    state = _current_state(token, now)
    entry = cache.fetch(
        _store(),
        f"board:{state.competition_id}",
        state.settings,
        state.data,
        now.timestamp(),
        lambda: compute_board(state),
        _policy(),
    )
    return _assemble(state, entry, now)


def screen_payload(token: str, now: datetime) -> tuple[dict, str]:
    """Like ``cached_screen_payload`` but always computed afresh. Raises NotFound."""
    state = _current_state(token, now)
    body = compute_board(state)
    entry = {"digest": cache.digest(body), "body": body}
    return _assemble(state, entry, now)
