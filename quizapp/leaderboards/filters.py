"""What every leaderboard query filters on: the competition, optionally one event, and
optionally a moment (a frozen screen counts only attempts started and finished by then)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_

from quizapp.play.models import Attempt

FINISHED = ("submitted", "expired")


def finished(as_of: datetime | None = None):
    """Submitted or expired (by ``as_of`` when given)."""
    # "not active" is "submitted or expired" (a check constraint allows no other status)
    # and costs SQLite one comparison per row instead of two.
    cond = Attempt.status != "active"
    return and_(cond, Attempt.finished_at <= as_of) if as_of is not None else cond


def scope(competition_id: int, event_id: int | None, as_of: datetime | None) -> list:
    """WHERE clauses for the attempts of a competition (an event of it), as of a moment."""
    where = [Attempt.competition_id == competition_id]
    if event_id is not None:
        where.append(Attempt.event_id == event_id)
    if as_of is not None:
        where.append(Attempt.started_at <= as_of)
    return where
