"""What the leaderboards keep: the moment a screen's final results were revealed, and
the indexes on ``attempts`` that make rankings and the screens' change check cheap.

The indexes are declared here, next to the queries that need them, rather than on the
Attempt model: they exist for the leaderboards and change with them. Declaring an Index
on another feature's table columns attaches it to that table's metadata, so migrations
and ``flask db check`` see it like any other.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index
from sqlalchemy.orm import Mapped, mapped_column

from quizapp.dbtypes import UTCDateTime
from quizapp.extensions import db
from quizapp.play.models import Attempt


class ScreenReveal(db.Model):
    """When the organiser last revealed a competition's final results on its screens
    (screens play the reveal once when they see a new moment here). One row per
    competition at most; never touches results."""

    __tablename__ = "screen_reveals"

    competition_id: Mapped[int] = mapped_column(
        ForeignKey("competitions.id", ondelete="CASCADE"), primary_key=True
    )
    revealed_at: Mapped[datetime] = mapped_column(UTCDateTime)


# Per participant in one pass, in index order (no sort), without reading the table: best
# score, full score, started/finished, and the event for event scopes and counts.
Index(
    "ix_attempts_board_best",
    Attempt.competition_id,
    Attempt.participant_id,
    Attempt.event_id,
    Attempt.status,
    Attempt.score,
    Attempt.max_score,
)
# Top N: the finished attempts' sort keys without reading the table.
Index(
    "ix_attempts_board_top",
    Attempt.competition_id,
    Attempt.status,
    Attempt.score,
    Attempt.duration_ms,
    Attempt.finished_at,
    Attempt.participant_id,
    Attempt.id,
)
# The screens' change check: newest attempt id per status and the active attempts'
# deadlines, each an index seek or a scan of the few active entries.
Index(
    "ix_attempts_board_state",
    Attempt.competition_id,
    Attempt.status,
    Attempt.id,
    Attempt.deadline_at,
)
