"""Participants, their attempts, and each attempt's drawn items with saved answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, column_property, deferred, mapped_column, relationship

from quizapp.dbtypes import UTCDateTime, new_token, utcnow
from quizapp.extensions import db

STATUSES = ("active", "submitted", "expired")


class Participant(db.Model):
    """A person in one competition, identified by normalised phone (one per competition)."""

    __tablename__ = "participants"
    # The unique index (competition_id, phone) also serves lookups by competition alone.
    __table_args__ = (UniqueConstraint("competition_id", "phone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(ForeignKey("competitions.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(60))
    phone: Mapped[str] = mapped_column(String(20))
    unit_id: Mapped[int | None] = mapped_column(
        ForeignKey("competition_units.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    unit = relationship("CompetitionUnit")
    attempts: Mapped[list[Attempt]] = relationship(
        back_populates="participant", order_by="Attempt.number"
    )


class Attempt(db.Model):
    """One timed run. The deadline is fixed at start; status moves once from ``active``
    to ``submitted`` or ``expired`` through a conditional UPDATE, so the database
    settles concurrent submits. ``seed`` replays the draw and the shuffles."""

    __tablename__ = "attempts"
    # Every index is written by every join and submit, so none repeats another's leading
    # columns: (participant_id, number) serves lookups by participant, and
    # ix_attempts_board_top (leaderboards.models) those by competition, status and score.
    __table_args__ = (
        UniqueConstraint("participant_id", "number"),
        CheckConstraint("status IN ('active', 'submitted', 'expired')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(43), unique=True, default=new_token)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    competition_id: Mapped[int] = mapped_column(ForeignKey("competitions.id", ondelete="CASCADE"))
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("events.id", ondelete="SET NULL"), index=True
    )
    number: Mapped[int] = mapped_column(default=1)
    status: Mapped[str] = mapped_column(String(16), default="active")
    seed: Mapped[int] = mapped_column(BigInteger)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    score: Mapped[int] = mapped_column(default=0)
    max_score: Mapped[int] = mapped_column(default=0)
    correct_count: Mapped[int] = mapped_column(default=0)
    duration_ms: Mapped[int | None]
    focus_losses: Mapped[int] = mapped_column(default=0)
    # Started in elder mode: the competition's longer elder limits apply (fixed at start).
    elder: Mapped[bool] = mapped_column(default=False)
    # Public token of the certificate (its verification QR code); issued on first view.
    certificate_token: Mapped[str | None] = mapped_column(String(43), unique=True)

    participant: Mapped[Participant] = relationship(back_populates="attempts")
    event = relationship("Event")
    competition = relationship("Competition")
    items: Mapped[list[AttemptItem]] = relationship(
        back_populates="attempt", order_by="AttemptItem.position", cascade="all, delete-orphan"
    )


# The participant's unit, read with the attempt where a path asks for it (``undefer``):
# the rank within the unit (leaderboards.rank_index) needs it at every submit.
Attempt.participant_unit_id = deferred(
    column_property(
        select(Participant.unit_id)
        .where(Participant.id == Attempt.participant_id)
        .correlate_except(Participant)
        .scalar_subquery()
    )
)


class AttemptItem(db.Model):
    """A drawn question as this participant sees it, with a snapshot of its key.

    ``options`` are the texts in display order and ``key`` the correct display
    letters; ``choice`` is the saved answer (one per position, by construction).
    ``option_order`` maps display letters back to the bank's letters (e.g. "CADB").
    """

    __tablename__ = "attempt_items"
    __table_args__ = (UniqueConstraint("attempt_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    attempt_id: Mapped[int] = mapped_column(ForeignKey("attempts.id", ondelete="CASCADE"))
    position: Mapped[int]
    # Not indexed: every join inserts 20 items, whose question ids fall on 20 scattered
    # pages of such an index (a sixth of a join's time on SQLite; bench/RESULTS.md,
    # session 9). The index would serve only deletes of questions, which the app never
    # makes (banks.manage deactivates them); a DELETE of questions in SQL scans this table.
    question_id: Mapped[int | None] = mapped_column(ForeignKey("questions.id", ondelete="SET NULL"))
    qtype: Mapped[str] = mapped_column(String(16))
    stem: Mapped[str] = mapped_column(Text)
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    option_order: Mapped[str] = mapped_column(String(8), default="")
    key: Mapped[str] = mapped_column(String(16))
    points: Mapped[int]
    explanation: Mapped[str] = mapped_column(Text, default="")
    choice: Mapped[str | None] = mapped_column(String(16))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the question was first shown (per-question time limits and speed bonus).
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    awarded: Mapped[int | None]

    attempt: Mapped[Attempt] = relationship(back_populates="items")
