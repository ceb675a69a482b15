"""The join page (what the QR code opens) is rendered once per event, language and open or
not, and kept with the event's set-up data; each phone gets that page with its own CSRF
token filled in (quizapp.play.routes.join_page). These tests hold the kept page to the
full render byte for byte, and check that every phone's token is its own and works."""

from __future__ import annotations

import re
from datetime import timedelta

import flask_babel
import pytest
from flask import g

from quizapp.competitions import services as competitions
from quizapp.extensions import db
from quizapp.setup_cache import setup_cache

_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _phone(app):
    """A phone that has not been here before (no cookie). The test client's requests share
    the ``app`` fixture's app context, where Flask-WTF keeps the token it generated (in
    ``g``) and Flask-Babel the locale it chose; a server gives each request its own, so
    each phone starts without them here."""
    g.pop("csrf_token", None)
    flask_babel.refresh()
    return app.test_client()


def _phone_get(app, url, **kwargs):
    return _phone(app).get(url, **kwargs)


def _token(page: str) -> str:
    found = _TOKEN.findall(page)
    assert len(found) == 1, found
    return found[0]


def _full_then_kept(app, url, **kwargs):
    """The page rendered in full (nothing kept), then the same page from what was kept,
    each for a new phone."""
    setup_cache().clear()
    full = _phone_get(app, url, **kwargs)
    kept = _phone_get(app, url, **kwargs)
    return full, kept


def _same_but_token(full, kept) -> None:
    assert (full.status_code, kept.status_code) == (200, 200)
    a, b = full.get_data(as_text=True), kept.get_data(as_text=True)
    ta, tb = _token(a), _token(b)
    assert ta != tb  # each phone's own
    assert a.replace(ta, "T") == b.replace(tb, "T")
    strip = {"Set-Cookie", "Content-Length"}
    assert [h for h in full.headers if h[0] not in strip] == [
        h for h in kept.headers if h[0] not in strip
    ]
    assert "Set-Cookie" in kept.headers and len(a) == len(b)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"headers": {"Accept-Language": "en-US,en;q=0.9"}},
        {"headers": {"Accept-Language": "zh-CN,zh;q=0.9"}},
        {"query_string": {"lang": "en"}},
    ],
    ids=["default", "accept-en", "accept-zh", "lang-en"],
)
def test_the_kept_page_is_the_full_render_byte_for_byte(app, csrf, make_event, kwargs):
    event = make_event()
    full, kept = _full_then_kept(app, f"/j/{event.join_token}", **kwargs)
    _same_but_token(full, kept)
    page = kept.get_data(as_text=True)
    assert "东城区" in page and 'name="unit_id"' in page
    english = "en" in str(kwargs)
    assert ("Start the quiz" in page) is english and ("开始答题" in page) is not english


def test_units_typed_in_elder_default_and_closed_competitions_too(
    app, csrf, make_competition, make_event, now
):
    free = make_event(make_competition(free_units=True, title="自填单位赛"))
    full, kept = _full_then_kept(app, f"/j/{free.join_token}")
    _same_but_token(full, kept)
    assert 'list="unit-list"' in kept.get_data(as_text=True)

    elder = competitions.create_event(
        make_competition(title="长辈赛").id, "长辈场", elder_default=True
    )
    full, kept = _full_then_kept(app, f"/j/{elder.join_token}")
    _same_but_token(full, kept)
    assert "data-elder-default" in kept.get_data(as_text=True)

    later = make_competition(
        opens_at=now + timedelta(days=1), closes_at=now + timedelta(days=2), title="未开始"
    )
    later = make_event(later)
    full, kept = _full_then_kept(app, f"/j/{later.join_token}")
    _same_but_token(full, kept)
    assert "flash-warning" in kept.get_data(as_text=True)


def test_a_page_kept_while_open_is_not_shown_once_closed(app, make_event, now, monkeypatch):
    event = make_event()
    url = f"/j/{event.join_token}"
    assert "flash-warning" not in app.test_client().get(url).get_data(as_text=True)
    assert "flash-warning" not in app.test_client().get(url).get_data(as_text=True)
    monkeypatch.setattr("quizapp.play.routes.utcnow", lambda: now + timedelta(days=2))
    assert "flash-warning" in app.test_client().get(url).get_data(as_text=True)


def test_an_edit_shows_on_the_next_page(app, client, make_event):
    event = make_event()
    url = f"/j/{event.join_token}"
    client.get(url)
    assert "改过的名字" not in client.get(url).get_data(as_text=True)
    event.name = "改过的名字"
    db.session.commit()  # a set-up commit empties this process's set-up cache
    assert "改过的名字" in client.get(url).get_data(as_text=True)


def test_each_phones_token_is_its_own_and_lets_it_join(app, csrf, make_event):
    event = make_event()
    url = f"/j/{event.join_token}"
    unit = str(event.competition.units[0].id)
    phones, tokens = [], []
    for _ in range(3):
        phones.append(_phone(app))
        tokens.append(_token(phones[-1].get(url).get_data(as_text=True)))
    assert len(set(tokens)) == 3
    # Another phone's token is refused (it is bound to that phone's session).
    form = {"name": "王五", "phone": "13700000000", "unit_id": unit}
    r = phones[0].post(url, data={**form, "csrf_token": tokens[1]})
    assert r.status_code == 400
    for i, (phone, token) in enumerate(zip(phones, tokens, strict=True)):
        form = {"name": f"王{i}", "phone": f"1370000000{i}", "unit_id": unit}
        r = phone.post(url, data={**form, "csrf_token": token})
        assert r.status_code == 302 and "/a/" in r.headers["Location"]


def test_a_message_to_show_once_gets_the_full_page(app, client, make_event):
    event = make_event()
    url = f"/j/{event.join_token}"
    client.get(url)  # kept now
    with client.session_transaction() as session:
        session["_flashes"] = [("warning", "<b>只显示一次</b>")]
    page = client.get(url).get_data(as_text=True)
    assert "&lt;b&gt;只显示一次&lt;/b&gt;" in page
    assert "只显示一次" not in client.get(url).get_data(as_text=True)


def test_each_language_has_its_own_kept_page(app, make_event):
    url = f"/j/{make_event().join_token}"
    for _ in range(2):
        assert "开始答题" in _phone_get(app, url).get_data(as_text=True)
        english = _phone_get(app, url, headers={"Accept-Language": "en"})
        assert "Start the quiz" in english.get_data(as_text=True)
