"""Unit ranking and counts (see ``quizapp.leaderboards.services`` for the rules).

Each query is one pass over ``ix_attempts_board_best`` (per participant, in index order),
joined to the participants for their unit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import and_, case, func, select

from quizapp.competitions.models import Competition, CompetitionUnit, Event
from quizapp.extensions import db
from quizapp.leaderboards.filters import finished, scope
from quizapp.play.models import Attempt, Participant

METRICS = ("average", "participation", "full_rate", "total")


@dataclass(frozen=True)
class RankedUnit:
    rank: int
    unit_id: int
    name: str
    participants: int
    average_score: float
    total_score: int = 0
    full_score_count: int = 0
    full_score_rate: float | None = None
    headcount: int | None = None
    participation_rate: float | None = None
    started: int = 0

    def value(self, metric: str) -> float | None:
        """The number the unit is ranked by under ``metric`` (None: cannot be ranked)."""
        if metric == "participation":
            return self.participation_rate
        if not self.participants:
            return None
        return {
            "average": self.average_score,
            "total": float(self.total_score),
            "full_rate": self.full_score_rate,
        }[metric]


def _per_participant(competition_id: int, event_id: int | None, as_of: datetime | None):
    """Subquery, one row per person who started: best finished score (NULL when none is
    finished) and whether that best is a full score. Reads ix_attempts_board_best."""
    fin = finished(as_of)
    full = and_(fin, Attempt.max_score > 0, Attempt.score >= Attempt.max_score)
    return (
        select(
            Attempt.participant_id,
            func.max(case((fin, Attempt.score))).label("best"),
            func.max(case((full, 1), else_=0)).label("full"),
        )
        .where(*scope(competition_id, event_id, as_of))
        .group_by(Attempt.participant_id)
        .subquery("per")
    )


def _unit_aggregates(competition_id: int, event_id: int | None, as_of: datetime | None) -> dict:
    """{unit_id or None: (started, participants, average, total, full count)}."""
    per = _per_participant(competition_id, event_id, as_of)
    stmt = (
        select(
            Participant.unit_id,
            func.count(),
            func.count(per.c.best),
            func.avg(per.c.best),
            func.coalesce(func.sum(per.c.best), 0),
            func.coalesce(func.sum(per.c.full), 0),
        )
        .select_from(per)
        .join(Participant, Participant.id == per.c.participant_id)
        .group_by(Participant.unit_id)
    )
    return {
        unit_id: (started, n, float(avg or 0), int(total), int(full))
        for unit_id, started, n, avg, total, full in db.session.execute(stmt)
    }


def _sort_key(metric: str):
    def key(u: RankedUnit):
        value = u.value(metric)
        return (
            value is None,
            -(value or 0.0),
            -u.participants,
            -u.average_score,
            u.name,
            u.unit_id,
        )

    return key


def unit_board(
    competition_id: int,
    event_id: int | None = None,
    limit: int | None = None,
    *,
    metric: str | None = None,
    as_of: datetime | None = None,
) -> tuple[list[RankedUnit], tuple[int, int]]:
    """The unit ranking (see ``unit_ranking``) and, from the same pass, the scope's
    (participants who started, participants with a finished attempt)."""
    if metric is None:
        metric = db.session.get(Competition, competition_id).unit_metric
    if metric not in METRICS:
        raise ValueError(f"unknown unit metric {metric!r}")
    stats = _unit_aggregates(competition_id, event_id, as_of)
    units = db.session.execute(
        select(CompetitionUnit.id, CompetitionUnit.name, CompetitionUnit.headcount).where(
            CompetitionUnit.competition_id == competition_id
        )
    ).all()
    rows = []
    for unit_id, name, headcount in units:
        started, n, avg, total, full = stats.get(unit_id, (0, 0, 0.0, 0, 0))
        rows.append(
            RankedUnit(
                rank=0,
                unit_id=unit_id,
                name=name,
                participants=n,
                average_score=round(avg, 2),
                total_score=total,
                full_score_count=full,
                full_score_rate=round(full / n, 4) if n else None,
                headcount=headcount,
                participation_rate=round(n / headcount, 4) if headcount else None,
                started=started,
            )
        )
    rows.sort(key=_sort_key(metric))
    if limit:
        rows = rows[:limit]
    totals = (sum(s[0] for s in stats.values()), sum(s[1] for s in stats.values()))
    return [replace(u, rank=i) for i, u in enumerate(rows, start=1)], totals


def unit_ranking(
    competition_id: int,
    event_id: int | None = None,
    limit: int | None = None,
    *,
    metric: str | None = None,
    as_of: datetime | None = None,
) -> list[RankedUnit]:
    """Every unit of the competition ranked by ``metric`` (default: the competition's
    ``unit_metric``); units nobody from has finished come last, with zeros. Raises
    ValueError for an unknown metric."""
    return unit_board(competition_id, event_id, limit, metric=metric, as_of=as_of)[0]


# --- counts --------------------------------------------------------------------------


def counts(
    competition_id: int, event_id: int | None = None, as_of: datetime | None = None
) -> tuple[int, int]:
    """(participants who started, participants with a finished attempt)."""
    per = _per_participant(competition_id, event_id, as_of)
    started, finished = db.session.execute(select(func.count(), func.count(per.c.best))).one()
    return started or 0, finished or 0


def event_counts(
    competition_id: int, as_of: datetime | None = None, totals: tuple[int, int] | None = None
) -> dict[int, list[int]]:
    """{event_id: [started, finished]} for every event of the competition, in one pass.
    ``totals``: the competition's own counts, which are the answer when all its attempts
    belong to its only event (the usual case: one event, no second pass)."""
    sole = _sole_event(competition_id, as_of) if totals is not None else None
    if sole is not None:
        return {sole: list(totals)}
    fin = case((finished(as_of), 1), else_=0)
    per = (
        select(Attempt.event_id, Attempt.participant_id, func.max(fin).label("fin"))
        .where(*scope(competition_id, None, as_of))
        .group_by(Attempt.participant_id, Attempt.event_id)
        .subquery()
    )
    stmt = select(per.c.event_id, func.count(), func.sum(per.c.fin)).group_by(per.c.event_id)
    return {
        event_id: [int(started), int(done or 0)]
        for event_id, started, done in db.session.execute(stmt)
        if event_id is not None
    }


def _sole_event(competition_id: int, as_of: datetime | None) -> int | None:
    """The competition's event when it has one and every attempt in scope belongs to it."""
    events = db.session.scalars(select(Event.id).where(Event.competition_id == competition_id))
    events = list(events)
    if len(events) != 1:
        return None
    in_scope = select(func.count()).where(*scope(competition_id, None, as_of))
    everywhere = db.session.scalar(in_scope)
    here = db.session.scalar(in_scope.where(Attempt.event_id == events[0]))
    return events[0] if everywhere == here else None
