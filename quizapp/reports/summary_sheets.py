"""The activity summary's figures as workbook sheets (the .xlsx beside the printed page).

Rates are written as percentages with one decimal (85.7 for 85.7 %), so that they
read the same in every spreadsheet without a number format.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask_babel import gettext as _

from quizapp.banks.qtypes import QUESTION_TYPES
from quizapp.reports.exports import Cell, Sheet
from quizapp.reports.stats import QuestionStat
from quizapp.reports.summary import ActivitySummary, GroupRow


def percent(rate: float | None) -> float | None:
    return round(rate * 100, 1) if rate is not None else None


def _overview(s: ActivitySummary, tz: ZoneInfo) -> list[list[Cell]]:
    comp, o = s.competition, s.overall
    return [
        [_("Item"), _("Value")],
        [_("Competition"), comp.title],
        [_("Organiser"), comp.organization.name],
        [_("First day"), s.first_day.isoformat() if s.first_day else ""],
        [_("Last day"), s.last_day.isoformat() if s.last_day else ""],
        [_("Events"), len(s.events)],
        [_("Units"), len(s.units)],
        [_("Participants"), o.participants],
        [_("Finished participants"), o.finished],
        [_("Attempts"), o.attempts],
        [_("Headcount"), o.headcount],
        [_("Participation rate (percent)"), percent(o.participation_rate)],
        [_("Average score"), o.average],
        [_("Full score"), comp.max_score],
        [_("Full scores"), o.full_scores],
        [_("Full-score rate (percent)"), percent(o.full_rate)],
        [_("Generated at"), s.generated_at.astimezone(tz).replace(tzinfo=None)],
    ]


def _groups(first: str, rows: list[GroupRow], headcounts: bool) -> list[list[Cell]]:
    header: list[Cell] = [first]
    if headcounts:
        header += [_("Headcount")]
    header += [_("Participants")]
    if headcounts:
        header += [_("Participation rate (percent)")]
    header += [
        _("Finished participants"),
        _("Attempts"),
        _("Average score"),
        _("Full scores"),
        _("Full-score rate (percent)"),
    ]
    table = [header]
    for r in rows:
        cells: list[Cell] = [r.name]
        if headcounts:
            cells.append(r.headcount)
        cells.append(r.participants)
        if headcounts:
            cells.append(percent(r.participation_rate))
        cells += [r.finished, r.attempts, r.average, r.full_scores, percent(r.full_rate)]
        table.append(cells)
    return table


def question_rows(stats: list[QuestionStat]) -> list[list[Cell]]:
    """Per-question statistics: header, then one row per question."""
    table: list[list[Cell]] = [
        [
            _("Type"),
            _("Question"),
            _("Correct answer"),
            _("Drawn"),
            _("Answered"),
            _("Correct"),
            _("Correct rate (percent)"),
            _("Discrimination"),
            _("Most chosen wrong option"),
            _("Times chosen"),
        ]
    ]
    for q in stats:
        wrong = q.top_wrong
        table.append(
            [
                str(QUESTION_TYPES[q.qtype].label),
                q.stem,
                q.answer,
                q.drawn,
                q.answered,
                q.correct,
                percent(q.correct_rate),
                round(q.discrimination, 2) if q.discrimination is not None else None,
                wrong[0] if wrong else "",
                wrong[1] if wrong else None,
            ]
        )
    return table


def summary_sheets(s: ActivitySummary, tz: ZoneInfo) -> list[Sheet]:
    """Overview, by event, by unit, by day, score distribution, top lists, questions."""
    return [
        (_("Overview"), _overview(s, tz)),
        (_("By event"), _groups(_("Event"), s.events, headcounts=False)),
        (_("By unit"), _groups(_("Unit"), s.units, headcounts=True)),
        (
            _("By day"),
            [[_("Date"), _("Participants"), _("Attempts started"), _("Attempts finished")]]
            + [[d.day.isoformat(), d.participants, d.attempts, d.finished] for d in s.days],
        ),
        (
            _("Score distribution"),
            [[_("Score"), _("Participants")]] + [[b.label, b.count] for b in s.bins],
        ),
        (
            _("Top individuals"),
            [[_("Rank"), _("Name"), _("Unit"), _("Score"), _("Time used (s)")]]
            + [
                [p.rank, p.name, p.unit, p.score, round(p.duration_ms / 1000, 1)]
                for p in s.top_people
            ],
        ),
        (
            _("Top units"),
            [[_("Rank"), _("Unit"), _("Finished participants"), _("Average score")]]
            + [[i, u.name, u.finished, u.average] for i, u in enumerate(s.top_units, start=1)],
        ),
        (_("Hardest questions"), question_rows(s.hardest)),
        (_("Question statistics"), question_rows(s.questions)),
    ]
