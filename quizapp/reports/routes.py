"""Organiser reports: exports, statistics, the activity summary and certificates.

Organiser pages need a login and show only the organization's own competitions
(another organization gets 404). The certificate page is reached from the
participant's attempt token and the verification page from the certificate token.
"""

from __future__ import annotations

import base64
import io

from flask import Blueprint, render_template, request, send_file, url_for
from flask_login import current_user, login_required

from quizapp.competitions.qr import qr_svg
from quizapp.competitions.services import get_competition
from quizapp.play.models import Attempt
from quizapp.reports import certificates, exports, facts, stats
from quizapp.reports.summary import activity_summary
from quizapp.reports.summary_sheets import summary_sheets
from quizapp.web import base_url

bp = Blueprint("reports", __name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv; charset=utf-8"


def _filters() -> dict:
    status = request.args.get("status") or None
    return {
        "event_id": request.args.get("event", type=int),
        "unit_id": request.args.get("unit", type=int),
        "status": status if status in ("active", "submitted", "expired") else None,
    }


def _download(buf: io.BytesIO, name: str, mimetype: str):
    buf.seek(0)
    return send_file(buf, mimetype=mimetype, as_attachment=True, download_name=name)


@bp.get("/competitions/<int:competition_id>/results.<any(csv, xlsx):fmt>")
@login_required
def export_results(competition_id: int, fmt: str):
    comp = get_competition(competition_id, current_user)
    table = exports.results_table(comp.id, facts.local_zone(), **_filters())
    buf = io.BytesIO()
    if fmt == "csv":
        exports.write_csv(table, buf)
    else:
        exports.write_xlsx([(comp.title, table)], buf)
    name = exports.download_name(comp.title, f"results.{fmt}")
    return _download(buf, name, CSV if fmt == "csv" else XLSX)


@bp.get("/competitions/<int:competition_id>/statistics")
@login_required
def statistics(competition_id: int):
    comp = get_competition(competition_id, current_user)
    filters = {k: v for k, v in _filters().items() if k != "status"}
    found = facts.attempt_facts(comp.id, **filters)
    best = facts.best_per_participant(found)
    max_score = max((b.max_score for b in best), default=comp.max_score)
    bins = stats.score_distribution(best, max_score)
    days = stats.participation_by_day(found, facts.local_zone())
    return render_template(
        "reports/statistics.html",
        comp=comp,
        filters=filters,
        questions=stats.question_stats(comp.id, facts=found, **filters),
        finished=len(best),
        participants=len({f.participant_id for f in found}),
        average=round(sum(b.score for b in best) / len(best), 2) if best else None,
        chart=stats.chart_data(bins, days),
    )


@bp.get("/competitions/<int:competition_id>/summary")
@login_required
def summary(competition_id: int):
    comp = get_competition(competition_id, current_user)
    report = activity_summary(comp)
    return render_template(
        "reports/summary.html",
        comp=comp,
        s=report,
        chart=stats.chart_data(report.bins, report.days),
    )


@bp.get("/competitions/<int:competition_id>/summary.xlsx")
@login_required
def summary_xlsx(competition_id: int):
    comp = get_competition(competition_id, current_user)
    buf = io.BytesIO()
    exports.write_xlsx(summary_sheets(activity_summary(comp), facts.local_zone()), buf)
    return _download(buf, exports.download_name(comp.title, "summary.xlsx"), XLSX)


def _data_uri(svg: bytes) -> str:
    """An ``<img>`` source the CSP allows (img-src data:), so the page needs no QR request."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


@bp.get("/a/<token>/certificate")
def certificate(token: str):
    attempt = certificates.certificate_for(token)
    verify_url = f"{base_url()}{url_for('.verify', token=attempt.certificate_token)}"
    return render_template(
        "reports/certificate.html",
        attempt=attempt,
        comp=attempt.competition,
        token=token,
        verify_url=verify_url,
        qr=_data_uri(qr_svg(verify_url)),
    )


@bp.get("/certificates/<token>")
def verify(token: str):
    attempt = certificates.verify(token)
    return render_template(
        "reports/verify.html",
        attempt=attempt,
        comp=attempt.competition,
        name=certificates.masked_name(attempt),
    )


@bp.app_template_global("certificate_url")
def certificate_url(attempt: Attempt) -> str | None:
    """The certificate link for a participant's result page, when one is earned."""
    if attempt.competition.certificate_min_score is None:
        return None
    if certificates.earned_attempt(attempt) is None:
        return None
    return url_for("reports.certificate", token=attempt.token)


@bp.app_template_filter("percent")
def percent(rate: float | None, digits: int = 1) -> str:
    """0.857 → "85.7%"; None → "—"."""
    return "—" if rate is None else f"{rate * 100:.{digits}f}%"
