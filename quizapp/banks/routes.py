"""Organiser pages for question banks: browse, import with preview, export, edit."""

from __future__ import annotations

import io

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from quizapp.banks import manage, services
from quizapp.banks.forms import ConfirmImportForm, ImportForm, QuestionForm
from quizapp.banks.models import Question, QuestionBank
from quizapp.banks.parsing import ParsedQuestion, fingerprint
from quizapp.banks.spreadsheet import write_csv, write_xlsx
from quizapp.errors import DomainError, InvalidField, NotFound
from quizapp.extensions import db

bp = Blueprint("banks", __name__, url_prefix="/banks")
PER_PAGE = 50


@bp.before_request
@login_required
def _require_login():
    """Every page here is for logged-in organisers."""


def visible_bank(bank_id: int) -> QuestionBank:
    """A bank the current user may see (shared or their organization's). Raises NotFound."""
    bank = db.session.get(QuestionBank, bank_id)
    if bank is None or (
        bank.organization_id is not None and not current_user.can_see(bank.organization_id)
    ):
        raise NotFound(_("No such question bank."))
    return bank


def editable_question(question_id: int) -> Question:
    question = db.session.get(Question, question_id)
    if question is None:
        raise NotFound(_("No such question."))
    bank = visible_bank(question.bank_id)
    if not manage.can_edit_bank(current_user, bank):
        raise NotFound(_("No such question."))
    return question


@bp.get("/")
def index():
    banks = services.list_banks(current_user.organization_id, everything=current_user.is_admin)
    return render_template("banks/index.html", banks=banks)


def _filtered(bank: QuestionBank, args) -> tuple[list[Question], bool]:
    stmt = select(Question).where(Question.bank_id == bank.id)
    if q := (args.get("q") or "").strip():
        stmt = stmt.where(Question.stem.contains(q, autoescape=True))
    if category := args.get("category"):
        stmt = stmt.where(Question.category == category)
    if (qtype := args.get("type")) in ("single", "multiple", "judge"):
        stmt = stmt.where(Question.type == qtype)
    if (difficulty := args.get("difficulty", type=int)) in (1, 2, 3):
        stmt = stmt.where(Question.difficulty == difficulty)
    if args.get("active") in ("1", "0"):
        stmt = stmt.where(Question.is_active.is_(args.get("active") == "1"))
    page = max(args.get("page", 1, type=int), 1)
    rows = db.session.scalars(
        stmt.order_by(Question.id).offset((page - 1) * PER_PAGE).limit(PER_PAGE + 1)
    ).all()
    return list(rows[:PER_PAGE]), len(rows) > PER_PAGE


@bp.get("/<int:bank_id>")
def detail(bank_id: int):
    bank = visible_bank(bank_id)
    questions, has_next = _filtered(bank, request.args)
    categories = db.session.scalars(
        select(Question.category)
        .distinct()
        .where(Question.bank_id == bank.id)
        .order_by(Question.category)
    ).all()
    args = {k: v for k, v in request.args.items() if k != "page"}
    return render_template(
        "banks/detail.html",
        bank=bank,
        questions=questions,
        has_next=has_next,
        page=max(request.args.get("page", 1, type=int), 1),
        args=args,
        categories=categories,
        can_edit=manage.can_edit_bank(current_user, bank),
    )


@bp.route("/import", methods=["GET", "POST"])
def import_file():
    form = ImportForm()
    preview = None
    if request.method == "GET" and request.args.get("bank"):
        form.bank_name.data = request.args["bank"]
    if form.validate_on_submit():
        upload = form.file.data
        try:
            preview = manage.stage_import(
                current_user,
                form.bank_name.data,
                upload.filename or "upload",
                upload.read(),
                max_rows=current_app.config["IMPORT_MAX_ROWS"],
            )
        except InvalidField as err:
            form.bank_name.errors = [*form.bank_name.errors, err.message]
    status = 422 if request.method == "POST" and (preview is None or not preview.token) else 200
    return render_template(
        "banks/import.html",
        form=form,
        preview=preview,
        confirm=ConfirmImportForm(token=preview.token if preview else None),
    ), status


@bp.post("/import/confirm")
def confirm_import():
    form = ConfirmImportForm()
    if not form.validate_on_submit():
        flash(_("This import has expired. Please upload the file again."), "error")
        return redirect(url_for(".import_file"))
    try:
        bank, added, skipped = manage.confirm_import(
            current_user, form.token.data, max_rows=current_app.config["IMPORT_MAX_ROWS"]
        )
    except (services.ImportRejected, NotFound) as err:
        flash(err.message, "error")
        return redirect(url_for(".import_file"))
    flash(
        _(
            "%(added)d question(s) added; %(skipped)d already in the bank.",
            added=added,
            skipped=skipped,
        ),
        "success",
    )
    return redirect(url_for(".detail", bank_id=bank.id))


def _send_questions(questions, filename: str, fmt: str):
    buf = io.BytesIO()
    (write_xlsx if fmt == "xlsx" else write_csv)(questions, buf)
    buf.seek(0)
    mimetype = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        if fmt == "xlsx"
        else "text/csv; charset=utf-8"
    )
    return send_file(buf, mimetype=mimetype, as_attachment=True, download_name=f"{filename}.{fmt}")


@bp.get("/<int:bank_id>/export.<any(xlsx, csv):fmt>")
def export(bank_id: int, fmt: str):
    bank = visible_bank(bank_id)
    return _send_questions(services.bank_questions(bank), bank.name, fmt)


TEMPLATE_ROWS = (
    ParsedQuestion(
        2,
        "single",
        "我国的“质量月”活动在每年的哪个月开展？（ ）",
        ("3月", "6月", "9月", "12月"),
        "C",
        "质量月活动在每年9月开展。",
        "质量强国与质量月",
        1,
        "示例题：请替换为真实来源",
        "",
    ),
    ParsedQuestion(
        3,
        "judge",
        "示例：判断题的选项列留空，答案填“正确”或“错误”。",
        (),
        "T",
        "这是一行示例。",
        "示例",
        1,
        "示例题：请替换为真实来源",
        "",
    ),
)


@bp.get("/template.<any(xlsx, csv):fmt>")
def template(fmt: str):
    rows = [
        r.__class__(**{**r.__dict__, "fingerprint": fingerprint(r.type, r.stem, r.options)})
        for r in TEMPLATE_ROWS
    ]
    return _send_questions(rows, "question-bank-template", fmt)


@bp.route("/questions/<int:question_id>/edit", methods=["GET", "POST"])
def edit_question(question_id: int):
    question = editable_question(question_id)
    form = QuestionForm(obj=question)
    if request.method == "GET":
        form.options.data = "\n".join(question.options)
        form.answer.data = {"T": "正确", "F": "错误"}.get(question.answer, question.answer)
    if form.validate_on_submit():
        try:
            manage.update_question(
                question,
                qtype=form.type.data,
                stem=form.stem.data,
                options=(form.options.data or "").splitlines(),
                answer=form.answer.data,
                explanation=form.explanation.data or "",
                category=form.category.data or "",
                difficulty=form.difficulty.data,
                source=form.source.data or "",
                is_active=form.is_active.data,
            )
        except InvalidField as err:
            field = getattr(form, err.field or "stem")
            field.errors = [*field.errors, err.message]
        else:
            flash(_("Question saved. Results already given are not affected."), "success")
            return redirect(url_for(".detail", bank_id=question.bank_id))
    status = 422 if request.method == "POST" else 200
    return render_template("banks/edit.html", form=form, question=question), status


@bp.post("/questions/<int:question_id>/active")
def toggle_question(question_id: int):
    question = editable_question(question_id)
    try:
        manage.set_active(question, request.form.get("active") == "1")
    except DomainError as err:
        flash(err.message, "error")
    return redirect(url_for(".detail", bank_id=question.bank_id))
