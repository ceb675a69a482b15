"""Locale and timezone selection for Flask-Babel."""

from __future__ import annotations

from flask import current_app, request, session
from werkzeug.datastructures import LanguageAccept


def select_locale() -> str:
    """``?lang=`` (remembered in the session), then the session, then the browser's
    Accept-Language, then Simplified Chinese."""
    languages = current_app.config["LANGUAGES"]
    try:
        wanted = request.args.get("lang")
    except RuntimeError:  # outside a request (CLI)
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if wanted in languages:
        session["lang"] = wanted
        return wanted
    if session.get("lang") in languages:
        return session["lang"]
    return browser_locale(request.accept_languages, current_app.config)


def browser_locale(accept_languages: LanguageAccept, config) -> str:
    """The locale for a browser that chose none on this site: its Accept-Language's
    best match among ``LANGUAGES``, else the default (Simplified Chinese)."""
    return accept_languages.best_match(config["LANGUAGES"]) or config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]
