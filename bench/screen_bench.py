"""Benchmark of the event screen's data endpoint and of the ranking recompute, with SMALL
and with LARGE numbers of submitted attempts in the same run.

Two competitions live in one database, one with SMALL and one with LARGE finished
attempts; measurements alternate between them in short rounds and the best round counts,
so a busy machine disturbs both alike. Measured, each against a baseline of the same run:

- bare Flask GET (the machine's baseline);
- a screen poll that finds nothing new (``If-None-Match`` -> 304), as screens mostly send;
- a screen poll with the whole body (200);
- the same two through Redis (``--redis URL``): another process's store, shared board;
- the ranking recompute (the whole board: counts, top N, unit ranking, event counts);
- how many recomputes one submission costs when 20 screens on 20 events poll.

Goal: polls at LARGE >= 0.9 x polls at SMALL (a poll's cost does not depend on size).
Rates are per second of this process's CPU time (SQLite runs in this process, so that is
the work a request costs, whatever else the machine is doing); wall-clock rates are shown
beside them.

Run: .venv/bin/python bench/screen_bench.py [--quick] [--write] [--redis URL]
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
sys.path.insert(0, str(ROOT / "bench"))

from app_bench import add_finished_attempts, setup  # noqa: E402
from flask import Flask  # noqa: E402

from quizapp.dbtypes import utcnow  # noqa: E402
from quizapp.extensions import db  # noqa: E402
from quizapp.leaderboards import screen  # noqa: E402
from quizapp.leaderboards.state import load_state  # noqa: E402


def rates(fn, seconds: float) -> tuple[float, float]:
    """(calls per CPU second, calls per wall second) of fn over about ``seconds``."""
    n, cpu, wall = 0, time.process_time(), time.perf_counter()
    while time.perf_counter() - wall < seconds:
        fn()
        n += 1
    return n / max(time.process_time() - cpu, 1e-9), n / (time.perf_counter() - wall)


def alternate(fns: dict, seconds: float, rounds: int) -> dict:
    """Best (cpu, wall) rate of each fn over rounds that alternate between them: like
    timeit's minimum, the best round is the one least disturbed by the rest of the
    machine, and alternating exposes every fn to the same disturbances."""
    samples: dict = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name].append(rates(fn, seconds))
    return {
        name: (max(s[0] for s in values), max(s[1] for s in values))
        for name, values in samples.items()
    }


def second_competition(app, demo: dict, size: int) -> tuple[int, int, str]:
    """A copy of the demo competition (same banks, rules, units) with its own event."""
    from quizapp.competitions import services
    from quizapp.competitions.models import Competition

    with app.app_context():
        demo_comp = db.session.get(Competition, demo["competition_id"])
        now = utcnow()
        spec = services.CompetitionSpec(
            title="基准测试（大）",
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=1),
            bank_ids=[b.id for b in demo_comp.banks],
            counts={"single": 10, "multiple": 5, "judge": 5},
            points={"single": 5, "multiple": 5, "judge": 5},
            units=[(u.name, u.headcount) for u in demo_comp.units],
        )
        comp = services.create_competition(demo_comp.organization_id, spec)
        event = services.create_event(comp.id, "大会场", "")
        ids = (comp.id, event.id, event.screen_token)
    add_finished_attempts(app, ids[0], ids[1], size)
    return ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI smoke run)")
    parser.add_argument("--write", action="store_true", help="append results to RESULTS.md")
    parser.add_argument("--redis", metavar="URL", help="also measure through Redis")
    args = parser.parse_args()
    seconds, rounds = (0.2, 3) if args.quick else (0.4, 11)
    small, large = (100, 1000) if args.quick else (1000, 100_000)

    instance = tempfile.mkdtemp(prefix="quiz-screen-bench-")
    app, demo = setup(instance)
    app.config["SCREEN_MIN_INTERVAL_S"] = 0.0
    client = app.test_client()
    event = demo["events"][0]
    with app.app_context():
        from quizapp.competitions.models import Event

        small_token = db.session.get(Event, event["id"]).screen_token
    add_finished_attempts(app, demo["competition_id"], event["id"], small)
    _, large_event, large_token = second_competition(app, demo, large)

    bare = Flask("bare")
    bare.add_url_rule("/ping", "ping", lambda: {"participants": 1})
    bare_client = bare.test_client()

    def poll(token: str, etag: dict):
        def go():
            r = client.get(f"/api/v1/screens/{token}", headers=etag)
            assert r.status_code in (200, 304)

        return go

    etags = {}
    for token in (small_token, large_token):
        etags[token] = {"If-None-Match": client.get(f"/api/v1/screens/{token}").headers["ETag"]}

    def recompute(token: str):
        def go():
            with app.app_context():
                screen.compute_board(load_state(token))

        return go

    measured = alternate(
        {
            "bare": lambda: bare_client.get("/ping"),
            "304 small": poll(small_token, etags[small_token]),
            "304 large": poll(large_token, etags[large_token]),
            "200 small": poll(small_token, {}),
            "200 large": poll(large_token, {}),
        },
        seconds,
        rounds,
    )
    measured.update(
        alternate(
            {"recompute small": recompute(small_token), "recompute large": recompute(large_token)},
            seconds * 2,
            max(3, rounds // 2),
        )
    )
    if args.redis:
        measured.update(redis_polls(app, client, args.redis, small_token, large_token, seconds))
    fan_out = recomputes_per_submission(app, client, large_event, screens=20)

    rows = [("bare Flask GET (baseline)", measured["bare"], measured["bare"])]
    pairs = [("screen poll, unchanged (304)", "304"), ("screen poll, full body (200)", "200")]
    if args.redis:
        pairs += [("screen poll via Redis (304)", "redis 304"), ("via Redis (200)", "redis 200")]
    pairs.append(("ranking recompute", "recompute"))
    for label, key in pairs:
        rows.append((f"{label}, {small:,} attempts", measured[f"{key} small"], None))
        rows.append(
            (f"{label}, {large:,} attempts", measured[f"{key} large"], measured[f"{key} small"])
        )
    table = [
        "| measurement | per CPU second | per second (wall) | ratio (CPU) | ratio (wall) |",
        "|---|---|---|---|---|",
    ]
    for name, (cpu, wall), base in rows:
        ratio = (cpu / base[0], wall / base[1]) if base else (1.0, 1.0)
        extra = f" ({1000 / cpu:.0f} ms each)" if "recompute" in name else ""
        table.append(
            f"| {name} | {cpu:,.0f}{extra} | {wall:,.0f} | {ratio[0]:.2f} | {ratio[1]:.2f} |"
        )
    table.append(
        f"| board recomputes for one submission, 20 screens on 20 events "
        f"({large:,} attempts) | {fan_out} | | | |"
    )
    print("\n".join(table))
    if args.write:
        header = (
            f"\n## {time.strftime('%Y-%m-%d')} — screen_bench.py"
            f"{' --quick' if args.quick else ''}\n\nMachine: {platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, SQLite"
            f"{', Redis' if args.redis else ''}; in-process Werkzeug test client, one thread; "
            f"two competitions in one database ({small:,} and {large:,} submitted attempts), "
            f"best of {rounds} alternating rounds. Ratios compare each "
            "LARGE row with the SMALL row above it (goal for polls: >= 0.90).\n\n"
        )
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as fh:
            fh.write(header + "\n".join(table) + "\n")


def redis_polls(app, client, url: str, small_token: str, large_token: str, seconds: float):
    """Polls through a RedisStore that another process filled (fresh store object)."""
    import redis

    prefix = f"quizapp-bench:{secrets.token_hex(4)}:"
    app.config.update(REDIS_URL=url, SCREEN_CACHE_PREFIX=prefix)
    try:
        etags = {}
        for token in (small_token, large_token):
            app.extensions.pop("leaderboards_store", None)
            etags[token] = {"If-None-Match": client.get(f"/api/v1/screens/{token}").headers["ETag"]}
        app.extensions.pop("leaderboards_store", None)  # "another process"
        fns = {
            f"redis {kind} {size}": (
                lambda t=token, h=(etags[token] if kind == "304" else {}): client.get(
                    f"/api/v1/screens/{t}", headers=h
                )
            )
            for size, token in (("small", small_token), ("large", large_token))
            for kind in ("304", "200")
        }
        return alternate(fns, seconds, 5)
    finally:
        keys = list(redis.Redis.from_url(url).scan_iter(match=prefix + "*"))
        if keys:
            redis.Redis.from_url(url).delete(*keys)
        app.config.update(REDIS_URL=None)
        app.extensions.pop("leaderboards_store", None)


def recomputes_per_submission(app, client, event_id: int, screens: int) -> int:
    """Poll ``screens`` screens (each on its own event) once, add one submitted attempt,
    poll them all again; return how many board recomputes the second round cost."""
    from quizapp.competitions import services
    from quizapp.competitions.models import Event

    with app.app_context():
        comp_id = db.session.get(Event, event_id).competition_id
        tokens = [services.create_event(comp_id, f"分会场{i}").screen_token for i in range(screens)]
    for token in tokens:
        client.get(f"/api/v1/screens/{token}")
    add_finished_attempts(app, comp_id, event_id, 1)
    count = 0
    real = screen.compute_board

    def counting(state):
        nonlocal count
        count += 1
        return real(state)

    screen.compute_board = counting
    try:
        for token in tokens:
            client.get(f"/api/v1/screens/{token}")
    finally:
        screen.compute_board = real
    return count


if __name__ == "__main__":
    main()
