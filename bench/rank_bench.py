"""Benchmark of a submit's ranks (overall and in the unit): counted on the database
(``leaderboards.services._counted``, the baseline) against the rank index in Redis
(``leaderboards.rank_index``), at growing numbers of finished attempts, in the same run.

One competition grows through the sizes; at each size the same sample of its finished
attempts is ranked both ways, alternating in rounds, and the best round counts (the one
least disturbed by the rest of the machine). The two ways must agree on every rank.
Times are wall-clock per rank (both include their round trip: the database, in process
for SQLite or over the socket for PostgreSQL; Redis over loopback).

Run: .venv/bin/python bench/rank_bench.py [--quick] [--write] [--sizes 1000,5000,20000]
     [--redis URL] (DATABASE_URL for PostgreSQL; a temporary SQLite file otherwise)
The index's keys live under a prefix of this run's own and are removed at the end.
``--write`` appends the table to bench/RESULTS.md. Prints ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from app_bench import add_finished_attempts, setup  # noqa: E402
from screen_bench import second_competition  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import undefer  # noqa: E402

from quizapp.extensions import db  # noqa: E402
from quizapp.sqlite_writer import reads_first  # noqa: E402


def best_round(fns: dict, rounds: int) -> dict[str, float]:
    """Seconds per call of each fn (the best of ``rounds`` alternating rounds)."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            calls = fn()
            best[name] = min(best[name], (time.perf_counter() - start) / calls)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny sizes (CI smoke run)")
    parser.add_argument("--write", action="store_true", help="append results to RESULTS.md")
    parser.add_argument("--sizes", default="1000,5000,20000", help="finished attempts")
    parser.add_argument("--redis", metavar="URL", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    sizes = [100, 1000] if args.quick else [int(s) for s in args.sizes.split(",")]
    sample, rounds = (30, 2) if args.quick else (300, 5)

    import redis

    try:
        redis.Redis.from_url(args.redis, socket_connect_timeout=1).ping()
    except (redis.RedisError, OSError) as err:
        print(f"rank_bench: no Redis at {args.redis} ({err}); nothing measured")
        return
    app, demo = setup(tempfile.mkdtemp(prefix="quiz-rank-bench-"))
    prefix = f"quizapp-bench:{secrets.token_hex(6)}:"
    app.config.update(REDIS_URL=args.redis, RANK_INDEX_PREFIX=prefix)
    from quizapp.leaderboards import rank_index, services
    from quizapp.play.models import Attempt

    cid, event_id, _ = second_competition(app, demo, sizes[0])
    rows = []
    try:
        # Reads as a result page's (SQLite: without the writer lock until a write).
        with app.app_context(), reads_first():
            index = rank_index.current()
            for i, size in enumerate(sizes):
                if i:
                    db.session.commit()  # this session's reads end before the inserts
                    add_finished_attempts(app, cid, event_id, size - sizes[i - 1])
                db.session.expunge_all()
                every = db.session.scalars(
                    select(Attempt)
                    .options(undefer(Attempt.participant_unit_id))
                    .where(Attempt.competition_id == cid)
                ).all()
                picked = random.Random(size).sample(every, min(sample, len(every)))
                index._redis.delete(f"{prefix}{cid}:ready")
                assert index.rebuild(cid, lambda: services._finished_rows(cid))

                def counted(picked=picked):
                    for attempt in picked:
                        services._counted(attempt)
                    return len(picked)

                def indexed(picked=picked):
                    for attempt in picked:
                        services._indexed(index, attempt)
                    return len(picked)

                same = all(services._counted(a) == services._indexed(index, a) for a in picked)
                times = best_round({"database": counted, "index": indexed}, rounds)
                rows.append((len(every), times["database"], times["index"], same))
                print(
                    f"{len(every):>7,} finished: database {times['database'] * 1000:.3f} ms, "
                    f"index {times['index'] * 1000:.3f} ms per rank; same ranks: {same}",
                    flush=True,
                )
            backend = db.engine.dialect.name
    finally:
        client = redis.Redis.from_url(args.redis)
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()

    lines = [
        "",
        f"## {time.strftime('%Y-%m-%d')} — rank_bench.py"
        + (" --quick" if args.quick else "")
        + f" ({backend}; {sample} ranks per size, best of {rounds} alternating rounds)",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; Redis at {args.redis} over loopback. Both ranks "
        "(overall and in the unit) per call.",
        "",
        "| finished attempts | database count (baseline) | rank index (Redis) | database ÷ index "
        "| same ranks |",
        "|---|---|---|---|---|",
    ]
    for size, counted, indexed, same in rows:
        lines.append(
            f"| {size:,} | {counted * 1000:.3f} ms | {indexed * 1000:.3f} ms | "
            f"**{counted / indexed:.1f}×** | {'yes' if same else 'NO'} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
