"""Participant pages: join (what the QR code opens), quiz, result, QR images.

The quiz works without JavaScript (plain form posts); with it, static/js/quiz.js
saves each choice through API v1 the moment it is made.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from quizapp.competitions.qr import qr_png, qr_svg
from quizapp.dbtypes import utcnow
from quizapp.errors import DomainError, InvalidField
from quizapp.extensions import db
from quizapp.play import fragments, pacing, presenters, services
from quizapp.play.forms import JoinForm
from quizapp.play.models import Attempt, Participant
from quizapp.signing import generate_csrf
from quizapp.sqlite_writer import reads_first
from quizapp.web import base_url

bp = Blueprint("play", __name__)
# The quiz page's questions, kept rendered (quizapp.play.fragments).
bp.add_app_template_global(fragments.questions_html, "questions_html")


def _unit_choices(units) -> list[tuple[str, str]]:
    """The unit list of the join form, needed only to render it (the form does not check
    the choice against it: services.join does)."""
    return [("", _("— choose your unit —"))] + [(str(u.id), u.name) for u in units]


# Stands for the form's CSRF token in a kept join page (token characters are URL-safe
# base64 and dots, so it cannot occur in one).
_CSRF_SLOT = "@@csrf@@"


@bp.get("/j/<token>")
def join_page(token: str):
    """What the QR code opens; every phone at a venue asks for it within seconds. Its
    data comes from the set-up cache, and the page rendered from that data is kept with
    it, per language and open or not, for the next phones: only the form's CSRF token,
    each phone's own, is filled in per request (rendering was two thirds of the request,
    bench/profile_hot_paths.py --path joinpage). A page with a message to show once is
    rendered in full."""
    page = services.join_page(token)
    now = utcnow()
    if "_flashes" in session:
        _sign_csrf_token()
        return _render_join(page, JoinForm(), now=now)
    csrf_token = generate_csrf() if current_app.config.get("WTF_CSRF_ENABLED", True) else None
    key = (str(get_locale() or "zh"), page.is_open(now))
    kept = page.rendered.get(key)
    if kept is not None:
        return kept.replace(_CSRF_SLOT, csrf_token) if csrf_token else kept
    html, status = _render_join(page, JoinForm(), now=now)
    if csrf_token is None:
        page.rendered[key] = html
    elif html.count(csrf_token) == 1:
        page.rendered[key] = html.replace(csrf_token, _CSRF_SLOT)
    return html, status


def _sign_csrf_token() -> None:
    """This request's CSRF token, signed without zlib (quizapp.signing) before a form
    or template asks Flask-WTF for it, which then finds it in ``g``."""
    if current_app.config.get("WTF_CSRF_ENABLED", True):
        generate_csrf()


def _render_join(page: services.JoinPage, form: JoinForm, status: int = 200, now=None):
    form.unit_id.choices = _unit_choices(page.comp.units)
    return render_template(
        "play/join.html",
        event=page.event,
        comp=page.comp,
        form=form,
        info={**page.info, "is_open": page.is_open(now or utcnow())},
        elder_default=page.event.elder_default,
    ), status


@bp.post("/j/<token>")
def join(token: str):
    """The join form: checked against the page's own data (the set-up cache, as the page
    showed it); services.join reads what decides the outcome from the database."""
    page = services.join_page(token)
    comp = page.comp
    _sign_csrf_token()  # the form's field asks for one: signed without zlib
    form = JoinForm()
    if form.validate_on_submit():
        try:
            attempt_token = services.join_for_token(
                token,
                name=form.name.data,
                phone=form.phone.data,
                unit_id=form.unit_id.data or None,
                unit_name=form.unit_name.data,
                now=utcnow(),
                elder=form.elder.data,
            )
            return redirect(url_for("play.quiz", token=attempt_token))
        except InvalidField as err:
            field = (
                form.unit_id
                if err.field == "unit_id" and not comp.free_units
                else getattr(form, err.field or "name", form.name)
            )
            field.errors = [*field.errors, err.message]
        except services.IdentityMismatch as err:
            form.name.errors = [*form.name.errors, err.message]
        except services.AttemptsExhausted as err:
            flash(err.message, "warning")
            best = _last_attempt(comp.id, form.phone.data)
            if best is not None:
                return redirect(url_for("play.result", token=best.token))
        except DomainError as err:
            flash(err.message, "error")
    return _render_join(page, form, 422)


def _last_attempt(competition_id: int, phone: str) -> Attempt | None:
    try:
        phone = services.normalise_phone(phone)
    except InvalidField:
        return None
    return db.session.scalar(
        select(Attempt)
        .join(Participant)
        .where(Participant.competition_id == competition_id, Participant.phone == phone)
        .order_by(Attempt.number.desc())
    )


@bp.get("/j/<token>/qr.svg")
def qr_svg_image(token: str):
    event = services.event_by_join_token(token)
    url = f"{base_url()}/j/{event.join_token}"
    return Response(
        qr_svg(url), mimetype="image/svg+xml", headers={"Cache-Control": "public, max-age=300"}
    )


@bp.get("/j/<token>/qr.png")
def qr_png_image(token: str):
    event = services.event_by_join_token(token)
    url = f"{base_url()}/j/{event.join_token}"
    size = request.args.get("size", 10, type=int)
    return Response(
        qr_png(url, box_size=min(max(size, 2), 40)),
        mimetype="image/png",
        headers={"Cache-Control": "public, max-age=300"},
    )


@bp.get("/a/<token>")
def quiz(token: str):
    """Every phone loads this page right after joining. An active attempt is read in one
    statement (services.quiz_attempt); any other (finished, overdue, paced, unknown)
    through the session, which explains, finishes or paces it."""
    now = utcnow()
    shown = services.quiz_attempt(token, now)
    if shown is not None:
        return render_template(
            "play/quiz.html",
            attempt=shown,
            comp=shown.competition,
            data=presenters.attempt_payload(shown, now),
            elder_default=shown.elder or shown.elder_default,
        )
    attempt = services.attempt_by_token(token, with_all=True)
    if services.finalize_if_overdue(attempt, now):
        return redirect(url_for("play.result", token=token))
    data = presenters.attempt_payload(attempt, now)
    context = {
        "attempt": attempt,
        "comp": attempt.competition,
        "data": data,
        "elder_default": _elder_default(attempt),
    }
    if pacing.is_paced(attempt):
        context.update(_paced_context(attempt, data, now))
    return render_template("play/quiz.html", **context)


def _paced_context(attempt, data: dict, now) -> dict:
    """The question on screen in a paced quiz, and how long it has left."""
    position = pacing.current_position(attempt)
    if position is None:
        return {"paced": True, "current": None, "question_left": 0, "is_last": False}
    item = next(i for i in attempt.items if i.position == position)
    deadline = pacing.question_deadline(attempt, item)
    left = max(0, int((deadline - now).total_seconds()))
    return {
        "paced": True,
        "current": data["questions"][position - 1],
        "question_left": left,
        "is_last": position == len(attempt.items),
    }


@bp.post("/a/<token>")
@reads_first()
def quiz_post(token: str):
    """The JavaScript-free path (and the paced quiz's "next"): save the posted choices,
    then move on or submit if asked. Every write it makes is conditional, as the API's
    are, so on SQLite it reads without the writer queue (``reads_first``)."""
    attempt = services.attempt_by_token(token, with_all=True)
    action = request.form.get("action")
    try:
        for item in attempt.items:
            field = f"q{item.position}"
            if pacing.is_paced(attempt) and field not in request.form:
                continue  # only the question on screen is posted
            choice = "".join(request.form.getlist(field))
            if choice != (item.choice or ""):
                try:
                    services.save_answer(token, item.position, choice)
                except pacing.QuestionClosed as err:
                    flash(err.message, "warning")
        if action == "next" and pacing.is_paced(attempt):
            following = (pacing.current_position(attempt) or 0) + 1
            if following <= len(attempt.items):
                pacing.open_question(attempt, following)
                return redirect(url_for("play.quiz", token=token))
            action = "submit"
        if action == "submit":
            services.submit(token)
            return redirect(url_for("play.result", token=token))
        flash(_("Your answers are saved."), "info")
    except (services.DeadlinePassed, services.AlreadySubmitted) as err:
        flash(err.message, "warning")
        return redirect(url_for("play.result", token=token))
    except InvalidField as err:
        flash(err.message, "error")
    return redirect(url_for("play.quiz", token=token))


@bp.get("/a/<token>/result")
def result(token: str):
    now = utcnow()
    attempt = services.attempt_by_token(token, with_all=True)
    if not services.finalize_if_overdue(attempt, now):
        return redirect(url_for("play.quiz", token=token))
    return render_template(
        "play/result.html",
        attempt=attempt,
        comp=attempt.competition,
        result=presenters.result_payload(attempt, now),
        items={i.position: i for i in attempt.items},
        elder_default=_elder_default(attempt),
    )


def _elder_default(attempt) -> bool:
    """Elder mode by default: the attempt started in it, or its event defaults to it."""
    return attempt.elder or bool(attempt.event and attempt.event.elder_default)
