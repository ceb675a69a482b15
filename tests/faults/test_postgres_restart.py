"""PostgreSQL crashes and restarts while phones are answering.

Twenty-four simulated phones (``AnsweringPhone`` threads, one keep-alive connection each)
join the demo event through gunicorn (two workers, PostgreSQL on the private cluster)
and keep changing answers, each keeping a queue of unsent answers the way
static/js/quiz.js does: an answer leaves the queue only when the server acknowledged it
(2xx), a 503 or a dropped connection keeps it there to be sent again. Meanwhile a page poller loads the quiz and
join pages. Mid-run the cluster is stopped with ``-m immediate`` (a crash: backends
killed, crash recovery on start), kept down, and started again.

Checks: during the outage every answer is 503 ``unavailable`` JSON with ``Retry-After``
(pages: an HTML 503 without a trace), never a 500, never a hang; after the start the
same gunicorn processes serve again within seconds (the failed statements invalidate
the pool, idle connections are pinged; no restart); every
acknowledged answer is in the database with its acknowledged value, including those
acknowledged before the crash; the phones' queues drain; the submits succeed.
"""

from __future__ import annotations

import threading
import time

from tests.faults.conftest import JsonClient, Reply, app_env, finish_phones, start_phones

PHONES = 24
WORKERS = 2
BEFORE_S = 1.0  # answering before the crash
OUTAGE_S = 2.0  # the database down
AFTER_S = 1.0  # answering after the database is back
RECOVERY_BOUND_S = 5.0
REQUEST_BOUND_S = 8.0  # no request may take longer (the clients give up at 10 s)


class PagePoller(threading.Thread):
    """Loads the quiz page and the join page over and over."""

    def __init__(self, base: str, paths: list[str]):
        super().__init__(name="pages", daemon=True)
        self.base, self.paths = base, paths
        self.running = threading.Event()
        self.running.set()
        self.replies: list[Reply] = []

    def run(self):
        with JsonClient(self.base, timeout=10) as client:
            while self.running.is_set():
                for path in self.paths:
                    self.replies.append(client.call("GET", path))
                time.sleep(0.1)


def _assert_unavailable_json(reply: Reply):
    assert reply.status == 503, reply
    assert reply.headers.get("content-type", "").startswith("application/json"), reply
    assert int(reply.headers["Retry-After"]) > 0, reply
    assert reply.body["error"]["code"] == "unavailable", reply
    assert reply.body["error"]["message"], reply
    assert "Traceback" not in reply.text, reply


def test_postgres_restart_while_phones_answer(pg_database, private_postgres, gunicorn, tmp_path):
    server = gunicorn(app_env(pg_database.url, tmp_path), workers=WORKERS)
    workers_before = server.worker_pids()
    join_token = pg_database.demo["events"][0]["join_token"]
    phones, changing = start_phones(server.base, join_token, PHONES)
    pages = PagePoller(server.base, [f"/a/{phones[0].token}", f"/j/{join_token}"])
    pages.start()
    try:
        time.sleep(BEFORE_S)
        crashed_at = time.monotonic()
        private_postgres.stop("immediate")
        time.sleep(OUTAGE_S)
        private_postgres.start()
        up_at = time.monotonic()
        with JsonClient(server.base, timeout=10) as probe:
            while probe.call("GET", "/healthz").status != 200:
                assert time.monotonic() - up_at < RECOVERY_BOUND_S, "no recovery"
                time.sleep(0.05)
        recovered_at = time.monotonic()
        time.sleep(AFTER_S)
    finally:
        private_postgres.ensure_running()
        pages.running.clear()  # before the phones submit (the quiz page then redirects)
        pages.join(15)
        finish_phones(phones, changing)

    # The outage was seen, and answered as a retryable 503, never a 500 or a hang.
    replies = [r for p in phones for r in p.replies]
    assert all(r.ok or r.status == 503 for r in replies), [
        r for r in replies if not (r.ok or r.status == 503)
    ][:5]
    unavailable = [r for r in replies if r.status == 503]
    assert unavailable, "no request saw the outage"
    for reply in unavailable:
        _assert_unavailable_json(reply)
    slowest = max(replies, key=lambda r: r.elapsed)
    assert slowest.elapsed < REQUEST_BOUND_S, slowest
    assert not [r for p in phones for r in p.refused], "answers refused with a 4xx"

    page_replies = pages.replies
    assert all(r.status in (200, 503) for r in page_replies), (
        [r for r in page_replies if r.status not in (200, 503)][:5],
        server.log()[-6000:],
    )
    page_outages = [r for r in page_replies if r.status == 503]
    assert page_outages, "no page load saw the outage"
    for reply in page_outages:
        assert reply.headers["content-type"].startswith("text/html"), reply
        assert "Traceback" not in reply.text and "OperationalError" not in reply.text, reply

    # The same processes serve again: recovered without a gunicorn restart.
    assert server.proc.poll() is None
    assert server.worker_pids() == workers_before
    assert recovered_at - up_at < RECOVERY_BOUND_S

    # Every queue drained, every submit succeeded.
    assert not [p.name for p in phones if p.pending], "answers left unsent"
    for phone in phones:
        assert phone.submitted is not None and phone.submitted.status == 200, phone.submitted
        assert phone.submitted.body["result"]["status"] == "submitted"

    # Every acknowledged answer is stored with its acknowledged value, and nothing else.
    statuses = pg_database.query("SELECT status, count(*) FROM attempts GROUP BY status")
    assert statuses == [("submitted", PHONES)]
    stored = pg_database.stored_answers()
    survivors = 0
    for phone in phones:
        assert stored.get(phone.token, {}) == phone.acked, phone.name
        # Acknowledged before the crash and never sent again: survived crash recovery.
        survivors += sum(
            1 for pos, at in phone.acked_at.items() if at < crashed_at and phone.last_sent[pos] < at
        )
    assert survivors > 0

    log = server.log()
    assert "database unavailable on PUT /api/v1/attempts/" in log
    assert "Traceback" not in log, log[-3000:]
    print(
        f"\n{len(replies)} API requests, {len(unavailable)} answered 503 during the outage;"
        f" {len(page_outages)} page 503s; recovered {recovered_at - up_at:.2f}s after the"
        f" start; slowest request {slowest.elapsed:.2f}s; {survivors} answers acknowledged"
        " before the crash checked"
    )
