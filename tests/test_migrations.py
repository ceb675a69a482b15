"""The schema comes only from migrations, and they match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from quizapp.extensions import db


def _diff():
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def test_upgrade_from_empty_equals_models(app):
    assert _diff() == []


def test_downgrade_then_upgrade_is_consistent(app, make_event):
    make_event()
    db.session.commit()
    db.session.remove()
    downgrade(revision="base")
    with db.engine.connect() as conn:
        assert "attempts" not in db.inspect(conn).get_table_names()
    upgrade()
    assert _diff() == []


def test_no_plain_index_repeats_the_leading_columns_of_another(app):
    """Every join and submit writes every index of its tables: an index that is the
    leading columns of another (unique or not, or the primary key) only costs writes."""
    with db.engine.connect() as conn:
        inspector = db.inspect(conn)
        repeated = []
        for table in inspector.get_table_names():
            plain = [ix for ix in inspector.get_indexes(table) if not ix["unique"]]
            others = [ix["column_names"] for ix in inspector.get_indexes(table)]
            others += [uq["column_names"] for uq in inspector.get_unique_constraints(table)]
            others.append(inspector.get_pk_constraint(table)["constrained_columns"])
            for ix in plain:
                columns = ix["column_names"]
                for longer in others:
                    if longer != columns and longer[: len(columns)] == columns:
                        repeated.append((table, ix["name"], longer))
    assert repeated == []
