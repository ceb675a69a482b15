"""The one query of a screen poll: the event, its competition's settings, and a change
signature of the competition's attempts, all read through indexes (so it costs the same
at 1,000 or 100,000 attempts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select

from quizapp.competitions.models import Competition, CompetitionUnit, DrawRule, Event
from quizapp.errors import NotFound
from quizapp.extensions import db
from quizapp.leaderboards.models import ScreenReveal
from quizapp.play.models import Attempt


@dataclass(frozen=True)
class ScreenState:
    """One row: what a poll needs to decide whether the cached board still holds."""

    event_id: int
    competition_id: int
    event_name: str
    venue: str
    join_token: str
    title: str
    theme: str
    mask_names: bool
    unit_metric: str
    top_n: int
    frozen_at: datetime | None
    revealed_at: datetime | None
    max_score: int
    newest_active: int | None
    newest_submitted: int | None
    newest_expired: int | None
    active: int
    first_deadline: datetime | None
    units: int
    headcounts: int
    created_at: datetime

    @property
    def settings(self) -> list:
        """What shapes the board besides the attempts (JSON-comparable). The competition's
        creation time tells apart a competition that reuses an id (a rebuilt database
        with the same shared cache) from the one a stored board was made for."""
        frozen = self.frozen_at.isoformat() if self.frozen_at else None
        return [
            self.created_at.isoformat(),
            self.unit_metric,
            self.top_n,
            self.mask_names,
            frozen,
            self.units,
            self.headcounts,
        ]

    @property
    def data(self) -> list | None:
        """The attempts' change signature; None while frozen (the board is fixed)."""
        if self.frozen_at is not None:
            return None
        return [self.newest_active, self.newest_submitted, self.newest_expired, self.active]


def _statement():
    """The one query of a poll (built once: composing it costs more than running it)."""
    cid = Event.competition_id

    def scalar(*columns, model=Attempt, where=()):
        return select(*columns).where(model.competition_id == cid, *where).scalar_subquery()

    def newest(status: str):
        return scalar(func.max(Attempt.id), where=[Attempt.status == status])

    active = [Attempt.status == "active"]
    return (
        select(
            Event.id,
            Event.competition_id,
            Event.name,
            Event.venue,
            Event.join_token,
            Competition.title,
            Competition.theme,
            Competition.mask_names,
            Competition.unit_metric,
            Competition.top_n,
            Competition.screen_frozen_at,
            scalar(ScreenReveal.revealed_at, model=ScreenReveal),
            scalar(func.coalesce(func.sum(DrawRule.count * DrawRule.points), 0), model=DrawRule),
            newest("active"),
            newest("submitted"),
            newest("expired"),
            scalar(func.count(), where=active),
            scalar(func.min(Attempt.deadline_at), where=active),
            scalar(func.count(), model=CompetitionUnit),
            # Changes when any headcount changes (and when a unit is added or removed).
            scalar(
                func.coalesce(
                    func.sum(CompetitionUnit.id * func.coalesce(CompetitionUnit.headcount, -1)), 0
                ),
                model=CompetitionUnit,
            ),
            Competition.created_at,
        )
        .join(Competition, Competition.id == Event.competition_id)
        .where(Event.screen_token == bindparam("token"))
    )


_STATEMENT = None


def load_state(token: str) -> ScreenState:
    """Raises NotFound for an unknown screen token."""
    global _STATEMENT
    if _STATEMENT is None:
        _STATEMENT = _statement()
    # Core execution on the session's connection: the ORM layer adds nothing here but
    # time, and this runs on every poll of every screen.
    row = db.session.connection().execute(_STATEMENT, {"token": token}).one_or_none()
    if row is None:
        raise NotFound("No event screen was found for this link.")
    return ScreenState(*row)
