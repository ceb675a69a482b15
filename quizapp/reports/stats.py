"""Statistics for organisers: per question, the score distribution and participation by day.

Per question (grouped by ``question_id`` across attempts, since each attempt draws
and shuffles its own): how often it was drawn, answered and answered correctly; the
discrimination index D = correct rate in the top 27 % of finished attempts (by the
ranking order) minus the correct rate in the bottom 27 %; and the wrong option
chosen most often, reported as its text because letters are shuffled per attempt.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import select

from quizapp.banks.qtypes import LETTERS, QUESTION_TYPES
from quizapp.extensions import db
from quizapp.play.models import Attempt, AttemptItem, Participant
from quizapp.reports.facts import FINISHED, AttemptFact, attempt_facts, ranked_finished

GROUP_SHARE = 0.27  # Kelley's classic top/bottom share for the discrimination index
MAX_FILLED_DAYS = 400  # a longer span lists only the days with activity


@dataclass
class QuestionStat:
    """What the finished attempts say about one question. Rates are 0..1 or None."""

    question_id: int | None
    qtype: str
    stem: str
    answer: str = ""
    drawn: int = 0
    answered: int = 0
    correct: int = 0
    top_drawn: int = 0
    top_correct: int = 0
    bottom_drawn: int = 0
    bottom_correct: int = 0
    wrong_choices: Counter = field(default_factory=Counter)

    @property
    def correct_rate(self) -> float | None:
        return self.correct / self.drawn if self.drawn else None

    @property
    def discrimination(self) -> float | None:
        if not self.top_drawn or not self.bottom_drawn:
            return None
        return self.top_correct / self.top_drawn - self.bottom_correct / self.bottom_drawn

    @property
    def top_wrong(self) -> tuple[str, int] | None:
        """(text, times chosen) of the most chosen wrong option; ties go to the first seen."""
        return self.wrong_choices.most_common(1)[0] if self.wrong_choices else None


def extreme_groups(ranked_ids: Sequence[int]) -> tuple[set[int], set[int]]:
    """(top, bottom) 27 % of attempt ids given best first; empty under two attempts."""
    n = len(ranked_ids)
    if n < 2:
        return set(), set()
    k = max(1, round(n * GROUP_SHARE))
    return set(ranked_ids[:k]), set(ranked_ids[-k:])


def _option_texts(qtype: str, options: list[str], letters: str) -> list[str]:
    if qtype == "judge":
        labels = dict(QUESTION_TYPES["judge"].display_options([]))
        return [labels[letter] for letter in letters if letter in labels]
    return [options[LETTERS.index(ch)] for ch in letters if LETTERS.index(ch) < len(options)]


def _items(competition_id: int, event_id: int | None, unit_id: int | None):
    stmt = (
        select(
            AttemptItem.attempt_id,
            AttemptItem.question_id,
            AttemptItem.qtype,
            AttemptItem.stem,
            AttemptItem.options,
            AttemptItem.key,
            AttemptItem.choice,
        )
        .join(Attempt, Attempt.id == AttemptItem.attempt_id)
        .where(Attempt.competition_id == competition_id, Attempt.status.in_(FINISHED))
        .order_by(AttemptItem.attempt_id, AttemptItem.position)
    )
    if event_id:
        stmt = stmt.where(Attempt.event_id == event_id)
    if unit_id:
        stmt = stmt.join(Participant, Participant.id == Attempt.participant_id).where(
            Participant.unit_id == unit_id
        )
    return db.session.execute(stmt)


def question_stats(
    competition_id: int,
    *,
    event_id: int | None = None,
    unit_id: int | None = None,
    facts: list[AttemptFact] | None = None,
) -> list[QuestionStat]:
    """One entry per question of the finished attempts, hardest (lowest correct rate) first.

    ``facts`` are the attempts already loaded with the same filters (read when None).
    Unanswered counts as not correct; a multiple-choice answer is correct only when
    exact (partial credit is not "correct"). A question deleted from its bank since
    (``question_id`` NULL) is grouped by its stem.
    """
    if facts is None:
        facts = attempt_facts(competition_id, event_id=event_id, unit_id=unit_id)
    ranked = [f.id for f in ranked_finished(facts)]
    finished = set(ranked)
    top, bottom = extreme_groups(ranked)
    stats: dict[object, QuestionStat] = {}
    for row in _items(competition_id, event_id, unit_id):
        if row.attempt_id not in finished:
            continue
        group = row.question_id if row.question_id is not None else (row.qtype, row.stem)
        stat = stats.get(group)
        if stat is None:
            answer = " / ".join(_option_texts(row.qtype, row.options or [], row.key))
            stat = stats[group] = QuestionStat(row.question_id, row.qtype, row.stem, answer)
        is_correct = QUESTION_TYPES[row.qtype].is_correct(row.choice, row.key)
        stat.drawn += 1
        stat.answered += bool(row.choice)
        stat.correct += is_correct
        if row.attempt_id in top:
            stat.top_drawn += 1
            stat.top_correct += is_correct
        if row.attempt_id in bottom:
            stat.bottom_drawn += 1
            stat.bottom_correct += is_correct
        wrong = "".join(ch for ch in (row.choice or "") if ch not in row.key)
        stat.wrong_choices.update(_option_texts(row.qtype, row.options or [], wrong))
    return sorted(stats.values(), key=lambda s: (s.correct_rate, -s.drawn, s.stem))


def hardest(stats: Iterable[QuestionStat], limit: int = 10, min_drawn: int = 5) -> list:
    """The questions with the lowest correct rate; those drawn at least ``min_drawn``
    times come first, so one unlucky draw does not top the list."""
    return sorted(stats, key=lambda s: (s.drawn < min_drawn, s.correct_rate, -s.drawn))[:limit]


@dataclass(frozen=True)
class ScoreBin:
    low: int
    high: int
    count: int

    @property
    def label(self) -> str:
        return str(self.low) if self.low == self.high else f"{self.low}–{self.high}"


def score_distribution(best: Iterable[AttemptFact], max_score: int) -> list[ScoreBin]:
    """Participants per score band: about ten bands of equal width from 0 below the
    full score, and the full score in a band of its own (0–9 … 90–99, 100)."""
    scores = [max(f.score, 0) for f in best]
    top = max([max_score, *scores, 0])
    width = max(1, -(-top // 10))
    lows = list(range(0, top, width))
    counts = Counter(len(lows) if score >= top else score // width for score in scores)
    bins = [
        ScoreBin(low, min(low + width, top) - 1, counts.get(i, 0)) for i, low in enumerate(lows)
    ]
    return [*bins, ScoreBin(top, top, counts.get(len(lows), 0))]


@dataclass(frozen=True)
class DayCount:
    day: date
    participants: int  # distinct people who started an attempt that day
    attempts: int  # attempts started that day
    finished: int  # attempts finished that day


def participation_by_day(facts: Iterable[AttemptFact], tz: ZoneInfo) -> list[DayCount]:
    """Day-by-day activity in the organisers' timezone, days without any filled in."""

    def local(moment: datetime) -> date:
        return moment.astimezone(tz).date()

    people: dict[date, set[int]] = defaultdict(set)
    started: Counter = Counter()
    finished: Counter = Counter()
    for fact in facts:
        people[local(fact.started_at)].add(fact.participant_id)
        started[local(fact.started_at)] += 1
        if fact.finished and fact.finished_at is not None:
            finished[local(fact.finished_at)] += 1
    days = sorted(set(started) | set(finished))
    if days and (days[-1] - days[0]).days < MAX_FILLED_DAYS:
        days = [days[0] + timedelta(days=i) for i in range((days[-1] - days[0]).days + 1)]
    return [DayCount(d, len(people.get(d, ())), started[d], finished[d]) for d in days]


def chart_data(bins: Sequence[ScoreBin], days: Sequence[DayCount]) -> dict:
    """The JSON the charts module draws: labels and series, already translated."""
    return {
        "scores": {
            "labels": [b.label for b in bins],
            "series": [{"label": _("Participants"), "data": [b.count for b in bins]}],
            "x": _("Score"),
        },
        "days": {
            "labels": [d.day.strftime("%m-%d") for d in days],
            "series": [
                {"label": _("Participants"), "data": [d.participants for d in days]},
                {"label": _("Attempts finished"), "data": [d.finished for d in days]},
            ],
            "x": _("Date"),
        },
    }
