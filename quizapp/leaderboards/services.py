"""Rankings for a competition, for one of its events, or for one unit's own members.

Individual ranking: each participant's best finished attempt, ordered by score (desc),
then time used (asc), then submit time (asc); the attempt id breaks a remaining exact tie
so the order is stable. A person's best attempt is the first of theirs in that order.

Unit ranking, from each member's best finished score: the number of participants (people
with a finished attempt), the average and the total of their best scores, the share of
them whose best is a full score (counted per person, not per attempt) and, only where the
unit's headcount is known, the participation rate (participants / headcount). The
competition's ``unit_metric`` picks the order; ties go to more participants, then the
higher average, then the name.

``as_of`` (a frozen screen) counts only attempts started and finished by that moment.
Every query reads the covering indexes declared in ``quizapp.leaderboards.models``;
the unit ranking and the counts live in ``quizapp.leaderboards.units``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, and_, bindparam, func, or_, select

from quizapp.competitions.models import CompetitionUnit
from quizapp.extensions import db
from quizapp.leaderboards import rank_index
from quizapp.leaderboards.filters import FINISHED, finished, scope
from quizapp.leaderboards.units import (  # noqa: F401  (the feature's service interface)
    METRICS,
    RankedUnit,
    counts,
    event_counts,
    unit_board,
    unit_ranking,
)
from quizapp.play.models import Attempt, Participant
from quizapp.sqlite_writer import reads_first

# --- individuals ---------------------------------------------------------------------


@dataclass(frozen=True)
class RankedPerson:
    rank: int
    attempt_id: int
    name: str
    unit: str
    score: int
    max_score: int
    duration_ms: int
    participant_id: int = 0
    phone: str = ""


def _best_rows(
    competition_id: int,
    event_id: int | None,
    unit_id: int | None,
    as_of: datetime | None,
    limit: int,
) -> list:
    """The best attempt of the first ``limit`` people in ranking order: scan the finished
    attempts in that order (an index read, stopped by LIMIT) and keep each person's first."""
    order = (Attempt.score.desc(), Attempt.duration_ms, Attempt.finished_at, Attempt.id)
    stmt = (
        select(Attempt.id, Attempt.participant_id)
        .where(*scope(competition_id, event_id, as_of), finished(as_of))
        .order_by(*order)
    )
    if unit_id is not None:
        members = select(Participant.id).where(Participant.unit_id == unit_id)
        stmt = stmt.where(Attempt.participant_id.in_(members))
    fetch = limit
    while True:
        rows = db.session.execute(stmt.limit(fetch)).all()
        best: dict[int, int] = {}
        for attempt_id, participant_id in rows:
            best.setdefault(participant_id, attempt_id)
        if len(best) >= limit or len(rows) < fetch:
            return list(best.values())[:limit]
        fetch *= 4  # people with several attempts: read further


def top_individuals(
    competition_id: int,
    event_id: int | None = None,
    limit: int = 10,
    unit_id: int | None = None,
    as_of: datetime | None = None,
) -> list[RankedPerson]:
    """The first ``limit`` people of the individual ranking (of one event, of one unit's
    members, as of a moment when given), best first, ranked 1, 2, 3 … (ties are broken as
    the module says, so every rank is distinct)."""
    if limit < 1:
        return []
    ids = _best_rows(competition_id, event_id, unit_id, as_of, limit)
    if not ids:
        return []
    stmt = (
        select(Attempt, Participant.name, Participant.phone, CompetitionUnit.name)
        .join(Participant, Participant.id == Attempt.participant_id)
        .outerjoin(CompetitionUnit, CompetitionUnit.id == Participant.unit_id)
        .where(Attempt.id.in_(ids))
    )
    found = {a.id: (a, name, phone, unit) for a, name, phone, unit in db.session.execute(stmt)}
    people = []
    for rank, attempt_id in enumerate(ids, start=1):
        a, name, phone, unit = found[attempt_id]
        people.append(
            RankedPerson(
                rank=rank,
                attempt_id=a.id,
                name=name,
                unit=unit or "",
                score=a.score,
                max_score=a.max_score,
                duration_ms=a.duration_ms or 0,
                participant_id=a.participant_id,
                phone=phone,
            )
        )
    return people


def ranks_of(attempt: Attempt) -> tuple[int, int] | tuple[None, None]:
    """The attempt's rank overall and within its participant's unit (people without a
    unit rank among each other): 1 + the number of other people with a finished attempt
    strictly better than this one. (None, None) while it is active.

    From the rank index when Redis is configured and the index is complete (one round
    trip), else counted on the database in one statement."""
    if attempt.status not in FINISHED:
        return None, None
    memo = attempt.__dict__.get(_MEMO)
    if memo is not None and memo[0] == _finish_of(attempt):
        return memo[1]
    index = rank_index.current()
    ranks = _indexed(index, attempt) if index is not None else None
    return ranks or _counted(attempt)


def record_finish(attempt: Attempt) -> None:
    """Add a just finished (committed) attempt to the rank index, if there is one; the
    ranks it answers are kept on the object for this request's ``ranks_of``."""
    index = rank_index.current()
    if index is None or attempt.status not in FINISHED:
        return
    ranks = _indexed(index, attempt)
    if ranks is not None:
        attempt.__dict__[_MEMO] = (_finish_of(attempt), ranks)


_MEMO = "_quizapp_ranks"


def _finish_of(attempt: Attempt) -> tuple:
    return attempt.status, attempt.score, attempt.duration_ms, attempt.finished_at


def _indexed(index: rank_index.RankIndex, attempt: Attempt) -> tuple[int, int] | None:
    values = (
        attempt.competition_id,
        attempt.participant_id,
        attempt.participant_unit_id,
        attempt.score,
        attempt.duration_ms,
        attempt.finished_at,
    )
    ranks = index.record(*values)
    cid = attempt.competition_id
    if ranks is None and index.rebuild_due(cid) and index.rebuild(cid, lambda: _finished_rows(cid)):
        ranks = index.record(*values)
    return ranks


def _finished_rows(competition_id: int) -> list:
    """Every finished attempt of the competition as the rank index merges it, read on a
    connection of its own: a transaction begun now, not the session's older one."""
    stmt = (
        select(
            Attempt.participant_id,
            Participant.unit_id,
            Attempt.score,
            Attempt.duration_ms,
            Attempt.finished_at,
        )
        .join(Participant, Participant.id == Attempt.participant_id)
        .where(Attempt.competition_id == competition_id, finished())
    )
    with reads_first(), db.engine.connect() as connection:
        return connection.execute(stmt).all()


@reads_first()  # a read: on SQLite it must not queue as a writer (a submit's is a POST)
def _counted(attempt: Attempt) -> tuple[int, int]:
    unit_id = attempt.participant_unit_id
    values = {
        "b_cid": attempt.competition_id,
        "b_pid": attempt.participant_id,
        "b_score": attempt.score,
        "b_duration": attempt.duration_ms,
        "b_finished": attempt.finished_at,
        "b_unit": unit_id,
    }
    overall, unit = db.session.execute(_RANKS[unit_id is None], values).one()
    return 1 + overall, 1 + unit


def _ranks_statement(without_unit: bool):
    """Both ranks' counts for the ``b_*`` values, built once per form of the unit test (a
    value, so that ix_participants_unit_id finds the unit's members, or IS NULL)."""
    score = bindparam("b_score", type_=Integer)
    duration = bindparam("b_duration", type_=Integer)
    # Better: a higher score, or the same score in less time, or the same score and time
    # submitted earlier. Written with ``score >= :score`` outside the OR, so that the
    # index on (competition, status, score, ...) is searched from that score up instead
    # of read whole for every submit (a submit at a start's end counted 5,000 rows).
    better = and_(
        Attempt.score >= score,
        or_(
            Attempt.score > score,
            Attempt.duration_ms < duration,
            and_(
                Attempt.duration_ms == duration,
                Attempt.finished_at < bindparam("b_finished", type_=Attempt.finished_at.type),
            ),
        ),
    )
    competition = bindparam("b_cid", type_=Integer)
    unit = (
        Participant.unit_id.is_(None)
        if without_unit
        else Participant.unit_id == bindparam("b_unit", type_=Integer)
    )
    unit_members = select(Participant.id).where(Participant.competition_id == competition, unit)
    people = func.count(func.distinct(Attempt.participant_id))
    return select(people, people.filter(Attempt.participant_id.in_(unit_members))).where(
        Attempt.competition_id == competition,
        Attempt.status.in_(FINISHED),
        Attempt.participant_id != bindparam("b_pid", type_=Integer),
        better,
    )


_RANKS = {without: _ranks_statement(without) for without in (False, True)}


def rank_of(attempt: Attempt, *, unit_only: bool = False) -> int | None:
    """``ranks_of``'s overall rank, or with ``unit_only`` its rank within the unit."""
    return ranks_of(attempt)[1 if unit_only else 0]


# --- masking -------------------------------------------------------------------------


def mask_name(name: str) -> str:
    """张三 -> 张*, 张小三 -> 张*三, 欧阳小明 -> 欧**明, Alice -> A***e."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str) -> str:
    """13812341234 -> 138****1234 (anything shorter than 8 characters: all stars)."""
    if len(phone) < 8:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
