"""What a phone may see of an attempt: before the end, never a key or explanation."""

from __future__ import annotations

from datetime import datetime

from quizapp.banks.qtypes import QUESTION_TYPES
from quizapp.leaderboards.services import ranks_of
from quizapp.play import pacing
from quizapp.play.models import Attempt


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def remaining_s(attempt: Attempt, now: datetime) -> int:
    if attempt.status != "active":
        return 0
    return max(0, int((attempt.deadline_at - now).total_seconds()))


def question_view(
    item, attempt: Attempt | None = None, locale: str | None = None, paced: bool | None = None
) -> dict:
    """One question as the phone sees it (judge options in ``locale``, default the
    request's). In a paced competition a question that has not been opened yet carries
    no text and no options. ``paced``: whether ``attempt`` is paced, when the caller
    knows it (default: asked here)."""
    qtype = QUESTION_TYPES[item.qtype]
    options = qtype.display_options(item.options, locale)
    view = {
        "position": item.position,
        "type": item.qtype,
        "stem": item.stem,
        "options": [{"key": k, "text": t} for k, t in options],
        "choice": item.choice or "",
    }
    if paced is None:
        paced = attempt is not None and pacing.is_paced(attempt)
    if paced:
        view["opened_at"] = iso(item.opened_at)
        view["question_deadline_at"] = iso(pacing.question_deadline(attempt, item))
        if item.opened_at is None:
            view["stem"], view["options"] = "", []
    return view


def attempt_payload(attempt: Attempt, now: datetime, locale: str | None = None) -> dict:
    """The ``{attempt}`` object of API v1 (``attempt``: an Attempt, or the plain
    services.NewAttempt of a join answered in front of Flask, with ``locale``)."""
    comp = attempt.competition
    paced = pacing.is_paced(attempt)
    return {
        "token": attempt.token,
        "status": attempt.status,
        "started_at": iso(attempt.started_at),
        "deadline_at": iso(attempt.deadline_at),
        "server_now": iso(now),
        "remaining_s": remaining_s(attempt, now),
        "question_count": len(attempt.items),
        "question_time_s": pacing.question_seconds(attempt),
        "elder": attempt.elder,
        "speed_bonus": comp.speed_bonus,
        "questions": [question_view(item, attempt, locale, paced) for item in attempt.items],
    }


def reveals(attempt: Attempt, now: datetime) -> bool:
    """Whether the review (keys, explanations) may be shown for a finished attempt."""
    if attempt.status == "active":
        return False
    reveal = attempt.competition.reveal
    if reveal == "after_submit":
        return True
    if reveal == "after_close":
        return attempt.competition.is_closed(now)
    return False


def result_payload(attempt: Attempt, now: datetime) -> dict:
    """The ``{result}`` object of API v1."""
    review = None
    if reveals(attempt, now):
        review = [
            {
                "position": item.position,
                "stem": item.stem,
                "choice": item.choice or "",
                "correct_choice": item.key,
                "is_correct": bool(item.choice) and item.choice == item.key,
                "awarded": item.awarded or 0,
                "points": item.points,
                "explanation": item.explanation,
            }
            for item in attempt.items
        ]
    rank, unit_rank = ranks_of(attempt)
    return {
        "score": attempt.score,
        "max_score": attempt.max_score,
        "correct_count": attempt.correct_count,
        "question_count": len(attempt.items),
        "duration_ms": attempt.duration_ms,
        "rank": rank,
        "unit_rank": unit_rank,
        "status": attempt.status,
        "server_now": iso(now),
        "review": review,
    }
