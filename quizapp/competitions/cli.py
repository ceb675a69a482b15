"""``flask competition create``, ``flask event create`` and ``flask demo``."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timedelta
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from quizapp.auth.models import User
from quizapp.auth.services import find_organization, get_or_create_organization
from quizapp.banks import services as bank_services
from quizapp.competitions import services
from quizapp.competitions.models import Competition, Event
from quizapp.dbtypes import utcnow
from quizapp.errors import DomainError
from quizapp.extensions import db
from quizapp.web import base_url

competition_cli = AppGroup("competition", help="Manage competitions.")
event_cli = AppGroup("event", help="Manage on-site events.")

DEMO_ORG = "质量月示范单位"
DEMO_EMAIL = "demo@example.com"
DEMO_TITLE = "质量月质量知识竞赛（示范）"
DEMO_THEME = "加强质量支撑 共建质量强国"


def _parse_draw(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        qtype, _, number = part.partition("=")
        if qtype not in services.QTYPES or not number.isdigit():
            raise click.BadParameter(
                f"expected TYPE=N with TYPE in single, multiple, judge: {part!r}"
            )
        counts[qtype] = int(number)
    return counts


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as err:
        raise click.BadParameter(f"not an ISO 8601 time: {value!r}") from err
    if moment.tzinfo is None:
        from zoneinfo import ZoneInfo

        moment = moment.replace(tzinfo=ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"]))
    return moment


def _competition_json(comp: Competition) -> dict:
    return {
        "id": comp.id,
        "title": comp.title,
        "theme": comp.theme,
        "organization": comp.organization.name,
        "time_limit_s": comp.time_limit_s,
        "question_count": comp.question_count,
        "max_score": comp.max_score,
        "attempts_allowed": comp.attempts_allowed,
        "reveal": comp.reveal,
        "opens_at": comp.opens_at.isoformat(),
        "closes_at": comp.closes_at.isoformat() if comp.closes_at else None,
        "free_units": comp.free_units,
        "units": [u.name for u in comp.units],
    }


@competition_cli.command("create")
@click.option("--org", required=True)
@click.option("--title", required=True)
@click.option("--theme", default="")
@click.option("--bank", "banks", multiple=True, help="Bank name (repeatable).")
@click.option("--draw", default="single=10,multiple=5,judge=5", show_default=True)
@click.option("--points", default="single=5,multiple=5,judge=5", show_default=True)
@click.option("--time-limit", type=click.IntRange(10, 86400), default=600, show_default=True)
@click.option("--attempts", type=click.IntRange(1, 100), default=1, show_default=True)
@click.option(
    "--reveal",
    type=click.Choice(["after_submit", "after_close", "never"]),
    default="after_submit",
    show_default=True,
)
@click.option(
    "--multiple-scoring",
    type=click.Choice(["all", "half", "proportional"]),
    default="all",
    show_default=True,
    help="Multiple choice: all or nothing, half for a correct subset, or proportional.",
)
@click.option("--opens", default=None, help="ISO time (default: now).")
@click.option("--closes", default=None, help="ISO time (default: open-ended).")
@click.option("--units", "units_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--free-units", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def create_competition(
    org,
    title,
    theme,
    banks,
    draw,
    points,
    time_limit,
    attempts,
    reveal,
    multiple_scoring,
    opens,
    closes,
    units_file,
    free_units,
    as_json,
) -> None:
    """Create a competition from the command line."""
    try:
        organization = find_organization(org)
        bank_names = banks or (bank_services.STARTER_BANK_NAME,)
        bank_ids = [bank_services.get_bank(name).id for name in bank_names]
        units = (
            services.parse_units_file(units_file.read_bytes(), units_file.name)
            if units_file
            else []
        )
        spec = services.CompetitionSpec(
            title=title,
            theme=theme,
            opens_at=_parse_time(opens) or utcnow(),
            closes_at=_parse_time(closes),
            time_limit_s=time_limit,
            attempts_allowed=attempts,
            reveal=reveal,
            multiple_scoring=multiple_scoring,
            free_units=free_units or not units,
            bank_ids=bank_ids,
            counts=_parse_draw(draw),
            points=_parse_draw(points),
            units=units,
        )
        comp = services.create_competition(organization.id, spec)
    except DomainError as err:
        raise click.ClickException(err.message) from err
    if as_json:
        click.echo(json.dumps(_competition_json(comp), ensure_ascii=False))
    else:
        click.echo(
            f"Created competition {comp.id}: {comp.title} "
            f"({comp.question_count} questions, {comp.time_limit_s} s)."
        )


@event_cli.command("create")
@click.argument("competition_id", type=int)
@click.option("--name", required=True)
@click.option("--venue", default="")
@click.option("--json", "as_json", is_flag=True)
def create_event(competition_id: int, name: str, venue: str, as_json: bool) -> None:
    """Create an on-site event; print its join and screen URLs."""
    try:
        event = services.create_event(competition_id, name, venue)
    except DomainError as err:
        raise click.ClickException(err.message) from err
    data = services.event_urls(event, base_url())
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        click.echo(
            f"Event {event.id}: {event.name}\n  join:   {data['join_url']}\n"
            f"  screen: {data['screen_url']}"
        )


@click.command("demo")
@click.option("--json", "as_json", is_flag=True)
def demo_command(as_json: bool) -> None:
    """Idempotently create a demo organization, organiser, competition and event."""
    try:
        data = create_demo()
    except DomainError as err:
        raise click.ClickException(err.message) from err
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    event = data["events"][0]
    click.echo(
        f"Organiser login: {data['organizer']['email']} / {data['organizer']['password']}"
        f"\nLogin page: {base_url()}/auth/login"
        f"\nJoin (QR):  {event['join_url']}\nScreen:     {event['screen_url']}"
    )


def create_demo() -> dict:
    """Create (or find) the demo objects; the organiser's password is reset to a fresh
    random one each run, so the printed login always works. Commits."""
    bank = bank_services.get_bank(bank_services.STARTER_BANK_NAME)
    org = get_or_create_organization(DEMO_ORG)
    password = secrets.token_urlsafe(9)
    user = db.session.scalar(select(User).where(User.email == DEMO_EMAIL))
    if user is None:
        user = User(email=DEMO_EMAIL, organization=org)
        db.session.add(user)
    user.set_password(password)
    db.session.commit()
    comp = db.session.scalar(
        select(Competition).where(
            Competition.organization_id == org.id, Competition.title == DEMO_TITLE
        )
    )
    if comp is None:
        units_path = Path(current_app.root_path) / "data" / "units-beijing-districts.csv"
        now = utcnow().replace(microsecond=0)
        comp = services.create_competition(
            org.id,
            services.CompetitionSpec(
                title=DEMO_TITLE,
                theme=DEMO_THEME,
                opens_at=now - timedelta(minutes=1),
                closes_at=now + timedelta(days=60),
                time_limit_s=600,
                bank_ids=[bank.id],
                counts={"single": 10, "multiple": 5, "judge": 5},
                points={"single": 5, "multiple": 5, "judge": 5},
                units=services.parse_units_file(units_path.read_bytes(), units_path.name),
            ),
        )
    event = db.session.scalar(select(Event).where(Event.competition_id == comp.id))
    if event is None:
        event = services.create_event(comp.id, "质量月主题活动现场", "示范会场")
    return {
        "organization": org.name,
        "organizer": {"email": DEMO_EMAIL, "password": password},
        "competition_id": comp.id,
        "events": [services.event_urls(event, base_url())],
    }
