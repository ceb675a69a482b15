"""Question banks: loading, importing (all or nothing), listing and exporting."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from quizapp.auth.models import Organization
from quizapp.auth.services import normalise_name
from quizapp.banks.models import Question, QuestionBank
from quizapp.banks.parsing import ImportFileError, ParsedQuestion, RowError, parse_upload
from quizapp.errors import DomainError, NotFound
from quizapp.extensions import db

STARTER_BANK_NAME = "质量月题库"


class ImportRejected(DomainError):
    """The file has row-level errors (``errors``) or is unusable; nothing was added."""

    status, code = 422, "import_rejected"

    def __init__(self, message: str, errors: list[RowError] | None = None):
        super().__init__(message)
        self.errors = errors or []


@dataclass
class ImportReport:
    added: int = 0
    skipped_duplicates: int = 0
    files: list[str] = field(default_factory=list)


def get_bank(name: str) -> QuestionBank:
    """Raises NotFound."""
    bank = db.session.scalar(select(QuestionBank).where(QuestionBank.name == normalise_name(name)))
    if bank is None:
        raise NotFound(f"no question bank named {name!r}")
    return bank


def get_or_create_bank(name: str, organization: Organization | None) -> QuestionBank:
    """Flushes, no commit. Raises DomainError when the name belongs to another organization.
    Names are normalised (NFKC, whitespace), so 'ｂａｎｋ' and 'bank' are one bank."""
    name = normalise_name(name)
    if not name:
        raise DomainError("bank name is empty")
    bank = db.session.scalar(select(QuestionBank).where(QuestionBank.name == name))
    if bank is None:
        bank = QuestionBank(name=name, organization=organization)
        db.session.add(bank)
        db.session.flush()
    elif organization is not None and bank.organization_id != organization.id:
        raise DomainError(f"the bank {name!r} belongs to another organization")
    return bank


def parse_file(data: bytes, filename: str, *, max_rows: int = 5000) -> list[ParsedQuestion]:
    """Parse an upload; raises ImportRejected listing every row error (nothing is stored)."""
    try:
        result = parse_upload(data, filename, max_rows=max_rows)
    except ImportFileError as err:
        raise ImportRejected(str(err.message)) from err
    if result.errors:
        raise ImportRejected(f"{len(result.errors)} error(s) in {filename}", result.errors)
    return result.questions


def add_questions(bank: QuestionBank, questions: Iterable[ParsedQuestion]) -> ImportReport:
    """Add questions whose fingerprint the bank does not hold yet. Flushes, no commit."""
    existing = set(
        db.session.scalars(select(Question.fingerprint).where(Question.bank_id == bank.id))
    )
    report = ImportReport()
    for q in questions:
        if q.fingerprint in existing:
            report.skipped_duplicates += 1
            continue
        existing.add(q.fingerprint)
        db.session.add(
            Question(
                bank_id=bank.id,
                type=q.type,
                stem=q.stem,
                options=list(q.options),
                answer=q.answer,
                explanation=q.explanation,
                category=q.category,
                difficulty=q.difficulty,
                source=q.source,
                fingerprint=q.fingerprint,
            )
        )
        report.added += 1
    db.session.flush()
    return report


def import_file(
    data: bytes,
    filename: str,
    bank_name: str,
    organization: Organization | None,
    *,
    max_rows: int = 5000,
) -> ImportReport:
    """Import one file into a bank, all or nothing. Raises ImportRejected. Commits."""
    questions = parse_file(data, filename, max_rows=max_rows)
    try:
        bank = get_or_create_bank(bank_name, organization)
        report = add_questions(bank, questions)
        report.files.append(filename)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return report


def load_directory(directory: Path, bank_name: str = STARTER_BANK_NAME) -> ImportReport:
    """Load every .csv/.xlsx file of ``directory`` into the shared starter bank, all or
    nothing across files; idempotent. Raises ImportRejected naming file and row."""
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in (".csv", ".xlsx"))
    if not files:
        raise ImportRejected(f"no .csv or .xlsx files in {directory}")
    parsed: list[ParsedQuestion] = []
    for path in files:
        try:
            parsed.extend(parse_file(path.read_bytes(), path.name))
        except ImportRejected as err:
            raise ImportRejected(f"{path.name}: {err.message}", err.errors) from err
    try:
        bank = get_or_create_bank(bank_name, None)
        report = add_questions(bank, parsed)
        report.files = [p.name for p in files]
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return report


def list_banks(organization_id: int | None = None, *, everything: bool = False) -> list[dict]:
    """Banks visible to an organization (its own plus shared ones), with active counts."""
    counts = (
        select(Question.bank_id, func.count().label("n"))
        .where(Question.is_active.is_(True))
        .group_by(Question.bank_id)
        .subquery()
    )
    stmt = (
        select(QuestionBank, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.bank_id == QuestionBank.id)
        .order_by(QuestionBank.id)
    )
    if not everything:
        stmt = stmt.where(
            (QuestionBank.organization_id.is_(None))
            | (QuestionBank.organization_id == organization_id)
        )
    return [
        {
            "id": bank.id,
            "name": bank.name,
            "questions": int(n),
            "organization": bank.organization.name if bank.organization else None,
        }
        for bank, n in db.session.execute(stmt)
    ]


def bank_questions(bank: QuestionBank) -> list[Question]:
    return list(
        db.session.scalars(
            select(Question).where(Question.bank_id == bank.id).order_by(Question.id)
        )
    )
