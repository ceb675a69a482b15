"""A phone resends its submit (a double tap, a retry after a timeout) through the real
server: two gunicorn workers on PostgreSQL, the three copies arriving together or one
after another. Exactly one submission, the same result every time, never a 5xx."""

from __future__ import annotations

import threading

from tests.faults.conftest import JsonClient, app_env, join_attempt

PHONES = 6
RESENDS = 3
# What a repeat must give back unchanged (the rank may move as others submit).
SAME = ("score", "max_score", "correct_count", "question_count", "duration_ms", "status")


def _answer_all(client: JsonClient, attempt: dict) -> None:
    for i, q in enumerate(attempt["questions"]):
        choice = q["options"][i % len(q["options"])]["key"]
        reply = client.call(
            "PUT",
            f"/api/v1/attempts/{attempt['token']}/answers/{q['position']}",
            {"choice": choice},
        )
        assert reply.status == 200, reply


def _concurrently(calls) -> list:
    """Run the callables at once (released by a barrier); returns their results."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i):
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def test_submit_sent_three_times_gives_one_result(
    pg_database, gunicorn, tmp_path, private_postgres
):
    server = gunicorn(app_env(pg_database.url, tmp_path), workers=2)
    join_token = pg_database.demo["events"][0]["join_token"]
    clients = [JsonClient(server.base) for _ in range(PHONES * RESENDS)]
    try:
        attempts = []
        for p in range(PHONES):
            attempt = join_attempt(clients[p], join_token, f"重发{p}", f"1370000{p:04d}")
            _answer_all(clients[p], attempt)
            attempts.append(attempt["token"])
        # Concurrently: each phone's three copies, all phones at once, each copy on its own
        # connection (so the copies land on different workers and threads).
        calls = [
            (
                lambda c=clients[p * RESENDS + r], t=token: c.call(
                    "POST", f"/api/v1/attempts/{t}/submit"
                )
            )
            for p, token in enumerate(attempts)
            for r in range(RESENDS)
        ]
        replies = _concurrently(calls)
        # Then sequentially: three more copies from each phone.
        for p, token in enumerate(attempts):
            replies += [
                clients[p].call("POST", f"/api/v1/attempts/{token}/submit") for _ in range(RESENDS)
            ]
    finally:
        for c in clients:
            c.close()

    assert all(r.status == 200 for r in replies), [r for r in replies if r.status != 200]
    first_result = {}
    for r in replies:
        token = r.path.split("/")[4]
        result = {k: r.body["result"][k] for k in SAME}
        assert first_result.setdefault(token, result) == result, (
            token,
            first_result[token],
            result,
        )
        assert result["status"] == "submitted"

    rows = private_postgres.query(
        pg_database.name,
        "SELECT a.token, a.status, a.score, a.finished_at, a.duration_ms, p.phone"
        " FROM attempts a JOIN participants p ON p.id = a.participant_id",
    )
    assert len(rows) == PHONES  # one attempt per phone: no resend started another
    for token, status, score, finished_at, duration_ms, _phone in rows:
        assert status == "submitted" and finished_at is not None
        assert score == first_result[token]["score"]
        assert duration_ms == first_result[token]["duration_ms"]
    assert "Traceback" not in server.log()
