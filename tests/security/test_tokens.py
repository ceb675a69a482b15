"""Join, attempt, screen and certificate tokens: 128 random bits each, so guessing finds
nothing; and guessing over HTTP is throttled per address without ever refusing a known
token, so three hundred phones behind one venue address are never locked out.
"""

from __future__ import annotations

import base64
import re
import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

from quizapp.dbtypes import new_token
from quizapp.errors import NotFound
from quizapp.extensions import db

GUESSES = 100_000
BATCH = 5_000
TOKEN = re.compile(r"[A-Za-z0-9_-]{22}")
VENUE = {"REMOTE_ADDR": "203.0.113.50"}


def _columns():
    from quizapp.banks.models import PendingImport
    from quizapp.competitions.models import Event
    from quizapp.play.models import Attempt

    return {
        "join": Event.join_token,
        "screen": Event.screen_token,
        "attempt": Attempt.token,
        "certificate": Attempt.certificate_token,
        "import": PendingImport.token,
    }


@pytest.fixture
def issued(app, make_event, make_user, now):
    """Live tokens of every kind: events, attempts, certificates, a staged import."""
    from quizapp.banks import manage
    from quizapp.competitions.models import Competition
    from quizapp.play import services
    from quizapp.reports import certificates

    events = [make_event(name=f"会场{i}") for i in range(3)]
    for event in events:
        db.session.get(Competition, event.competition_id).certificate_min_score = 0
    db.session.commit()
    attempts = []
    for i in range(12):
        event = events[i % 3]
        attempt, _ = services.join(
            event.join_token,
            name=f"选手{i}",
            phone=f"139{i:08d}",
            unit_id=event.competition.units[0].id,
            now=now,
        )
        if i % 2:
            services.submit(attempt.token, now)
            certificates.issue_token(attempt.id)
        attempts.append(attempt.token)
    user = make_user()
    csv = "题型,题干,选项A,选项B,答案\n单选,题,甲,乙,A\n".encode()
    manage.stage_import(user, "暂存", "a.csv", csv, max_rows=10)
    db.session.commit()
    tokens = {
        kind: [t for t in db.session.scalars(select(col)) if t] for kind, col in _columns().items()
    }
    assert all(tokens.values()), tokens
    return tokens


def test_tokens_carry_128_random_bits(issued):
    fresh = [new_token() for _ in range(10_000)]
    assert len(set(fresh)) == len(fresh)
    for token in fresh[:100]:
        assert TOKEN.fullmatch(token)
        assert len(base64.urlsafe_b64decode(token + "==")) == 16  # 128 bits
    for kind, tokens in issued.items():
        assert all(TOKEN.fullmatch(t) for t in tokens), kind
    every = [t for tokens in issued.values() for t in tokens]
    assert len(set(every)) == len(every)  # no token serves two purposes


def test_100000_random_guesses_find_nothing(issued):
    """100,000 guesses shaped like real tokens, each looked up in every token column
    (one query per batch and column)."""
    columns = _columns()
    found = 0
    for _batch in range(GUESSES // BATCH):
        batch = [secrets.token_urlsafe(16) for _ in range(BATCH)]
        for column in columns.values():
            found += len(db.session.scalars(select(column).where(_among(column, batch))).all())
    assert found == 0
    # The same query does find real tokens: the search above could have succeeded.
    for kind, column in columns.items():
        hits = db.session.scalars(select(column).where(_among(column, issued[kind]))).all()
        assert sorted(hits) == sorted(issued[kind])


def _among(column, values: list[str]):
    """``column IN values``; on PostgreSQL as ``= ANY(array)``, one parameter instead of
    thousands."""
    if db.engine.dialect.name == "postgresql":
        return column == any_(bindparam("values", values, type_=ARRAY(String)))
    return column.in_(values)


def _near_misses(token: str) -> list[str]:
    """Strings an exact lookup must not confuse with ``token``."""
    return [
        token.swapcase(),
        token.upper(),
        token[:-1],
        token[1:],
        token + "A",
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        token[:8],
        token[:8] + "%",
        token[:8] + "*",
        " " + token,
        token + " ",
        token + "\x00",
        "",
        "%",
        "_" * 22,
        "' OR '1'='1",
    ]


def test_lookups_match_exactly(issued, app):
    """Case, prefixes, wildcards, padding and SQL quotes: never a hit through the
    service lookups that the participant pages and the API use."""
    from quizapp.play import services
    from quizapp.reports import certificates

    lookups = {
        "join": services.event_by_join_token,
        "attempt": services.attempt_by_token,
        "certificate": certificates.verify,
    }
    for kind, lookup in lookups.items():
        for token in issued[kind]:
            for guess in _near_misses(token):
                if "\x00" in guess and db.engine.dialect.name == "postgresql":
                    continue  # refused before any lookup (test_malformed_tokens_are_404)
                with pytest.raises(NotFound):
                    lookup(guess)
                db.session.rollback()


def test_malformed_tokens_are_404_before_any_lookup(client):
    for path in ("/j/", "/a/", "/screen/", "/api/v1/attempts/", "/api/v1/screens/"):
        for token in ("%00abc", "a%25b", "x" * 65, "a.b", "%E4%B8%AD"):
            assert client.get(path + token).status_code == 404, path + token


def _guess_urls():
    token = secrets.token_urlsafe(16)
    return [
        f"/j/{token}",
        f"/a/{token}",
        f"/screen/{token}",
        f"/api/v1/attempts/{token}",
        f"/api/v1/screens/{token}",
        f"/api/v1/events/{token}",
    ]


def test_a_guesser_is_throttled_per_address(app, client, issued):
    """Sixty unknown tokens a minute from one address, then 429 (an error page for
    pages, the API's error shape for the API); other addresses are not affected, a
    forged X-Forwarded-For does not reset the count, and known tokens still work."""
    guesser = {"REMOTE_ADDR": "198.51.100.66", "HTTP_X_FORWARDED_FOR": "10.0.0.1"}
    statuses = []
    while len(statuses) < 60:
        statuses += [client.get(u, environ_base=guesser).status_code for u in _guess_urls()]
    assert set(statuses[:60]) == {404}
    for url in _guess_urls():
        r = client.get(url, environ_base=guesser | {"HTTP_X_FORWARDED_FOR": secrets.token_hex(4)})
        assert r.status_code == 429, url
        assert r.headers["Retry-After"]
        assert r.headers["Content-Security-Policy"]
        if url.startswith("/api/"):
            assert r.json["error"]["code"] == "rate_limited"
        else:
            assert "<html" in r.get_data(as_text=True)
    other = client.get(_guess_urls()[0], environ_base={"REMOTE_ADDR": "198.51.100.67"})
    assert other.status_code == 404
    assert client.get(f"/j/{issued['join'][0]}", environ_base=guesser).status_code == 200
    assert (
        client.get(f"/api/v1/attempts/{issued['attempt'][0]}", environ_base=guesser).status_code
        == 200
    )
    assert client.get(f"/screen/{issued['screen'][0]}", environ_base=guesser).status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_address_counts(app, client):
    """With TRUSTED_PROXIES=1 the client address is the proxy's X-Forwarded-For entry, so
    two people behind one load balancer have separate counts."""
    from quizapp import create_app

    proxied = create_app({**app.config, "TRUSTED_PROXIES": 1})
    proxied.test_client_class = type(client)
    web = proxied.test_client()
    with proxied.app_context():
        first = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.1"}
        second = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.2"}
        for _ in range(10):
            for url in _guess_urls():
                web.get(url, environ_base=first)
        assert web.get(_guess_urls()[0], environ_base=first).status_code == 429
        assert web.get(_guess_urls()[0], environ_base=second).status_code == 404


def _phone(app, event, units: list[int], i: int) -> None:
    """One participant's phone at the venue: join, answer; one in ten also opens the join
    page, submits, reads the result and polls the screen."""
    phone = app.test_client()
    if i % 10 == 0:
        assert phone.get(f"/j/{event['join']}", environ_base=VENUE).status_code == 200
    joined = phone.post(
        f"/api/v1/events/{event['join']}/attempts",
        json={"name": f"观众{i}", "phone": f"137{i:08d}", "unit_id": units[i % len(units)]},
        environ_base=VENUE,
    )
    assert joined.status_code == 201, joined.get_data(as_text=True)
    attempt = joined.json["attempt"]
    first = attempt["questions"][0]
    choice = "T" if first["type"] == "judge" else first["options"][0]["key"]
    saved = phone.put(
        f"/api/v1/attempts/{attempt['token']}/answers/{first['position']}",
        json={"choice": choice},
        environ_base=VENUE,
    )
    assert saved.status_code == 200
    if i % 10 == 0:
        token = attempt["token"]
        assert phone.post(f"/api/v1/attempts/{token}/submit", environ_base=VENUE).status_code == 200
        assert phone.get(f"/a/{token}/result", environ_base=VENUE).status_code == 200
        screen = phone.get(f"/api/v1/screens/{event['screen']}", environ_base=VENUE)
        assert screen.status_code == 200


def test_three_hundred_phones_behind_one_address_are_never_limited(app, client, make_event):
    """A venue: 300 phones share one public address and join and answer at once, while
    someone at the same address guesses tokens all along. The guesser is
    throttled; no phone ever sees 429."""
    from quizapp.competitions.models import Competition

    made = make_event()
    event = {"join": made.join_token, "screen": made.screen_token}
    units = [u.id for u in db.session.get(Competition, made.competition_id).units]
    db.session.commit()

    def guess_all() -> list[int]:
        guesser = app.test_client()
        return [
            guesser.get(_guess_urls()[i % 6], environ_base=VENUE).status_code for i in range(300)
        ]

    # SQLite runs one writer at a time anyway; PostgreSQL gains from the parallel phones.
    workers = 6 if db.engine.dialect.name == "postgresql" else 2
    with ThreadPoolExecutor(max_workers=workers) as pool:
        guessing = pool.submit(guess_all)
        phones = [pool.submit(_phone, app, event, units, i) for i in range(300)]
        for done in phones:
            done.result()  # re-raises a phone's failed assertion
        guesses = guessing.result()
    assert guesses[:60] == [404] * 60
    assert set(guesses[60:]) == {429}
