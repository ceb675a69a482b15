"""Shared fixtures: an app on SQLite (default) or PostgreSQL (``QUIZ_TEST_DB=postgres``),
with the schema built by the migrations, and factories for the domain objects.

On PostgreSQL a fresh database is created for the run and dropped afterwards,
so the shared server is left as it was found.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from quizapp import create_app
from quizapp.dbtypes import utcnow
from quizapp.extensions import db

PG_ADMIN_URL = os.environ.get("QUIZ_TEST_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_database():
    import psycopg

    name = f"quizapp_test_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")

    def drop():
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if os.environ.get("QUIZ_TEST_DB") == "postgres":
        url, drop = _postgres_database()
        yield url
        drop()
    else:
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture(scope="session")
def _schema(database_url, tmp_path_factory):
    """Build the schema once per run through the migrations (never create_all)."""
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "t"})
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return database_url


@pytest.fixture
def app(_schema, tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": _schema,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "memory://",
            "PUBLIC_BASE_URL": "http://quiz.test",
        }
    )
    with app.app_context():
        yield app
        db.session.rollback()
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def csrf(app):
    """CSRF checks on, as in production (the ``app`` fixture turns them off)."""
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def now():
    return utcnow().replace(microsecond=0)


# --- factories -----------------------------------------------------------------------


@pytest.fixture
def make_user(app):
    from quizapp.auth.services import create_user

    def make(email="org@example.com", org="测试单位", password="correct-horse-1", admin=False):
        return create_user(email, password, org, is_admin=admin)

    return make


@pytest.fixture
def make_bank(app):
    """A bank with ``n`` questions of each type; option texts encode the right answer
    ("right …" / "wrong …") so tests can answer correctly whatever the shuffle."""
    from quizapp.banks import services
    from quizapp.banks.parsing import ParsedQuestion, fingerprint

    def make(name="测试题库", n=12, organization=None):
        questions = []
        for i in range(n):
            for qtype, options, answer in (
                ("single", (f"right {i}", f"wrong {i}a", f"wrong {i}b", f"wrong {i}c"), "A"),
                ("multiple", (f"right {i}x", f"wrong {i}y", f"right {i}z", f"wrong {i}w"), "AC"),
                ("judge", (), "T" if i % 2 == 0 else "F"),
            ):
                stem = f"{qtype} question {i} {'true' if answer == 'T' else ''}"
                questions.append(
                    ParsedQuestion(
                        row=len(questions) + 2,
                        type=qtype,
                        stem=stem,
                        options=options,
                        answer=answer,
                        explanation=f"because {i}",
                        category="测试",
                        difficulty=1 + i % 3,
                        source="test",
                        fingerprint=fingerprint(qtype, stem, options),
                    )
                )
        bank = services.get_or_create_bank(name, organization)
        services.add_questions(bank, questions)
        db.session.commit()
        return bank

    return make


@pytest.fixture
def make_competition(app, make_user, make_bank, now):
    from quizapp.auth.services import get_or_create_organization
    from quizapp.competitions import services

    def make(
        org="测试单位",
        counts=None,
        points=None,
        units=("东城区", "西城区", "朝阳区"),
        free_units=False,
        opens_at=None,
        closes_at=None,
        time_limit_s=600,
        attempts=1,
        reveal="after_submit",
        bank=None,
        title="测试竞赛",
    ):
        organization = get_or_create_organization(org)
        bank = bank or make_bank()
        spec = services.CompetitionSpec(
            title=title,
            theme="加强质量支撑 共建质量强国",
            opens_at=opens_at or now - timedelta(hours=1),
            closes_at=closes_at if closes_at is not None else now + timedelta(days=1),
            time_limit_s=time_limit_s,
            attempts_allowed=attempts,
            reveal=reveal,
            free_units=free_units,
            bank_ids=[bank.id],
            counts=counts or {"single": 3, "multiple": 2, "judge": 2},
            points=points or {"single": 5, "multiple": 10, "judge": 5},
            units=[(u, None) for u in units],
        )
        return services.create_competition(organization.id, spec)

    return make


@pytest.fixture
def make_event(app, make_competition):
    from quizapp.competitions import services

    def make(competition=None, name="主会场", venue="广场"):
        competition = competition or make_competition()
        return services.create_event(competition.id, name, venue)

    return make


def correct_choice(question: dict) -> str:
    """The right answer for a question drawn from ``make_bank``'s bank, as shown."""
    if question["type"] == "judge":
        return "T" if "true" in question["stem"] else "F"
    return "".join(o["key"] for o in question["options"] if o["text"].startswith("right"))


@pytest.fixture
def db_session(app):
    return db.session


def table_counts() -> dict[str, int]:
    return {
        t.name: db.session.execute(text(f"SELECT COUNT(*) FROM {t.name}")).scalar()
        for t in db.metadata.sorted_tables
    }


def stored_and_drawn(attempt, comp) -> tuple[list[tuple], list[tuple]]:
    """An attempt's stored items and the draw replayed from its seed, as sorted tuples of
    every column the draw fills (equal when the join stored exactly what it drew)."""
    import random

    from sqlalchemy import select

    from quizapp.play.draw import cached_pool, draw_items
    from quizapp.play.models import AttemptItem

    stored = db.session.scalars(
        select(AttemptItem).where(AttemptItem.attempt_id == attempt.id)
    ).all()
    drawn = draw_items(comp, random.Random(attempt.seed), cached_pool(comp), comp.rules)
    fields = ("position", "question_id", "qtype", "stem", "options", "option_order")
    fields += ("key", "points", "explanation")
    return sorted(tuple(getattr(i, f) for f in fields) for i in stored), sorted(
        tuple(getattr(d, f) for f in fields) for d in drawn
    )


@pytest.fixture
def shared_redis():
    """The shared Redis on 127.0.0.1:6379 and a key prefix of this test's own; every key
    under it is removed afterwards (the Redis is left as found). Skips without Redis."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0", socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"quizapp-test:{secrets.token_hex(6)}:"
    yield client, prefix
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def redis_app(app, shared_redis):
    """The app with ``REDIS_URL``: its screen boards and rank index on the shared Redis,
    under this test's prefix."""
    client, prefix = shared_redis
    app.config.update(
        REDIS_URL="redis://127.0.0.1:6379/0", SCREEN_CACHE_PREFIX=prefix, RANK_INDEX_PREFIX=prefix
    )
    for name in ("leaderboards_store", "rank_index"):
        app.extensions.pop(name, None)
    yield client, prefix
    app.config.update(REDIS_URL=None)
    for name in ("leaderboards_store", "rank_index"):
        app.extensions.pop(name, None)


FULL = 45  # make_competition's defaults: 3×5 + 2×10 + 2×5


@pytest.fixture
def finish(now):
    """Record a finished (or active) attempt directly: (event, name, phone, unit index,
    score, seconds used, finished this many seconds after ``now``)."""

    from quizapp.play.models import Attempt, Participant

    def make(event, name, phone, unit=0, score=0, seconds=60, at=0, status="submitted"):
        comp = event.competition
        person = db.session.scalar(
            select(Participant).where(
                Participant.competition_id == comp.id, Participant.phone == phone
            )
        )
        if person is None:
            person = Participant(
                competition_id=comp.id,
                name=name,
                phone=phone,
                unit_id=comp.units[unit].id if unit is not None else None,
            )
            db.session.add(person)
            db.session.flush()
        finished = now + timedelta(seconds=at)
        number = 1 + len(
            db.session.scalars(select(Attempt.id).where(Attempt.participant_id == person.id)).all()
        )
        attempt = Attempt(
            participant_id=person.id,
            competition_id=comp.id,
            event_id=event.id,
            number=number,
            status=status,
            seed=1,
            started_at=finished - timedelta(seconds=seconds),
            deadline_at=finished - timedelta(seconds=seconds) + timedelta(minutes=10),
            finished_at=None if status == "active" else finished,
            score=score,
            max_score=FULL,
            duration_ms=None if status == "active" else seconds * 1000,
        )
        db.session.add(attempt)
        db.session.commit()
        return attempt

    return make
