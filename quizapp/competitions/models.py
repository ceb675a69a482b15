"""Competitions, their draw rules, their units and their on-site events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Column, ForeignKey, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from quizapp.dbtypes import UTCDateTime, new_token, utcnow
from quizapp.extensions import db

REVEAL_CHOICES = ("after_submit", "after_close", "never")

competition_banks = Table(
    "competition_banks",
    db.metadata,
    Column("competition_id", ForeignKey("competitions.id", ondelete="CASCADE"), primary_key=True),
    Column("bank_id", ForeignKey("question_banks.id"), primary_key=True),
)


draw_rule_banks = Table(
    "draw_rule_banks",
    db.metadata,
    Column("draw_rule_id", ForeignKey("draw_rules.id", ondelete="CASCADE"), primary_key=True),
    Column("bank_id", ForeignKey("question_banks.id"), primary_key=True),
)


class Competition(db.Model):
    """A quiz owned by an organization: window, time limit, draw rules and policies.

    ``closes_at`` None means open-ended. ``free_units`` lets participants type
    their unit instead of choosing it from the competition's list.
    """

    __tablename__ = "competitions"
    __table_args__ = (
        CheckConstraint("time_limit_s > 0", name="time_limit"),
        CheckConstraint("attempts_allowed >= 1", name="attempts"),
        CheckConstraint("reveal IN ('after_submit', 'after_close', 'never')", name="reveal"),
        CheckConstraint(
            "multiple_scoring IN ('all', 'half', 'proportional')", name="multiple_scoring"
        ),
        CheckConstraint("question_time_s IS NULL OR question_time_s >= 5", name="question_time"),
        CheckConstraint(
            "unit_metric IN ('average', 'participation', 'full_rate', 'total')",
            name="unit_metric",
        ),
        CheckConstraint("top_n BETWEEN 1 AND 100", name="top_n"),
        CheckConstraint(
            "elder_time_limit_s IS NULL OR elder_time_limit_s >= time_limit_s",
            name="elder_time_limit",
        ),
        CheckConstraint(
            "elder_question_time_s IS NULL OR (question_time_s IS NOT NULL"
            " AND elder_question_time_s >= question_time_s)",
            name="elder_question_time",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organizations.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    theme: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    time_limit_s: Mapped[int] = mapped_column(default=600)
    attempts_allowed: Mapped[int] = mapped_column(default=1)
    reveal: Mapped[str] = mapped_column(String(16), default="after_submit")
    free_units: Mapped[bool] = mapped_column(default=False)
    mask_names: Mapped[bool] = mapped_column(default=True)
    # Multiple choice scoring: "all" (all or nothing), "half" or "proportional";
    # the formulas are in quizapp.banks.qtypes.QuestionType.award.
    multiple_scoring: Mapped[str] = mapped_column(String(16), default="all")
    # Per-question time limit (phone-contest format): each question has this many seconds
    # from when it is first shown; None means only the whole-attempt limit applies.
    question_time_s: Mapped[int | None]
    # Kahoot-style speed bonus, only with a per-question limit (formula in QuestionType).
    speed_bonus: Mapped[bool] = mapped_column(default=False)
    # Leaderboards: the unit ranking's metric and how many people the boards show.
    unit_metric: Mapped[str] = mapped_column(String(16), default="average")
    top_n: Mapped[int] = mapped_column(default=10)
    # The screen stops changing from this moment (results stay exact underneath).
    screen_frozen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Elder mode (长辈模式): longer limits for attempts started in elder mode; None: same.
    elder_time_limit_s: Mapped[int | None]
    elder_question_time_s: Mapped[int | None]
    # Score that earns a certificate; None: no certificates.
    certificate_min_score: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    organization = relationship("Organization")
    banks = relationship("QuestionBank", secondary=competition_banks, order_by="QuestionBank.id")
    rules: Mapped[list[DrawRule]] = relationship(
        back_populates="competition", order_by="DrawRule.id", cascade="all, delete-orphan"
    )
    units: Mapped[list[CompetitionUnit]] = relationship(
        back_populates="competition", order_by="CompetitionUnit.id", cascade="all, delete-orphan"
    )
    events: Mapped[list[Event]] = relationship(
        back_populates="competition", order_by="Event.id", cascade="all, delete-orphan"
    )

    @property
    def question_count(self) -> int:
        return sum(rule.count for rule in self.rules)

    @property
    def max_score(self) -> int:
        return sum(rule.count * rule.points for rule in self.rules)

    def is_open(self, now: datetime) -> bool:
        return self.opens_at <= now and (self.closes_at is None or now < self.closes_at)

    def is_closed(self, now: datetime) -> bool:
        return self.closes_at is not None and now >= self.closes_at


class DrawRule(db.Model):
    """Draw ``count`` questions of ``qtype`` (optionally of one category and difficulty)
    from the rule's own banks, or the competition's when it names none, each worth
    ``points``."""

    __tablename__ = "draw_rules"
    __table_args__ = (
        CheckConstraint("count >= 1", name="count"),
        CheckConstraint("points >= 0", name="points"),
        CheckConstraint("qtype IN ('single', 'multiple', 'judge')", name="qtype"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(
        ForeignKey("competitions.id", ondelete="CASCADE"), index=True
    )
    qtype: Mapped[str] = mapped_column(String(16))
    count: Mapped[int]
    points: Mapped[int] = mapped_column(default=5)
    category: Mapped[str | None] = mapped_column(String(100))
    difficulty: Mapped[int | None]

    competition: Mapped[Competition] = relationship(back_populates="rules")
    banks = relationship("QuestionBank", secondary=draw_rule_banks, order_by="QuestionBank.id")

    def bank_ids(self) -> list[int]:
        """The banks this rule draws from."""
        return [b.id for b in (self.banks or self.competition.banks)]


class CompetitionUnit(db.Model):
    """A unit (单位) taking part in a competition, with its headcount when known."""

    __tablename__ = "competition_units"
    # The unique index (competition_id, name) also serves lookups by competition alone.
    __table_args__ = (UniqueConstraint("competition_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(ForeignKey("competitions.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    headcount: Mapped[int | None]

    competition: Mapped[Competition] = relationship(back_populates="units")


class Event(db.Model):
    """An on-site session of a competition, with its join and screen tokens."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    competition_id: Mapped[int] = mapped_column(
        ForeignKey("competitions.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    venue: Mapped[str] = mapped_column(String(200), default="")
    # Elder mode on by default on this event's phones (a community centre, say).
    elder_default: Mapped[bool] = mapped_column(default=False)
    join_token: Mapped[str] = mapped_column(String(43), unique=True, default=new_token)
    screen_token: Mapped[str] = mapped_column(String(43), unique=True, default=new_token)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    competition: Mapped[Competition] = relationship(back_populates="events")
