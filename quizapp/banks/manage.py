"""Web import staging (upload → preview → confirm) and editing of single questions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from quizapp.auth.models import User
from quizapp.auth.services import normalise_name
from quizapp.banks import services
from quizapp.banks.models import PendingImport, Question, QuestionBank
from quizapp.banks.parsing import (
    ImportFileError,
    ParsedQuestion,
    RowError,
    fingerprint,
    parse_answer,
    parse_upload,
)
from quizapp.dbtypes import new_token, utcnow
from quizapp.errors import DomainError, InvalidField, NotFound
from quizapp.extensions import db

PREVIEW_ROWS = 10


@dataclass
class Preview:
    token: str | None
    filename: str
    bank_name: str
    total: int
    questions: list[ParsedQuestion]
    errors: list[RowError]
    file_error: str | None = None
    duplicates: int = 0


def can_edit_bank(user: User, bank: QuestionBank) -> bool:
    """Organisers edit their organization's banks; shared banks only admins."""
    return user.is_admin or (
        bank.organization_id is not None and bank.organization_id == user.organization_id
    )


def stage_import(
    user: User,
    bank_name: str,
    filename: str,
    data: bytes,
    *,
    max_rows: int,
    now: datetime | None = None,
) -> Preview:
    """Parse an upload; when it is clean, keep it for confirmation and return a token.
    Nothing is added to any bank here. Commits (the staged file only)."""
    now = now or utcnow()
    bank_name = normalise_name(bank_name)
    existing = db.session.scalar(select(QuestionBank).where(QuestionBank.name == bank_name))
    if existing is not None and not can_edit_bank(user, existing):
        raise InvalidField(_("That bank name is taken by another organization."), field="bank_name")
    try:
        result = parse_upload(data, filename, max_rows=max_rows)
    except ImportFileError as err:
        return Preview(None, filename, bank_name, 0, [], [], file_error=str(err.message))
    preview = Preview(
        None, filename, bank_name, result.total_rows, result.questions[:PREVIEW_ROWS], result.errors
    )
    if existing is not None:
        known = set(
            db.session.scalars(select(Question.fingerprint).where(Question.bank_id == existing.id))
        )
        preview.duplicates = sum(q.fingerprint in known for q in result.questions)
    if result.errors or not result.questions:
        return preview
    db.session.execute(
        delete(PendingImport).where(PendingImport.created_at < now - timedelta(days=1))
    )
    pending = PendingImport(
        token=new_token(),
        user_id=user.id,
        bank_name=bank_name,
        filename=filename,
        data=data,
        created_at=now,
    )
    db.session.add(pending)
    db.session.commit()
    preview.token = pending.token
    return preview


def confirm_import(user: User, token: str, *, max_rows: int) -> tuple[QuestionBank, int, int]:
    """Import a staged file, all or nothing. Returns (bank, added, duplicates skipped).
    Raises NotFound for an unknown or foreign token, ImportRejected. Commits."""
    pending = db.session.scalar(select(PendingImport).where(PendingImport.token == token))
    if pending is None or pending.user_id != user.id:
        raise NotFound(_("This import has expired. Please upload the file again."))
    existing = db.session.scalar(select(QuestionBank).where(QuestionBank.name == pending.bank_name))
    org = existing.organization if existing is not None else user.organization
    report = services.import_file(
        pending.data, pending.filename, pending.bank_name, org, max_rows=max_rows
    )
    db.session.delete(pending)
    db.session.commit()
    return services.get_bank(pending.bank_name), report.added, report.skipped_duplicates


def update_question(
    question: Question,
    *,
    qtype: str,
    stem: str,
    options: list[str],
    answer: str,
    explanation: str,
    category: str,
    difficulty: int,
    source: str,
    is_active: bool,
) -> Question:
    """Edit a question. Past attempts keep their snapshots, so results never change.
    Raises InvalidField. Commits."""
    stem = stem.strip()
    options = [o.strip() for o in options if o.strip()] if qtype != "judge" else []
    if not stem:
        raise InvalidField(_("The question text is empty."), field="stem")
    if qtype != "judge" and len(options) < 2:
        raise InvalidField(_("Give at least two options, one per line."), field="options")
    if len(options) > 8:
        raise InvalidField(_("At most 8 options."), field="options")
    try:
        canonical = parse_answer(qtype, answer, len(options))
    except ValueError as err:
        raise InvalidField(str(err), field="answer") from err
    question.type, question.stem, question.options = qtype, stem, options
    question.answer, question.explanation = canonical, explanation.strip()
    question.category, question.difficulty = category.strip(), difficulty
    question.source, question.is_active = source.strip(), is_active
    question.fingerprint = fingerprint(qtype, stem, options)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise InvalidField(_("The bank already holds this question."), field="stem") from None
    return question


def set_active(question: Question, active: bool) -> None:
    """Deactivate (never delete: attempts refer to it) or reactivate. Commits."""
    question.is_active = active
    db.session.commit()


def guard(user: User, bank: QuestionBank) -> None:
    if not can_edit_bank(user, bank):
        raise DomainError(_("Only the bank's owners can change it."))
