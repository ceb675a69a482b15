"""Per-question time limits and the speed bonus (quizapp/play/pacing.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from quizapp.play import pacing, services
from quizapp.play.presenters import attempt_payload, question_view
from tests.conftest import correct_choice


@pytest.fixture
def paced(make_competition, make_event, now):
    def make(speed_bonus=False, seconds=20):
        comp = make_competition(counts={"single": 2, "multiple": 0, "judge": 1})
        comp.question_time_s = seconds
        comp.speed_bonus = speed_bonus
        event = make_event(comp)
        attempt, _ = services.join(
            event.join_token, name="限时", phone="13812345678", unit_id=comp.units[0].id, now=now
        )
        return attempt

    return make


def _view(attempt, position):
    item = next(i for i in attempt.items if i.position == position)
    return question_view(item, attempt)


def test_unopened_questions_carry_no_text(paced, now):
    attempt = paced()
    payload = attempt_payload(attempt, now)
    assert payload["question_time_s"] == 20
    assert all(q["stem"] == "" and q["options"] == [] for q in payload["questions"])
    pacing.open_question(attempt, 1, now)
    first = attempt_payload(attempt, now)["questions"][0]
    assert first["stem"] and first["options"] and first["opened_at"]


def test_questions_open_in_order_and_reopening_keeps_the_clock(paced, now):
    attempt = paced()
    with pytest.raises(pacing.NotNext):
        pacing.open_question(attempt, 2, now)
    item = pacing.open_question(attempt, 1, now)
    again = pacing.open_question(attempt, 1, now + timedelta(seconds=15))
    assert again.opened_at == item.opened_at == now


@pytest.mark.parametrize("offset,accepted", [(19, True), (25, True), (26, False)])
def test_answer_window_per_question_with_grace(paced, now, offset, accepted):
    attempt = paced()
    pacing.open_question(attempt, 1, now)
    q = _view(attempt, 1)
    at = now + timedelta(seconds=offset)
    if accepted:
        services.save_answer(attempt.token, 1, correct_choice(q), at)
    else:
        with pytest.raises(pacing.QuestionClosed):
            services.save_answer(attempt.token, 1, correct_choice(q), at)


def test_unopened_and_earlier_questions_refuse_answers(paced, now):
    attempt = paced()
    with pytest.raises(pacing.QuestionClosed):
        services.save_answer(attempt.token, 1, "A", now)
    pacing.open_question(attempt, 1, now)
    pacing.open_question(attempt, 2, now + timedelta(seconds=3))
    with pytest.raises(pacing.QuestionClosed):
        services.save_answer(attempt.token, 1, "A", now + timedelta(seconds=4))


def test_speed_bonus_follows_the_documented_formula(paced, now):
    attempt = paced(speed_bonus=True, seconds=20)
    answers = {}
    for position, delay in ((1, 0), (2, 10), (3, 20)):
        opened = now + timedelta(seconds=30 * position)
        pacing.open_question(attempt, position, opened)
        q = _view(attempt, position)
        answers[position] = q
        services.save_answer(
            attempt.token, position, correct_choice(q), opened + timedelta(seconds=delay)
        )
    done = services.submit(attempt.token, now + timedelta(seconds=120))
    awarded = {i.position: i.awarded for i in done.items}
    # 5 points each: instant → 5, half the time → 5 × 0.75 → 4 (rounded), at the buzzer → 2.5 → 2
    assert awarded == {1: 5, 2: round(5 * 0.75), 3: round(5 * 0.5)}
    assert done.score == sum(awarded.values())


def test_paced_quiz_without_javascript(client, paced, now):
    attempt = paced()
    url = f"/a/{attempt.token}"
    page = client.get(url).get_data(as_text=True)
    assert 'data-action="next-question"' in page and "fieldset" not in page
    client.post(url, data={"action": "next"})
    page = client.get(url).get_data(as_text=True)
    assert page.count("<fieldset") == 1 and 'name="q1"' in page
    q = _view(attempt, 1)
    r = client.post(url, data={"action": "next", "q1": list(correct_choice(q))})
    assert r.status_code == 302
    page = client.get(url).get_data(as_text=True)
    assert 'name="q2"' in page and 'name="q1"' not in page
    client.post(url, data={"action": "next"})
    page = client.get(url).get_data(as_text=True)
    assert 'data-action="submit-attempt"' in page
    r = client.post(url, data={"action": "submit"})
    assert r.headers["Location"].endswith("/result")


def test_open_question_api(client, paced):
    attempt = paced()
    base = f"/api/v1/attempts/{attempt.token}/questions"
    r = client.post(f"{base}/2/open")
    assert r.status_code == 409 and r.json["error"]["code"] == "not_next"
    r = client.post(f"{base}/1/open")
    assert r.status_code == 200 and r.json["question"]["stem"]
    assert client.post(f"{base}/9/open").status_code == 404
