"""A gunicorn worker is SIGKILLed while it serves answer saves (out of memory, a crash).

Eight phones (``AnsweringPhone``: an answer stays queued until acknowledged, sent again
on a dropped connection or a 5xx) keep saving answers through gunicorn with two workers
while workers are killed, one at a time, until at least three kills and at least one
request that was in flight when its worker died. Checks: the master replaces every
killed worker and serves on; nothing is left locked (the other worker never answers
5xx, the retries succeed); every (attempt, question) has exactly one stored answer, the
last acknowledged one. On PostgreSQL (the private cluster) and on an SQLite file (a
writer killed inside its transaction must not leave the database locked).
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest

from tests.faults.conftest import JsonClient, app_env, finish_phones, start_phones

WORKERS = 2
PHONES = 8
MIN_KILLS, MAX_KILLS = 3, 8
REPLACED_WITHIN_S = 20


def _wait_replaced(server, killed: set[int]) -> set[int]:
    deadline = time.monotonic() + REPLACED_WITHIN_S
    while time.monotonic() < deadline:
        pids = server.worker_pids()
        if len(pids) == server.workers and not pids & killed:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"killed workers not replaced: {server.worker_pids()} {killed}")


@pytest.fixture(params=["postgres", "sqlite"])
def database(request):
    return request.getfixturevalue(f"{'pg' if request.param == 'postgres' else 'sqlite'}_database")


def test_worker_killed_mid_request(database, gunicorn, tmp_path):
    server = gunicorn(app_env(database.url, tmp_path), workers=WORKERS)
    join_token = database.demo["events"][0]["join_token"]
    phones, changing = start_phones(
        server.base, join_token, PHONES, think=(0.0, 0.01), retry_pause=(0.05, 0.1), submit=False
    )
    rng = random.Random(7)
    killed: set[int] = set()
    in_flight_failures = 0
    try:
        time.sleep(0.5)
        while len(killed) < MAX_KILLS:
            in_flight_failures = sum(1 for p in phones for r in p.replies if r.status is None)
            if len(killed) >= MIN_KILLS and in_flight_failures:
                break
            victim = rng.choice(sorted(server.worker_pids()))
            os.kill(victim, signal.SIGKILL)
            killed.add(victim)
            _wait_replaced(server, killed)
            time.sleep(0.6)  # the new worker boots and takes requests
    finally:
        finish_phones(phones, changing)

    assert server.proc.poll() is None, "the master died"
    assert len(server.worker_pids()) == WORKERS and not server.worker_pids() & killed
    with JsonClient(server.base) as client:
        assert client.call("GET", "/healthz").status == 200

    replies = [r for p in phones for r in p.replies]
    dropped = [r for r in replies if r.status is None]
    assert dropped, "no request was in flight when a worker died"
    # A dropped connection is the only failure: the surviving worker never answered 5xx.
    assert all(r.ok or r.status is None for r in replies), [
        r for r in replies if not (r.ok or r.status is None)
    ][:5]
    assert not [r for p in phones for r in p.refused]
    assert not [p.name for p in phones if p.pending], "answers left unsent"

    duplicates = database.query(
        "SELECT attempt_id, position, count(*) FROM attempt_items"
        " GROUP BY attempt_id, position HAVING count(*) > 1"
    )
    assert duplicates == []
    stored = database.stored_answers()
    for phone in phones:
        assert stored[phone.token] == phone.acked, phone.name
    statuses = database.query("SELECT status, count(*) FROM attempts GROUP BY status")
    assert statuses == [("active", PHONES)]
    print(
        f"\n{len(killed)} workers killed, {len(replies)} requests, {len(dropped)} dropped"
        f" in flight and resent; {sum(len(p.acked) for p in phones)} answers checked"
    )
