"""The public event screen, and the organiser's leaderboards and screen controls."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from quizapp.competitions.services import get_competition, parse_units, parse_units_file
from quizapp.dbtypes import utcnow
from quizapp.errors import InvalidField
from quizapp.leaderboards import screen, services, settings
from quizapp.leaderboards.forms import BoardForm, HeadcountImportForm
from quizapp.web import base_url

bp = Blueprint("leaderboards", __name__)

# "All" on the organiser's leaderboard: enough for any one competition's page.
ALL_PEOPLE = 1000


@bp.get("/screen/<token>")
def screen_page(token: str):
    data, _etag = screen.cached_screen_payload(token, utcnow())
    join_url = f"{base_url()}/j/{data['event']['join_token']}"
    return render_template(
        "leaderboards/screen.html",
        data=data,
        token=token,
        join_url=join_url,
    )


@bp.get("/competitions/<int:competition_id>/boards")
@login_required
def board(competition_id: int):
    """Individuals and units for the competition, one event (?event=) or one unit's own
    members (?unit=); the first top N people, or all with ?all=1."""
    comp = get_competition(competition_id, current_user)
    event = next((e for e in comp.events if e.id == request.args.get("event", type=int)), None)
    unit = next((u for u in comp.units if u.id == request.args.get("unit", type=int)), None)
    show_all = request.args.get("all") == "1"
    event_id = event.id if event else None
    units, (started, finished) = services.unit_board(comp.id, event_id)
    return render_template(
        "competitions/leaderboard.html",
        comp=comp,
        event=event,
        unit=unit,
        unit_row=next((u for u in units if unit and u.unit_id == unit.id), None),
        show_all=show_all,
        started=started,
        finished=finished,
        top=services.top_individuals(
            comp.id,
            event_id,
            limit=ALL_PEOPLE if show_all else comp.top_n,
            unit_id=unit.id if unit else None,
        ),
        units=units,
        metric=comp.unit_metric,
        unit_url=lambda unit_id: url_for(".board", competition_id=comp.id, unit=unit_id),
    )


def _settings_page(comp, form: BoardForm, import_form: HeadcountImportForm, status: int = 200):
    return render_template(
        "leaderboards/settings.html",
        comp=comp,
        form=form,
        import_form=import_form,
        revealed_at=settings.revealed_at(comp.id),
        screen_urls=[
            (e, url_for("leaderboards.screen_page", token=e.screen_token, _external=False))
            for e in comp.events
        ],
    ), status


@bp.route("/competitions/<int:competition_id>/screen-settings", methods=["GET", "POST"])
@login_required
def screen_settings(competition_id: int):
    """Unit metric, top N and masking; the page also holds headcounts and screen controls."""
    comp = get_competition(competition_id, current_user)
    form = BoardForm(obj=comp)
    if form.validate_on_submit():
        try:
            settings.update_board(
                comp.id,
                unit_metric=form.unit_metric.data,
                top_n=form.top_n.data,
                mask_names=form.mask_names.data,
            )
        except InvalidField as err:
            getattr(form, err.field or "top_n").errors.append(err.message)
        else:
            flash(_("Leaderboard settings saved."), "success")
            return redirect(url_for(".screen_settings", competition_id=comp.id))
    status = 422 if request.method == "POST" else 200
    return _settings_page(comp, form, HeadcountImportForm(formdata=None), status)


@bp.post("/competitions/<int:competition_id>/headcounts")
@login_required
def headcounts(competition_id: int):
    comp = get_competition(competition_id, current_user)
    values = {u.id: request.form.get(f"headcount-{u.id}", "") for u in comp.units}
    try:
        changed = settings.set_headcounts(comp.id, values)
    except InvalidField as err:
        flash(err.message, "error")
    else:
        flash(_("Headcounts saved (%(n)d changed).", n=changed), "success")
    return redirect(url_for(".screen_settings", competition_id=comp.id) + "#headcounts")


@bp.post("/competitions/<int:competition_id>/headcounts/import")
@login_required
def import_headcounts(competition_id: int):
    comp = get_competition(competition_id, current_user)
    form = HeadcountImportForm()
    if not form.validate_on_submit():
        for message in form.file.errors:
            flash(message, "error")
        return redirect(url_for(".screen_settings", competition_id=comp.id) + "#headcounts")
    try:
        upload = form.file.data
        rows = (
            parse_units_file(upload.read(), upload.filename)
            if upload
            else parse_units(form.text.data or "")
        )
        changed = settings.import_headcounts(comp.id, rows)
    except InvalidField as err:
        flash(err.message, "error")
    else:
        flash(_("Headcounts imported (%(n)d changed).", n=changed), "success")
    return redirect(url_for(".screen_settings", competition_id=comp.id) + "#headcounts")


@bp.post("/competitions/<int:competition_id>/screen/<any(freeze, unfreeze, reveal):action>")
@login_required
def screen_action(competition_id: int, action: str):
    """freeze, unfreeze or reveal every screen of the competition."""
    comp = get_competition(competition_id, current_user)
    if action == "freeze":
        settings.freeze(comp.id)
        flash(_("The screens are frozen: they keep showing the results as of now."), "success")
    elif action == "unfreeze":
        settings.unfreeze(comp.id)
        flash(_("The screens show live results again."), "success")
    else:
        settings.reveal(comp.id)
        flash(_("The screens are revealing the final results."), "success")
    return redirect(url_for(".screen_settings", competition_id=comp.id))
