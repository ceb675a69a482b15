"""In-process benchmark of the hot paths, each against a baseline measured in the same run.

- answer save (PUT /api/v1/attempts/<token>/answers/<n>) vs a bare Flask endpoint that
  does nothing, both through Werkzeug's test client in this process;
- screen data (GET /api/v1/screens/<token>) with SMALL and LARGE numbers of submitted
  attempts (the ratio shows how its cost grows with the size of the competition).

Run: .venv/bin/python bench/app_bench.py [--quick] [--write]
``--write`` appends the table to bench/RESULTS.md. Prints ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask import Flask  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from quizapp import create_app  # noqa: E402
from quizapp.dbtypes import utcnow  # noqa: E402
from quizapp.extensions import db  # noqa: E402
from quizapp.leaderboards import screen  # noqa: E402


def rate(fn, seconds: float) -> float:
    """Calls per second of fn over about ``seconds``."""
    n, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        fn()
        n += 1
    return n / elapsed


def setup(instance: str):
    os.environ["INSTANCE_PATH"] = instance
    app = create_app({"RATELIMIT_ENABLED": False, "SECRET_KEY": "bench"})
    from flask_migrate import upgrade

    from quizapp.banks.services import load_directory
    from quizapp.competitions.cli import create_demo

    with app.app_context():
        upgrade()
        load_directory(ROOT / "question_bank")
        demo = create_demo()
    return app, demo


def add_finished_attempts(app, competition_id: int, event_id: int, count: int) -> None:
    from quizapp.competitions.models import Competition
    from quizapp.play.models import Attempt, Participant

    with app.app_context():
        units = [u.id for u in db.session.get(Competition, competition_id).units]
        now = utcnow()
        start = db.session.query(Participant).count()
        db.session.execute(
            insert(Participant),
            [
                {
                    "competition_id": competition_id,
                    "name": f"参赛者{i}",
                    "phone": f"1{i:010d}",
                    "unit_id": units[i % len(units)],
                    "created_at": now,
                }
                for i in range(start, start + count)
            ],
        )
        ids = [
            p.id
            for p in db.session.query(Participant.id)
            .order_by(Participant.id)
            .offset(start)
            .limit(count)
        ]
        db.session.execute(
            insert(Attempt),
            [
                {
                    "token": secrets.token_urlsafe(16),
                    "participant_id": pid,
                    "competition_id": competition_id,
                    "event_id": event_id,
                    "number": 1,
                    "status": "submitted",
                    "seed": 1,
                    "started_at": now - timedelta(minutes=10),
                    "deadline_at": now,
                    "finished_at": now - timedelta(seconds=pid % 600),
                    "score": (pid * 7) % 101,
                    "max_score": 100,
                    "correct_count": 0,
                    "duration_ms": 1000 * (pid % 600),
                    "focus_losses": 0,
                }
                for pid in ids
            ],
        )
        db.session.commit()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI smoke run)")
    parser.add_argument("--write", action="store_true", help="append results to RESULTS.md")
    args = parser.parse_args()
    seconds = 0.5 if args.quick else 3.0
    small, large = (100, 1000) if args.quick else (1000, 100_000)

    instance = tempfile.mkdtemp(prefix="quiz-bench-")
    app, demo = setup(instance)
    client = app.test_client()
    event = demo["events"][0]

    bare = Flask("bare")
    bare.add_url_rule("/ping", "ping", lambda: {"saved": True}, methods=["PUT"])
    bare_client = bare.test_client()
    baseline = rate(lambda: bare_client.put("/ping", json={"choice": "A"}), seconds)

    info = client.get(f"/api/v1/events/{event['join_token']}").get_json()
    joined = client.post(
        f"/api/v1/events/{event['join_token']}/attempts",
        json={
            "name": "压测",
            "phone": "13999999999",
            "unit_id": info["competition"]["units"][0]["id"],
        },
    )
    attempt = joined.get_json()["attempt"]
    question = attempt["questions"][0]
    key = question["options"][0]["key"]
    url = f"/api/v1/attempts/{attempt['token']}/answers/{question['position']}"
    save = rate(lambda: client.put(url, json={"choice": key}), seconds)

    with app.app_context():
        from quizapp.competitions.models import Event

        ev = db.session.get(Event, event["id"])
        comp_id, ev_id, screen_token = ev.competition_id, ev.id, ev.screen_token
    screen_url = f"/api/v1/screens/{screen_token}"

    def recompute():
        with app.app_context():
            screen.screen_payload(screen_token, utcnow())

    add_finished_attempts(app, comp_id, ev_id, small)
    screen_small = rate(lambda: client.get(screen_url), seconds)
    ranking_small = rate(recompute, seconds)
    add_finished_attempts(app, comp_id, ev_id, large - small)
    screen_large = rate(lambda: client.get(screen_url), seconds)
    ranking_large = rate(recompute, seconds)

    rows = [
        ("bare Flask PUT (baseline)", baseline, 1.0),
        ("answer save", save, save / baseline),
        (f"screen data, {small:,} attempts", screen_small, 1.0),
        (f"screen data, {large:,} attempts", screen_large, screen_large / screen_small),
        (f"ranking recompute, {small:,} attempts", ranking_small, 1.0),
        (f"ranking recompute, {large:,} attempts", ranking_large, ranking_large / ranking_small),
    ]
    table = ["| measurement | requests/s | ratio |", "|---|---|---|"]
    table += [f"| {name} | {r:,.0f} | {ratio:.2f} |" for name, r, ratio in rows]
    print("\n".join(table))
    if args.write:
        header = (
            f"\n## {time.strftime('%Y-%m-%d')} — app_bench.py"
            f"{' --quick' if args.quick else ''}\n\nMachine: {platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, SQLite; "
            "in-process Werkzeug test client, one thread.\n\n"
        )
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as fh:
            fh.write(header + "\n".join(table) + "\n")


if __name__ == "__main__":
    main()
