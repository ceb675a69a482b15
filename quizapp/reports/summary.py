"""The activity summary (活动总结) an organiser sends to the market-regulation bureau.

Definitions used throughout (the same as the leaderboards):
- a participant is a person with at least one attempt; "finished" people have a
  submitted or timed-out attempt, and their score is their best finished attempt;
- average score: the mean of those best scores;
- full-score rate: people whose best attempt reaches its maximum, over finished people;
- participation rate: participants over the unit's headcount, only where the headcount
  is known (overall: over the units with a headcount).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime

from flask_babel import gettext as _

from quizapp.competitions.models import Competition
from quizapp.dbtypes import utcnow
from quizapp.leaderboards.services import RankedPerson, top_individuals
from quizapp.reports.facts import AttemptFact, attempt_facts, best_per_participant, local_zone
from quizapp.reports.stats import (
    DayCount,
    QuestionStat,
    ScoreBin,
    hardest,
    participation_by_day,
    question_stats,
    score_distribution,
)

TOP_N = 10


@dataclass(frozen=True)
class GroupRow:
    """Participation and scores of one event, one unit, or the whole competition."""

    name: str
    participants: int
    finished: int
    attempts: int
    average: float | None
    full_scores: int
    headcount: int | None = None
    participation_rate: float | None = None

    @property
    def full_rate(self) -> float | None:
        return self.full_scores / self.finished if self.finished else None


def group_row(name: str, facts: list[AttemptFact], headcount: int | None = None) -> GroupRow:
    """Sum up ``facts`` (the attempts of one group) as a row of the summary."""
    best = best_per_participant(facts)
    people = len({f.participant_id for f in facts})
    return GroupRow(
        name=name,
        participants=people,
        finished=len(best),
        attempts=len(facts),
        average=round(sum(b.score for b in best) / len(best), 2) if best else None,
        full_scores=sum(b.full_score for b in best),
        headcount=headcount,
        participation_rate=people / headcount if headcount else None,
    )


@dataclass(frozen=True)
class ActivitySummary:
    competition: Competition
    generated_at: datetime
    overall: GroupRow
    first_day: date | None
    last_day: date | None
    events: list[GroupRow]
    units: list[GroupRow]
    days: list[DayCount]
    bins: list[ScoreBin]
    top_people: list[RankedPerson]
    top_units: list[GroupRow]
    top_participation: list[GroupRow]
    hardest: list[QuestionStat]
    questions: list[QuestionStat]


def _by(facts: Iterable[AttemptFact], attr: str) -> dict[int | None, list[AttemptFact]]:
    groups: dict[int | None, list[AttemptFact]] = defaultdict(list)
    for fact in facts:
        groups[getattr(fact, attr)].append(fact)
    return groups


def _event_rows(comp: Competition, facts: list[AttemptFact]) -> list[GroupRow]:
    groups = _by(facts, "event_id")
    rows = [group_row(e.name, groups.get(e.id, [])) for e in comp.events]
    if groups.get(None):
        rows.append(group_row(_("(no event)"), groups[None]))
    return rows


def _unit_rows(comp: Competition, facts: list[AttemptFact]) -> list[GroupRow]:
    groups = _by(facts, "unit_id")
    rows = [group_row(u.name, groups.get(u.id, []), u.headcount) for u in comp.units]
    if groups.get(None):
        rows.append(group_row(_("(no unit)"), groups[None]))
    return rows


def _overall(comp: Competition, facts: list[AttemptFact], units: list[GroupRow]) -> GroupRow:
    row = group_row(comp.title, facts)
    counted = [u for u in units if u.headcount]
    if not counted:
        return row
    headcount = sum(u.headcount or 0 for u in counted)
    rate = sum(u.participants for u in counted) / headcount
    return replace(row, headcount=headcount, participation_rate=rate)


def activity_summary(comp: Competition, now: datetime | None = None) -> ActivitySummary:
    """Every figure of the activity summary of ``comp``, read in a few queries."""
    facts = attempt_facts(comp.id)
    units = _unit_rows(comp, facts)
    best = best_per_participant(facts)
    days = participation_by_day(facts, local_zone())
    stats = question_stats(comp.id, facts=facts)
    active_days = [d.day for d in days if d.attempts or d.finished]
    with_finishers = [u for u in units if u.finished]
    return ActivitySummary(
        competition=comp,
        generated_at=now or utcnow(),
        overall=_overall(comp, facts, units),
        first_day=active_days[0] if active_days else None,
        last_day=active_days[-1] if active_days else None,
        events=_event_rows(comp, facts),
        units=units,
        days=days,
        bins=score_distribution(best, max((b.max_score for b in best), default=comp.max_score)),
        top_people=top_individuals(comp.id, limit=TOP_N),
        top_units=sorted(with_finishers, key=lambda u: (-(u.average or 0), -u.finished))[:TOP_N],
        top_participation=sorted(
            (u for u in units if u.participation_rate is not None),
            key=lambda u: (-(u.participation_rate or 0), -u.participants),
        )[:TOP_N],
        hardest=hardest(stats),
        questions=stats,
    )
