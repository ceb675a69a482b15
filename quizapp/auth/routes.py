"""Organiser login and logout."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from quizapp.auth import services
from quizapp.auth.forms import LoginForm
from quizapp.extensions import limiter

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _failed() -> bool:
    return bool(g.get("login_failed"))


def _account_key() -> str:
    return "login:" + services.normalise_email(request.form.get("email", ""))[:254]


def _local_target(target: str) -> str:
    """``target`` when it is a path on this site, else the competitions page. Browsers
    read a backslash as a slash and drop tabs and newlines, so "/\\evil.example" and
    "/\\t/evil.example" would leave the site: any of those characters refuses it."""
    if (
        not target.startswith("/")
        or target.startswith("//")
        or any(ch == "\\" or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target)
        or urlsplit(target).netloc
    ):
        return url_for("competitions.index")
    return target


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10/minute", methods=["POST"], deduct_when=lambda _r: _failed())
@limiter.limit(
    "10/minute", methods=["POST"], key_func=_account_key, deduct_when=lambda _r: _failed()
)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("competitions.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            g.login_failed = True
            current_app.logger.warning(
                "failed login for %r from %s", form.email.data[:254], request.remote_addr
            )
            form.password.errors.append(_("Wrong email or password."))
        else:
            session.clear()  # a fresh session at login: no fixation
            login_user(user, remember=form.remember.data)
            current_app.logger.info("login of user %d from %s", user.id, request.remote_addr)
            return redirect(_local_target(request.args.get("next", "")))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    services.end_sessions(current_user._get_current_object())
    logout_user()
    session.clear()
    flash(_("You have been logged out."), "info")
    return redirect(url_for("auth.login"))
