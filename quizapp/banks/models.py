"""Question banks and their questions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from quizapp.dbtypes import UTCDateTime, utcnow
from quizapp.extensions import db


class QuestionBank(db.Model):
    """A named set of questions. ``organization_id`` is None for the shared starter bank,
    which every organiser can draw from but only admins change."""

    __tablename__ = "question_banks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    questions: Mapped[list[Question]] = relationship(back_populates="bank")
    organization = relationship("Organization")


class Question(db.Model):
    """One question. ``answer`` holds canonical letters (``"ABD"``) or ``"T"``/``"F"``.

    Attempts snapshot what they need at draw time, so editing a question never
    changes a result already given. Duplicates within a bank are refused by the
    unique ``(bank_id, fingerprint)`` constraint.
    """

    __tablename__ = "questions"
    __table_args__ = (
        UniqueConstraint("bank_id", "fingerprint"),
        CheckConstraint("type IN ('single', 'multiple', 'judge')", name="type"),
        CheckConstraint("difficulty BETWEEN 1 AND 3", name="difficulty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Lookups by bank use the unique (bank_id, fingerprint) index.
    bank_id: Mapped[int] = mapped_column(ForeignKey("question_banks.id"))
    type: Mapped[str] = mapped_column(String(16))
    stem: Mapped[str] = mapped_column(Text)
    options: Mapped[list[str]] = mapped_column(JSON, default=list)
    answer: Mapped[str] = mapped_column(String(16))
    explanation: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(100), default="", index=True)
    difficulty: Mapped[int] = mapped_column(default=2)
    source: Mapped[str] = mapped_column(String(500), default="")
    fingerprint: Mapped[str] = mapped_column(String(64))
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    bank: Mapped[QuestionBank] = relationship(back_populates="questions")


class PendingImport(db.Model):
    """An uploaded file waiting for the organiser to confirm its preview.

    Kept in the database (not on a worker's disk) so that any app server can
    confirm it; rows older than a day are deleted when the next upload arrives.
    """

    __tablename__ = "pending_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(43), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    bank_name: Mapped[str] = mapped_column(String(120))
    filename: Mapped[str] = mapped_column(String(255))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
