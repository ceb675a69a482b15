"""Results for organisers: every attempt with its participant, unit and event."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from quizapp.competitions.models import CompetitionUnit, Event
from quizapp.errors import NotFound
from quizapp.extensions import db
from quizapp.play.models import Attempt, Participant


@dataclass(frozen=True)
class ResultRow:
    attempt_id: int
    name: str
    phone: str
    unit: str
    event: str
    number: int
    status: str
    score: int
    max_score: int
    correct_count: int
    duration_ms: int | None
    started_at: datetime
    finished_at: datetime | None
    focus_losses: int


def results(
    competition_id: int,
    *,
    event_id: int | None = None,
    unit_id: int | None = None,
    status: str | None = None,
    limit: int | None = 1000,
) -> list[ResultRow]:
    """Attempts of a competition, best first (same order as the ranking); ``limit``
    None gives them all (exports)."""
    stmt = (
        select(
            Attempt,
            Participant.name,
            Participant.phone,
            CompetitionUnit.name.label("unit"),
            Event.name.label("event"),
        )
        .join(Participant, Participant.id == Attempt.participant_id)
        .outerjoin(CompetitionUnit, CompetitionUnit.id == Participant.unit_id)
        .outerjoin(Event, Event.id == Attempt.event_id)
        .where(Attempt.competition_id == competition_id)
        .order_by(
            Attempt.score.desc(),
            Attempt.duration_ms.asc(),
            Attempt.finished_at.asc(),
            Attempt.id.asc(),
        )
        .limit(limit)
    )
    if event_id:
        stmt = stmt.where(Attempt.event_id == event_id)
    if unit_id:
        stmt = stmt.where(Participant.unit_id == unit_id)
    if status in ("active", "submitted", "expired"):
        stmt = stmt.where(Attempt.status == status)
    return [
        ResultRow(
            a.id,
            name,
            phone,
            unit or "",
            event or "",
            a.number,
            a.status,
            a.score,
            a.max_score,
            a.correct_count,
            a.duration_ms,
            a.started_at,
            a.finished_at,
            a.focus_losses,
        )
        for a, name, phone, unit, event in db.session.execute(stmt)
    ]


def attempt_detail(competition_id: int, attempt_id: int) -> Attempt:
    """One attempt of this competition with its items. Raises NotFound."""
    attempt = db.session.get(Attempt, attempt_id)
    if attempt is None or attempt.competition_id != competition_id:
        raise NotFound("No such attempt.")
    return attempt


def mask_phone(phone: str) -> str:
    """138****1234."""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else phone
