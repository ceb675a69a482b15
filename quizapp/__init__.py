"""Quality Month quiz platform: the application factory."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from quizapp import config as config_module
from quizapp.extensions import babel, csrf, db, limiter, login_manager


def create_app(config: dict[str, Any] | None = None, *, cli: bool = True) -> Flask:
    """Build the app: configuration, extensions, blueprints, commands. Wiring only.

    ``cli=False`` (the WSGI entry point) leaves out the command-line commands and the
    migration machinery (Alembic, openpyxl for imports): web workers stay smaller.
    """
    from quizapp.web import QuizFlask

    app = QuizFlask(
        __name__,
        instance_path=os.environ.get("INSTANCE_PATH") or None,
        instance_relative_config=True,
    )
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(config_module.from_environment(app.instance_path))
    if config:
        app.config.update(config)
    _json_engine_options(app)
    _sqlite_engine_options(app)
    from quizapp.play import fast_save

    fast_save.init_app(app)  # inside ProxyFix: it sees the request's scheme
    if app.config.get("TRUSTED_PROXIES"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    db.init_app(app)
    if cli:
        from flask_migrate import Migrate

        Migrate(
            app,
            db,
            directory=os.path.join(os.path.dirname(app.root_path), "migrations"),
            render_as_batch=True,
            compare_type=True,
        )
    csrf.init_app(app)
    from quizapp import signing

    # Templates' csrf_token() signs without zlib; Flask-WTF sets it as a global and in a
    # context processor, which this later one overrides.
    app.jinja_env.globals["csrf_token"] = signing.generate_csrf
    app.context_processor(lambda: {"csrf_token": signing.generate_csrf})
    limiter.init_app(app)
    login_manager.init_app(app)
    from quizapp import i18n, web

    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone)
    with app.app_context():
        _configure_sqlite(app)
        _configure_pool_ping(app)

    _register_models()
    _register_blueprints(app)
    if cli:
        _register_commands(app)
    from quizapp.errors import register_error_handlers

    register_error_handlers(app)
    web.init_app(app)
    return app


def _json_engine_options(app: Flask) -> None:
    """JSON columns and parameters in orjson (quizapp.jsonio), unless configured."""
    from quizapp import jsonio

    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **jsonio.engine_options(),
        **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
    }


def _sqlite_engine_options(app: Flask) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return
    from quizapp import sqlite_writer

    # Flask-SQLAlchemy reads a relative SQLite path from the instance folder.
    database = os.path.join(app.instance_path, url.database)
    options = sqlite_writer.engine_options(database, app.config["SQLITE_BUSY_TIMEOUT_MS"])
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
        **app.config.get("SQLALCHEMY_ENGINE_OPTIONS", {}),
        **options,
    }


def _register_models() -> None:
    # Imported for their side effect of declaring tables on db.metadata.
    from quizapp.auth import models as _auth  # noqa: F401
    from quizapp.banks import models as _banks  # noqa: F401
    from quizapp.competitions import models as _competitions  # noqa: F401
    from quizapp.play import models as _play  # noqa: F401


def _register_blueprints(app: Flask) -> None:
    from quizapp.api.routes import bp as api_bp
    from quizapp.auth.routes import bp as auth_bp
    from quizapp.banks.routes import bp as banks_bp
    from quizapp.competitions.routes import bp as competitions_bp
    from quizapp.leaderboards.routes import bp as leaderboards_bp
    from quizapp.play.routes import bp as play_bp
    from quizapp.reports.routes import bp as reports_bp

    for bp in (auth_bp, banks_bp, competitions_bp, play_bp, leaderboards_bp, reports_bp, api_bp):
        app.register_blueprint(bp)
    csrf.exempt(api_bp)


def _register_commands(app: Flask) -> None:
    from quizapp.auth.cli import user_cli
    from quizapp.banks.cli import bank_cli
    from quizapp.competitions.cli import competition_cli, demo_command, event_cli
    from quizapp.play.cli import attempts_cli

    for group in (user_cli, bank_cli, competition_cli, event_cli, attempts_cli):
        app.cli.add_command(group)
    app.cli.add_command(demo_command)


def _configure_pool_ping(app: Flask) -> None:
    """Database servers (not SQLite files): ping connections that sat idle
    (see quizapp.pool_ping)."""
    engine = db.engine
    if engine.dialect.name == "sqlite":
        return
    from quizapp import pool_ping

    pool_ping.configure(engine, app.config["DB_PING_IDLE_S"])


def _configure_sqlite(app: Flask) -> None:
    """WAL, a busy timeout, foreign keys and queued BEGIN IMMEDIATE for SQLite
    (see quizapp.sqlite_writer)."""
    engine = db.engine
    if engine.dialect.name != "sqlite":
        return
    from quizapp import sqlite_writer

    factory = app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {}).get("factory")
    sqlite_writer.configure(
        engine,
        app.config["SQLITE_BUSY_TIMEOUT_MS"],
        app.config["SQLITE_CHECKPOINT_S"],
        getattr(factory, "queue", None),
    )
