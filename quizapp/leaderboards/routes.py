"""The public event screen."""

from __future__ import annotations

from flask import Blueprint, render_template

from quizapp.dbtypes import utcnow
from quizapp.leaderboards import screen
from quizapp.web import base_url

bp = Blueprint("leaderboards", __name__)


@bp.get("/screen/<token>")
def screen_page(token: str):
    data, _etag = screen.screen_payload(token, utcnow())
    join_url = f"{base_url()}/j/{data['event']['join_token']}"
    return render_template("leaderboards/screen.html", data=data, token=token, join_url=join_url)
