"""Organiser pages for question banks."""

from __future__ import annotations

from flask_babel import gettext as _
from flask import Blueprint, render_template, request
from flask_login import current_user, login_required
from sqlalchemy import select

from quizapp.banks import services
from quizapp.banks.models import Question, QuestionBank
from quizapp.errors import NotFound
from quizapp.extensions import db

bp = Blueprint("banks", __name__, url_prefix="/banks")


@bp.before_request
@login_required
def _require_login():
    """Every page here is for logged-in organisers."""


def visible_bank(bank_id: int) -> QuestionBank:
    """A bank the current user may see (shared or their organization's). Raises NotFound."""
    bank = db.session.get(QuestionBank, bank_id)
    if bank is None or (bank.organization_id is not None
                        and not current_user.can_see(bank.organization_id)):
        raise NotFound(_("No such question bank."))
    return bank


@bp.get("/")
def index():
    banks = services.list_banks(current_user.organization_id, everything=current_user.is_admin)
    return render_template("banks/index.html", banks=banks)


@bp.get("/<int:bank_id>")
def detail(bank_id: int):
    bank = visible_bank(bank_id)
    page = max(request.args.get("page", 1, type=int), 1)
    q = (request.args.get("q") or "").strip()
    stmt = select(Question).where(Question.bank_id == bank.id)
    if q:
        stmt = stmt.where(Question.stem.contains(q, autoescape=True))
    per_page = 50
    questions = db.session.scalars(
        stmt.order_by(Question.id).offset((page - 1) * per_page).limit(per_page + 1)
    ).all()
    return render_template("banks/detail.html", bank=bank, questions=questions[:per_page],
                           page=page, has_next=len(questions) > per_page, q=q)
