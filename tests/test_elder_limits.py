"""Elder mode (长辈模式): longer limits for attempts started in it, event defaults."""

from __future__ import annotations

from datetime import timedelta

import pytest

from quizapp.competitions import services as competitions
from quizapp.errors import InvalidField
from quizapp.extensions import db
from quizapp.play import pacing, services


def test_elder_attempt_gets_the_longer_time_limit(make_competition, make_event, now):
    comp = make_competition(time_limit_s=600)
    comp.elder_time_limit_s = 900
    db.session.commit()
    event = make_event(comp)
    unit = comp.units[0].id
    normal, _ = services.join(
        event.join_token, name="甲", phone="13900000001", unit_id=unit, now=now
    )
    elder, _ = services.join(
        event.join_token, name="乙", phone="13900000002", unit_id=unit, now=now, elder=True
    )
    assert normal.deadline_at == now + timedelta(seconds=600) and not normal.elder
    assert elder.deadline_at == now + timedelta(seconds=900) and elder.elder
    resumed, created = services.join(
        event.join_token, name="乙", phone="13900000002", unit_id=unit, now=now, elder=False
    )
    assert not created and resumed.elder and resumed.deadline_at == elder.deadline_at


def test_elder_seconds_per_question(make_competition, make_event, now):
    comp = make_competition(counts={"single": 2, "multiple": 0, "judge": 0})
    comp.question_time_s, comp.elder_question_time_s = 20, 40
    db.session.commit()
    event = make_event(comp)
    attempt, _ = services.join(
        event.join_token,
        name="丙",
        phone="13900000003",
        unit_id=comp.units[0].id,
        now=now,
        elder=True,
    )
    item = pacing.open_question(attempt, 1, now)
    assert pacing.question_deadline(attempt, item) == now + timedelta(seconds=40)
    services.save_answer(attempt.token, 1, "A", now + timedelta(seconds=35))


def test_elder_limits_cannot_be_shorter(make_bank, app, now):
    from quizapp.auth.services import get_or_create_organization

    org = get_or_create_organization("单位")
    bank = make_bank()
    spec = competitions.CompetitionSpec(
        title="t",
        opens_at=now,
        bank_ids=[bank.id],
        counts={"single": 1},
        points={"single": 1},
        free_units=True,
        time_limit_s=600,
        elder_time_limit_s=300,
    )
    with pytest.raises(InvalidField) as err:
        competitions.create_competition(org.id, spec)
    assert err.value.field == "elder_time_limit"


def test_api_join_in_elder_mode_and_event_default(client, make_competition):
    comp = make_competition()
    comp.elder_time_limit_s = 1200
    db.session.commit()
    event = competitions.create_event(comp.id, "社区活动室", "敬老院", elder_default=True)
    r = client.post(
        f"/api/v1/events/{event.join_token}/attempts",
        json={"name": "丁", "phone": "13900000004", "unit_id": comp.units[0].id, "elder": True},
    )
    assert r.status_code == 201 and r.json["attempt"]["elder"] is True
    assert r.json["attempt"]["remaining_s"] > 1100
    page = client.get(f"/j/{event.join_token}").get_data(as_text=True)
    assert "data-elder-default" in page
