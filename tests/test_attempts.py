"""The attempt engine: draw, answers, deadline, submit, resume, scoring."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select

from quizapp.errors import InvalidField, NotFound
from quizapp.play import services
from quizapp.play.draw import BankExhausted, draw_items
from quizapp.play.presenters import attempt_payload, result_payload
from tests.conftest import correct_choice, stored_and_drawn


def _join(event, now, name="张三", phone="13800138000", **kw):
    unit_id = kw.pop("unit_id", event.competition.units[0].id if event.competition.units else None)
    return services.join(event.join_token, name=name, phone=phone, unit_id=unit_id, now=now, **kw)


def test_draw_follows_rules_and_shuffles_per_seed(make_competition):
    comp = make_competition(counts={"single": 4, "multiple": 2, "judge": 3})
    items = draw_items(comp, random.Random(1))
    assert sorted(i.qtype for i in items).count("single") == 4
    assert [i.qtype for i in items].count("judge") == 3
    assert len({i.question_id for i in items}) == 9
    again = draw_items(comp, random.Random(1))
    assert [(i.question_id, i.option_order) for i in again] == [
        (i.question_id, i.option_order) for i in items
    ]
    other = draw_items(comp, random.Random(2))
    assert [(i.question_id, i.option_order) for i in other] != [
        (i.question_id, i.option_order) for i in items
    ]


def test_shuffled_key_points_at_the_right_text(make_competition):
    comp = make_competition()
    for item in draw_items(comp, random.Random(7)):
        if item.qtype == "judge":
            continue
        right = {item.options["ABCDEFGH".index(k)] for k in item.key}
        assert all(text.startswith("right") for text in right)


def test_draw_refuses_when_bank_is_too_small(make_competition, make_bank):
    comp = make_competition(counts={"single": 3, "multiple": 0, "judge": 0})
    comp.rules[0].count = 99
    with pytest.raises(BankExhausted):
        draw_items(comp, random.Random(1))


def test_payload_never_carries_key_or_explanation(make_event, now):
    attempt, created = _join(make_event(), now)
    assert created
    text = repr(attempt_payload(attempt, now))
    assert "because" not in text and "'key'" in text  # option keys only
    for q in attempt_payload(attempt, now)["questions"]:
        assert set(q) == {"position", "type", "stem", "options", "choice"}


def test_full_marks_and_idempotent_submit(make_event, now):
    event = make_event()
    attempt, _ = _join(event, now)
    payload = attempt_payload(attempt, now)
    for q in payload["questions"]:
        services.save_answer(attempt.token, q["position"], correct_choice(q), now)
    done = services.submit(attempt.token, now + timedelta(seconds=30))
    assert done.status == "submitted"
    assert done.score == done.max_score == 3 * 5 + 2 * 10 + 2 * 5
    assert done.duration_ms == 30_000
    again = services.submit(attempt.token, now + timedelta(seconds=90))
    assert again.score == done.score and again.duration_ms == 30_000
    result = result_payload(again, now)
    assert result["rank"] == 1 and result["correct_count"] == 7
    assert all(r["is_correct"] for r in result["review"])


def test_multiple_choice_is_all_or_nothing(make_event, now):
    attempt, _ = _join(make_event(), now)
    multi = next(q for q in attempt_payload(attempt, now)["questions"] if q["type"] == "multiple")
    services.save_answer(attempt.token, multi["position"], correct_choice(multi)[0], now)
    assert services.submit(attempt.token, now).score == 0


def test_last_answer_before_deadline_wins(make_event, now):
    attempt, _ = _join(make_event(), now)
    q = next(q for q in attempt_payload(attempt, now)["questions"] if q["type"] == "single")
    wrong = next(o["key"] for o in q["options"] if o["key"] != correct_choice(q))
    services.save_answer(attempt.token, q["position"], wrong, now)
    services.save_answer(attempt.token, q["position"], correct_choice(q), now)
    assert services.submit(attempt.token, now).score == 5


@pytest.mark.parametrize("offset,accepted", [(-1, True), (1, True), (5, True), (6, False)])
def test_deadline_edges_with_grace(make_event, now, offset, accepted):
    event = make_event()
    attempt, _ = _join(event, now)
    q = attempt_payload(attempt, now)["questions"][0]
    at = attempt.deadline_at + timedelta(seconds=offset)
    if accepted:
        services.save_answer(attempt.token, q["position"], correct_choice(q), at)
    else:
        with pytest.raises(services.DeadlinePassed):
            services.save_answer(attempt.token, q["position"], correct_choice(q), at)
        assert attempt.status == "expired"


def test_expired_attempt_is_scored_on_what_was_saved(make_event, now):
    attempt, _ = _join(make_event(), now)
    q = next(q for q in attempt_payload(attempt, now)["questions"] if q["type"] == "multiple")
    services.save_answer(attempt.token, q["position"], correct_choice(q), now)
    later = attempt.deadline_at + timedelta(minutes=5)
    assert services.close_overdue(later) == 1
    assert attempt.status == "expired" and attempt.score == 10
    assert attempt.duration_ms == 600_000
    with pytest.raises(services.DeadlinePassed):
        services.submit(attempt.token, later)


def test_resume_keeps_attempt_answers_and_clock(make_event, now):
    event = make_event()
    attempt, _ = _join(event, now)
    q = attempt_payload(attempt, now)["questions"][0]
    services.save_answer(attempt.token, q["position"], correct_choice(q), now)
    again, created = _join(event, now + timedelta(minutes=3), phone="138 0013 8000")
    assert not created and again.token == attempt.token
    assert again.deadline_at == attempt.deadline_at
    assert attempt_payload(again, now)["questions"][0]["choice"] == correct_choice(q)


def test_same_phone_other_name_is_refused(make_event, now):
    event = make_event()
    _join(event, now)
    with pytest.raises(services.IdentityMismatch):
        _join(event, now, name="李四")


def test_attempts_exhausted_and_best_attempt_counts(make_event, make_competition, now):
    from quizapp.leaderboards.services import top_individuals

    event = make_event(make_competition(attempts=2))
    first, _ = _join(event, now)
    services.submit(first.token, now)
    second, created = _join(event, now + timedelta(seconds=10))
    assert created and second.number == 2
    for q in attempt_payload(second, now)["questions"]:
        services.save_answer(second.token, q["position"], correct_choice(q), now)
    services.submit(second.token, now + timedelta(seconds=20))
    with pytest.raises(services.AttemptsExhausted):
        _join(event, now + timedelta(seconds=30))
    top = top_individuals(event.competition_id)
    assert len(top) == 1 and top[0].score == second.score


def test_window_is_enforced(make_event, make_competition, now):
    comp = make_competition(opens_at=now + timedelta(hours=1))
    with pytest.raises(services.NotOpen):
        _join(make_event(comp), now)


def test_deadline_is_capped_by_closing_time(make_event, make_competition, now):
    comp = make_competition(closes_at=now + timedelta(minutes=2))
    attempt, _ = _join(make_event(comp), now)
    assert attempt.deadline_at == now + timedelta(minutes=2)


@pytest.mark.parametrize("phone", ["12345", "23800138000", "", "1380013800a"])
def test_bad_phone_numbers(make_event, now, phone):
    with pytest.raises(InvalidField) as err:
        _join(make_event(), now, phone=phone)
    assert err.value.field == "phone"


def test_phone_notations_are_one_person(make_event, now):
    event = make_event()
    a, _ = _join(event, now, phone="+86 138-0013-8000")
    b, _ = _join(event, now, phone="１３８００１３８０００")
    assert a.id == b.id


def test_unit_must_come_from_the_list(make_event, now):
    with pytest.raises(InvalidField):
        _join(make_event(), now, unit_id=999999)


def test_free_units_create_one_unit_per_normalised_name(make_event, make_competition, now):
    event = make_event(make_competition(units=(), free_units=True))
    a, _ = services.join(
        event.join_token, name="甲", phone="13900000001", unit_name="海淀区 ", now=now
    )
    b, _ = services.join(
        event.join_token, name="乙", phone="13900000002", unit_name="海淀区", now=now
    )
    assert a.participant.unit_id == b.participant.unit_id


def test_invalid_choice_and_position(make_event, now):
    attempt, _ = _join(make_event(), now)
    judge = next(q for q in attempt_payload(attempt, now)["questions"] if q["type"] == "judge")
    with pytest.raises(InvalidField):
        services.save_answer(attempt.token, judge["position"], "A", now)
    with pytest.raises(NotFound):
        services.save_answer(attempt.token, 99, "A", now)
    with pytest.raises(NotFound):
        services.save_answer("nope", 1, "A", now)


def test_editing_a_question_does_not_change_past_results(make_event, now):
    from quizapp.banks.models import Question
    from quizapp.extensions import db

    attempt, _ = _join(make_event(), now)
    for q in attempt_payload(attempt, now)["questions"]:
        services.save_answer(attempt.token, q["position"], correct_choice(q), now)
    services.submit(attempt.token, now)
    score = attempt.score
    for item in attempt.items:
        question = db.session.get(Question, item.question_id)
        question.answer = "B" if question.type != "judge" else "F"
        question.stem = "changed"
    db.session.commit()
    result = result_payload(attempt, now)
    assert result["score"] == score and all(r["is_correct"] for r in result["review"])
    assert all(r["stem"] != "changed" for r in result["review"])


def test_a_rule_draws_from_its_own_banks(make_competition, make_bank, now):
    from quizapp.competitions import rules

    other = make_bank(name="专项题库", n=3)
    comp = make_competition(counts={"single": 2, "multiple": 0, "judge": 0})
    rules.add_rule(
        comp, qtype="judge", count=3, points=2, category=None, difficulty=None, banks=[other]
    )
    with pytest.raises(InvalidField):
        rules.add_rule(
            comp, qtype="judge", count=4, points=2, category=None, difficulty=None, banks=[other]
        )
    items = draw_items(comp, random.Random(3))
    from quizapp.banks.models import Question
    from quizapp.extensions import db

    banks = {db.session.get(Question, i.question_id).bank_id for i in items if i.qtype == "judge"}
    assert banks == {other.id} and len(items) == 5


def test_one_query_candidates_equal_each_rules_own(make_competition, make_bank):
    """The join's combined candidate lookup gives each rule exactly what
    ``candidate_ids`` gives it (same ids, same order: seeded draws replay)."""
    from quizapp.competitions import rules
    from quizapp.play.draw import _candidates_by_rule, candidate_ids

    other = make_bank(name="专项题库", n=6)
    comp = make_competition(counts={"single": 2, "multiple": 1, "judge": 1})
    rules.add_rule(
        comp, qtype="judge", count=2, points=2, category=None, difficulty=None, banks=[other]
    )
    rules.add_rule(comp, qtype="single", count=1, points=1, category="测试", difficulty=3)
    rules.add_rule(
        comp, qtype="multiple", count=1, points=1, category=None, difficulty=2, banks=[other]
    )
    combined = _candidates_by_rule(comp)
    assert len(combined) == len(comp.rules) == 6
    for rule in comp.rules:
        assert combined[rule.id] == candidate_ids(rule)
        assert combined[rule.id], rule


RAW_CHOICES = ("A", "b", "Ｃ", "D", "E", "H", "AB", "BA", "A,C", "AA", "ACD", "T", "F", "TT")
RAW_CHOICES += ("", " ", "Z", "甲", 5, None, ["A"])


def test_every_type_knows_the_fewest_options_a_choice_needs():
    from quizapp.banks.qtypes import LETTERS, QUESTION_TYPES

    for qtype in QUESTION_TYPES.values():
        for raw in RAW_CHOICES:
            found = qtype.fewest_options(raw)
            for n in range(len(LETTERS) + 1):
                expected = qtype.normalise_choice(raw, n)
                assert (found[0] if found and n >= found[1] else None) == expected, (raw, n)


def test_the_one_statement_save_stores_what_the_checked_path_would(make_event, now, db_session):
    """save_answer's common case is one conditional UPDATE that checks the choice against
    the stored question in SQL; whatever it refuses, the checked path refuses too, and
    what it stores is the canonical choice."""
    from bench.profile_hot_paths import StatementLog
    from quizapp.banks.qtypes import QUESTION_TYPES
    from quizapp.extensions import db
    from quizapp.play.models import AttemptItem

    attempt, _ = _join(make_event(), now)
    items = {i.position: (i.id, i.qtype, len(i.options)) for i in attempt.items}
    token = attempt.token
    log = StatementLog(db.engine)
    for position, (item_id, qtype, count) in items.items():
        for raw in RAW_CHOICES:
            db_session.commit()  # out of a transaction, as a request starts
            expected = QUESTION_TYPES[qtype].normalise_choice(raw, count)
            before = db.session.get(AttemptItem, item_id).choice
            db_session.commit()
            got = {}

            def save(raw=raw, position=position, got=got):
                try:
                    got["choice"] = services.save_answer(token, position, raw, now)
                except InvalidField as err:
                    got["error"] = err

            sql = log.capture(save)
            stored = db.session.get(AttemptItem, item_id).choice
            if expected is None:
                assert "error" in got and got["error"].field == "choice", (qtype, raw)
                assert stored == before
            else:
                assert got == {"choice": expected}, (qtype, raw)
                assert stored == (expected or None)
                assert len(sql) == 1 and sql[0].startswith("UPDATE"), (qtype, raw, sql)


def test_the_join_builds_the_event_and_competition_as_the_orm_loads_them(make_event, now):
    """The join reads the event and its competition on the DBAPI cursor and makes them
    the session's objects: the same values as the ORM's own load, relationships that
    load, and what the session already holds is used as it is."""
    from sqlalchemy import inspect
    from sqlalchemy.orm import joinedload

    from quizapp.competitions.models import Competition, Event
    from quizapp.extensions import db

    token = make_event().join_token
    db.session.remove()  # a new request: nothing in the session yet

    def values(obj):
        return {attr.key: getattr(obj, attr.key) for attr in inspect(type(obj)).column_attrs}

    built = services.event_by_join_token(token, with_competition=True)
    assert inspect(built).persistent and inspect(built.competition).persistent
    got = (values(built), values(built.competition))
    units = [u.name for u in built.competition.units]  # a lazy load on the built object
    db.session.remove()
    query = select(Event).where(Event.join_token == token).options(joinedload(Event.competition))
    loaded = db.session.scalar(query)
    assert got == (values(loaded), values(loaded.competition))
    assert units == [u.name for u in loaded.competition.units] and units
    # held already (this session loaded them): the same objects come back
    assert services.event_by_join_token(token, with_competition=True) is loaded
    loaded.competition.time_limit_s = 123  # an edit this session has not flushed
    assert services.event_by_join_token(token, with_competition=True).competition is (
        loaded.competition
    )
    db.session.rollback()
    unit_id, competition_id = loaded.competition.units[0].id, loaded.competition_id
    db.session.remove()
    attempt, created = services.join(token, name="李四", phone="13800138001", unit_id=unit_id)
    assert created and attempt.competition is db.session.get(Competition, competition_id)
    assert attempt.event.join_token == token and attempt.competition.time_limit_s == 600
    assert attempt_payload(attempt, now)["question_count"] == len(attempt.items) == 7


def test_a_join_stores_the_items_exactly_as_drawn(make_competition, make_bank, make_event, now):
    """The join writes its items in one statement (on PostgreSQL as one JSON parameter
    unpacked by json_to_recordset): every column as the draw made it, replayed from the
    attempt's seed, text with quotes, backslashes and CJK included."""
    from quizapp.banks import services as banks
    from quizapp.banks.parsing import ParsedQuestion, fingerprint
    from quizapp.extensions import db

    bank = make_bank(n=6)
    tricky = "质量 \"quoted\" \\back\\slash 'single' 100% {json} [1, 2] \u2028"
    options = (tricky + " A", "选项\tB", '"C"', "D\\")
    banks.add_questions(
        bank,
        [
            ParsedQuestion(
                row=100,
                type="single",
                stem=tricky,
                options=options,
                answer="A",
                explanation=tricky,
                category="测试",
                difficulty=1,
                source="test",
                fingerprint=fingerprint("single", tricky, options),
            )
        ],
    )
    db.session.commit()
    comp = make_competition(bank=bank, counts={"single": 7, "multiple": 2, "judge": 2})
    attempt, _ = _join(make_event(comp), now)
    db.session.expire_all()
    stored, drawn = stored_and_drawn(attempt, comp)
    assert stored == drawn
    assert any(row[3] == tricky and tricky + " A" in row[4] for row in stored)
