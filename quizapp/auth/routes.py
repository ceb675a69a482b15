"""Organiser login and logout."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from quizapp.auth import services
from quizapp.auth.forms import LoginForm
from quizapp.extensions import limiter

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _failed() -> bool:
    return bool(g.get("login_failed"))


def _account_key() -> str:
    return "login:" + services.normalise_email(request.form.get("email", ""))


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
            form.password.errors.append(_("Wrong email or password."))
        else:
            session.clear()  # a fresh session at login: no fixation
            login_user(user, remember=form.remember.data)
            target = request.args.get("next", "")
            if not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
                target = url_for("competitions.index")
            return redirect(target)
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    services.end_sessions(current_user._get_current_object())
    logout_user()
    session.clear()
    flash(_("You have been logged out."), "info")
    return redirect(url_for("auth.login"))
