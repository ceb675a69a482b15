"""Organiser pages: competitions, their events, QR codes, posters and leaderboards."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required

from quizapp.competitions import bulk, services
from quizapp.competitions import rules as rule_service
from quizapp.competitions.forms import (
    BulkEventsForm,
    CompetitionForm,
    CopyForm,
    EventForm,
    RuleForm,
)
from quizapp.dbtypes import utcnow
from quizapp.errors import DomainError, InvalidField
from quizapp.leaderboards import services as boards
from quizapp.reports import services as reports
from quizapp.web import base_url

bp = Blueprint("competitions", __name__, url_prefix="/competitions")


@bp.before_request
@login_required
def _require_login():
    """Every page here is for logged-in organisers."""


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=_zone()) if value else None


@bp.get("/")
def index():
    return render_template(
        "competitions/index.html", competitions=services.competitions_for(current_user)
    )


def _spec_from(form: CompetitionForm) -> services.CompetitionSpec:
    units = services.parse_units(form.units.data or "")
    return services.CompetitionSpec(
        title=form.title.data,
        theme=form.theme.data or "",
        opens_at=_aware(form.opens_at.data),
        closes_at=_aware(form.closes_at.data),
        time_limit_s=form.time_limit.data * 60,
        attempts_allowed=form.attempts.data,
        reveal=form.reveal.data,
        free_units=form.free_units.data,
        mask_names=form.mask_names.data,
        multiple_scoring=form.multiple_scoring.data,
        question_time_s=form.question_time.data or None,
        speed_bonus=form.speed_bonus.data,
        unit_metric=form.unit_metric.data,
        top_n=form.top_n.data,
        certificate_min_score=form.certificate_min_score.data,
        elder_time_limit_s=form.elder_time_limit.data * 60 if form.elder_time_limit.data else None,
        elder_question_time_s=form.elder_question_time.data or None,
        bank_ids=form.banks.data or [],
        counts={t: getattr(form, f"{t}_count").data for t in services.QTYPES},
        points={t: getattr(form, f"{t}_points").data for t in services.QTYPES},
        units=units,
    )


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = CompetitionForm()
    banks = services.visible_banks(current_user)
    form.banks.choices = [(b.id, b.name) for b in banks]
    if request.method == "GET":
        now = utcnow().astimezone(_zone()).replace(second=0, microsecond=0, tzinfo=None)
        form.opens_at.data = now
        form.closes_at.data = now + timedelta(days=30)
        form.banks.data = [banks[0].id] if banks else []
        form.single_count.data, form.multiple_count.data, form.judge_count.data = 10, 5, 5
    if form.validate_on_submit():
        try:
            comp = services.create_competition(current_user.organization_id, _spec_from(form))
        except InvalidField as err:
            field = getattr(form, err.field or "title", None) or form.title
            field.errors = [*field.errors, err.message]
        else:
            flash(_("Competition created. Add an event to get its QR code."), "success")
            return redirect(url_for(".detail", competition_id=comp.id))
    available = services.available_by_type([b.id for b in banks])
    status = 422 if request.method == "POST" else 200
    return render_template("competitions/new.html", form=form, available=available), status


@bp.get("/<int:competition_id>")
def detail(competition_id: int):
    comp = services.get_competition(competition_id, current_user)
    started, finished = boards.counts(comp.id)
    return render_template(
        "competitions/detail.html",
        comp=comp,
        form=EventForm(),
        started=started,
        finished=finished,
        top=boards.top_individuals(comp.id, limit=10),
        units=boards.unit_ranking(comp.id),
        now=utcnow(),
    )


@bp.post("/<int:competition_id>/events")
def add_event(competition_id: int):
    comp = services.get_competition(competition_id, current_user)
    form = EventForm()
    if form.validate_on_submit():
        try:
            event = services.create_event(
                comp.id,
                form.name.data,
                form.venue.data or "",
                elder_default=form.elder_default.data,
            )
        except InvalidField as err:
            flash(err.message, "error")
        else:
            flash(_("Event added."), "success")
            return redirect(url_for(".event", event_id=event.id))
    for errors in form.errors.values():
        for message in errors:
            flash(message, "error")
    return redirect(url_for(".detail", competition_id=comp.id))


@bp.get("/events/<int:event_id>")
def event(event_id: int):
    event = services.get_event(event_id, current_user)
    started, finished = boards.counts(event.competition_id, event.id)
    return render_template(
        "competitions/event.html",
        event=event,
        comp=event.competition,
        urls=services.event_urls(event, base_url()),
        started=started,
        finished=finished,
        top=boards.top_individuals(event.competition_id, event.id, limit=20),
        units=boards.unit_ranking(event.competition_id, event.id),
    )


@bp.get("/events/<int:event_id>/poster")
def poster(event_id: int):
    event = services.get_event(event_id, current_user)
    return render_template(
        "competitions/poster.html",
        event=event,
        comp=event.competition,
        urls=services.event_urls(event, base_url()),
    )


@bp.get("/<int:competition_id>/leaderboard")
def leaderboard(competition_id: int):
    comp = services.get_competition(competition_id, current_user)
    event_id = request.args.get("event", type=int)
    event = services.get_event(event_id, current_user) if event_id else None
    if event is not None and event.competition_id != comp.id:
        event = None
    scope = event.id if event else None
    return render_template(
        "competitions/leaderboard.html",
        comp=comp,
        event=event,
        top=boards.top_individuals(comp.id, scope, limit=200),
        units=boards.unit_ranking(comp.id, scope),
    )


@bp.get("/<int:competition_id>/results")
def results(competition_id: int):
    comp = services.get_competition(competition_id, current_user)
    filters = {
        "event_id": request.args.get("event", type=int),
        "unit_id": request.args.get("unit", type=int),
        "status": request.args.get("status") or None,
    }
    return render_template(
        "competitions/results.html",
        comp=comp,
        filters=filters,
        rows=reports.results(comp.id, **filters),
        mask_phone=reports.mask_phone,
    )


@bp.get("/<int:competition_id>/results/<int:attempt_id>")
def attempt_detail(competition_id: int, attempt_id: int):
    comp = services.get_competition(competition_id, current_user)
    attempt = reports.attempt_detail(comp.id, attempt_id)
    return render_template(
        "competitions/attempt.html", comp=comp, attempt=attempt, mask_phone=reports.mask_phone
    )


def _rule_form(comp, banks) -> RuleForm:
    form = RuleForm()
    form.banks.choices = [(b.id, b.name) for b in banks]
    form.category.choices = [("", _("Any"))] + [
        (c, c) for c in rule_service.categories(comp, banks)
    ]
    return form


@bp.route("/<int:competition_id>/rules", methods=["GET", "POST"])
def rules(competition_id: int):
    comp = services.get_competition(competition_id, current_user)
    visible = services.visible_banks(current_user)
    form = _rule_form(comp, visible)
    if form.validate_on_submit():
        chosen = [b for b in visible if b.id in set(form.banks.data or [])]
        try:
            rule_service.add_rule(
                comp,
                qtype=form.qtype.data,
                count=form.count.data,
                points=form.points.data,
                category=form.category.data or None,
                difficulty=int(form.difficulty.data) if form.difficulty.data else None,
                banks=chosen,
            )
        except InvalidField as err:
            form.count.errors = [*form.count.errors, err.message]
        except DomainError as err:
            flash(err.message, "error")
        else:
            flash(_("Draw rule added."), "success")
            return redirect(url_for(".rules", competition_id=comp.id))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "competitions/rules.html", comp=comp, form=form, rows=rule_service.availability(comp)
    ), status


@bp.post("/<int:competition_id>/rules/<int:rule_id>/delete")
def delete_rule(competition_id: int, rule_id: int):
    comp = services.get_competition(competition_id, current_user)
    try:
        rule_service.remove_rule(comp, rule_id)
        flash(_("Draw rule removed."), "success")
    except DomainError as err:
        flash(err.message, "error")
    return redirect(url_for(".rules", competition_id=comp.id))


@bp.get("/<int:competition_id>/preview")
def preview(competition_id: int):
    comp = services.get_competition(competition_id, current_user)
    try:
        items = rule_service.sample_draw(comp)
    except DomainError as err:
        flash(err.message, "error")
        return redirect(url_for(".rules", competition_id=comp.id))
    return render_template("competitions/preview.html", comp=comp, items=items)


@bp.route("/<int:competition_id>/events/bulk", methods=["GET", "POST"])
def bulk_events(competition_id: int):
    comp = services.get_competition(competition_id, current_user)
    form = BulkEventsForm()
    if form.validate_on_submit():
        try:
            created = bulk.create_events(comp, bulk.parse_event_lines(form.events.data))
        except InvalidField as err:
            form.events.errors = [*form.events.errors, err.message]
        else:
            flash(_("%(n)d events added.", n=len(created)), "success")
            return redirect(url_for(".detail", competition_id=comp.id))
    status = 422 if request.method == "POST" else 200
    return render_template("competitions/bulk_events.html", comp=comp, form=form), status


@bp.get("/<int:competition_id>/qr-codes.zip")
def qr_codes(competition_id: int):
    comp = services.get_competition(competition_id, current_user)
    return Response(
        bulk.qr_archive(comp, base_url()),
        mimetype="application/zip",
        headers={"Content-Disposition": f"attachment; filename=qr-codes-{comp.id}.zip"},
    )


@bp.route("/<int:competition_id>/copy", methods=["GET", "POST"])
def copy(competition_id: int):
    comp = services.get_competition(competition_id, current_user)
    form = CopyForm()
    if request.method == "GET":
        form.title.data = _("%(title)s (copy)", title=comp.title)
    if form.validate_on_submit():
        new = bulk.copy_competition(comp, form.title.data)
        flash(_("Competition copied. Adjust the dates, then add its events."), "success")
        return redirect(url_for(".detail", competition_id=new.id))
    return render_template("competitions/copy.html", comp=comp, form=form)
