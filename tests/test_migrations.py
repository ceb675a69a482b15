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
