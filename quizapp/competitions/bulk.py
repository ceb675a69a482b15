"""Bulk work for bureaus with dozens of venues: many events at once, every QR code and
poster in one archive, and copying an earlier competition."""

from __future__ import annotations

import csv
import io
import re
import zipfile

from flask_babel import gettext as _

from quizapp.competitions.models import Competition, CompetitionUnit, DrawRule, Event
from quizapp.competitions.qr import qr_png, qr_svg
from quizapp.errors import InvalidField
from quizapp.extensions import db

MAX_EVENTS = 200


def parse_event_lines(text: str) -> list[tuple[str, str]]:
    """``name`` or ``name,venue`` per line (a full-width comma works too).
    Raises InvalidField naming the line."""
    events = []
    rows = csv.reader(io.StringIO(text.replace("，", ",")))
    for lineno, row in enumerate(rows, start=1):
        if not row or not row[0].strip():
            continue
        name = " ".join(row[0].split())
        venue = ",".join(row[1:]).strip()
        if len(name) > 200 or len(venue) > 200:
            raise InvalidField(
                _("Line %(n)d: name and venue are limited to 200 characters.", n=lineno),
                field="events",
            )
        events.append((name, venue))
    if not events:
        raise InvalidField(_("Give at least one event, one per line."), field="events")
    if len(events) > MAX_EVENTS:
        raise InvalidField(_("At most %(n)d events at once.", n=MAX_EVENTS), field="events")
    return events


def create_events(comp: Competition, lines: list[tuple[str, str]]) -> list[Event]:
    """Create every event or none. Commits."""
    events = [Event(competition=comp, name=name, venue=venue) for name, venue in lines]
    db.session.add_all(events)
    db.session.commit()
    return events


def _safe(name: str) -> str:
    return re.sub(r'[\\/:*?"<>|\s]+', "_", name).strip("_")[:60] or "event"


def qr_archive(comp: Competition, base_url: str) -> bytes:
    """A zip with, per event, its QR code as PNG and SVG named after the event and venue,
    plus an index (CSV, UTF-8 with BOM) of names, venues and URLs."""
    buf = io.BytesIO()
    index = io.StringIO()
    writer = csv.writer(index)
    writer.writerow(["event", "venue", "join_url", "screen_url"])
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, event in enumerate(comp.events, start=1):
            url = f"{base_url}/j/{event.join_token}"
            label = _safe(f"{number:02d}-{event.name}-{event.venue}".rstrip("-"))
            archive.writestr(f"{label}.png", qr_png(url, box_size=20))
            archive.writestr(f"{label}.svg", qr_svg(url))
            writer.writerow(
                [event.name, event.venue, url, f"{base_url}/screen/{event.screen_token}"]
            )
        archive.writestr("events.csv", "\ufeff" + index.getvalue())
    return buf.getvalue()


def copy_competition(comp: Competition, title: str) -> Competition:
    """A new competition with the same settings, banks, draw rules and units (no events,
    no participants). Commits."""
    title = title.strip()
    if not title:
        raise InvalidField(_("Please give the competition a title."), field="title")
    columns = (
        "organization_id",
        "theme",
        "description",
        "opens_at",
        "closes_at",
        "time_limit_s",
        "attempts_allowed",
        "reveal",
        "free_units",
        "mask_names",
        "multiple_scoring",
        "question_time_s",
        "speed_bonus",
        "unit_metric",
        "top_n",
        "certificate_min_score",
        "elder_time_limit_s",
        "elder_question_time_s",
    )
    copy = Competition(title=title[:200], **{c: getattr(comp, c) for c in columns})
    copy.banks = list(comp.banks)
    copy.rules = [
        DrawRule(
            qtype=r.qtype,
            count=r.count,
            points=r.points,
            category=r.category,
            difficulty=r.difficulty,
        )
        for r in comp.rules
    ]
    copy.units = [CompetitionUnit(name=u.name, headcount=u.headcount) for u in comp.units]
    db.session.add(copy)
    db.session.commit()
    return copy
