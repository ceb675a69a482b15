"""quizapp.driver_sql: Core statements run on the DBAPI cursor store and read values as
the ORM does, are seen by the engine's statement listeners, and fail with SQLAlchemy's
exceptions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, exc, insert, select, update

from bench.profile_hot_paths import StatementLog
from quizapp.banks.models import Question, QuestionBank
from quizapp.driver_sql import DriverStatement
from quizapp.extensions import db

_questions = Question.__table__
_READ = DriverStatement(
    select(_questions.c.id, _questions.c.options, _questions.c.created_at).where(
        _questions.c.id == bindparam("qid")
    )
)
_STAMP = DriverStatement(
    update(_questions)
    .where(_questions.c.id == bindparam("qid"), _questions.c.is_active.is_(True))
    .values(created_at=bindparam("stamp", type_=_questions.c.created_at.type))
)


@pytest.fixture
def question(make_bank):
    bank = make_bank(n=1)
    query = select(Question).where(Question.bank_id == bank.id, Question.type == "single")
    return db.session.scalars(query.order_by(Question.id)).first()


def test_values_round_trip_as_through_the_orm(question):
    stamp = datetime(2026, 9, 1, 8, 30, 15, 123456, tzinfo=UTC)
    changed = _STAMP.execute({"qid": question.id, "stamp": stamp})
    assert changed.rowcount == 1
    db.session.commit()
    db.session.expire_all()
    orm = db.session.get(Question, question.id)
    row = _READ.execute({"qid": question.id}).first()
    db.session.commit()
    assert row.id == row[0] == question.id
    assert row.options == orm.options and isinstance(row.options, list) and row.options
    assert row.created_at == orm.created_at == stamp  # aware UTC, as UTCDateTime returns
    assert _READ.execute({"qid": -1}).first() is None
    db.session.rollback()


def test_the_literal_in_the_statement_is_bound(question):
    question.is_active = False
    db.session.commit()
    assert _STAMP.execute({"qid": question.id, "stamp": datetime.now(UTC)}).rowcount == 0
    db.session.rollback()


def test_statement_listeners_see_it(app, question):
    log = StatementLog(db.engine)
    seen = log.capture(lambda: _READ.execute({"qid": question.id}))
    db.session.rollback()
    assert len(seen) == 1 and seen[0].startswith("SELECT questions.id")


def test_bad_values_and_database_errors_raise_sqlalchemy_exceptions(question):
    with pytest.raises(exc.ArgumentError):
        _READ.execute({})
    with pytest.raises(ValueError, match="naive"):  # the column type's own check
        _STAMP.execute({"qid": question.id, "stamp": datetime(2026, 9, 1)})
    duplicate = DriverStatement(
        insert(_questions).values(
            id=bindparam("qid"),
            bank_id=question.bank_id,
            type="single",
            stem="dup",
            options=[],
            answer="A",
            explanation="",
            category="",
            difficulty=1,
            source="",
            fingerprint="x",
            is_active=True,
            created_at=datetime.now(UTC),
        )
    )
    with pytest.raises(exc.IntegrityError):
        duplicate.execute({"qid": question.id})
    db.session.rollback()
    assert db.session.get(Question, question.id) is not None  # the session goes on


def test_a_column_named_like_a_tuple_method_reads_as_the_column(question):
    read = DriverStatement(
        select(_questions.c.id.label("count"), _questions.c.stem.label("index")).where(
            _questions.c.id == bindparam("qid")
        )
    )
    row = read.execute({"qid": question.id}).first()
    db.session.rollback()
    assert row.count == question.id and row.index == question.stem


def test_a_multi_row_insert_returns_every_row(app, question):
    banks = QuestionBank.__table__
    columns = ("organization_id", "name", "created_at")
    statement = DriverStatement(
        insert(banks)
        .values(
            [{c: bindparam(f"{c}_{i}", type_=banks.c[c].type) for c in columns} for i in range(3)]
        )
        .returning(banks.c.name, banks.c.id)
    )
    org = db.session.scalar(select(banks.c.organization_id).where(banks.c.id == question.bank_id))
    values = {}
    for i in range(3):
        values[f"organization_id_{i}"], values[f"name_{i}"] = org, f"multi {i}"
        values[f"created_at_{i}"] = datetime.now(UTC)
    got = dict(statement.execute(values).rows)
    db.session.commit()
    assert sorted(got) == ["multi 0", "multi 1", "multi 2"]
    query = select(banks.c.name, banks.c.id).where(banks.c.id.in_(got.values()))
    assert dict(db.session.execute(query).all()) == got


def test_values_prepared_beforehand_run_as_given_at_once(app, question):
    stamp = datetime(2026, 9, 1, 8, 30, 15, 250000, tzinfo=UTC)
    prepared = _STAMP.prepare({"qid": question.id, "stamp": stamp}, db.engine.dialect)
    assert _STAMP.execute(prepared).rowcount == 1
    db.session.commit()
    row = _READ.execute({"qid": question.id}).first()
    db.session.rollback()
    assert row.created_at == stamp


def test_prepared_values_completed_later_set_every_occurrence(app, question):
    """A parameter that recurs (an id in every row of a multi-row INSERT), prepared with a
    placeholder and completed once known, goes through its bind processor everywhere."""
    banks = QuestionBank.__table__
    shared = {"organization_id": bindparam("org", type_=banks.c.organization_id.type)}
    shared["created_at"] = bindparam("stamp", type_=banks.c.created_at.type)
    statement = DriverStatement(
        insert(banks)
        .values(
            [{"name": bindparam(f"name_{i}", type_=banks.c.name.type)} | shared for i in (0, 1)]
        )
        .returning(banks.c.name, banks.c.organization_id, banks.c.created_at)
    )
    org = db.session.scalar(select(banks.c.organization_id).where(banks.c.id == question.bank_id))
    stamp = datetime(2026, 9, 15, 9, 0, 0, 500000, tzinfo=UTC)
    placeholder = {"org": 0, "stamp": None, "name_0": "later 0", "name_1": "later 1"}
    prepared = statement.prepare(placeholder, db.engine.dialect)
    completed = statement.complete(prepared, {"org": org, "stamp": stamp})
    rows = statement.execute(completed).rows
    db.session.commit()
    assert sorted(rows) == [("later 0", org, stamp), ("later 1", org, stamp)]
    with pytest.raises(exc.ArgumentError, match="no parameter"):
        statement.complete(prepared, {"nothing": 1})
    db.session.rollback()


def test_values_prepared_for_another_dialect_are_refused(question):
    from sqlalchemy.dialects import postgresql, sqlite

    other = postgresql.dialect() if db.engine.dialect.name == "sqlite" else sqlite.dialect()
    prepared = _STAMP.prepare({"qid": question.id, "stamp": datetime.now(UTC)}, other)
    with pytest.raises(exc.ArgumentError, match="another dialect"):
        _STAMP.execute(prepared)
    db.session.rollback()


def test_a_statement_keeps_one_cursor_per_connection_and_drops_it_after_an_error(question):
    connection = db.session.connection()
    cursors = connection.connection.info
    _READ.execute({"qid": question.id}, connection)
    kept = dict(cursors["driver_cursors"])
    assert len(kept) == 1
    for _ in range(3):
        assert _READ.execute({"qid": question.id}, connection).first().id == question.id
    assert cursors["driver_cursors"] == kept  # the same cursor, run again
    with pytest.raises(exc.IntegrityError):
        _STAMP.execute({"qid": question.id, "stamp": None}, connection)  # NOT NULL
    assert len(cursors["driver_cursors"]) == 1  # the failed statement's cursor is gone
    db.session.rollback()
    connection = db.session.connection()
    stamp = datetime(2026, 9, 2, tzinfo=UTC)
    assert _STAMP.execute({"qid": question.id, "stamp": stamp}, connection).rowcount == 1
    assert _READ.execute({"qid": question.id}, connection).first().created_at == stamp
    db.session.rollback()
