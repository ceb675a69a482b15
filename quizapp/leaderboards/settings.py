"""What an organiser sets for a competition's leaderboards and screens: the unit metric,
how many people the boards show, name masking, unit headcounts, and the screen freeze
and reveal. Each function takes the competition id, commits, and raises InvalidField
(naming the field) or NotFound."""

from __future__ import annotations

from datetime import datetime

from flask_babel import gettext as _
from sqlalchemy import select

from quizapp.auth.services import normalise_name
from quizapp.competitions.models import Competition, CompetitionUnit
from quizapp.dbtypes import utcnow
from quizapp.errors import InvalidField, NotFound
from quizapp.extensions import db
from quizapp.leaderboards.models import ScreenReveal
from quizapp.leaderboards.services import METRICS
from quizapp.play.services import close_overdue

MAX_HEADCOUNT = 1_000_000


def _competition(competition_id: int) -> Competition:
    comp = db.session.get(Competition, competition_id)
    if comp is None:
        raise NotFound(_("No such competition."))
    return comp


def update_board(competition_id: int, *, unit_metric: str, top_n: int, mask_names: bool) -> None:
    """Set the unit ranking's metric, the number of people shown and name masking."""
    comp = _competition(competition_id)
    if unit_metric not in METRICS:
        raise InvalidField(_("Unknown unit ranking metric."), field="unit_metric")
    if not 1 <= int(top_n) <= 100:
        raise InvalidField(_("Show between 1 and 100 people."), field="top_n")
    comp.unit_metric, comp.top_n, comp.mask_names = unit_metric, int(top_n), bool(mask_names)
    db.session.commit()


def _headcount(raw: object, unit_name: str) -> int | None:
    text = str(raw if raw is not None else "").strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= MAX_HEADCOUNT:
        raise InvalidField(
            _("%(unit)s: the headcount must be a whole number from 0 up.", unit=unit_name),
            field="headcounts",
        )
    return value


def set_headcounts(competition_id: int, values: dict[int, object]) -> int:
    """Set the headcount of each unit id in ``values`` (empty: unknown). All or nothing.
    Returns how many units changed."""
    units = {u.id: u for u in _competition(competition_id).units}
    parsed = {}
    for unit_id, raw in values.items():
        unit = units.get(unit_id)
        if unit is None:
            raise InvalidField(_("Unknown unit."), field="headcounts")
        parsed[unit] = _headcount(raw, unit.name)
    changed = 0
    for unit, headcount in parsed.items():
        changed += unit.headcount != headcount
        unit.headcount = headcount
    db.session.commit()
    return changed


def import_headcounts(competition_id: int, rows: list[tuple[str, int | None]]) -> int:
    """Headcounts by unit name (as ``competitions.services.parse_units`` reads a unit
    list). All or nothing: names the competition does not have are listed in the error.
    Returns how many units changed."""
    by_name = {
        u.name: u.id
        for u in db.session.scalars(
            select(CompetitionUnit).where(CompetitionUnit.competition_id == competition_id)
        )
    }
    unknown = [name for name, _count in rows if normalise_name(name) not in by_name]
    if unknown:
        raise InvalidField(
            _("These units are not in this competition: %(names)s", names="、".join(unknown)),
            field="headcounts",
        )
    if not rows:
        raise InvalidField(_("The list has no units."), field="headcounts")
    values = {by_name[normalise_name(name)]: count for name, count in rows}
    return set_headcounts(competition_id, values)


def freeze(competition_id: int, now: datetime | None = None) -> None:
    """Stop the screens changing: from now on they show the results as of this moment
    (overdue attempts are finalised first so the frozen board includes them). Results
    and the organiser's pages stay exact. Freezing a frozen screen keeps the first moment."""
    now = now or utcnow()
    comp = _competition(competition_id)
    if comp.screen_frozen_at is None:
        close_overdue(now, competition_id=competition_id)
        comp.screen_frozen_at = now
        db.session.commit()


def unfreeze(competition_id: int) -> None:
    """Let the screens show live results again, without ceremony."""
    _competition(competition_id).screen_frozen_at = None
    db.session.commit()


def reveal(competition_id: int, now: datetime | None = None) -> None:
    """End any freeze and have every screen reveal the current results (last to first)."""
    now = now or utcnow()
    comp = _competition(competition_id)
    comp.screen_frozen_at = None
    row = db.session.get(ScreenReveal, competition_id)
    if row is None:
        db.session.add(ScreenReveal(competition_id=competition_id, revealed_at=now))
    else:
        row.revealed_at = now
    db.session.commit()


def revealed_at(competition_id: int) -> datetime | None:
    row = db.session.get(ScreenReveal, competition_id)
    return row.revealed_at if row else None
