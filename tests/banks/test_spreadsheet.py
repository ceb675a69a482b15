"""The bank exporter: layout, formula neutralising, and export -> import round trips."""

from __future__ import annotations

import csv
import io
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from quizapp.banks._cells import cell_text, unneutralise
from quizapp.banks.parsing import ParsedQuestion, fingerprint, parse_csv_bytes, parse_xlsx_bytes
from quizapp.banks.spreadsheet import (
    EXPORT_HEADER,
    neutralise,
    question_rows,
    write_csv,
    write_xlsx,
)

OPTION_HEADERS = ["选项A", "选项B", "选项C", "选项D", "选项E", "选项F", "选项G", "选项H"]


def question(row, qtype, stem, options, answer, **extra) -> ParsedQuestion:
    fields = {"explanation": "", "category": "", "difficulty": 2, "source": "", **extra}
    return ParsedQuestion(
        row=row, type=qtype, stem=stem, options=tuple(options), answer=answer,
        fingerprint=fingerprint(qtype, stem, options), **fields
    )  # fmt: skip


BANK = [
    question(2, "single", "1+1=?", ["=1+1", "+2", "-3", "@4"], "B", explanation="=SUM(A1)"),
    question(3, "multiple", "全角公式字符", ["＝1", "＋2", "－3", "＠4", "'=5", "''-6"], "ACF"),
    question(4, "judge", "国际单位制有 7 个基本单位。", [], "T", difficulty=1, category="单位"),
    question(5, "judge", '=HYPERLINK("http://x")', [], "F", difficulty=3, source="-计量法"),
    question(6, "multiple", "八个选项\n两行题干", list("ABCDEFGH"), "ABCDEFGH", source="@src"),
    question(7, "single", "#N/A", ["TRUE", "3.0", "001", "1E5"], "D", category="+分类"),
]


def exported_csv(questions) -> bytes:
    buffer = io.BytesIO()
    write_csv(questions, buffer)
    return buffer.getvalue()


def exported_xlsx(questions) -> bytes:
    buffer = io.BytesIO()
    write_xlsx(questions, buffer)
    return buffer.getvalue()


def test_export_header_is_stable():
    expected = ["题型", "题干", *OPTION_HEADERS, "答案", "解析", "分类", "难度", "来源"]
    assert expected == EXPORT_HEADER


def test_question_rows_layout():
    rows = list(question_rows(BANK[:3]))
    assert rows[0] == EXPORT_HEADER
    assert rows[1] == [
        "单选", "1+1=?", "'=1+1", "'+2", "'-3", "'@4", "", "", "", "", "B", "'=SUM(A1)", "", "2", ""
    ]  # fmt: skip
    assert rows[2][0] == "多选" and rows[2][10] == "ACF"
    assert rows[3] == [
        "判断",
        "国际单位制有 7 个基本单位。",
        *[""] * 8,
        "正确",
        "",
        "单位",
        "1",
        "",
    ]
    assert all(len(row) == len(EXPORT_HEADER) for row in rows)


def test_question_rows_accept_orm_like_objects_with_gaps():
    orm = SimpleNamespace(
        type="judge", stem="s", options=[], answer="F", explanation=None, category="",
        difficulty=None, source=""
    )  # fmt: skip
    assert list(question_rows([orm]))[1] == ["判断", "s", *[""] * 8, "错误", "", "", "", ""]


def test_more_than_eight_options_is_a_programming_error():
    with pytest.raises(ValueError):
        list(question_rows([question(2, "single", "s", list("ABCDEFGHI"), "A")]))


@pytest.mark.parametrize(
    "cell", ["=1", "+1", "-1", "@A1", "＝1", "＋1", "－1", "＠x", "\tx", "\rx", "'=x", "''+x"]
)
def test_neutralise_prefixes_an_apostrophe(cell):
    assert neutralise(cell) == "'" + cell
    assert unneutralise(neutralise(cell)) == cell


@pytest.mark.parametrize("cell", ["", "x", "1+1", "it's", "'quoted'", "'", "a=b", "#N/A"])
def test_neutralise_leaves_harmless_cells_alone(cell):
    assert neutralise(cell) == cell
    assert unneutralise(cell) == cell


@given(st.text())
def test_unneutralise_undoes_neutralise(text):
    assert unneutralise(neutralise(text)) == text


def test_csv_is_utf8_with_bom_and_leaves_the_file_open():
    buffer = io.BytesIO()
    write_csv(BANK, buffer)
    assert not buffer.closed
    data = buffer.getvalue()
    assert data.startswith(b"\xef\xbb\xbf") and data.count(b"\xef\xbb\xbf") == 1
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows == list(question_rows(BANK))


def test_xlsx_sheet_header_and_text_cells():
    buffer = io.BytesIO()
    write_xlsx(BANK, buffer)
    assert not buffer.closed
    workbook = load_workbook(io.BytesIO(buffer.getvalue()))
    assert workbook.sheetnames == ["题库"]
    sheet = workbook["题库"]
    assert [cell.value for cell in sheet[1]] == EXPORT_HEADER
    assert all(cell.font.bold for cell in sheet[1])
    assert not any(cell.font.bold for cell in sheet[2])
    types = {cell.data_type for row in sheet.iter_rows(min_row=2) for cell in row}
    assert types <= {"s", "inlineStr"}  # no numbers, dates, booleans or formulas
    assert sheet["B7"].value == "#N/A" and sheet["C2"].value == "'=1+1"
    assert sheet.freeze_panes == "A2"


def test_control_characters_do_not_break_the_xlsx():
    dirty = SimpleNamespace(
        type="single", stem="a\x01b\r\nc\x0b", options=["x\x00", "y"], answer="A",
        explanation="", category="", difficulty=2, source=""
    )  # fmt: skip
    (parsed,) = parse_xlsx_bytes(exported_xlsx([dirty])).questions
    assert (parsed.stem, parsed.options) == ("ab\nc", ("x", "y"))


@pytest.mark.parametrize("export, parse", [(exported_csv, parse_csv_bytes), (exported_xlsx, parse_xlsx_bytes)])  # fmt: skip
def test_round_trip_gives_identical_questions(export, parse):
    result = parse(export(BANK))
    assert result.errors == []
    assert tuple(result.questions) == tuple(BANK)


def test_exported_csv_imports_the_same_after_excel_saves_it_as_gb18030():
    text = exported_csv(BANK).decode("utf-8-sig")
    assert tuple(parse_csv_bytes(text.encode("gb18030")).questions) == tuple(BANK)


# Text the importer keeps as it is: trimmed, no control characters, no stray escape.
CLEAN_TEXT = (
    st.text(min_size=1, max_size=30)
    .map(cell_text)
    .filter(lambda text: text and cell_text(text) == text)
)


@st.composite
def questions(draw):
    qtype = draw(st.sampled_from(["single", "multiple", "judge"]))
    stem = draw(CLEAN_TEXT)
    if qtype == "judge":
        options, answer = [], draw(st.sampled_from("TF"))
    else:
        options = draw(st.lists(CLEAN_TEXT, min_size=2, max_size=8))
        letters = "ABCDEFGH"[: len(options)]
        size = 1 if qtype == "single" else draw(st.integers(2, len(options)))
        answer = "".join(sorted(draw(st.permutations(letters))[:size]))
    extra = {
        "explanation": draw(st.just("") | CLEAN_TEXT),
        "category": draw(st.just("") | CLEAN_TEXT),
        "source": draw(st.just("") | CLEAN_TEXT),
        "difficulty": draw(st.integers(1, 3)),
    }
    return qtype, stem, options, answer, extra


def _bank(drawn) -> list[ParsedQuestion]:
    bank, seen = [], set()
    for qtype, stem, options, answer, extra in drawn:
        item = question(len(bank) + 2, qtype, stem, options, answer, **extra)
        if item.fingerprint not in seen:
            seen.add(item.fingerprint)
            bank.append(item)
    return bank


@settings(max_examples=150, deadline=None)
@given(st.lists(questions(), max_size=6))
def test_any_bank_round_trips_through_csv(drawn):
    bank = _bank(drawn)
    result = parse_csv_bytes(exported_csv(bank))
    assert result.errors == []
    assert tuple(result.questions) == tuple(bank)


@settings(max_examples=40, deadline=None)
@given(st.lists(questions(), max_size=6))
def test_any_bank_round_trips_through_xlsx(drawn):
    bank = _bank(drawn)
    result = parse_xlsx_bytes(exported_xlsx(bank))
    assert result.errors == []
    assert tuple(result.questions) == tuple(bank)
