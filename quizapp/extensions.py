"""Extension singletons, bound to the app in ``create_app``."""

from __future__ import annotations

import logging

from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints so that migrations can alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()


class _Limiter(Limiter):
    """Flask-Limiter, leaving the participant JSON API alone.

    The API carries no limits (a venue shares one address; unknown tokens are throttled
    by quizapp.throttle), so its requests skip Flask-Limiter's before-request check: its
    exemption and meta-limit evaluation cost ~0.02 ms of every answer save
    (bench/profile_hot_paths.py). Limits declared on views (``@limiter.limit``) are
    checked by their decorator (``in_middleware=False``) as before.
    """

    def _check_request_limit(self, callable_name=None, in_middleware=True) -> None:
        if in_middleware and request.blueprint == "api":
            return
        super()._check_request_limit(callable_name, in_middleware)


# No default limits: participant paths must never lock out a venue behind one IP.
# When the limit storage (Redis) stops answering, the limits count in this process's
# memory, as they do without REDIS_URL, until it answers again (Flask-Limiter checks it
# after 1, 2, 4 ... 32 s); a hit that could not be counted at all is logged and the
# request served, never answered with a 500 (SECURITY.md, "What is logged").
limiter = _Limiter(
    key_func=get_remote_address,
    default_limits=[],
    in_memory_fallback_enabled=True,
    swallow_errors=True,
    storage_options={"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
)


# Flask-Limiter's own log lines go where the app's go: its "flask-limiter" logger has
# only a NullHandler, so under gunicorn they would be lost.
limiter.logger = logging.getLogger("quizapp.ratelimit")
