"""Redis emptied or restarted under the app: the rankings come back from the database
(the same, no row twice, none missing), participants never notice, and the login and
unknown-token limits hold throughout as SECURITY.md says (per process while Redis is
down, shared again, counting afresh, once it is back).

Each test runs its own redis-server on a free loopback port, without persistence (so a
restart starts empty), killed afterwards however the test ends: the shared Redis on
6379 is never touched. The app runs in this process (conftest's ``app`` with its limits
and screen cache pointed at the private Redis) and, for the last test, under gunicorn.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from flask import g
from sqlalchemy import select

from quizapp import throttle
from quizapp.auth import services as auth_services
from quizapp.extensions import db, limiter
from quizapp.leaderboards import cache, screen, services
from quizapp.play.models import Attempt
from tests.conftest import correct_choice
from tests.faults.conftest import JsonClient, app_env, free_port

redis = pytest.importorskip("redis")
REDIS_SERVER = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS_SERVER is None, reason="needs redis-server")

PASSWORD = "correct-horse-1"  # conftest's make_user


class PrivateRedis:
    """A redis-server of this test's own on ``port``; ``kill`` and ``start`` again on the
    same port simulate a crash and a restart (empty: nothing is saved)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        assert self.port != 6379  # never the shared one
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None
        self.client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no", "--daemonize", "no"]
            + ["--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                return
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"redis-server on port {self.port} did not start"
                    ) from None
                time.sleep(0.02)

    def kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def keys(self, pattern: str) -> list[bytes]:
        return list(self.client.scan_iter(match=pattern))


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    try:
        server.start()
        yield server
    finally:
        server.kill()
        server.client.close()


@pytest.fixture
def app(app, private_redis, monkeypatch):
    """conftest's app, its rate limits, screen cache and rank index in the private Redis
    (what ``REDIS_URL`` does in production)."""
    app.config.update(
        REDIS_URL=private_redis.url,
        RATELIMIT_STORAGE_URI=private_redis.url,
        SCREEN_MIN_INTERVAL_S=0.0,  # a finished attempt shows at the next poll
    )
    limiter.init_app(app)  # again, now on the private Redis (the hooks are not added twice)
    app.extensions.pop("leaderboards_store", None)
    app.extensions.pop("rank_index", None)
    # conftest builds the schema with Alembic in this process, and migrations/env.py's
    # fileConfig disables the loggers that existed then (a web worker never runs it).
    for name in ("quizapp.ratelimit", cache.__name__):
        monkeypatch.setattr(logging.getLogger(name), "disabled", False)
    # Production tries Redis again 10 s after an error; the tests need not wait that long.
    monkeypatch.setattr(cache.RedisStore, "RETRY_AFTER_S", 0.3)
    monkeypatch.setattr(throttle, "RETRY_AFTER_S", 0.3)
    yield app
    app.extensions.pop("leaderboards_store", None)
    # The limiter is process-wide: never leave it on its in-memory fallback for the
    # tests that follow (a test that passes has seen it recover already).
    limiter._storage_dead = False


# --- helpers ------------------------------------------------------------------------------


def phone(i: int) -> str:
    return f"1390000{i:04d}"  # the masked form (139****NNNN) stays distinct


def wrong_choice(question: dict) -> str:
    if question["type"] == "judge":
        return "F" if correct_choice(question) == "T" else "T"
    return next(o["key"] for o in question["options"] if o["text"].startswith("wrong"))


def take_part(client, join_token: str, unit_id: int, name: str, number: str, right: int) -> str:
    """Join through the API, answer the first ``right`` questions correctly and the rest
    wrongly, submit; returns the attempt token. Every step must succeed."""
    r = client.post(
        f"/api/v1/events/{join_token}/attempts",
        json={"name": name, "phone": number, "unit_id": unit_id},
    )
    assert r.status_code == 201, r.get_data(as_text=True)
    attempt = r.get_json()["attempt"]
    for i, q in enumerate(attempt["questions"]):
        choice = correct_choice(q) if i < right else wrong_choice(q)
        r = client.put(
            f"/api/v1/attempts/{attempt['token']}/answers/{q['position']}", json={"choice": choice}
        )
        assert r.status_code == 200, r.get_data(as_text=True)
    r = client.post(f"/api/v1/attempts/{attempt['token']}/submit")
    assert r.status_code == 200, r.get_data(as_text=True)
    return attempt["token"]


def poll(client, screen_token: str) -> tuple[dict, str]:
    r = client.get(f"/api/v1/screens/{screen_token}")
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json(), r.headers["ETag"]


def ranking(body: dict) -> dict:
    """What a screen shows, without the clock."""
    return {k: v for k, v in body.items() if k != "server_now"}


def assert_matches_database(body: dict, competition_id: int, finished: int) -> None:
    """The screen's people are the database's ranking: every finished participant once
    (up to top N), ranks 1..n in order, nothing twice."""
    db.session.rollback()  # a fresh read of what the requests committed
    people = services.top_individuals(competition_id, limit=body["top_n"])
    expected = [(p.rank, services.mask_phone(p.phone), p.score) for p in people]
    db.session.rollback()
    top = body["top"]
    assert [(row["rank"], row["phone"], row["score"]) for row in top] == expected
    assert len(top) == min(finished, body["top_n"]) and body["submitted"] == finished
    assert [row["rank"] for row in top] == list(range(1, len(top) + 1))
    assert len({row["key"] for row in top}) == len({row["phone"] for row in top}) == len(top)
    assert len({unit["id"] for unit in body["units"]}) == len(body["units"])
    assert sum(unit["participants"] for unit in body["units"]) == finished


def count_computes(monkeypatch) -> list:
    computed = []
    real = screen.compute_board

    def counting(state):
        computed.append(state.competition_id)
        return real(state)

    monkeypatch.setattr(screen, "compute_board", counting)
    return computed


def login(client, email: str, password: str, address: str):
    # conftest runs all of a test's requests in one app context, so flask.g outlives a
    # request (a failed login's mark, the logged-in user); in production each request has
    # its own: start each login afresh.
    for name in ("login_failed", "_login_user"):
        g.pop(name, None)
    return client.post(
        "/auth/login",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def records(caplog, text: str, level: int | None = None) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if text in r.getMessage() and (level is None or r.levelno == level)
    ]


def seeded_event(make_event) -> dict:
    """An event (three units, top 10 on the screen) as plain values; the session's
    transaction is closed so that the requests are not kept waiting on it."""
    event = make_event()
    seed = {
        "cid": event.competition_id,
        "join": event.join_token,
        "screen": event.screen_token,
        "units": [u.id for u in event.competition.units],
    }
    db.session.commit()
    return seed


# --- 1. Redis emptied ---------------------------------------------------------------------


def test_flushall_rebuilds_the_rankings_from_the_database(
    app, client, private_redis, make_event, monkeypatch
):
    ev = seeded_event(make_event)
    for i in range(6):
        take_part(client, ev["join"], ev["units"][i % 3], f"选手{i}", phone(i), right=i)
    computed = count_computes(monkeypatch)

    before, etag = poll(client, ev["screen"])
    assert_matches_database(before, ev["cid"], finished=6)
    board_key = f"*meta:board:{ev['cid']}"
    assert private_redis.keys(board_key), "the board is cached in Redis"
    assert ranking(poll(client, ev["screen"])[0]) == ranking(before) and len(computed) == 1

    private_redis.client.flushall()
    assert private_redis.client.dbsize() == 0

    # The next poll rebuilds the board from the database: the same rankings (a screen
    # holding the old ETag is told nothing changed), cached in Redis again.
    after, etag_after = poll(client, ev["screen"])
    assert len(computed) == 2
    assert ranking(after) == ranking(before) and etag_after == etag
    assert_matches_database(after, ev["cid"], finished=6)
    assert private_redis.keys(board_key)
    r = client.get(f"/api/v1/screens/{ev['screen']}", headers={"If-None-Match": etag})
    assert r.status_code == 304
    # Another process (a store of its own, the same Redis) serves the rebuilt board as is.
    app.extensions.pop("leaderboards_store")
    assert ranking(poll(client, ev["screen"])[0]) == ranking(before) and len(computed) == 2

    # Attempts finishing afterwards show up, in their place, on the screen and in their
    # results: the rank index (emptied with the rest) is rebuilt from the database.
    assert not private_redis.keys(f"*rank*:{ev['cid']}:ready")
    tokens = [
        take_part(client, ev["join"], ev["units"][0], "后来者", phone(7), right=99),
        take_part(client, ev["join"], ev["units"][1], "又一位", phone(8), right=3),
    ]
    assert private_redis.keys(f"*rank*:{ev['cid']}:ready"), "the rank index is rebuilt"
    for token in tokens:
        result = client.get(f"/api/v1/attempts/{token}").get_json()["result"]
        attempt = db.session.scalar(select(Attempt).where(Attempt.token == token))
        assert (result["rank"], result["unit_rank"]) == services._counted(attempt)
    assert result["rank"] > 1
    latest, _ = poll(client, ev["screen"])
    assert_matches_database(latest, ev["cid"], finished=8)
    assert latest["top"][0]["phone"] == services.mask_phone(phone(7))
    assert latest["top"][0]["score"] == latest["competition"]["max_score"]
    assert client.get(f"/screen/{ev['screen']}").status_code == 200


# --- 2. Redis restarted -------------------------------------------------------------------


def test_redis_restart_participants_carry_on_and_login_limits_hold(
    app, client, private_redis, make_event, make_user, caplog, monkeypatch
):
    caplog.set_level(logging.INFO, logger="quizapp.ratelimit")
    make_user()
    ev = seeded_event(make_event)
    take_part(client, ev["join"], ev["units"][0], "先到者", phone(1), right=99)
    poll(client, ev["screen"])
    assert private_redis.keys(f"*meta:board:{ev['cid']}"), "the board is cached in Redis"
    assert login(client, "org@example.com", "wrong-password", "192.0.2.1").status_code == 200
    assert private_redis.keys("LIMITS*"), "the login limit counts in Redis"

    private_redis.kill()

    # Participants do not notice: join, save answers, submit, result, screen; the ranking
    # comes from the database.
    token = take_part(client, ev["join"], ev["units"][1], "断线时", phone(2), right=3)
    r = client.get(f"/api/v1/attempts/{token}")
    assert r.status_code == 200 and r.get_json()["result"]["score"] >= 0
    assert client.get(f"/a/{token}/result").status_code == 200
    assert client.get(f"/j/{ev['join']}").status_code == 200
    body, _ = poll(client, ev["screen"])
    assert_matches_database(body, ev["cid"], finished=2)
    assert client.get(f"/screen/{ev['screen']}").status_code == 200
    assert client.get(f"/a/{secrets.token_urlsafe(16)}").status_code == 404
    assert records(caplog, "screen cache: Redis unavailable", logging.WARNING)

    # Logins are served, and the limits hold, counted in this process's memory: ten
    # failures from an address, then 429 even with the right password; a successful
    # login from elsewhere works.
    for i in range(10):
        r = login(client, f"guess{i}@example.com", "wrong-password", "198.51.100.20")
        assert r.status_code == 200
    r = login(client, "org@example.com", PASSWORD, "198.51.100.20")
    assert r.status_code == 429 and r.headers.get("Retry-After")
    organiser = app.test_client()  # cookies of its own: `client` stays logged out
    assert login(organiser, "org@example.com", PASSWORD, "198.51.100.21").status_code == 302
    assert records(caplog, "Rate limit storage unreachable", logging.WARNING)

    # Redis is back (empty). Flask-Limiter tries it again 1, 2, 4 ... s after the failure,
    # at a request; wait until it says it has recovered.
    private_redis.start()
    deadline = time.monotonic() + 40
    while not records(caplog, "Rate limit storage recovered"):
        assert time.monotonic() < deadline, "the limiter never went back to Redis"
        assert client.get("/healthz").status_code == 200
        time.sleep(0.1)
    # Counting afresh, in Redis: the address refused a moment ago has ten failures again
    # (on the organiser's account); then both the address (another account) and the
    # account (another address, the right password) are refused.
    for _ in range(10):
        r = login(client, "org@example.com", "wrong-password", "198.51.100.20")
        assert r.status_code == 200
    assert login(client, "other@example.com", "wrong-password", "198.51.100.20").status_code == 429
    assert login(client, "org@example.com", PASSWORD, "203.0.113.9").status_code == 429
    assert private_redis.keys("LIMITS*"), "the login limits count in Redis again"

    # The screen cache is used again: the board is back in Redis, and another process
    # reads it from there without computing it.
    time.sleep(cache.RedisStore.RETRY_AFTER_S)
    take_part(client, ev["join"], ev["units"][2], "恢复后", phone(3), right=5)
    body, _ = poll(client, ev["screen"])
    assert_matches_database(body, ev["cid"], finished=3)
    assert private_redis.keys(f"*meta:board:{ev['cid']}")
    app.extensions.pop("leaderboards_store")
    monkeypatch.setattr(screen, "compute_board", lambda state: pytest.fail("recomputed"))
    assert ranking(poll(client, ev["screen"])[0]) == ranking(body)

    # Redis dies while a failed login is being handled: counting that failure in Redis
    # fails, the ERROR (with traceback) says so, and the request is served all the same.
    real_authenticate = auth_services.authenticate

    def redis_dies_meanwhile(email, password):
        private_redis.kill()
        return real_authenticate(email, password)

    monkeypatch.setattr(auth_services, "authenticate", redis_dies_meanwhile)
    assert login(client, "late@example.com", "wrong-password", "192.0.2.77").status_code == 200
    uncounted = records(caplog, "Failed to deduct rate limit", logging.ERROR)
    assert uncounted and all(record.exc_info for record in uncounted)
    assert not records(caplog, "unhandled error")


# --- 3. The unknown-token throttle --------------------------------------------------------


def test_unknown_token_throttle_holds_through_an_outage(
    app, client, private_redis, make_event, caplog, monkeypatch
):
    app.config["TOKEN_GUESS_LIMIT"] = "5/minute"
    monkeypatch.setattr(throttle, "RETRY_AFTER_S", 1.0)
    ev = seeded_event(make_event)
    guesser = {"REMOTE_ADDR": "203.0.113.50"}

    def guesses(n: int) -> list[int]:
        return [
            client.get(f"/j/{secrets.token_urlsafe(16)}", environ_base=guesser).status_code
            for _ in range(n)
        ]

    def known() -> int:
        return client.get(f"/j/{ev['join']}", environ_base=guesser).status_code

    assert guesses(6) == [404] * 5 + [429] and known() == 200
    assert private_redis.keys("*token-guess*"), "the throttle counts in Redis"

    # Redis down: the throttle counts in this process's memory (afresh), still refuses
    # the guesser after five, still serves the known token, and says so once.
    private_redis.kill()
    assert guesses(6) == [404] * 5 + [429] and known() == 200
    assert len(records(caplog, "unknown-token throttle: rate-limit storage unreachable")) == 1
    assert not records(caplog, "unhandled error")

    # Redis back (empty): after RETRY_AFTER_S the counts go to Redis again, afresh.
    private_redis.start()
    time.sleep(throttle.RETRY_AFTER_S)
    assert guesses(6) == [404] * 5 + [429] and known() == 200
    assert private_redis.keys("*token-guess*")


# --- 3b. Redis hanging instead of refusing ---------------------------------------------


def test_a_hung_redis_costs_a_timeout_not_the_request(
    app, client, private_redis, make_event, make_user
):
    """Redis stopped (SIGSTOP: connections open, nothing answers), as on a frozen host or a
    network partition: every request is answered within the clients' timeouts (0.5 s per
    Redis call) instead of waiting for Redis forever."""
    make_user()
    ev = seeded_event(make_event)
    poll(client, ev["screen"])
    assert login(client, "org@example.com", "wrong-password", "192.0.2.1").status_code == 200
    private_redis.proc.send_signal(signal.SIGSTOP)
    try:
        for _ in range(2):
            for path, call, status in (
                ("login", lambda: login(client, "org@example.com", "nope", "192.0.2.1"), 200),
                ("screen", lambda: client.get(f"/api/v1/screens/{ev['screen']}"), 200),
                ("guess", lambda: client.get(f"/j/{secrets.token_urlsafe(16)}"), 404),
                ("join page", lambda: client.get(f"/j/{ev['join']}"), 200),
            ):
                started = time.monotonic()
                assert call().status_code == status, path
                assert time.monotonic() - started < 4, path
    finally:
        private_redis.proc.send_signal(signal.SIGCONT)


# --- 4. The real server -------------------------------------------------------------------


def test_gunicorn_serves_through_a_redis_restart_and_logs_it(
    app, private_redis, make_event, make_user, database_url, gunicorn, tmp_path
):
    make_user()
    ev = seeded_event(make_event)
    server = gunicorn(app_env(database_url, tmp_path, REDIS_URL=private_redis.url), workers=1)
    phones = JsonClient(server.base)

    def take_part_over_http(name: str, number: str) -> None:
        r = phones.call(
            "POST",
            f"/api/v1/events/{ev['join']}/attempts",
            {"name": name, "phone": number, "unit_id": ev["units"][0]},
        )
        assert r.status == 201, r
        attempt = r.body["attempt"]
        for q in attempt["questions"]:
            path = f"/api/v1/attempts/{attempt['token']}/answers/{q['position']}"
            r = phones.call("PUT", path, {"choice": correct_choice(q)})
            assert r.status == 200, r
        assert phones.call("POST", f"/api/v1/attempts/{attempt['token']}/submit").status == 200
        r = phones.call("GET", f"/api/v1/attempts/{attempt['token']}")
        assert r.status == 200 and r.body["result"], r

    def failed_login() -> int:
        with JsonClient(server.base) as browser:
            page = browser.call("GET", "/auth/login").text
            csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
            assert csrf, page[:500]
            form = {"csrf_token": csrf[1], "email": "org@example.com", "password": "nope-nope"}
            return browser.http.post("/auth/login", data=form).status_code

    def screen_shows(submitted: int) -> None:
        """Within a poll plus SCREEN_MIN_INTERVAL_S (1 s) of the submit, as a screen sees it."""
        deadline = time.monotonic() + 5
        while True:
            r = phones.call("GET", f"/api/v1/screens/{ev['screen']}")
            assert r.status == 200, r
            if r.body["submitted"] == submitted:
                return
            assert time.monotonic() < deadline, r.body
            time.sleep(0.1)

    # A screen and a join page polled all along, from another thread.
    seen: list = []
    stop = threading.Event()

    def keep_polling() -> None:
        with JsonClient(server.base) as screen_client:
            while not stop.is_set():
                seen.append(screen_client.call("GET", f"/api/v1/screens/{ev['screen']}"))
                seen.append(screen_client.call("GET", f"/j/{ev['join']}"))
                time.sleep(0.02)

    poller = threading.Thread(target=keep_polling)
    poller.start()
    try:
        take_part_over_http("之前", phone(1))
        assert failed_login() == 200
        deadline = time.monotonic() + 10
        while not private_redis.keys(f"*meta:board:{ev['cid']}"):
            assert time.monotonic() < deadline, "the board never reached Redis"
            time.sleep(0.05)

        private_redis.kill()
        outage = len(seen)
        take_part_over_http("断线时", phone(2))
        assert failed_login() == 200
        screen_shows(2)
        time.sleep(0.3)
        during = len(seen) - outage

        private_redis.start()
        take_part_over_http("之后", phone(3))
        assert failed_login() == 200
        screen_shows(3)
    finally:
        stop.set()
        poller.join(10)
        phones.close()
        # Not a shutdown test: SIGKILL, since gunicorn's quick shutdown (SIGINT) now and then
        # hangs its gthread worker for the fixture's whole 10 s.
        os.killpg(server.pid, signal.SIGKILL)
        server.proc.wait(10)

    assert during >= 4, "the poller kept going through the outage"
    assert all(r.status == 200 for r in seen), [r for r in seen if r.status != 200][:5]
    log = server.log()
    assert "Rate limit storage unreachable - falling back to in-memory storage" in log
    assert "screen cache: Redis unavailable" in log
    assert "unhandled error" not in log
