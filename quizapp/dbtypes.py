"""Column types and small helpers shared by every feature's models."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import DateTime, TypeDecorator


def utcnow() -> datetime:
    """The server's clock, timezone-aware UTC. Services take ``now`` as a parameter
    defaulting to this, so tests fix time instead of sleeping."""
    return datetime.now(UTC)


def new_token() -> str:
    """An unguessable URL token: 128 bits of randomness, 22 URL-safe characters."""
    return secrets.token_urlsafe(16)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC, on SQLite and PostgreSQL alike.

    Refuses naive datetimes on the way in: a naive time is ambiguous, and the
    rules that make results trustworthy depend on comparing instants exactly.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC)
