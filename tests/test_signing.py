"""Session cookies and CSRF tokens are signed without zlib (quizapp.signing): a phone's join
page and quiz page never call ``zlib.compress``, what was signed before (compressed or with
an older key) still loads, and the tokens work in the forms as before."""

from __future__ import annotations

import re
import zlib

import pytest
from flask import g
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import generate_csrf as flask_wtf_generate_csrf
from flask_wtf.csrf import validate_csrf
from itsdangerous import url_safe

from quizapp.signing import UncompressedSerializer

_TOKEN = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


@pytest.fixture
def compressions(monkeypatch):
    """The calls of zlib.compress meanwhile (itsdangerous's serializers call it)."""
    calls = []
    real = zlib.compress

    def compress(data, *args, **kwargs):
        calls.append(data)
        return real(data, *args, **kwargs)

    monkeypatch.setattr(zlib, "compress", compress)
    assert url_safe.zlib is zlib  # the module itsdangerous calls
    return calls


def _new_phone(app):
    g.pop("csrf_token", None)  # each request of a server has its own g (see test_join_page_kept)
    return app.test_client()


def _cookie_payload(client, app) -> str:
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    return cookie.value


def test_a_phone_joins_and_opens_its_quiz_without_zlib(app, make_event, csrf, compressions):
    event = make_event()
    phone = _new_phone(app)
    page = phone.get(f"/j/{event.join_token}").get_data(as_text=True)
    token = _TOKEN.search(page).group(1)
    assert not token.startswith(".")  # never compressed
    assert not _cookie_payload(phone, app).startswith(".")
    g.pop("csrf_token", None)  # a request of its own
    response = phone.post(
        f"/j/{event.join_token}",
        data={
            "csrf_token": token,
            "name": "李四",
            "phone": "13800000021",
            "unit_id": event.competition.units[0].id,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    g.pop("csrf_token", None)
    quiz = phone.get(response.headers["Location"])
    assert quiz.status_code == 200
    assert _TOKEN.search(quiz.get_data(as_text=True))  # its submit form's token
    assert compressions == []


def test_the_join_form_refuses_a_forged_token(app, make_event, csrf):
    event = make_event()
    phone = _new_phone(app)
    phone.get(f"/j/{event.join_token}")
    response = phone.post(
        f"/j/{event.join_token}",
        data={"csrf_token": "forged", "name": "李四", "phone": "13800000022"},
    )
    assert response.status_code in (400, 422)


def test_tokens_signed_either_way_validate(app):
    with app.test_request_context():
        from quizapp.signing import generate_csrf

        ours = generate_csrf()
        validate_csrf(ours)  # raises if not valid
        g.pop("csrf_token")
        theirs = flask_wtf_generate_csrf()  # Flask-WTF's own, same session secret
        validate_csrf(theirs)


def test_cookies_signed_before_still_load(app):
    """A session cookie that Flask's own serializer compressed, and one signed with a key
    that has since moved to SECRET_KEY_FALLBACKS, both load."""
    data = {"lang": "en", "csrf_token": "a" * 200}  # long and repetitive: compresses
    flask_own = SecureCookieSessionInterface().get_signing_serializer(app)
    compressed = flask_own.dumps(data)
    assert compressed.startswith(".")
    serializer = app.session_interface.get_signing_serializer(app)
    assert isinstance(serializer, UncompressedSerializer)
    assert serializer.loads(compressed) == data
    assert not serializer.dumps(data).startswith(".")

    old_key_cookie = serializer.dumps(data)
    app.config["SECRET_KEY_FALLBACKS"] = [app.secret_key]
    app.secret_key = app.config["SECRET_KEY"] = "a new key"
    rotated = app.session_interface.get_signing_serializer(app)
    assert rotated.loads(old_key_cookie) == data
    assert rotated.loads(rotated.dumps(data)) == data

    client = app.test_client()
    client.set_cookie(app.config["SESSION_COOKIE_NAME"], old_key_cookie)
    with client.session_transaction() as session:
        assert session["lang"] == "en"
