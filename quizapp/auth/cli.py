"""``flask user create``."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from quizapp.auth import services
from quizapp.errors import DomainError

user_cli = AppGroup("user", help="Manage organiser accounts.")


@user_cli.command("create")
@click.argument("email")
@click.option("--org", required=True, help="Organization name (created if new).")
@click.option("--admin", is_flag=True, help="Give the user access to every organization.")
@click.password_option(help="Password (prompted when not given).")
def create(email: str, org: str, admin: bool, password: str) -> None:
    """Create an organiser account."""
    try:
        user = services.create_user(email, password, org, is_admin=admin)
    except DomainError as err:
        raise click.ClickException(err.message) from err
    role = "admin" if user.is_admin else "organiser"
    click.echo(f"Created {role} {user.email} in {user.organization.name}.")
