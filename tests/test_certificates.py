"""Certificates: earned at the competition's score, issued once (race-safe), verified publicly."""

from __future__ import annotations

import base64
import re
import threading
from datetime import timedelta

from quizapp.extensions import db
from quizapp.play.models import Attempt
from quizapp.reports import certificates
from tests.test_reports import play

THREADS = 12


def _competition(make_competition, minimum, **kwargs):
    comp = make_competition(**kwargs)
    comp.certificate_min_score = minimum
    db.session.commit()
    return comp


def _cert_link(client, attempt) -> str | None:
    page = client.get(f"/a/{attempt.token}/result").get_data(as_text=True)
    match = re.search(r'href="([^"]+/certificate)"', page)
    return match.group(1) if match else None


def test_no_certificate_without_a_minimum_score(client, make_event, now):
    event = make_event()
    attempt = play(event, "张小三", "13800000001", now=now)
    assert _cert_link(client, attempt) is None
    assert client.get(f"/a/{attempt.token}/certificate").status_code == 404


def test_no_certificate_below_the_minimum(client, make_competition, make_event, now):
    event = make_event(_competition(make_competition, 40))
    attempt = play(event, "张小三", "13800000001", lambda q: "", now=now)
    assert _cert_link(client, attempt) is None
    assert client.get(f"/a/{attempt.token}/certificate").status_code == 404
    assert db.session.get(Attempt, attempt.id).certificate_token is None


def test_certificate_page_and_public_verification(client, make_competition, make_event, now):
    event = make_event(_competition(make_competition, 40))
    attempt = play(event, "张小三", "13800000001", now=now, seconds=30)
    link = _cert_link(client, attempt)
    assert link == f"/a/{attempt.token}/certificate"

    page = client.get(link).get_data(as_text=True)
    token = db.session.get(Attempt, attempt.id).certificate_token
    assert token and len(token) >= 22
    verify_url = f"http://quiz.test/certificates/{token}"
    for text in ("张小三", "东城区", "测试竞赛", "测试单位", 'data-score="45"', verify_url):
        assert text in page, text
    qr = re.search(r'<img src="data:image/svg\+xml;base64,([^"]+)"', page).group(1)
    assert b"<svg" in base64.b64decode(qr)
    assert "style=" not in page and "<script>" not in page  # the CSP allows neither

    # A second view shows the same certificate.
    client.get(link)
    assert db.session.get(Attempt, attempt.id).certificate_token == token

    public = client.get(f"/certificates/{token}").get_data(as_text=True)
    for text in ("张*三", "东城区", "测试竞赛", "45 / 45", 'data-valid="true"'):
        assert text in public, text
    assert "张小三" not in public and "13800000001" not in public
    forged = client.get(f"/certificates/{token[:-2]}xx")
    assert forged.status_code == 404 and 'data-valid="true"' not in forged.get_data(as_text=True)


def test_the_certificate_follows_the_best_attempt(client, make_competition, make_event, now):
    event = make_event(_competition(make_competition, 30, attempts=2))
    best = play(event, "李四", "13800000002", now=now, seconds=40)
    later = play(event, "李四", "13800000002", lambda q: "", now=now + timedelta(minutes=5))
    # The poor second attempt's result page links to the certificate of the best one.
    assert _cert_link(client, later) == f"/a/{later.token}/certificate"
    assert 'data-score="45"' in client.get(f"/a/{later.token}/certificate").get_data(as_text=True)
    assert db.session.get(Attempt, best.id).certificate_token is not None
    assert db.session.get(Attempt, later.id).certificate_token is None


def test_concurrent_first_views_issue_one_token(app, make_competition, make_event, now):
    event = make_event(_competition(make_competition, 1))
    attempt_id = play(event, "王五", "13800000003", now=now).id
    db.session.remove()
    barrier = threading.Barrier(THREADS)
    tokens, errors = [None] * THREADS, []

    def run(i):
        with app.app_context():
            barrier.wait()
            try:
                tokens[i] = certificates.issue_token(attempt_id)
            except Exception as err:  # collected, asserted below
                errors.append(err)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len(set(tokens)) == 1
    assert db.session.get(Attempt, attempt_id).certificate_token == tokens[0]


def test_masked_names():
    from quizapp.leaderboards.services import mask_name

    assert mask_name("张小三") == "张*三" and mask_name("张三") == "张*"
