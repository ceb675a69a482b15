"""Rankings.

Individual ranking: each participant's best finished attempt, ordered by score
(desc), then time used (asc), then submit time (asc); the attempt id breaks a
remaining exact tie so the order is stable. Unit ranking: the average of each
member's best score, with the number of participants beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select

from quizapp.competitions.models import CompetitionUnit
from quizapp.extensions import db
from quizapp.play.models import Attempt, Participant

FINISHED = ("submitted", "expired")


def _ordering(a):
    return (a.c.score.desc(), a.c.duration_ms.asc(), a.c.finished_at.asc(), a.c.id.asc())


def best_attempts(competition_id: int, event_id: int | None = None):
    """Subquery: one row per participant, their best finished attempt."""
    rn = (
        func.row_number()
        .over(
            partition_by=Attempt.participant_id,
            order_by=(
                Attempt.score.desc(),
                Attempt.duration_ms.asc(),
                Attempt.finished_at.asc(),
                Attempt.id.asc(),
            ),
        )
        .label("rn")
    )
    inner = select(
        Attempt.id,
        Attempt.participant_id,
        Attempt.score,
        Attempt.duration_ms,
        Attempt.finished_at,
        Attempt.max_score,
        rn,
    ).where(Attempt.competition_id == competition_id, Attempt.status.in_(FINISHED))
    if event_id is not None:
        inner = inner.where(Attempt.event_id == event_id)
    inner = inner.subquery()
    return select(inner).where(inner.c.rn == 1).subquery("best")


@dataclass(frozen=True)
class RankedPerson:
    rank: int
    attempt_id: int
    name: str
    unit: str
    score: int
    max_score: int
    duration_ms: int


def top_individuals(
    competition_id: int, event_id: int | None = None, limit: int = 10, unit_id: int | None = None
) -> list[RankedPerson]:
    best = best_attempts(competition_id, event_id)
    stmt = (
        select(best, Participant.name, CompetitionUnit.name.label("unit_name"))
        .join(Participant, Participant.id == best.c.participant_id)
        .outerjoin(CompetitionUnit, CompetitionUnit.id == Participant.unit_id)
        .order_by(*_ordering(best))
        .limit(limit)
    )
    if unit_id is not None:
        stmt = stmt.where(Participant.unit_id == unit_id)
    return [
        RankedPerson(i, r.id, r.name, r.unit_name or "", r.score, r.max_score, r.duration_ms or 0)
        for i, r in enumerate(db.session.execute(stmt), start=1)
    ]


@dataclass(frozen=True)
class RankedUnit:
    rank: int
    unit_id: int
    name: str
    participants: int
    average_score: float


def unit_ranking(
    competition_id: int, event_id: int | None = None, limit: int | None = None
) -> list[RankedUnit]:
    best = best_attempts(competition_id, event_id)
    avg = func.avg(best.c.score)
    stmt = (
        select(CompetitionUnit.id, CompetitionUnit.name, func.count().label("n"), avg.label("avg"))
        .select_from(best)
        .join(Participant, Participant.id == best.c.participant_id)
        .join(CompetitionUnit, CompetitionUnit.id == Participant.unit_id)
        .group_by(CompetitionUnit.id, CompetitionUnit.name)
        .order_by(avg.desc(), func.count().desc(), CompetitionUnit.name)
    )
    if limit:
        stmt = stmt.limit(limit)
    return [
        RankedUnit(i, r.id, r.name, r.n, round(float(r.avg), 2))
        for i, r in enumerate(db.session.execute(stmt), start=1)
    ]


def rank_of(attempt: Attempt, *, unit_only: bool = False) -> int | None:
    """1 + the number of other participants with a finished attempt better than this one."""
    if attempt.status not in FINISHED:
        return None
    better = or_(
        Attempt.score > attempt.score,
        and_(Attempt.score == attempt.score, Attempt.duration_ms < attempt.duration_ms),
        and_(
            Attempt.score == attempt.score,
            Attempt.duration_ms == attempt.duration_ms,
            Attempt.finished_at < attempt.finished_at,
        ),
    )
    stmt = select(func.count(func.distinct(Attempt.participant_id))).where(
        Attempt.competition_id == attempt.competition_id,
        Attempt.status.in_(FINISHED),
        Attempt.participant_id != attempt.participant_id,
        better,
    )
    if unit_only:
        unit_id = attempt.participant.unit_id
        stmt = stmt.join(Participant, Participant.id == Attempt.participant_id).where(
            Participant.unit_id == unit_id
        )
    return 1 + (db.session.scalar(stmt) or 0)


def counts(competition_id: int, event_id: int | None = None) -> tuple[int, int]:
    """(participants who started, participants with a finished attempt)."""
    base = select(func.count(func.distinct(Attempt.participant_id))).where(
        Attempt.competition_id == competition_id
    )
    if event_id is not None:
        base = base.where(Attempt.event_id == event_id)
    started = db.session.scalar(base) or 0
    finished = db.session.scalar(base.where(Attempt.status.in_(FINISHED))) or 0
    return started, finished


def mask_name(name: str) -> str:
    """张三 -> 张*, 张小三 -> 张*三, Alice -> A***e."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
