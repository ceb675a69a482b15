"""Profile the participant hot paths in process: where the time of one request goes.

For the JSON API's event GET, join, answer save (PUT /api/v1/attempts/<token>/answers/<n>),
submit and screen data, and for the pages a phone opens after scanning the QR code in
WeChat (join page, join form, quiz page), it prints the SQL statements one request issues
(text and count) and cProfile's top functions by cumulative and by own time, through
Werkzeug's test client on SQLite (or on PostgreSQL with DATABASE_URL set).

Run: .venv/bin/python bench/profile_hot_paths.py [--path event|save|join|submit|screen|
     joinpage|joinform|quizpage|all] [--n 300] [--top 25]
     CALLERS=<regex> also prints cProfile's callers of the functions it matches.
With REDIS_URL set, the app keeps its screen boards and rank index there (removed at the
end). Measures; asserts nothing; changes nothing outside its temporary instance folder.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event as sa_event  # noqa: E402

from quizapp import create_app  # noqa: E402
from quizapp.extensions import db  # noqa: E402


def setup(instance: str):
    os.environ["INSTANCE_PATH"] = instance
    app = create_app(
        {"RATELIMIT_ENABLED": os.environ.get("BENCH_RATELIMIT") == "1", "SECRET_KEY": "bench"}
    )
    from flask_migrate import upgrade

    from quizapp.banks.services import load_directory
    from quizapp.competitions.cli import create_demo

    with app.app_context():
        upgrade()
        load_directory(ROOT / "question_bank")
        demo = create_demo()
    return app, demo


class StatementLog:
    """Counts the SQL statements the engine executes (first line of each)."""

    def __init__(self, engine) -> None:
        self.statements: list[str] = []
        self.on = False
        sa_event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, _conn, _cursor, statement, _params, _context, _many):
        if self.on:
            self.statements.append(" ".join(statement.split())[:150])

    def capture(self, fn):
        self.statements, self.on = [], True
        try:
            fn()
        finally:
            self.on = False
        return list(self.statements)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--path",
        default="all",
        choices=(
            "event",
            "save",
            "join",
            "submit",
            "screen",
            "joinpage",
            "joinform",
            "quizpage",
            "all",
        ),
    )
    parser.add_argument("--n", type=int, default=300, help="requests profiled per path")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()

    app, demo = setup(tempfile.mkdtemp(prefix="quiz-profile-"))
    client = app.test_client()
    event = demo["events"][0]
    with app.app_context():
        log = StatementLog(db.engine)
        from quizapp.competitions.models import Event

        screen_token = db.session.get(Event, event["id"]).screen_token
    info = client.get(f"/api/v1/events/{event['join_token']}").get_json()
    unit_id = info["competition"]["units"][0]["id"]
    counter = iter(range(10**6))

    def join():
        i = next(counter)
        r = client.post(
            f"/api/v1/events/{event['join_token']}/attempts",
            json={"name": f"测试{i}", "phone": f"139{i:08d}", "unit_id": unit_id},
        )
        assert r.status_code == 201, r.get_json()
        return r.get_json()["attempt"]

    attempts = [join() for _ in range(max(args.n // 20, 5))]
    rot = iter(range(10**7))

    def save():
        k = next(rot)
        a = attempts[k % len(attempts)]
        q = a["questions"][(k // len(attempts)) % len(a["questions"])]
        key = q["options"][k % len(q["options"])]["key"]
        r = client.put(
            f"/api/v1/attempts/{a['token']}/answers/{q['position']}", json={"choice": key}
        )
        assert r.status_code == 200, r.get_json()

    to_submit: list[dict] = []

    def submit():
        r = client.post(f"/api/v1/attempts/{to_submit.pop()['token']}/submit")
        assert r.status_code == 200, r.get_json()

    def screen():
        from quizapp.leaderboards import screen as screen_mod

        screen_mod._CACHE.clear()  # measure the recompute, not the 2 s cache hit
        r = client.get(f"/api/v1/screens/{screen_token}")
        assert r.status_code == 200

    def event_get():
        r = client.get(f"/api/v1/events/{event['join_token']}")
        assert r.status_code == 200

    # The pages a phone opens after scanning the QR code in WeChat (the HTML flow): the
    # join page (a first visit: no cookie), the join form sent, the quiz page.
    join_url = f"/j/{event['join_token']}"

    def join_page():
        r = app.test_client().get(join_url)
        assert r.status_code == 200

    forms: list[tuple] = []

    def join_form():
        phone, csrf, number = forms.pop()
        r = phone.post(
            join_url,
            data={
                "csrf_token": csrf,
                "name": f"表单{number}",
                "phone": f"137{number:08d}",
                "unit_id": unit_id,
            },
        )
        assert r.status_code == 302, r.status_code

    fresh: list[dict] = []

    def quiz_page():  # each phone's page once, as in a start (its own draw and order)
        r = client.get(f"/a/{fresh.pop()['token']}")
        assert r.status_code == 200

    def prepare_forms(count: int) -> None:
        for _ in range(count):
            phone = app.test_client()
            page = phone.get(join_url).get_data(as_text=True)
            csrf = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
            forms.append((phone, csrf.group(1), next(counter)))

    paths = {
        "event": event_get,
        "save": save,
        "join": join,
        "submit": submit,
        "screen": screen,
        "joinpage": join_page,
        "joinform": join_form,
        "quizpage": quiz_page,
    }
    chosen = list(paths) if args.path == "all" else [args.path]
    for name in chosen:
        fn = paths[name]
        if name == "submit":  # one fresh attempt per submit: warm-up, log, timing, profile
            to_submit.extend(join() for _ in range(2 * args.n + 2))
        if name == "quizpage":  # one fresh attempt per page
            fresh.extend(join() for _ in range(2 * args.n + 2))
        if name == "joinform":  # one phone with its join page per form
            prepare_forms(2 * args.n + 2)
        fn()  # warm
        statements = log.capture(fn)
        print(f"\n=== {name}: {len(statements)} SQL statements per request ===")
        for stmt, count in Counter(statements).most_common():
            print(f"  {count:3d} × {stmt}")
        n = args.n
        start = time.perf_counter()
        for _ in range(n):
            fn()
        plain = (time.perf_counter() - start) / n
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(n):
            fn()
        prof.disable()
        print(f"--- {name}: {plain * 1000:.2f} ms per request without the profiler ---")
        for key in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(prof, stream=out).sort_stats(key).print_stats(args.top)
            text = out.getvalue()
            print(text[text.find("   ncalls") :])
        if os.environ.get("CALLERS"):
            pstats.Stats(prof).print_callers(os.environ["CALLERS"])
    if app.config.get("REDIS_URL"):  # leave a shared Redis as found
        from quizapp.leaderboards.cache import forget_database

        forget_database(app.config["REDIS_URL"], app.config["SQLALCHEMY_DATABASE_URI"])


if __name__ == "__main__":
    main()
