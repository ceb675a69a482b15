"""A hypothesis state machine over join / answer / reload / submit / expire, with an
injected clock. Invariants: the score is the sum of awarded points, nothing is
accepted after the attempt closes, and an attempt has exactly one result."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from quizapp.errors import DomainError
from quizapp.extensions import db
from quizapp.play import services
from quizapp.play.presenters import attempt_payload, result_payload

GRACE = 5
PHONES = itertools.count()


@pytest.fixture
def machine_env(app, make_event, now):
    return app, make_event(), now


def test_attempt_state_machine(machine_env):
    app, event, start = machine_env

    class Attempts(RuleBasedStateMachine):
        @initialize()
        def join(self):
            self.now = start
            self.phone = f"139{next(PHONES):08d}"
            db.session.rollback()
            self.attempt, _ = services.join(
                event.join_token,
                name="状态机",
                phone=self.phone,
                unit_id=event.competition.units[0].id,
                now=self.now,
            )
            self.expected = {}  # position -> choice the server acknowledged
            self.closed = False
            self.result = None

        @rule(seconds=st.integers(0, 400))
        def wait(self, seconds):
            self.now += timedelta(seconds=seconds)

        @rule(index=st.integers(0, 6), mask=st.integers(1, 15))
        def answer(self, index, mask):
            # Plain integers, mapped onto this attempt's (randomly drawn) questions, keep
            # hypothesis's choices independent of the draw.
            questions = attempt_payload(self.attempt, self.now)["questions"]
            q = questions[index % len(questions)]
            keys = [o["key"] for o in q["options"]]
            picked = [k for bit, k in enumerate(keys) if mask >> bit & 1] or keys[:1]
            choice = "".join(picked if q["type"] == "multiple" else picked[:1])
            try:
                stored = services.save_answer(self.attempt.token, q["position"], choice, self.now)
            except DomainError as err:
                late = self.now > self.attempt.deadline_at + timedelta(seconds=GRACE)
                assert self.closed or late or err.status == 422, err
                self.closed = self.closed or err.status == 409
                return
            assert not self.closed
            assert self.now <= self.attempt.deadline_at + timedelta(seconds=GRACE)
            self.expected[q["position"]] = stored

        @rule()
        def reload(self):
            db.session.expire_all()
            again = services.attempt_by_token(self.attempt.token)
            payload = attempt_payload(again, self.now)
            got = {q["position"]: q["choice"] for q in payload["questions"] if q["choice"]}
            assert got == {p: c for p, c in self.expected.items() if c}
            assert again.deadline_at == self.attempt.deadline_at

        @rule()
        def submit(self):
            try:
                done = services.submit(self.attempt.token, self.now)
            except services.DeadlinePassed:
                done = services.attempt_by_token(self.attempt.token)
                assert done.status == "expired"
            self.closed = True
            snapshot = (done.status, done.score, done.finished_at)
            assert self.result in (None, snapshot)
            self.result = snapshot

        @precondition(lambda self: not self.closed)
        @rule()
        def cron(self):
            services.close_overdue(self.now)
            db.session.refresh(self.attempt)
            if self.attempt.status != "active":
                self.closed = True
                self.result = self.result or (
                    self.attempt.status,
                    self.attempt.score,
                    self.attempt.finished_at,
                )

        @invariant()
        def score_is_sum_of_awarded_points(self):
            db.session.refresh(self.attempt)
            a = self.attempt
            if a.status == "active":
                assert a.score == 0
                return
            items = a.items
            assert a.score == sum(i.awarded for i in items)
            assert a.score == sum(i.points for i in items if i.choice and i.choice == i.key)
            assert result_payload(a, self.now)["score"] == a.score
            assert a.finished_at <= a.deadline_at

    Attempts.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    runner = Attempts.TestCase()
    runner.runTest()
