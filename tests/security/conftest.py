"""Fixtures of the security suite.

``client`` here gives every request its own application context, as in production.
The shared ``app`` fixture keeps one context open for the whole test, and a test client
request inside it reuses that context, so ``g`` (where Flask-Login caches the loaded
user) and the database session would leak from one request to the next: a replayed or
logged-out cookie could look valid only because the previous request's user was still
cached. Tests here commit or roll back their own session before making requests, so an
open SQLite write transaction of the test never blocks the request's.
"""

from __future__ import annotations

import pytest
from flask import has_app_context
from flask.testing import FlaskClient

from quizapp.extensions import db


class FreshContextClient(FlaskClient):
    def open(self, *args, **kwargs):
        if has_app_context():  # the test's own context (a worker thread has none)
            db.session.commit()
        with self.application.app_context():
            return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    app.test_client_class = FreshContextClient
    return app.test_client()
