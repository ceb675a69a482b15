"""Leaderboards: individual and unit rankings (every metric, every scope), the event
screen's payload (masking, top N, freeze and reveal, the shared cache and its change
check, Redis), and the organiser's leaderboard and screen controls."""

from __future__ import annotations

from datetime import timedelta

import pytest

from quizapp.competitions.models import Competition
from quizapp.extensions import db
from quizapp.leaderboards import cache, screen, services, settings
from quizapp.play.models import Attempt
from tests.conftest import FULL, correct_choice


@pytest.fixture
def event(make_event):
    return make_event()


def _set(comp_id: int, **values):
    comp = db.session.get(Competition, comp_id)
    for key, value in values.items():
        setattr(comp, key, value)
    db.session.commit()
    return comp


# --- individuals ---------------------------------------------------------------------


def test_individual_ranking_breaks_ties_by_time_then_submit_time(event, finish):
    finish(event, "甲", "13800000001", score=30, seconds=90, at=1)
    finish(event, "乙", "13800000002", score=30, seconds=60, at=5)
    finish(event, "丙", "13800000003", score=30, seconds=60, at=2)
    finish(event, "丁", "13800000004", score=35, seconds=300, at=9)
    top = services.top_individuals(event.competition_id)
    assert [(p.rank, p.name) for p in top] == [(1, "丁"), (2, "丙"), (3, "乙"), (4, "甲")]
    assert top[1].duration_ms == 60_000 and top[0].max_score == FULL


def test_each_person_counts_once_with_the_best_attempt(event, finish):
    finish(event, "甲", "13800000001", score=10, seconds=30)
    best = finish(event, "甲", "13800000001", score=25, seconds=200, at=300)
    finish(event, "甲", "13800000001", score=25, seconds=300, at=600)
    finish(event, "乙", "13800000002", score=20)
    top = services.top_individuals(event.competition_id)
    assert [(p.name, p.attempt_id) for p in top] == [("甲", best.id), ("乙", top[1].attempt_id)]
    (unit,) = [u for u in services.unit_ranking(event.competition_id) if u.participants]
    assert unit.participants == 2 and unit.average_score == 22.5 and unit.total_score == 45


def test_top_individuals_reads_past_repeat_attempts_to_fill_the_limit(event, finish):
    for i in range(6):
        finish(event, "甲", "13800000001", score=35, seconds=10 + i, at=i)
    finish(event, "乙", "13800000002", score=5)
    assert [p.name for p in services.top_individuals(event.competition_id, limit=2)] == [
        "甲",
        "乙",
    ]


def test_active_attempts_are_not_ranked_but_count_as_started(event, finish):
    finish(event, "甲", "13800000001", score=20)
    finish(event, "乙", "13800000002", status="active")
    assert [p.name for p in services.top_individuals(event.competition_id)] == ["甲"]
    assert services.counts(event.competition_id) == (2, 1)


# --- units ---------------------------------------------------------------------------


@pytest.fixture
def three_units(event, finish):
    """东城区: 2 people (full, 5); 西城区: 1 person (40); 朝阳区: 3 people (full, full, 3),
    one of them with two full-score attempts."""
    finish(event, "a", "13800000001", unit=0, score=FULL)
    finish(event, "b", "13800000002", unit=0, score=5)
    finish(event, "c", "13800000003", unit=1, score=40)
    finish(event, "d", "13800000004", unit=2, score=FULL)
    finish(event, "d", "13800000004", unit=2, score=FULL, at=60)
    finish(event, "e", "13800000005", unit=2, score=FULL)
    finish(event, "f", "13800000006", unit=2, score=3)
    return event.competition_id


def test_unit_ranking_by_average_of_best_scores(three_units):
    units = services.unit_ranking(three_units, metric="average")
    assert [(u.name, u.participants, u.average_score) for u in units] == [
        ("西城区", 1, 40.0),
        ("朝阳区", 3, 31.0),
        ("东城区", 2, 25.0),
    ]
    assert [u.rank for u in units] == [1, 2, 3]
    assert [u.total_score for u in units] == [40, 93, 50]


def test_full_score_rate_counts_people_not_attempts(three_units):
    by_name = {u.name: u for u in services.unit_ranking(three_units, metric="full_rate")}
    assert by_name["朝阳区"].full_score_count == 2  # d (two full attempts) and e
    assert by_name["朝阳区"].full_score_rate == round(2 / 3, 4)
    assert by_name["东城区"].full_score_rate == 0.5
    assert by_name["西城区"].full_score_rate == 0.0


def test_participation_rate_only_where_headcount_is_known(three_units):
    comp = db.session.get(Competition, three_units)
    settings.set_headcounts(comp.id, {comp.units[0].id: "4", comp.units[2].id: "3"})
    by_name = {u.name: u for u in services.unit_ranking(three_units, metric="participation")}
    assert by_name["东城区"].participation_rate == 0.5
    assert by_name["朝阳区"].participation_rate == 1.0
    assert by_name["西城区"].headcount is None and by_name["西城区"].participation_rate is None
    # Units without a headcount cannot be ranked by participation: they come last.
    order = [u.name for u in services.unit_ranking(three_units, metric="participation")]
    assert order == ["朝阳区", "东城区", "西城区"]


@pytest.mark.parametrize(
    ("metric", "order"),
    [
        ("average", ["西城区", "朝阳区", "东城区"]),
        ("total", ["朝阳区", "东城区", "西城区"]),
        ("full_rate", ["朝阳区", "东城区", "西城区"]),
    ],
)
def test_the_organisers_metric_orders_the_units(three_units, metric, order):
    _set(three_units, unit_metric=metric)
    assert [u.name for u in services.unit_ranking(three_units)] == order


def test_units_nobody_finished_from_come_last_with_zeros(event, finish):
    finish(event, "a", "13800000001", unit=2, score=5)
    units = services.unit_ranking(event.competition_id)
    assert units[0].name == "朝阳区"
    assert [(u.participants, u.average_score) for u in units[1:]] == [(0, 0.0), (0, 0.0)]


# --- scopes --------------------------------------------------------------------------


def test_event_scope_counts_only_that_events_attempts(event, make_event, finish):
    other = make_event(event.competition, name="分会场")
    finish(event, "甲", "13800000001", score=10)
    finish(other, "乙", "13800000002", unit=1, score=30)
    finish(other, "甲", "13800000001", score=20, at=30)
    cid = event.competition_id
    assert [p.name for p in services.top_individuals(cid, event.id)] == ["甲"]
    assert [(p.name, p.score) for p in services.top_individuals(cid, other.id)] == [
        ("乙", 30),
        ("甲", 20),
    ]
    assert services.counts(cid, event.id) == (1, 1)
    assert services.counts(cid, other.id) == (2, 2)
    assert services.event_counts(cid) == {event.id: [1, 1], other.id: [2, 2]}
    assert services.unit_ranking(cid, other.id, metric="average")[0].name == "西城区"


def test_event_counts_shortcut_for_a_sole_event_matches_the_full_count(event, finish):
    cid = event.competition_id
    finish(event, "甲", "13800000001", score=10)
    finish(event, "乙", "13800000002", status="active")
    totals = services.counts(cid)
    assert services.event_counts(cid, totals=totals) == services.event_counts(cid)
    orphan = finish(event, "丙", "13800000003", score=5)
    orphan.event_id = None  # e.g. its event was deleted
    db.session.commit()
    totals = services.counts(cid)
    assert totals == (3, 2)
    assert services.event_counts(cid, totals=totals) == {event.id: [2, 1]}


def test_unit_scope_lists_only_its_own_members(event, finish):
    finish(event, "甲", "13800000001", unit=0, score=10)
    finish(event, "乙", "13800000002", unit=1, score=30)
    finish(event, "丙", "13800000003", unit=0, score=20)
    unit_id = event.competition.units[0].id
    top = services.top_individuals(event.competition_id, unit_id=unit_id)
    assert [(p.rank, p.name) for p in top] == [(1, "丙"), (2, "甲")]


# --- masking -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("张小三", "张*三"),
        ("欧阳小明", "欧**明"),
        ("李", "李"),
        ("Alice", "A***e"),
    ],
)
def test_mask_name(name, masked):
    assert services.mask_name(name) == masked


def test_mask_phone():
    assert services.mask_phone("13812341234") == "138****1234"
    assert services.mask_phone("123") == "***"


def test_screen_masks_names_as_the_competition_says_and_always_masks_phones(event, finish, now):
    finish(event, "张小三", "13812341234", score=20)
    body, _ = screen.screen_payload(event.screen_token, now)
    assert (body["top"][0]["name"], body["top"][0]["phone"]) == ("张*三", "138****1234")
    _set(event.competition_id, mask_names=False)
    body, _ = screen.cached_screen_payload(event.screen_token, now)
    assert (body["top"][0]["name"], body["top"][0]["phone"]) == ("张小三", "138****1234")
    assert "13812341234" not in str(body)


# --- the screen payload ----------------------------------------------------------------


def test_screen_shows_the_competitions_top_n_and_unit_metric(event, finish, now):
    for i in range(5):
        finish(event, f"选手{i}", f"1380000000{i}", score=i)
    _set(event.competition_id, top_n=3, unit_metric="total")
    body, _ = screen.cached_screen_payload(event.screen_token, now)
    assert [p["score"] for p in body["top"]] == [4, 3, 2]
    assert body["top_n"] == 3 and body["unit_metric"] == "total"
    assert body["units"][0]["total_score"] == 10
    assert body["participants"] == 5 and body["event"]["participants"] == 5


def test_screen_finalises_overdue_attempts(event, finish, now):
    attempt = finish(event, "甲", "13800000001", status="active")
    later = attempt.deadline_at + timedelta(minutes=1)
    body, _ = screen.cached_screen_payload(event.screen_token, later)
    assert body["submitted"] == 1 and body["top"][0]["name"] == "甲"
    assert db.session.get(Attempt, attempt.id).status == "expired"


def test_unknown_screen_token_is_404(client):
    r = client.get("/api/v1/screens/nope")
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"


def _join_and_submit(client, event, name, phone, right=True):
    unit_id = event.competition.units[0].id
    r = client.post(
        f"/api/v1/events/{event.join_token}/attempts",
        json={"name": name, "phone": phone, "unit_id": unit_id},
    )
    attempt = r.json["attempt"]
    if right:
        for q in attempt["questions"]:
            client.put(
                f"/api/v1/attempts/{attempt['token']}/answers/{q['position']}",
                json={"choice": correct_choice(q)},
            )
    return client.post(f"/api/v1/attempts/{attempt['token']}/submit").json["result"]


def test_a_submission_shows_on_the_next_poll_and_idle_polls_reuse_the_board(
    app, client, event, monkeypatch
):
    computed = []
    real = screen.compute_board
    monkeypatch.setattr(screen, "compute_board", lambda s: computed.append(1) or real(s))
    url = f"/api/v1/screens/{event.screen_token}"
    first = client.get(url)
    assert first.json["submitted"] == 0 and len(computed) == 1
    for _ in range(5):
        again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304
    assert len(computed) == 1  # idle polls: one indexed query each, no recompute

    _join_and_submit(client, event, "王五", "13700000000")
    app.config["SCREEN_MIN_INTERVAL_S"] = 0  # the next poll is at least this much later
    after = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200 and after.json["submitted"] == 1
    assert after.json["top"][0]["name"] == "王*" and after.json["top"][0]["score"] == FULL
    assert len(computed) == 2


def test_recompute_is_throttled_while_attempts_keep_changing(event, finish, now):
    screen.cached_screen_payload(event.screen_token, now)
    finish(event, "甲", "13800000001", score=20)
    soon, _ = screen.cached_screen_payload(event.screen_token, now + timedelta(seconds=0.5))
    later, _ = screen.cached_screen_payload(event.screen_token, now + timedelta(seconds=1.5))
    assert soon["submitted"] == 0 and later["submitted"] == 1


def test_many_screens_of_one_competition_share_one_board(
    event, make_event, finish, now, monkeypatch
):
    others = [make_event(event.competition, name=f"分会场{i}") for i in range(3)]
    finish(event, "甲", "13800000001", score=20)
    computed = []
    real = screen.compute_board
    monkeypatch.setattr(screen, "compute_board", lambda s: computed.append(1) or real(s))
    bodies = [screen.cached_screen_payload(e.screen_token, now)[0] for e in [event, *others] * 3]
    assert len(computed) == 1
    assert {b["event"]["id"]: b["event"]["participants"] for b in bodies} == {
        event.id: 1,
        **{e.id: 0 for e in others},
    }


def test_headcount_change_shows_without_waiting(event, finish, now):
    finish(event, "甲", "13800000001", score=20)
    body, _ = screen.cached_screen_payload(event.screen_token, now)
    assert body["units"][0]["participation_rate"] is None
    comp = event.competition
    settings.set_headcounts(comp.id, {comp.units[0].id: 4})
    body, _ = screen.cached_screen_payload(event.screen_token, now)
    assert body["units"][0]["participation_rate"] == 0.25


def test_a_board_stored_for_a_reused_competition_id_is_not_served(app, event, finish, now):
    finish(event, "甲", "13800000001", score=20)
    screen.cached_screen_payload(event.screen_token, now)
    store, name = app.extensions["leaderboards_store"], f"board:{event.competition_id}"
    entry = store.get(name)
    # Same id, same settings and data, but made for another competition (a rebuilt
    # database sharing the Redis): its creation time differs.
    other = ["2000-01-01T00:00:00+00:00", *entry["settings"][1:]]
    store.set(name, {**entry, "settings": other, "body": {**entry["body"], "top": []}})
    body, _ = screen.cached_screen_payload(event.screen_token, now)
    assert [p["name"] for p in body["top"]] == ["甲"]


# --- freeze and reveal ---------------------------------------------------------------


def test_freeze_stops_the_screen_while_results_stay_exact(event, finish, now):
    token, cid = event.screen_token, event.competition_id
    finish(event, "甲", "13800000001", score=20, at=-60)
    settings.freeze(cid, now)
    frozen, tag = screen.cached_screen_payload(token, now)
    assert frozen["frozen"] is True and frozen["submitted"] == 1

    finish(event, "乙", "13800000002", score=35, at=30)
    finish(event, "丙", "13800000003", status="active", at=40)
    for moment in (now + timedelta(seconds=45), now + timedelta(minutes=5)):
        body, again = screen.cached_screen_payload(token, moment)
        assert again == tag
        assert (body["participants"], body["submitted"], len(body["top"])) == (1, 1, 1)
    uncached, _ = screen.screen_payload(token, now + timedelta(seconds=50))
    assert uncached["top"] == frozen["top"]
    # Underneath, the results are exact.
    assert [p.name for p in services.top_individuals(cid)] == ["乙", "甲"]
    assert services.counts(cid) == (3, 2)

    settings.unfreeze(cid)
    live, _ = screen.cached_screen_payload(token, now + timedelta(minutes=6))
    assert live["frozen"] is False and [p["score"] for p in live["top"]] == [35, 20]


def test_reveal_ends_the_freeze_and_tells_the_screens(event, finish, now):
    cid = event.competition_id
    settings.freeze(cid, now)
    finish(event, "乙", "13800000002", score=35, at=30)
    settings.reveal(cid, now + timedelta(minutes=1))
    body, _ = screen.cached_screen_payload(event.screen_token, now + timedelta(minutes=1))
    assert body["frozen"] is False and body["revealed_at"] is not None
    assert body["top"][0]["score"] == 35
    assert db.session.get(Competition, cid).screen_frozen_at is None


def test_freezing_twice_keeps_the_first_moment(event, now):
    settings.freeze(event.competition_id, now)
    settings.freeze(event.competition_id, now + timedelta(minutes=3))
    assert db.session.get(Competition, event.competition_id).screen_frozen_at == now


# --- the cache stores ----------------------------------------------------------------


def test_fetch_policy(now):
    store, policy, calls = cache.MemoryStore(), cache.Policy(1.0, 60.0), []

    def compute():
        calls.append(1)
        return {"n": len(calls)}

    def get(settings_, data, at):
        return cache.fetch(store, "b", settings_, data, at, compute, policy)["body"]["n"]

    assert get(["s"], [1], 0) == 1
    assert get(["s"], [1], 30) == 1  # unchanged
    assert get(["s"], [2], 30.5) == 2  # changed, last computed long ago
    assert get(["s"], [3], 31.0) == 2  # changed again within the interval: throttled
    assert get(["s"], [3], 31.6) == 3
    assert get(["t"], [3], 31.7) == 4  # settings changed: at once
    assert get(["t"], [3], 92.0) == 5  # too old
    assert get(["t"], None, 92.1) == 6  # frozen
    assert get(["t"], None, 99999) == 6  # ...and never recomputed


def test_redis_shares_the_board_between_processes(redis_app, app, event, finish, now, monkeypatch):
    client, prefix = redis_app
    finish(event, "甲", "13800000001", score=20)
    first, tag = screen.cached_screen_payload(event.screen_token, now)
    assert isinstance(app.extensions["leaderboards_store"], cache.RedisStore)
    assert client.exists(f"{prefix}meta:board:{event.competition_id}")

    # Another process: its own store object, the same Redis. It does not recompute.
    app.extensions.pop("leaderboards_store")
    monkeypatch.setattr(screen, "compute_board", lambda s: pytest.fail("recomputed"))
    body, again = screen.cached_screen_payload(event.screen_token, now + timedelta(seconds=1))
    assert again == tag and body["top"] == first["top"]


def test_redis_outage_falls_back_to_this_process(app, event, finish, now):
    app.config.update(REDIS_URL="redis://127.0.0.1:1/0")
    app.extensions.pop("leaderboards_store", None)
    finish(event, "甲", "13800000001", score=20)
    body, _ = screen.cached_screen_payload(event.screen_token, now)
    assert body["submitted"] == 1
    body, _ = screen.cached_screen_payload(event.screen_token, now + timedelta(seconds=2))
    assert body["submitted"] == 1
    app.extensions.pop("leaderboards_store", None)


# --- organiser pages -----------------------------------------------------------------


def _login(client, email="org@example.com"):
    r = client.post("/auth/login", data={"email": email, "password": "correct-horse-1"})
    assert r.status_code == 302


@pytest.fixture
def organiser(client, make_user, event):
    make_user()
    _login(client)
    return client


def test_leaderboard_page_scopes_and_top_n(organiser, event, finish):
    for i in range(4):
        finish(event, f"选手{i}", f"1380000000{i}", unit=i % 2, score=10 + i)
    _set(event.competition_id, top_n=2)
    cid = event.competition_id
    page = organiser.get(f"/competitions/{cid}/boards").get_data(as_text=True)
    assert page.count('data-rank="1"') == 2  # one person row, one unit row
    assert "选手3" in page and "选手1" not in page
    everyone = organiser.get(f"/competitions/{cid}/boards?all=1").get_data(as_text=True)
    assert "选手0" in everyone
    unit_id = event.competition.units[1].id
    own = organiser.get(f"/competitions/{cid}/boards?unit={unit_id}&all=1").get_data(as_text=True)
    assert "选手3" in own and "选手1" in own and "选手2" not in own
    assert organiser.get(f"/competitions/{cid}/boards?event={event.id}").status_code == 200
    # The old address still renders the same template.
    assert organiser.get(f"/competitions/{cid}/leaderboard").status_code == 200


def test_organiser_freezes_reveals_and_sets_headcounts(organiser, event):
    cid = event.competition_id
    assert organiser.get(f"/competitions/{cid}/screen-settings").status_code == 200
    assert organiser.post(f"/competitions/{cid}/screen/freeze").status_code == 302
    assert db.session.get(Competition, cid).screen_frozen_at is not None
    page = organiser.get(f"/competitions/{cid}/screen-settings").get_data(as_text=True)
    assert 'data-screen-state="frozen"' in page
    organiser.post(f"/competitions/{cid}/screen/reveal")
    db.session.expire_all()
    assert db.session.get(Competition, cid).screen_frozen_at is None
    assert settings.revealed_at(cid) is not None
    organiser.post(f"/competitions/{cid}/screen/freeze")
    organiser.post(f"/competitions/{cid}/screen/unfreeze")
    db.session.expire_all()
    assert db.session.get(Competition, cid).screen_frozen_at is None
    assert organiser.post(f"/competitions/{cid}/screen/explode").status_code == 404

    units = event.competition.units
    organiser.post(f"/competitions/{cid}/headcounts", data={f"headcount-{units[0].id}": "40"})
    r = organiser.post(f"/competitions/{cid}/headcounts", data={f"headcount-{units[1].id}": "-3"})
    assert r.status_code == 302
    db.session.expire_all()
    assert [u.headcount for u in units] == [40, None, None]

    bad = organiser.post(
        f"/competitions/{cid}/headcounts/import", data={"text": "西城区,30\n海淀区,50"}
    )
    assert "海淀区" in organiser.get(bad.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert units[1].headcount is None  # all or nothing
    organiser.post(
        f"/competitions/{cid}/headcounts/import", data={"text": "单位,应参与人数\n西城区,30"}
    )
    db.session.expire_all()
    assert [u.headcount for u in units] == [40, 30, None]

    r = organiser.post(
        f"/competitions/{cid}/screen-settings",
        data={"unit_metric": "participation", "top_n": "20", "mask_names": ""},
    )
    assert r.status_code == 302
    comp = db.session.get(Competition, cid)
    db.session.refresh(comp)
    assert (comp.unit_metric, comp.top_n, comp.mask_names) == ("participation", 20, False)
    bad = organiser.post(
        f"/competitions/{cid}/screen-settings", data={"unit_metric": "average", "top_n": "0"}
    )
    assert bad.status_code == 422


def test_another_organization_gets_404(client, make_user, event):
    make_user(email="other@example.com", org="其他单位")
    _login(client, "other@example.com")
    cid = event.competition_id
    for method, path in [
        ("get", f"/competitions/{cid}/boards"),
        ("get", f"/competitions/{cid}/screen-settings"),
        ("post", f"/competitions/{cid}/screen-settings"),
        ("post", f"/competitions/{cid}/screen/freeze"),
        ("post", f"/competitions/{cid}/screen/reveal"),
        ("post", f"/competitions/{cid}/headcounts"),
        ("post", f"/competitions/{cid}/headcounts/import"),
    ]:
        assert getattr(client, method)(path).status_code == 404, path
    assert db.session.get(Competition, cid).screen_frozen_at is None


def test_organiser_pages_need_a_login(client, event):
    r = client.post(f"/competitions/{event.competition_id}/screen/freeze")
    assert r.status_code == 302 and "/auth/login" in r.headers["Location"]
