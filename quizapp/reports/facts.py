"""The plain facts every report is computed from: one row per attempt, read once.

Reports load the attempts of a competition as small tuples and do their sums in
Python: the same code then works on SQLite and PostgreSQL (day boundaries in the
organisers' timezone, rank-ordered groups), and a month of a district's results
is a few thousand rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from quizapp.extensions import db
from quizapp.play.models import Attempt, Participant

FINISHED = ("submitted", "expired")


def local_zone() -> ZoneInfo:
    """The organisers' timezone (config ``BABEL_DEFAULT_TIMEZONE``, Asia/Shanghai)."""
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


@dataclass(frozen=True)
class AttemptFact:
    id: int
    participant_id: int
    unit_id: int | None
    event_id: int | None
    status: str
    score: int
    max_score: int
    duration_ms: int | None
    started_at: datetime
    finished_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def full_score(self) -> bool:
        return self.finished and self.max_score > 0 and self.score >= self.max_score


def attempt_facts(
    competition_id: int, *, event_id: int | None = None, unit_id: int | None = None
) -> list[AttemptFact]:
    """Every attempt of a competition (optionally of one event or unit), any status."""
    stmt = (
        select(
            Attempt.id,
            Attempt.participant_id,
            Participant.unit_id,
            Attempt.event_id,
            Attempt.status,
            Attempt.score,
            Attempt.max_score,
            Attempt.duration_ms,
            Attempt.started_at,
            Attempt.finished_at,
        )
        .join(Participant, Participant.id == Attempt.participant_id)
        .where(Attempt.competition_id == competition_id)
    )
    if event_id:
        stmt = stmt.where(Attempt.event_id == event_id)
    if unit_id:
        stmt = stmt.where(Participant.unit_id == unit_id)
    return [AttemptFact(*row) for row in db.session.execute(stmt)]


def ranking_key(fact: AttemptFact) -> tuple:
    """The leaderboard order: score desc, time used asc, submit time asc, id."""
    return (-fact.score, fact.duration_ms or 0, fact.finished_at or fact.started_at, fact.id)


def ranked_finished(facts: Iterable[AttemptFact]) -> list[AttemptFact]:
    """Finished attempts, best first."""
    return sorted((f for f in facts if f.finished), key=ranking_key)


def best_per_participant(facts: Iterable[AttemptFact]) -> list[AttemptFact]:
    """Each participant's best finished attempt (as the leaderboards pick it), best first."""
    best: dict[int, AttemptFact] = {}
    for fact in ranked_finished(facts):
        best.setdefault(fact.participant_id, fact)
    return list(best.values())
