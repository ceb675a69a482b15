"""Competitions, their units and events: creation, access and availability checks."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import func, select

from quizapp.auth.models import User
from quizapp.auth.services import normalise_name
from quizapp.banks.models import Question, QuestionBank
from quizapp.banks.qtypes import MULTIPLE_SCORING
from quizapp.competitions.models import (
    REVEAL_CHOICES,
    Competition,
    CompetitionUnit,
    DrawRule,
    Event,
)
from quizapp.errors import InvalidField, NotFound
from quizapp.extensions import db

QTYPES = ("single", "multiple", "judge")
# Unit ranking metrics: average of best scores, participation rate (needs headcounts),
# full-score rate (per person), total of best scores.
UNIT_METRICS = ("average", "participation", "full_rate", "total")


@dataclass
class CompetitionSpec:
    """Plain values describing a competition, as a form or the CLI gathers them."""

    title: str
    opens_at: datetime
    closes_at: datetime | None = None
    theme: str = ""
    time_limit_s: int = 600
    attempts_allowed: int = 1
    reveal: str = "after_submit"
    free_units: bool = False
    mask_names: bool = True
    multiple_scoring: str = "all"
    question_time_s: int | None = None
    speed_bonus: bool = False
    unit_metric: str = "average"
    top_n: int = 10
    certificate_min_score: int | None = None
    elder_time_limit_s: int | None = None
    elder_question_time_s: int | None = None
    bank_ids: list[int] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    points: dict[str, int] = field(default_factory=dict)
    units: list[tuple[str, int | None]] = field(default_factory=list)


def visible_banks(user_or_org_id: User | int | None) -> list[QuestionBank]:
    """Shared banks plus the organization's own."""
    if isinstance(user_or_org_id, User) and user_or_org_id.is_admin:
        return list(db.session.scalars(select(QuestionBank).order_by(QuestionBank.id)))
    org_id = user_or_org_id.organization_id if isinstance(user_or_org_id, User) else user_or_org_id
    return list(
        db.session.scalars(
            select(QuestionBank)
            .where(
                (QuestionBank.organization_id.is_(None)) | (QuestionBank.organization_id == org_id)
            )
            .order_by(QuestionBank.id)
        )
    )


def available_by_type(bank_ids: list[int]) -> dict[str, int]:
    """Active questions per type in the given banks."""
    if not bank_ids:
        return dict.fromkeys(QTYPES, 0)
    rows = db.session.execute(
        select(Question.type, func.count())
        .where(Question.bank_id.in_(bank_ids), Question.is_active.is_(True))
        .group_by(Question.type)
    )
    found = dict(rows.all())
    return {t: int(found.get(t, 0)) for t in QTYPES}


def _validate(spec: CompetitionSpec, organization_id: int) -> None:
    if not spec.title.strip():
        raise InvalidField(_("Please give the competition a title."), field="title")
    if spec.closes_at is not None and spec.closes_at <= spec.opens_at:
        raise InvalidField(_("The closing time must be after the opening time."), field="closes_at")
    if not 10 <= spec.time_limit_s <= 24 * 3600:
        raise InvalidField(
            _("The time limit must be between 10 seconds and 24 hours."), field="time_limit"
        )
    if not 1 <= spec.attempts_allowed <= 100:
        raise InvalidField(_("Attempts allowed must be between 1 and 100."), field="attempts")
    if spec.multiple_scoring not in MULTIPLE_SCORING:
        raise InvalidField(_("Unknown scoring rule."), field="multiple_scoring")
    if spec.question_time_s is not None and not 5 <= spec.question_time_s <= 3600:
        raise InvalidField(
            _("The time per question must be between 5 seconds and one hour."),
            field="question_time",
        )
    if spec.speed_bonus and spec.question_time_s is None:
        raise InvalidField(
            _("The speed bonus needs a time limit per question."), field="speed_bonus"
        )
    if spec.elder_time_limit_s is not None and spec.elder_time_limit_s < spec.time_limit_s:
        raise InvalidField(
            _("The elder-mode time limit cannot be shorter than the normal one."),
            field="elder_time_limit",
        )
    if spec.elder_question_time_s is not None and (
        spec.question_time_s is None or spec.elder_question_time_s < spec.question_time_s
    ):
        raise InvalidField(
            _(
                "Elder-mode seconds per question need a normal per-question limit, and cannot "
                "be shorter."
            ),
            field="elder_question_time",
        )
    if spec.unit_metric not in UNIT_METRICS:
        raise InvalidField(_("Unknown unit ranking metric."), field="unit_metric")
    if not 1 <= spec.top_n <= 100:
        raise InvalidField(_("Top N must be between 1 and 100."), field="top_n")
    if spec.reveal not in REVEAL_CHOICES:
        raise InvalidField(_("Unknown answer reveal setting."), field="reveal")
    allowed = {b.id for b in visible_banks(organization_id)}
    if not spec.bank_ids or not set(spec.bank_ids) <= allowed:
        raise InvalidField(_("Please choose at least one question bank."), field="banks")
    if sum(spec.counts.get(t, 0) for t in QTYPES) < 1:
        raise InvalidField(_("The quiz needs at least one question."), field="single_count")
    available = available_by_type(spec.bank_ids)
    for qtype in QTYPES:
        wanted = spec.counts.get(qtype, 0)
        if wanted < 0 or wanted > 200:
            raise InvalidField(_("A count must be between 0 and 200."), field=f"{qtype}_count")
        if wanted > available[qtype]:
            raise InvalidField(
                _("The chosen banks hold only %(n)d question(s) of this type.", n=available[qtype]),
                field=f"{qtype}_count",
            )
        if not 0 <= spec.points.get(qtype, 0) <= 100:
            raise InvalidField(_("Points must be between 0 and 100."), field=f"{qtype}_points")
    if not spec.free_units and not spec.units:
        raise InvalidField(_("Give the list of units, or allow free entry."), field="units")


def create_competition(organization_id: int, spec: CompetitionSpec) -> Competition:
    """Create a competition with its draw rules and units. Raises InvalidField. Commits."""
    _validate(spec, organization_id)
    comp = Competition(
        organization_id=organization_id,
        title=spec.title.strip(),
        theme=spec.theme.strip(),
        opens_at=spec.opens_at,
        closes_at=spec.closes_at,
        time_limit_s=spec.time_limit_s,
        attempts_allowed=spec.attempts_allowed,
        reveal=spec.reveal,
        free_units=spec.free_units,
        mask_names=spec.mask_names,
        multiple_scoring=spec.multiple_scoring,
        question_time_s=spec.question_time_s,
        speed_bonus=spec.speed_bonus,
        unit_metric=spec.unit_metric,
        top_n=spec.top_n,
        certificate_min_score=spec.certificate_min_score,
        elder_time_limit_s=spec.elder_time_limit_s,
        elder_question_time_s=spec.elder_question_time_s,
    )
    comp.banks = list(
        db.session.scalars(select(QuestionBank).where(QuestionBank.id.in_(spec.bank_ids)))
    )
    comp.rules = [
        DrawRule(qtype=t, count=spec.counts[t], points=spec.points.get(t, 0))
        for t in QTYPES
        if spec.counts.get(t, 0) > 0
    ]
    seen: set[str] = set()
    for name, headcount in spec.units:
        name = normalise_name(name)[:120]
        if name and name not in seen:
            seen.add(name)
            comp.units.append(CompetitionUnit(name=name, headcount=headcount))
    db.session.add(comp)
    db.session.commit()
    return comp


def parse_units(text: str) -> list[tuple[str, int | None]]:
    """Units from text: one per line, ``name`` or ``name,headcount`` (also CSV with a
    header such as the Beijing districts sample: 单位,类别,应参与人数).
    Raises InvalidField naming the line."""
    # Chinese keyboards type a full-width comma; treat it like the ASCII one.
    rows = list(csv.reader(io.StringIO(text.replace("，", ","))))
    units: list[tuple[str, int | None]] = []
    header_names = ("单位", "unit", "name", "单位名称")
    if rows and rows[0] and normalise_name(rows[0][0]).lower() in header_names:
        header = [normalise_name(h).lower() for h in rows[0]]
        count_col = next(
            (i for i, h in enumerate(header) if h in ("应参与人数", "人数", "headcount")), None
        )
        body = rows[1:]
        start = 2
    else:
        count_col, body, start = (1 if rows and max(map(len, rows)) == 2 else None), rows, 1
    for lineno, row in enumerate(body, start=start):
        if not row or not normalise_name(row[0]):
            continue
        headcount = None
        if count_col is not None and count_col < len(row) and row[count_col].strip():
            try:
                headcount = int(row[count_col].strip())
                if headcount < 0:
                    raise ValueError
            except ValueError:
                raise InvalidField(
                    _("Line %(n)d: the headcount must be a whole number.", n=lineno), field="units"
                ) from None
        units.append((normalise_name(row[0]), headcount))
    return units


def parse_units_file(data: bytes, filename: str) -> list[tuple[str, int | None]]:
    """Units from a .csv (UTF-8 or GB18030) or .xlsx file. Raises InvalidField."""
    if filename.lower().endswith(".xlsx"):
        from quizapp.banks.parsing import ImportFileError, read_xlsx_rows

        try:
            rows = read_xlsx_rows(data)
        except ImportFileError as err:
            raise InvalidField(str(err.message), field="units") from err
        text = "\n".join(",".join("" if c is None else str(c) for c in row) for row in rows)
        return parse_units(text)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return parse_units(data.decode(encoding))
        except UnicodeDecodeError:
            continue
    raise InvalidField(_("The units file is neither UTF-8 nor GB18030 text."), field="units")


def get_competition(competition_id: int, user: User | None = None) -> Competition:
    """The competition, if it exists and ``user`` may see it. Raises NotFound."""
    comp = db.session.get(Competition, competition_id)
    if comp is None or (user is not None and not user.can_see(comp.organization_id)):
        raise NotFound(_("No such competition."))
    return comp


def competitions_for(user: User) -> list[Competition]:
    stmt = select(Competition).order_by(Competition.id.desc())
    if not user.is_admin:
        stmt = stmt.where(Competition.organization_id == user.organization_id)
    return list(db.session.scalars(stmt))


def create_event(
    competition_id: int, name: str, venue: str = "", *, elder_default: bool = False
) -> Event:
    """Add an on-site event with fresh join and screen tokens. Raises InvalidField. Commits."""
    name = " ".join((name or "").split())
    if not name:
        raise InvalidField(_("Please give the event a name."), field="name")
    if len(name) > 200 or len(venue or "") > 200:
        raise InvalidField(_("Name and venue are limited to 200 characters."), field="name")
    comp = db.session.get(Competition, competition_id)
    if comp is None:
        raise NotFound(_("No such competition."))
    event = Event(
        competition=comp, name=name, venue=(venue or "").strip(), elder_default=elder_default
    )
    db.session.add(event)
    db.session.commit()
    return event


def get_event(event_id: int, user: User) -> Event:
    event = db.session.get(Event, event_id)
    if event is None or not user.can_see(event.competition.organization_id):
        raise NotFound(_("No such event."))
    return event


def event_urls(event: Event, base_url: str) -> dict:
    """The JSON shape ``event create`` prints and the API documents."""
    return {
        "id": event.id,
        "competition_id": event.competition_id,
        "name": event.name,
        "venue": event.venue,
        "join_token": event.join_token,
        "screen_token": event.screen_token,
        "join_url": f"{base_url}/j/{event.join_token}",
        "screen_url": f"{base_url}/screen/{event.screen_token}",
    }
