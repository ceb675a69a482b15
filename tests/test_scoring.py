"""Scoring rules (documented in QuestionType.award) and unit lists from files."""

from __future__ import annotations

import io

import openpyxl
import pytest

from quizapp.banks.qtypes import QUESTION_TYPES
from quizapp.competitions.services import parse_units_file
from quizapp.play import services
from quizapp.play.presenters import attempt_payload
from tests.conftest import correct_choice

MULTI = QUESTION_TYPES["multiple"]


@pytest.mark.parametrize(
    "mode,choice,expected",
    [
        ("all", "ABC", 10),
        ("all", "AB", 0),
        ("all", "ABD", 0),
        ("half", "ABC", 10),
        ("half", "AB", 5),
        ("half", "A", 5),
        ("half", "AD", 0),
        ("proportional", "ABC", 10),
        ("proportional", "AB", 6),
        ("proportional", "A", 3),
        ("proportional", "ABCD", 0),
        ("half", "", 0),
        ("half", None, 0),
    ],
)
def test_multiple_choice_scoring_modes(mode, choice, expected):
    assert MULTI.award(choice, "ABC", 10, mode) == expected


def test_single_and_judge_ignore_partial_modes():
    assert QUESTION_TYPES["single"].award("A", "B", 5, "half") == 0
    assert QUESTION_TYPES["judge"].award("T", "T", 5, "proportional") == 5


def test_half_credit_applies_to_an_attempt(make_event, make_competition, now):
    comp = make_competition(counts={"single": 0, "multiple": 2, "judge": 0})
    comp.multiple_scoring = "half"
    event = make_event(comp)
    attempt, _ = services.join(
        event.join_token, name="部分", phone="13312345678", unit_id=comp.units[0].id, now=now
    )
    first, second = attempt_payload(attempt, now)["questions"]
    services.save_answer(attempt.token, first["position"], correct_choice(first)[0], now)
    services.save_answer(attempt.token, second["position"], correct_choice(second), now)
    done = services.submit(attempt.token, now)
    assert done.score == 5 + 10 and done.correct_count == 1


def test_units_from_xlsx_with_headcounts():
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["单位", "类别", "应参与人数"])
    sheet.append(["东城区", "区", 120])
    sheet.append(["西城区", "区", None])
    buf = io.BytesIO()
    book.save(buf)
    assert parse_units_file(buf.getvalue(), "units.xlsx") == [("东城区", 120), ("西城区", None)]
