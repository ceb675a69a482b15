"""The per-process set-up cache behind the event GET and the join's draw
(``quizapp.setup_cache``): fresh at once after a change committed in this process, within
``SETUP_CACHE_S`` after a change made elsewhere, and drawing exactly what an uncached
draw would (seeded draws replay)."""

from __future__ import annotations

import random
import threading

import pytest
from sqlalchemy import text

from quizapp import setup_cache as setup_cache_module
from quizapp.banks import manage
from quizapp.banks.models import Question
from quizapp.extensions import db
from quizapp.play.draw import cached_pool, draw_items, load_pool
from quizapp.setup_cache import SetupCache


@pytest.fixture
def event(make_event):
    return make_event()


@pytest.fixture
def clock(monkeypatch):
    """The cache's monotonic clock, moved by hand."""
    now = [1000.0]
    monkeypatch.setattr(setup_cache_module, "monotonic", lambda: now[0])
    return now


def _elsewhere(sql: str, **params) -> None:
    """A change made by another process: straight to the database, past this session
    (whose open transaction, outside a request, holds SQLite's write lock: end it)."""
    db.session.commit()
    with db.engine.begin() as conn:
        conn.execute(text(sql), params)


def _join(client, event, phone: str):
    body = {"name": "王五", "phone": phone, "unit_id": event.competition.units[0].id}
    response = client.post(f"/api/v1/events/{event.join_token}/attempts", json=body)
    assert response.status_code == 201, response.json
    return response.json["attempt"]


def _drawn_ids(attempt_token: str) -> set[int]:
    return set(
        db.session.scalars(
            text(
                "SELECT question_id FROM attempt_items JOIN attempts"
                " ON attempts.id = attempt_items.attempt_id WHERE attempts.token = :t"
            ),
            {"t": attempt_token},
        )
    )


def test_event_info_is_cached_and_a_change_here_shows_at_once(client, event, clock):
    url = f"/api/v1/events/{event.join_token}"
    assert client.get(url).json["event"]["name"] == "主会场"
    _elsewhere("UPDATE events SET name = '分会场' WHERE id = :id", id=event.id)
    assert client.get(url).json["event"]["name"] == "主会场"  # cached
    clock[0] += 1.0
    assert client.get(url).json["event"]["name"] == "主会场"
    clock[0] += 1.5  # past SETUP_CACHE_S (2 s)
    assert client.get(url).json["event"]["name"] == "分会场"

    event.name = "第三会场"  # committed through this process's session: no wait
    db.session.commit()
    assert client.get(url).json["event"]["name"] == "第三会场"


def test_event_info_computes_is_open_and_server_now_per_request(client, event, now, clock):
    url = f"/api/v1/events/{event.join_token}"
    first = client.get(url).json
    assert first["competition"]["is_open"] is True
    # Closed in another process: the cached window still decides is_open for this instant
    # (the join itself reads the window from the database, see the next test).
    _elsewhere(
        "UPDATE competitions SET closes_at = opens_at WHERE id = :id", id=event.competition_id
    )
    clock[0] += 3
    assert client.get(url).json["competition"]["is_open"] is False


def test_join_reads_the_window_from_the_database_not_the_cache(client, event, clock):
    client.get(f"/api/v1/events/{event.join_token}")
    _join(client, event, "13700000001")  # the pool is cached now
    _elsewhere(
        "UPDATE competitions SET closes_at = opens_at WHERE id = :id", id=event.competition_id
    )
    body = {"name": "赵六", "phone": "13700000002", "unit_id": event.competition.units[0].id}
    response = client.post(f"/api/v1/events/{event.join_token}/attempts", json=body)
    assert response.status_code == 409 and response.json["error"]["code"] == "not_open"


def test_unknown_tokens_are_not_cached(client, event, app):
    for i in range(40):
        assert client.get(f"/api/v1/events/nope{i}").status_code == 404
    cache = app.extensions.get("setup_cache")
    assert cache is None or not any("nope" in str(key) for key in cache._entries)


def test_a_question_deactivated_here_is_never_drawn_again(client, event):
    first = _join(client, event, "13700000001")
    drawn = _drawn_ids(first["token"])
    for qid in drawn:
        manage.set_active(db.session.get(Question, qid), False)
    for i in range(2, 8):
        later = _join(client, event, f"1370000000{i}")
        assert not _drawn_ids(later["token"]) & drawn


def test_a_question_deactivated_elsewhere_drops_out_within_the_ttl(client, event, clock):
    first = _join(client, event, "13700000001")
    drawn = _drawn_ids(first["token"])
    _elsewhere(f"UPDATE questions SET is_active = false WHERE id IN ({','.join(map(str, drawn))})")
    clock[0] += 2.5
    for i in range(2, 8):
        later = _join(client, event, f"1370000000{i}")
        assert not _drawn_ids(later["token"]) & drawn


def test_an_edit_here_is_what_the_next_phone_gets(client, event):
    _join(client, event, "13700000001")  # the pool is cached now
    for question in db.session.scalars(text("SELECT id FROM questions")).all():
        db.session.get(Question, question).stem += " (修订)"
    db.session.commit()
    attempt = _join(client, event, "13700000002")
    assert all(q["stem"].endswith(" (修订)") for q in attempt["questions"])


def test_an_edit_elsewhere_shows_within_the_ttl(client, event, clock):
    _join(client, event, "13700000001")
    _elsewhere("UPDATE questions SET stem = stem || ' (修订)'")
    stale = _join(client, event, "13700000002")
    assert not any(q["stem"].endswith(" (修订)") for q in stale["questions"])
    clock[0] += 2.5
    fresh = _join(client, event, "13700000003")
    assert all(q["stem"].endswith(" (修订)") for q in fresh["questions"])


def test_rules_changed_elsewhere_are_seen_at_once(client, make_competition, make_event):
    """The rules are read on every join; a cached pool built on other rules is rebuilt."""
    comp = make_competition(counts={"single": 2, "multiple": 1, "judge": 1})
    event = make_event(competition=comp)
    _join(client, event, "13700000001")
    judge = next(r for r in comp.rules if r.qtype == "judge")
    _elsewhere("UPDATE draw_rules SET qtype = 'single' WHERE id = :id", id=judge.id)
    db.session.expire_all()
    attempt = _join(client, event, "13700000002")
    assert [q["type"] for q in attempt["questions"]].count("single") == 3


@pytest.mark.parametrize("content_max", [3000, 1])
def test_a_cached_pool_draws_exactly_what_an_uncached_draw_does(
    app, make_competition, monkeypatch, content_max
):
    """Same seed, same items: a replay of a stored attempt's draw stays possible. With a
    pool too large to keep the questions' text, the drawn ones are read per draw."""
    from quizapp.play import draw

    monkeypatch.setattr(draw, "POOL_CONTENT_MAX", content_max)
    comp = make_competition(counts={"single": 3, "multiple": 2, "judge": 2})
    pool = cached_pool(comp)
    assert bool(pool.content) is (content_max > 1)
    fields = ("position", "question_id", "qtype", "stem", "options", "option_order", "key")
    for seed in range(20):
        cached = draw_items(comp, random.Random(seed), pool)
        fresh = draw_items(comp, random.Random(seed))
        assert [[getattr(i, f) for f in fields] for i in cached] == [
            [getattr(i, f) for f in fields] for i in fresh
        ]
    assert load_pool(comp).candidates == pool.candidates


def test_caching_can_be_turned_off(app, client, event):
    app.config["SETUP_CACHE_S"] = 0
    app.extensions.pop("setup_cache", None)
    url = f"/api/v1/events/{event.join_token}"
    client.get(url)
    _elsewhere("UPDATE events SET name = '分会场' WHERE id = :id", id=event.id)
    assert client.get(url).json["event"]["name"] == "分会场"


def test_the_join_page_is_cached_like_the_event_info(client, event, clock):
    url = f"/j/{event.join_token}"
    assert "主会场" in client.get(url).get_data(as_text=True)
    _elsewhere("UPDATE events SET name = '分会场' WHERE id = :id", id=event.id)
    assert "主会场" in client.get(url).get_data(as_text=True)
    clock[0] += 2.5
    assert "分会场" in client.get(url).get_data(as_text=True)
    event.name = "第三会场"
    db.session.commit()
    page = client.get(url)
    assert page.status_code == 200 and "第三会场" in page.get_data(as_text=True)


# --- an expired entry is recomputed by one thread at a time ---------------------------


def _in_thread(target):
    out: dict = {}

    def run():
        try:
            out["value"] = target()
        except Exception as err:  # noqa: BLE001 - recorded for the test
            out["error"] = err

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_while_one_thread_recomputes_an_expired_entry_the_others_use_it(clock):
    cache = SetupCache(2.0)
    cache.put("k", "old")
    clock[0] += 2.5
    started, finish = threading.Event(), threading.Event()
    computed = []

    def slow():
        computed.append("slow")
        started.set()
        assert finish.wait(10)
        return "new"

    refresher, out = _in_thread(lambda: cache.get("k", slow))
    assert started.wait(10)
    # meanwhile: the expired value, nothing computed again, nothing claimed
    assert cache.get("k", lambda: computed.append("again")) == "old"
    assert cache.kept("k") == "old"
    finish.set()
    refresher.join(10)
    assert out == {"value": "new"} and computed == ["slow"]
    assert cache.get("k", lambda: "unused") == "new" and not cache._claims


def test_a_failed_recompute_lets_the_next_thread_try(clock):
    cache = SetupCache(2.0)
    cache.put("k", "old")
    clock[0] += 2.5

    def fail():
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        cache.get("k", fail)
    thread, out = _in_thread(lambda: cache.get("k", lambda: "new"))
    thread.join(10)
    assert out == {"value": "new"}


def test_a_claim_from_kept_is_this_threads_own_and_lapses_if_never_used(clock):
    cache = SetupCache(2.0)
    cache.put("k", "old")
    clock[0] += 2.5
    assert cache.kept("k") is None  # expired: this thread is now to reload it
    thread, out = _in_thread(lambda: cache.kept("k"))
    thread.join(10)
    assert out == {"value": "old"}  # another thread: the old value meanwhile
    clock[0] += SetupCache.CLAIM_S + 1  # the claim was never used: it lapses
    thread, out = _in_thread(lambda: cache.get("k", lambda: "new"))
    thread.join(10)
    assert out == {"value": "new"} and not cache._claims


def test_joins_at_an_expired_pool_load_it_once(app, client, event, clock, monkeypatch):
    """Phones joining while one join reloads the expired pool draw from the kept one
    (at a start three or four threads of a worker used to load it at once)."""
    from quizapp.play import draw

    _join(client, event, "13700000001")  # the pool is kept now
    clock[0] += 2.5
    loading, finish = threading.Event(), threading.Event()
    loads = []
    real = draw.load_pool

    def held(*args, **kwargs):
        loads.append(1)
        loading.set()
        assert finish.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(draw, "load_pool", held)
    db.session.commit()
    body = {"name": "王五", "phone": "13700000002", "unit_id": event.competition.units[0].id}
    url = f"/api/v1/events/{event.join_token}/attempts"
    first, out = _in_thread(lambda: app.test_client().post(url, json=body).status_code)
    assert loading.wait(10)
    for i in range(3, 6):
        other = app.test_client().post(url, json={**body, "phone": f"1370000000{i}"})
        assert other.status_code == 201
    finish.set()
    first.join(10)
    assert out == {"value": 201} and loads == [1]
