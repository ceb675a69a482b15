"""The phone keeps answers through slow and dropped connections and submits them all."""

from __future__ import annotations

import time

import pytest

from tests.browser.test_participant_flow import event_tokens, join, option, questions_on
from tests.conftest import correct_choice

pytestmark = pytest.mark.browser


def _slow_saves(app, delay_s: float):
    """Delay every answer save on the server (a crowded venue network)."""
    from flask import request

    def _slow():
        if request.method == "PUT" and "/answers/" in request.path:
            time.sleep(delay_s)

    # The app has served requests already, so the decorator would refuse; the list is
    # what it appends to.
    app.before_request_funcs.setdefault(None, []).append(_slow)


def test_answer_changed_during_a_slow_save_is_submitted(live_server, app, phone, make_event):
    join_token, _ = event_tokens(make_event())
    token = join(phone, f"{live_server.url}/j/{join_token}", "慢网", "13600136000")
    single = next(q for q in questions_on(phone) if q["type"] == "single")
    right = correct_choice(single)
    wrong = next(o["key"] for o in single["options"] if o["key"] != right)
    _slow_saves(app, 0.6)
    option(phone, single["position"], wrong).tap()
    phone.wait_for_timeout(100)
    option(phone, single["position"], right).tap()
    phone.once("dialog", lambda d: d.accept())  # "N unanswered, submit anyway?"
    phone.click('[data-action="submit-attempt"]')
    phone.wait_for_url("**/result", timeout=15000)
    _, body = live_server.request("GET", f"/api/v1/attempts/{token}")
    stored = {q["position"]: q["choice"] for q in body["attempt"]["questions"]}
    assert stored[single["position"]] == right


def test_offline_mid_quiz_answers_are_queued_and_sent(live_server, phone, make_event):
    join_token, _ = event_tokens(make_event())
    token = join(phone, f"{live_server.url}/j/{join_token}", "断网", "13600136001")
    questions = questions_on(phone)
    first, rest = questions[0], questions[1:4]
    option(phone, first["position"], correct_choice(first)[0]).tap()
    phone.wait_for_selector(f"fieldset#q{first['position']} .save-state.ok", state="attached")
    phone.context.set_offline(True)
    for q in rest:
        for key in correct_choice(q):
            option(phone, q["position"], key).tap()
    phone.wait_for_selector("#offline-banner:not([hidden])", timeout=10000)
    phone.context.set_offline(False)
    phone.evaluate("window.dispatchEvent(new Event('online'))")
    phone.wait_for_selector("#offline-banner[hidden]", state="attached", timeout=15000)
    _, body = live_server.request("GET", f"/api/v1/attempts/{token}")
    stored = {q["position"]: q["choice"] for q in body["attempt"]["questions"]}
    for q in rest:
        assert stored[q["position"]] == correct_choice(q)


def test_server_unavailable_at_submit_keeps_answers_queued_until_delivered(
    live_server, phone, make_event
):
    """The server answers 503 (its database restarting) to saves and to the submit: the
    phone keeps the answers queued and stays on the quiz retrying, rather than leaving
    for the result page without them; once the server answers, all are saved and the
    attempt is submitted."""
    join_token, _ = event_tokens(make_event())
    token = join(phone, f"{live_server.url}/j/{join_token}", "停库", "13600136002")
    questions = questions_on(phone)[:3]

    def unavailable(route):
        route.fulfill(
            status=503,
            headers={"Retry-After": "2"},
            content_type="application/json",
            body='{"error": {"code": "unavailable", "message": "briefly unavailable"}}',
        )

    saves, submits = "**/api/v1/attempts/*/answers/*", "**/api/v1/attempts/*/submit"
    phone.route(saves, unavailable)
    phone.route(submits, unavailable)
    for q in questions:
        for key in correct_choice(q):
            option(phone, q["position"], key).tap()
    phone.wait_for_selector("#offline-banner:not([hidden])", timeout=10000)
    phone.once("dialog", lambda d: d.accept())  # "N unanswered, submit anyway?"
    phone.click('[data-action="submit-attempt"]')
    phone.wait_for_timeout(7000)  # the page used to give up after four tries (~6 s)
    queued = phone.evaluate(f"JSON.parse(localStorage.getItem('qm-queue-{token}') || '{{}}')")
    assert {int(p) for p in queued} == {q["position"] for q in questions}
    assert "/result" not in phone.url
    phone.unroute(saves)
    phone.unroute(submits)
    phone.wait_for_url("**/result", timeout=15000)
    _, body = live_server.request("GET", f"/api/v1/attempts/{token}")
    assert body["attempt"]["status"] == "submitted"
    stored = {q["position"]: q["choice"] for q in body["attempt"]["questions"]}
    for q in questions:
        assert stored[q["position"]] == correct_choice(q)
