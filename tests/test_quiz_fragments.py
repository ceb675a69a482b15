"""The quiz page's questions come from kept renders (quizapp.play.fragments): the same
bytes as the ``questions`` macro, whatever is kept, in each language, answered or not."""

from __future__ import annotations

import re

import flask_babel
import pytest
from flask import g

from quizapp.play import fragments


@pytest.fixture(autouse=True)
def _empty():
    fragments.clear()
    yield
    fragments.clear()


def _macro(app):
    return app.jinja_env.get_template("_macros/question.html").module.questions


LABELS = {"single": "单选题", "multiple": "多选题", "judge": "判断题"}


def _q(position, qtype="single", stem="以下哪项正确？", choice="", options=None):
    if options is None:
        texts = ("甲", "乙", "丙", "丁") if qtype != "judge" else ("正确", "错误")
        keys = "ABCD" if qtype != "judge" else "TF"
        options = [{"key": k, "text": t} for k, t in zip(keys, texts, strict=False)]
    return {"position": position, "type": qtype, "stem": stem, "options": options, "choice": choice}


def test_the_kept_questions_are_the_macros_bytes(app):
    questions = [
        _q(1),
        _q(2, "multiple", choice="AC"),
        _q(3, "judge"),
        _q(4, stem='<script>alert("x")</script> & 「质量」'),
        _q(5, options=[{"key": "A", "text": "<b>1</b>"}, {"key": "B", "text": "2 & 3"}]),
        _q(6, "judge", choice="T"),
    ]
    expected = str(_macro(app)(questions, LABELS))
    assert str(fragments.questions_html(questions, LABELS)) == expected  # rendered, kept
    assert str(fragments.questions_html(questions, LABELS)) == expected  # from what was kept
    assert "&lt;script&gt;" in expected and "<b>1</b>" not in expected
    # The same questions at other positions: the kept renders take each its position.
    moved = [{**q, "position": q["position"] + 10} for q in reversed(questions)]
    assert str(fragments.questions_html(moved, LABELS)) == str(_macro(app)(moved, LABELS))
    assert str(fragments.questions_html([], LABELS)) == str(_macro(app)([], LABELS))


def test_what_a_question_shows_keys_its_render(app):
    fragments.questions_html([_q(1)], LABELS)
    other_order = _q(1, options=[{"key": "A", "text": "乙"}, {"key": "B", "text": "甲"}])
    english = {**LABELS, "single": "Single choice"}
    for qs, labels in (
        ([other_order], LABELS),
        ([_q(1)], english),
        ([_q(1, stem="另一题")], LABELS),
    ):
        assert str(fragments.questions_html(qs, labels)) == str(_macro(app)(qs, labels))


def test_a_stem_holding_the_placeholder_is_rendered_but_not_kept(app):
    odd = _q(1, stem="a\x00pos\x00b")
    assert str(fragments.questions_html([odd], LABELS)) == str(_macro(app)([odd], LABELS))
    assert not fragments._kept


def _phone_page(client, url, lang):
    g.pop("csrf_token", None)
    flask_babel.refresh()
    return client.get(url, headers={"Accept-Language": lang}).get_data(as_text=True)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_quiz_page_is_the_same_from_kept_questions(app, client, make_event, lang, monkeypatch):
    event = make_event()
    unit = event.competition.units[0].id
    r = client.post(
        f"/api/v1/events/{event.join_token}/attempts",
        json={"name": "张三", "phone": "13900000000", "unit_id": unit},
    )
    url = f"/a/{r.get_json()['attempt']['token']}"
    _phone_page(client, url, lang)  # renders and keeps
    assert fragments._kept
    kept = _phone_page(client, url, lang)
    with monkeypatch.context() as m:  # the page as the macro alone renders it
        m.setitem(app.jinja_env.globals, "questions_html", _macro(app))
        rendered = _phone_page(client, url, lang)

    def clock(page):  # the timer and the server's clock move between the two
        page = re.sub(r'data-(remaining|server-now)="[^"]*"', "", page)
        return re.sub(r'id="timer-value">[^<]*<', "", page)

    assert clock(kept) == clock(rendered)
    assert len(re.findall(r'<fieldset class="card question"', kept)) == 7


def test_choice_questions_are_kept_in_parts_whatever_their_order(app):
    texts = ("甲", "乙", "丙", "丁", "戊")

    def shown(position, order, qtype="single"):
        options = [{"key": "ABCDE"[i], "text": texts[j]} for i, j in enumerate(order)]
        return _q(position, qtype, stem="同一题", options=options)

    pages = [
        [shown(1, (0, 1, 2, 3))],
        [shown(2, (3, 2, 1, 0)), shown(7, (1, 3, 0, 2))],
        [shown(3, (4, 0, 1, 2, 3))],
        [shown(4, (2, 0), "multiple"), shown(5, (0, 2), "multiple")],
    ]
    for qs in pages:
        assert str(fragments.questions_html(qs, LABELS)) == str(_macro(app)(qs, LABELS))
    kept = sorted(key[:2] for key in fragments._kept)
    # one part per question type and stem, one per option text and input type
    assert kept.count(("question", "single")) == 1 and kept.count(("question", "multiple")) == 1
    assert kept.count(("option", False)) == 5 and kept.count(("option", True)) == 2
