"""``flask attempts close-overdue``."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from quizapp.play import services

attempts_cli = AppGroup("attempts", help="Maintain attempts.")


@attempts_cli.command("close-overdue")
def close_overdue() -> None:
    """Finalise every attempt past its deadline (safe to run from cron at any time)."""
    closed = services.close_overdue()
    click.echo(f"Closed {closed} overdue attempt(s).")
