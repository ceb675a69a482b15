"""A paced quiz (seconds per question) on the phone: one question at a time, the
question's own countdown moves on by itself."""

from __future__ import annotations

import pytest

from tests.browser.test_participant_flow import event_tokens, join, questions_on
from tests.conftest import correct_choice

pytestmark = pytest.mark.browser


def test_paced_quiz_moves_on_at_zero_and_submits(
    live_server, phone, make_competition, make_event, screenshots
):
    comp = make_competition(counts={"single": 2, "multiple": 0, "judge": 1})
    comp.question_time_s = 5
    from quizapp.extensions import db

    db.session.commit()
    join_token, _ = event_tokens(make_event(comp))
    token = join(phone, f"{live_server.url}/j/{join_token}", "限时", "13800000005")
    phone.click('[data-action="next-question"]')
    phone.wait_for_selector("fieldset#q1")
    phone.screenshot(path=str(screenshots / "phone-paced.png"))
    # Leave question 1 unanswered: at zero the page moves to question 2 by itself.
    phone.wait_for_selector("fieldset#q2", timeout=12000)
    q2 = questions_on(phone)[0]
    for key in correct_choice(q2):
        phone.locator(f"label:has(input[name='q2'][value='{key}'])").tap()
    phone.click('[data-action="next-question"]')
    phone.wait_for_selector("fieldset#q3")
    phone.click('[data-action="submit-attempt"]')
    phone.wait_for_url("**/result")
    _, body = live_server.request("GET", f"/api/v1/attempts/{token}")
    stored = {q["position"]: q["choice"] for q in body["attempt"]["questions"]}
    assert stored[1] == "" and stored[2] == correct_choice(q2)
    assert body["result"]["score"] == 5
