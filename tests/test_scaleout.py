"""App processes hold no state of their own: two gunicorn instances on different ports,
one PostgreSQL database and one Redis; a participant moves between them mid-quiz."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from quizapp.leaderboards.cache import forget_database

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(
    os.environ.get("QUIZ_TEST_DB") != "postgres",
    reason="runs in the PostgreSQL pass of the test command (needs a shared database)",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(base: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@pytest.fixture
def two_instances(app, database_url, tmp_path):
    """Two gunicorn processes on one database (the `app` fixture empties it afterwards)."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "SECRET_KEY": secrets.token_hex(16),
        "INSTANCE_PATH": str(tmp_path),
        "WEB_CONCURRENCY": "1",
    }
    flask = [sys.executable, "-m", "flask", "--app", "quizapp"]
    subprocess.run([*flask, "bank", "load"], env=env, cwd=ROOT, check=True, capture_output=True)
    demo = json.loads(
        subprocess.run(
            [*flask, "demo", "--json"],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    procs, bases = [], []
    for _ in range(2):
        port = _free_port()
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--config",
                    "gunicorn.conf.py",
                    "--bind",
                    f"127.0.0.1:{port}",
                    "wsgi:app",
                ],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        bases.append(f"http://127.0.0.1:{port}")
    try:
        for base in bases:
            for _ in range(100):
                try:
                    if _call(base, "GET", "/healthz")[0] == 200:
                        break
                except OSError:
                    time.sleep(0.1)
        yield bases, demo
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
        forget_database(env["REDIS_URL"], database_url)


def test_participant_moves_between_instances_without_loss(two_instances):
    (a, b), demo = two_instances
    token = demo["events"][0]["join_token"]
    _, info = _call(a, "GET", f"/api/v1/events/{token}")
    unit = info["competition"]["units"][0]["id"]
    status, body = _call(
        a,
        "POST",
        f"/api/v1/events/{token}/attempts",
        {"name": "两台服务器", "phone": "13811112222", "unit_id": unit},
    )
    assert status == 201
    attempt = body["attempt"]
    chosen = {}
    for i, q in enumerate(attempt["questions"]):
        server = (a, b)[i % 2]
        choice = q["options"][0]["key"]
        status, saved = _call(
            server,
            "PUT",
            f"/api/v1/attempts/{attempt['token']}/answers/{q['position']}",
            {"choice": choice},
        )
        assert status == 200, saved
        chosen[q["position"]] = choice
    status, again = _call(
        b,
        "POST",
        f"/api/v1/events/{token}/attempts",
        {"name": "两台服务器", "phone": "13811112222", "unit_id": unit},
    )
    assert status == 200 and again["attempt"]["token"] == attempt["token"]
    assert again["attempt"]["deadline_at"] == attempt["deadline_at"]
    assert {q["position"]: q["choice"] for q in again["attempt"]["questions"]} == chosen
    status, first = _call(b, "POST", f"/api/v1/attempts/{attempt['token']}/submit")
    status_a, second = _call(a, "POST", f"/api/v1/attempts/{attempt['token']}/submit")
    assert status == status_a == 200
    assert first["result"]["score"] == second["result"]["score"]
    _, screen = _call(a, "GET", f"/api/v1/screens/{demo['events'][0]['screen_token']}")
    assert screen["submitted"] >= 1
