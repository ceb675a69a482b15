"""Organiser accounts: creation and authentication."""

from __future__ import annotations

import secrets
import unicodedata
from functools import cache

from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from quizapp.auth.models import Organization, User
from quizapp.errors import Conflict, InvalidField, NotFound
from quizapp.extensions import db

MIN_PASSWORD_LENGTH = 8


def normalise_email(email: str) -> str:
    return unicodedata.normalize("NFKC", email or "").strip().lower()


def normalise_name(name: str) -> str:
    """NFKC and collapsed whitespace, so 'ａｄｍｉｎ ' and 'admin' are one name; control
    and invisible format characters (NUL, zero-width space, bidi marks) are dropped, so
    'admin\u200b' is 'admin' too and no name can hide text or break a database."""
    text = unicodedata.normalize("NFKC", name or "")
    text = "".join(
        ch for ch in text if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    return " ".join(text.split())


def get_or_create_organization(name: str) -> Organization:
    """The organization called ``name`` (normalised), created if needed. Flushes, no commit."""
    name = normalise_name(name)
    if not name:
        raise InvalidField("organization name is empty", field="org")
    org = db.session.scalar(select(Organization).where(Organization.name == name))
    if org is None:
        org = Organization(name=name)
        db.session.add(org)
        db.session.flush()
    return org


def find_organization(name: str) -> Organization:
    """Raises NotFound when no organization has that name."""
    org = db.session.scalar(select(Organization).where(Organization.name == normalise_name(name)))
    if org is None:
        raise NotFound(f"no organization named {name!r}")
    return org


def create_user(email: str, password: str, org_name: str, *, is_admin: bool = False) -> User:
    """Create an organiser (or admin) in ``org_name``, creating the organization if new.

    Raises InvalidField for a malformed email or short password, Conflict when the
    email is taken. Commits.
    """
    email = normalise_email(email)
    if "@" not in email or email.startswith("@") or email.endswith("@") or " " in email:
        raise InvalidField(f"not an email address: {email!r}", field="email")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidField(
            f"password must have at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict(f"a user with email {email} already exists", field="email")
    org = get_or_create_organization(org_name)
    user = User(email=email, organization=org, is_admin=is_admin)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


@cache
def _unknown_user_hash() -> str:
    """A real hash of a random password: checking against it costs what checking a
    real account's password costs."""
    return generate_password_hash(secrets.token_hex(16))


def authenticate(email: str, password: str) -> User | None:
    """The user with these credentials, or None. Hashes even for an unknown email so
    the response time does not reveal which emails exist."""
    user = db.session.scalar(select(User).where(User.email == normalise_email(email)))
    if user is None:
        check_password_hash(_unknown_user_hash(), password)
        return None
    return user if user.check_password(password) else None


def end_sessions(user: User) -> None:
    """Invalidate every session cookie of ``user`` (logout everywhere). Commits."""
    user.session_version += 1
    db.session.commit()
