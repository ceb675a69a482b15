"""A finished attempt's rank, overall and in its unit, as the result shows it: checked
against a rank counted in Python over random finished attempts with many ties, repeat
attempts, people without a unit and attempts still active, both as the database counts
it and as the rank index in Redis answers it (built from the database, kept by each
finish, rebuilt when its marker is gone, bypassed while Redis does not answer)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import undefer

from bench.profile_hot_paths import StatementLog
from quizapp.extensions import db
from quizapp.leaderboards import services
from quizapp.leaderboards.rank_index import order_key
from quizapp.play.models import Attempt


def expected_ranks(attempts: list[dict]) -> dict[int, tuple[int, int]]:
    """For every finished attempt: 1 + the number of other people with a finished attempt
    strictly better (score desc, time used asc, finish time asc), overall and among the
    people of the same unit (no unit counts as a unit of its own)."""

    def key(a):
        return (-a["score"], a["duration_ms"], a["finished_at"])

    done = [a for a in attempts if a["status"] != "active"]
    ranks = {}
    for a in done:
        better = {b["participant"] for b in done if key(b) < key(a)} - {a["participant"]}
        same_unit = {b["participant"] for b in done if b["unit"] == a["unit"]}
        ranks[a["id"]] = (1 + len(better), 1 + len(better & same_unit))
    return ranks


@pytest.fixture(params=["database", "redis"])
def ranked_by(request):
    """Each test of ranks once on the database and once with the rank index."""
    if request.param == "redis":
        return request.getfixturevalue("redis_app")
    return None


@pytest.fixture
def crowd(make_event, finish):
    """60 people in three units or none, 1 to 3 attempts each, scores, times and finish
    moments drawn from small sets so that ties of every kind occur."""
    event = make_event()
    rng = random.Random(20260915)
    rows = []
    for p in range(60):
        unit = rng.choice([0, 1, 2, None])
        for _ in range(rng.randint(1, 3)):
            status = rng.choice(["submitted"] * 6 + ["expired", "active"])
            score = rng.choice([0, 10, 20, 45])
            seconds, at = rng.choice([30, 45, 60]), rng.choice([0, 1, 2])
            attempt = finish(event, f"人{p}", f"139{p:08d}", unit, score, seconds, at, status)
            rows.append(row_of(attempt))
    return event, rows


def row_of(attempt: Attempt) -> dict:
    return {
        "id": attempt.id,
        "participant": attempt.participant_id,
        "unit": attempt.participant.unit_id,
        "status": attempt.status,
        "score": attempt.score,
        "duration_ms": attempt.duration_ms,
        "finished_at": attempt.finished_at,
    }


@pytest.fixture
def finish_one(finish):
    """A new person's finished attempt (no unit), added to the rank index as a finish
    adds it unless ``record`` is False."""

    def make(event, phone, score, record=True):
        attempt = finish(event, "新人", phone, unit=None, score=score, seconds=30)
        if record:
            services.record_finish(attempt)
        return row_of(attempt)

    return make


def ranks_of_all(event) -> dict[int, tuple[int, int]]:
    every = select(Attempt).where(Attempt.competition_id == event.competition_id)
    return {a.id: services.ranks_of(a) for a in db.session.scalars(every) if a.status != "active"}


def test_ranks_match_a_count_over_every_finished_attempt(crowd, ranked_by):
    event, rows = crowd
    want = expected_ranks(rows)
    assert len(want) > 100 and len({r for r, _ in want.values()}) > 10
    got = {}
    for attempt in db.session.scalars(
        select(Attempt).where(Attempt.competition_id == event.competition_id)
    ):
        ranks = services.ranks_of(attempt)
        if attempt.status == "active":
            assert ranks == (None, None)
        else:
            got[attempt.id] = ranks
            assert services.rank_of(attempt) == ranks[0]
            assert services.rank_of(attempt, unit_only=True) == ranks[1]
    assert got == want
    if ranked_by is not None:  # and the index answered them: it was built, and is used
        client, prefix = ranked_by
        assert client.exists(f"{prefix}{event.competition_id}:ready")
        assert client.zcard(f"{prefix}{event.competition_id}:all") == len(
            {r["participant"] for r in want_people(rows)}
        )


def want_people(rows):
    return [r for r in rows if r["status"] != "active"]


def test_both_ranks_take_one_statement(crowd):
    _event, rows = crowd
    first = next(r["id"] for r in rows if r["status"] == "submitted")
    db.session.expunge_all()  # loaded as the result's paths load it: with the unit
    loaded = select(Attempt).options(undefer(Attempt.participant_unit_id))
    attempt = db.session.scalar(loaded.where(Attempt.id == first))
    sql = StatementLog(db.engine).capture(lambda: services.ranks_of(attempt))
    assert len(sql) == 1 and sql[0].startswith("SELECT"), sql


def test_the_count_searches_the_index_from_the_score_up(app, now):
    """The rank's count reads only attempts scoring at least as much (a search of the
    leaderboard index by score), not every finished attempt of the competition."""
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's query plan")
    mine = {"b_cid": 1, "b_pid": 1, "b_score": 50, "b_duration": 1, "b_finished": now, "b_unit": 1}
    connection = db.session.connection()
    for statement in services._RANKS.values():
        sql = statement.params(mine).compile(db.engine, compile_kwargs={"literal_binds": True})
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
        searches = [row[3] for row in plan if "ix_attempts_board_top" in row[3]]
        assert searches and all("score>?" in detail for detail in searches), plan
    db.session.rollback()


def test_the_index_keeps_each_finish_and_counts_a_lost_one_again_after_a_rebuild(
    crowd, redis_app, finish_one
):
    client, prefix = redis_app
    event, rows = crowd
    ranks_of_all(event)  # builds the index
    # A finish through the app is added at once: its rank counts everyone, the index
    # answers (the marker lives) and a later look agrees with the database.
    late = finish_one(event, "13900009999", score=45)
    rows.append(late)
    assert client.exists(f"{prefix}{event.competition_id}:ready")
    assert ranks_of_all(event) == expected_ranks(rows)
    # An attempt finished while its adding was lost (written here straight to the
    # database): ranks miss it while the marker lives, and count it once it is rebuilt.
    lost = finish_one(event, "13900009998", score=45, record=False)
    rows.append(lost)
    assert ranks_of_all(event) != expected_ranks(rows)
    client.delete(f"{prefix}{event.competition_id}:ready")  # what REBUILD_S does
    assert ranks_of_all(event) == expected_ranks(rows)


def test_redis_down_ranks_on_the_database(crowd, app):
    event, rows = crowd
    app.config.update(REDIS_URL="redis://127.0.0.1:1/0", RANK_INDEX_PREFIX="quizapp-test:down:")
    app.extensions.pop("rank_index", None)
    try:
        assert ranks_of_all(event) == expected_ranks(rows)
    finally:
        app.config.update(REDIS_URL=None)
        app.extensions.pop("rank_index", None)


def test_a_rebuild_keeps_a_finish_added_during_its_read(app, redis_app, now):
    """A finish committed after the rebuild's database read adds itself after its
    commit, during the read or after the merge: either way it stays, and a person's
    better attempt stays ahead of their worse one."""
    from quizapp.leaderboards.rank_index import current

    client, prefix = redis_app
    index = current()
    assert index.record(7, 9, None, 50, 60_000, now) is None  # no marker yet: added only
    assert index.rebuild_due(7) and not index.rebuild_due(7)  # one rebuilder at a time

    def read():  # the database as read: 9's attempt is in it; 1 finishes meanwhile
        assert index.record(7, 1, None, 30, 60_000, now) is None
        return [(9, None, 50, 60_000, now), (2, None, 20, 60_000, now), (1, None, 10, 60_000, now)]

    assert index.rebuild(7, read)
    assert index.record(7, 3, 5, 25, 60_000, now) == (3, 1)
    assert index.record(7, 2, None, 20, 60_000, now) == (4, 3)
    assert index.record(7, 1, None, 10, 60_000, now) == (4, 3)  # its own best is not ahead
    assert client.hget(f"{prefix}7:best", "1").decode().startswith(order_key(30, 60_000, now))


def test_a_rebuild_repairs_an_evicted_key(crowd, redis_app):
    """Without its sorted set, adding again puts back only people whose attempt beats
    their best on record; the next rebuild starts from empty sets and counts everyone."""
    client, prefix = redis_app
    event, rows = crowd
    ranks_of_all(event)
    cid = event.competition_id
    client.delete(f"{prefix}{cid}:all")  # as an eviction would
    assert ranks_of_all(event) != expected_ranks(rows)
    client.delete(f"{prefix}{cid}:ready")
    assert ranks_of_all(event) == expected_ranks(rows)


def test_the_order_key_sorts_as_the_ranking(now):

    from quizapp.leaderboards.rank_index import order_key

    ranked = [
        order_key(4_000, 1, now),
        order_key(45, 0, now),
        order_key(45, 59_999, now + timedelta(days=3000)),
        order_key(45, 60_000, now - timedelta(microseconds=1)),
        order_key(45, 60_000, now),
        order_key(0, 0, now),
        order_key(-3, 0, now),
    ]
    assert ranked == sorted(ranked) and len(set(map(len, ranked))) == 1
    assert order_key(45, 2**32, now) is None


def test_a_submit_is_ranked_by_the_index_it_joins(client, make_event, redis_app):
    """Through the API: each submit adds itself; the result's ranks agree with the
    database's count, and the index holds every person who finished."""
    from tests.conftest import correct_choice

    redis_client, prefix = redis_app
    event = make_event()
    units = event.competition.units
    results = []
    for i in range(6):
        body = {"name": f"人{i}", "phone": f"1380000000{i}", "unit_id": units[i % 2].id}
        attempt = client.post(f"/api/v1/events/{event.join_token}/attempts", json=body).json
        attempt = attempt["attempt"]
        for q in attempt["questions"][: i + 1]:
            path = f"/api/v1/attempts/{attempt['token']}/answers/{q['position']}"
            client.put(path, json={"choice": correct_choice(q)})
        result = client.post(f"/api/v1/attempts/{attempt['token']}/submit").json["result"]
        stored = db.session.scalar(select(Attempt).where(Attempt.token == attempt["token"]))
        assert (result["rank"], result["unit_rank"]) == services._counted(stored)
        results.append(result)
    cid = event.competition_id
    assert redis_client.exists(f"{prefix}{cid}:ready")
    assert redis_client.zcard(f"{prefix}{cid}:all") == 6
    everyone = db.session.scalars(select(Attempt).where(Attempt.competition_id == cid)).all()
    final = {a.id: services.ranks_of(a) for a in everyone}
    assert final == {a.id: services._counted(a) for a in everyone}
    assert sorted(r for r, _ in final.values()) == [1, 2, 3, 4, 5, 6]


def test_rank_index_off_counts_on_the_database(app, redis_app, crowd):
    from quizapp.leaderboards import rank_index

    client, prefix = redis_app
    event, rows = crowd
    app.config.update(RANK_INDEX=False)
    app.extensions.pop("rank_index", None)
    try:
        assert rank_index.current() is None
        assert ranks_of_all(event) == expected_ranks(rows)
        assert not list(client.scan_iter(match=prefix + "*"))
    finally:
        app.config.update(RANK_INDEX=True)
