"""The bank importer: header and cell notations, row errors, file formats, hostile files."""

from __future__ import annotations

import contextlib
import csv
import io
import re
import tracemalloc
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from quizapp.banks import parsing
from quizapp.banks.parsing import (
    ImportFileError,
    ParsedQuestion,
    RowError,
    fingerprint,
    parse_answer,
    parse_csv_bytes,
    parse_rows,
    parse_upload,
    parse_xlsx_bytes,
)

HEADER = [
    "题型",
    "题干",
    "选项A",
    "选项B",
    "选项C",
    "选项D",
    "答案",
    "解析",
    "分类",
    "难度",
    "来源",
]
SINGLE = ["单选", "1 米等于多少厘米？", "10", "100", "1000", "", "B", "", "", "", ""]


def rows_with(*rows, header=HEADER):
    return [list(header), *[list(row) for row in rows]]


def one(row, header=HEADER) -> ParsedQuestion:
    result = parse_rows(rows_with(row, header=header))
    assert result.errors == []
    (question,) = result.questions
    return question


def errors_of(*rows, header=HEADER) -> list[RowError]:
    result = parse_rows(rows_with(*rows, header=header))
    assert result.questions == []
    return result.errors


def csv_bytes(rows, *, encoding="utf-8", delimiter=",") -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows, *, extra_sheet=None) -> bytes:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    if extra_sheet:
        second = workbook.create_sheet("other")
        for row in extra_sheet:
            second.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def rezip(data: bytes, replace: dict) -> bytes:
    """A copy of the xlsx ``data`` with some parts replaced (bytes or a writer function)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            new = replace.get(name, source.read(name))
            if callable(new):
                with target.open(name, "w") as part:
                    new(part)
            else:
                target.writestr(name, new)
    return out.getvalue()


# --- headers -------------------------------------------------------------------

HEADER_SPELLINGS = {
    "题型": ["题型", "type", "类型", "题目类型", "Type", " TYPE ", "ｔｙｐｅ"],
    "题干": ["题干", "stem", "题目", "question", "Question"],
    "答案": ["答案", "answer", "正确答案", "ANSWER"],
    "选项A": ["选项A", "A", "选项a", "a", "A选项", "选项Ａ", "选项 A"],
    "选项B": ["选项B", "B", "b", "B选项"],
}


@pytest.mark.parametrize(
    ("field", "spelling"),
    [(field, spelling) for field, spellings in HEADER_SPELLINGS.items() for spelling in spellings],
)
def test_every_header_spelling_is_recognised(field, spelling):
    header = [spelling if name == field else name for name in HEADER]
    assert one(SINGLE, header=header).options == ("10", "100", "1000")


@pytest.mark.parametrize(
    ("spellings", "attribute", "value", "expected"),
    [
        (["解析", "explanation", "答案解析", "analysis"], "explanation", "因为", "因为"),
        (["分类", "category", "知识点"], "category", "计量单位", "计量单位"),
        (["难度", "difficulty"], "difficulty", "难", 3),
        (["来源", "source", "出处"], "source", "《计量法》第三条", "《计量法》第三条"),
    ],
)
def test_optional_header_spellings(spellings, attribute, value, expected):
    for spelling in spellings:
        header = ["题型", "题干", "A", "B", "答案", spelling]
        question = one(["单选", "q", "x", "y", "A", value], header=header)
        assert getattr(question, attribute) == expected


def test_all_eight_option_columns_in_any_order_and_unknown_columns_ignored():
    header = ["题号", "答案", *(f"选项{letter}" for letter in "HGFEDC"), "B", "A", "题干", "题型"]
    row = ["7", "a、h", "h", "g", "f", "e", "d", "c", "b", "a", "stem", "多选"]
    question = one(row, header=header)
    assert question.options == tuple("abcdefgh")
    assert question.answer == "AH"


@pytest.mark.parametrize("missing", ["题型", "题干", "答案"])
def test_missing_required_header_names_it(missing):
    header = [name for name in HEADER if name != missing]
    with pytest.raises(ImportFileError) as caught:
        parse_rows(rows_with(SINGLE[: len(header)], header=header))
    assert missing in str(caught.value.message)
    assert "Row 1" in str(caught.value)


def test_required_marks_on_headers_are_ignored():
    header = ["*题型", "题干*", "A", "B", "＊答案"]
    assert one(["单选", "q", "x", "y", "B"], header=header).answer == "B"


def test_two_columns_for_the_same_field_are_refused():
    with pytest.raises(ImportFileError, match="题干.*stem"):
        parse_rows([["题型", "题干", "答案", "stem"], ["单选", "q", "A", "q"]])


def test_a_title_row_above_the_header_is_reported_as_missing_columns():
    with pytest.raises(ImportFileError, match="header row"):
        parse_rows([["2024 质量月知识竞赛题库"], HEADER, SINGLE])


def test_no_rows_at_all():
    with pytest.raises(ImportFileError, match="empty"):
        parse_rows([])


# --- cells ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("单选", "single"), ("单选题", "single"), ("single", "single"), ("Single", "single"),
        ("单项选择题", "single"), ("多选", "multiple"), ("多选题", "multiple"),
        ("multiple", "multiple"), ("多项选择题", "multiple"), ("判断", "judge"),
        ("判断题", "judge"), ("judge", "judge"), (" 判断 ", "judge")
    ]
)  # fmt: skip
def test_type_spellings(written, expected):
    row = [written, "q", "x", "y", "z", "", "AB" if expected == "multiple" else "A"]
    if expected == "judge":
        row[6] = "对"
    assert one(row, header=HEADER[:7]).type == expected


@pytest.mark.parametrize(
    "raw",
    ["ABD", "A,B,D", "A、B、D", "A B D", "A|B|D", "A;B;D", "abd", "DBA", "ＡＢＤ", "Ａ，Ｂ，Ｄ",
     "A，B，D", "A；B；D", " A , B , D ", "A/B/D"]
)  # fmt: skip
def test_multiple_answer_notations(raw):
    assert parse_answer("multiple", raw, 4) == "ABD"


@pytest.mark.parametrize("raw", ["B", "b", "Ｂ", " B "])
def test_single_answer_notations(raw):
    assert parse_answer("single", raw, 4) == "B"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("对", "T"), ("错", "F"), ("√", "T"), ("×", "F"), ("✓", "T"), ("✗", "F"),
        ("正确", "T"), ("错误", "F"), ("T", "T"), ("F", "F"), ("t", "T"), ("Ｆ", "F"),
        ("true", "T"), ("FALSE", "F"), ("是", "T"), ("否", "F"), ("Y", "T"), ("N", "F")
    ]
)  # fmt: skip
def test_judge_answer_notations(raw, expected):
    assert parse_answer("judge", raw, 0) == expected
    assert one(["判断", "q", "", "", "", "", raw], header=HEADER[:7]).answer == expected


@pytest.mark.parametrize(
    ("qtype", "raw", "count", "words"),
    [
        ("single", "AB", 4, "exactly one"),
        ("multiple", "C", 4, "at least two"),
        ("single", "E", 4, "option E, which is empty"),
        ("multiple", "ABF", 4, "option F"),
        ("single", "Z", 4, "not an answer"),
        ("multiple", "AAB", 4, "twice"),
        ("single", "", 4, "missing"),
        ("judge", "maybe", 0, "not a true/false answer"),
        ("judge", "A", 0, "not a true/false answer"),
    ],
)
def test_bad_answers_raise_value_error_with_plain_words(qtype, raw, count, words):
    with pytest.raises(ValueError, match=words):
        parse_answer(qtype, raw, count)


def test_unknown_type_for_parse_answer():
    with pytest.raises(ValueError):
        parse_answer("essay", "A", 4)


@pytest.mark.parametrize(
    ("option_a", "option_b", "answer", "expected"),
    [("正确", "错误", "A", "T"), ("正确", "错误", "B", "F"), ("错误", "正确", "a", "F"),
     ("对", "错", "Ｂ", "F")]
)  # fmt: skip
def test_judge_written_as_two_options(option_a, option_b, answer, expected):
    question = one(["判断", "q", option_a, option_b, "", "", answer], header=HEADER[:7])
    assert (question.answer, question.options) == (expected, ())


def test_judge_letter_answer_must_point_at_a_true_false_option():
    (error,) = errors_of(["判断", "q", "苹果", "香蕉", "", "", "A"], header=HEADER[:7])
    assert (error.row, error.column) == (2, "答案")
    assert "正确 or 错误" in error.message


def test_judge_ignores_option_columns():
    question = one(["判断", "q", "", "", "x", "", "错"], header=HEADER[:7])
    assert question.options == ()


def test_options_must_not_have_gaps():
    errors = errors_of(["单选", "q", "x", "", "z", "", "A"], header=HEADER[:7])
    assert ("选项C", "Option C is filled but option B is empty") in [
        (error.column, error.message.split(";")[0]) for error in errors
    ]


@pytest.mark.parametrize("options", [["", "", "", ""], ["only", "", "", ""]])
def test_choice_questions_need_two_options(options):
    errors = errors_of(["单选", "q", *options, "A"], header=HEADER[:7])
    assert any("at least two options" in error.message for error in errors)


@pytest.mark.parametrize(
    ("written", "expected"),
    [("1", 1), ("2", 2), ("3", 3), ("易", 1), ("中", 2), ("难", 3), ("简单", 1), ("中等", 2),
     ("困难", 3), ("easy", 1), ("Medium", 2), ("HARD", 3), ("", 2), ("３", 3), (2.0, 2)]
)  # fmt: skip
def test_difficulty_spellings(written, expected):
    row = list(SINGLE)
    row[9] = written
    assert one(row).difficulty == expected


@pytest.mark.parametrize("written", ["4", "0", "很难", "1.5"])
def test_bad_difficulty(written):
    row = list(SINGLE)
    row[9] = written
    (error,) = errors_of(row)
    assert (error.row, error.column) == (2, "难度")


@pytest.mark.parametrize(
    ("column", "limit"),
    [("题干", 2000), ("选项A", 500), ("解析", 4000), ("分类", 100), ("来源", 500)],
)
def test_length_limits(column, limit):
    index = HEADER.index(column)
    row = list(SINGLE)
    row[index] = "长" * limit
    assert parse_rows(rows_with(row)).errors == []
    row[index] = "长" * (limit + 1)
    (error,) = errors_of(row)
    assert error.column == column
    assert str(limit) in error.message


def test_cells_are_text_stripped_and_numbers_lose_a_trailing_zero():
    question = one(["单选", "  1+2=? ", 3.0, 2, 4.5, None, " B "], header=HEADER[:7])
    assert question.stem == "1+2=?"
    assert question.options == ("3", "2", "4.5")
    assert question.answer == "B"


def test_control_characters_are_dropped_and_line_breaks_kept():
    question = one(["单选", "line 1\r\nline\x00 2\x07", "x", "y", "", "", "A"], header=HEADER[:7])
    assert question.stem == "line 1\nline 2"


@pytest.mark.parametrize(
    ("cell", "expected"),
    [("'=1+1", "=1+1"), ("'+1", "+1"), ("'-1", "-1"), ("'@x", "@x"), ("'＝x", "＝x"),
     ("''=x", "'=x"), ("'abc", "'abc"), ("it's", "it's"), ("'", "'")]
)  # fmt: skip
def test_one_exporter_apostrophe_is_stripped(cell, expected):
    assert one(["单选", cell, "x", "y", "", "", "A"], header=HEADER[:7]).stem == expected


def test_stem_is_required():
    (error,) = errors_of(["单选", " ", "x", "y", "", "", "A"], header=HEADER[:7])
    assert (error.row, error.column, error.message) == (2, "题干", "The question text is missing.")


def test_errors_of_every_row_are_collected_with_rows_and_written_columns():
    header = ["Type", "Stem", "A", "B", "C", "Answer", "Difficulty"]
    rows = [
        header,
        ["单选", "good", "x", "y", "", "A", ""],
        ["填空", "bad type", "x", "y", "", "A", ""],
        [None, None, None, None, None, None, None],
        ["多选", "", "x", "", "z", "AB", "9"],
        ["单选", "good 2", "x", "y", "", "", ""],
    ]
    result = parse_rows(rows)
    assert [q.row for q in result.questions] == [2]
    assert result.total_rows == 4
    found = [(error.row, error.column) for error in result.errors]
    assert found == [
        (3, "Type"),
        (5, "Stem"), (5, "Difficulty"), (5, "C"), (5, "B"), (5, "Answer"),
        (6, "Answer")
    ]  # fmt: skip
    assert all(isinstance(error.message, str) and error.message for error in result.errors)


def test_empty_rows_are_skipped_but_keep_their_numbers():
    result = parse_rows(
        [HEADER, [], ["", " ", None], ["", "", "", "", "", "", "", "", "", "", "", "42"], SINGLE]
    )
    assert [q.row for q in result.questions] == [5]
    assert result.total_rows == 1


def test_duplicates_within_a_file_name_the_first_row():
    shuffled = ["单选", "1米等于多少厘米", "1000", "10", "100", "", "C"]
    result = parse_rows(
        rows_with(SINGLE[:7], ["单选", "other", "x", "y", "", "", "A"], shuffled, header=HEADER[:7])
    )
    assert [q.row for q in result.questions] == [2, 3]
    (error,) = result.errors
    assert (error.row, error.column, error.message) == (
        4,
        "题干",
        "This question duplicates row 2.",
    )


def test_fingerprint_ignores_case_width_spacing_punctuation_and_option_order():
    base = fingerprint("single", "计量单位“米”是？", ["Metre", "千克"])
    assert base == fingerprint("single", " 计量单位 米 是  ", ["千克", "ｍｅｔｒｅ。"])
    assert re.fullmatch("[0-9a-f]{64}", base)
    assert base != fingerprint("multiple", "计量单位“米”是？", ["Metre", "千克"])
    assert base != fingerprint("single", "计量单位“秒”是？", ["Metre", "千克"])
    assert base != fingerprint("single", "计量单位“米”是？", ["Metre", "千克", "秒"])


def test_too_many_rows_gives_the_limit():
    rows = [[*SINGLE[:1], f"q{n}", *SINGLE[2:]] for n in range(4)]
    assert parse_rows(rows_with(*rows[:3]), max_rows=3).total_rows == 3
    with pytest.raises(ImportFileError, match="more than 3 questions"):
        parse_rows(rows_with(*rows), max_rows=3)


def test_too_many_rows_stops_reading_early():
    def endless():
        yield HEADER
        n = 0
        while True:
            n += 1
            yield ["单选", f"q{n}", "x", "y", "", "", "A"]

    with pytest.raises(ImportFileError):
        parse_rows(endless(), max_rows=10)


# --- CSV -------------------------------------------------------------------------

BANK = [
    HEADER,
    SINGLE,
    ["判断", "国际单位制有 7 个基本单位。", "", "", "", "", "√", "", "", "", ""],
]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
def test_csv_encodings(encoding):
    result = parse_csv_bytes(csv_bytes(BANK, encoding=encoding))
    assert [q.stem for q in result.questions] == [SINGLE[1], "国际单位制有 7 个基本单位。"]
    assert result.errors == []


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_csv_delimiters_are_sniffed(delimiter):
    data = csv_bytes(
        [HEADER, ["多选", "a, b; c\td", "x,1", "y;2", "", "", "A,B"]], delimiter=delimiter
    )
    (question,) = parse_csv_bytes(data).questions
    assert (question.stem, question.options, question.answer) == (
        "a, b; c\td",
        ("x,1", "y;2"),
        "AB",
    )


def test_csv_rows_are_records_even_with_line_breaks_in_cells():
    data = csv_bytes(
        [
            HEADER[:7],
            ["单选", "two\nlines", "x", "y", "", "", "A"],
            ["单选", "", "x", "y", "", "", "A"],
        ]
    )
    result = parse_csv_bytes(data)
    assert result.questions[0].stem == "two\nlines"
    assert [error.row for error in result.errors] == [3]


def test_undecodable_byte_is_reported_with_its_line():
    good = csv_bytes(BANK, encoding="gb18030")
    with pytest.raises(ImportFileError) as caught:
        parse_csv_bytes(good + "单选,坏,x,y,,,A\n".encode("gb18030") + b"\xff\xfe\n")
    assert "line 5" in str(caught.value) and "0xFF" in str(caught.value)
    utf8 = csv_bytes(BANK)
    at = utf8.index(b"\n") + 1
    with pytest.raises(ImportFileError, match="line 2"):
        parse_csv_bytes(utf8[:at] + b"\x80\xff" + utf8[at:])


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b"\n\n", "empty"),
        ("题型,题干\x00,答案\n".encode(), "binary"),
        (b"%PDF-1.7\n...", "PDF"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, ".xlsx"),
        (b"PK\x03\x04rest", "Excel workbook"),
    ],
)
def test_csv_refusals(data, words):
    with pytest.raises(ImportFileError, match=words):
        parse_csv_bytes(data)


def test_overlong_csv_field_is_a_file_error_with_its_line():
    data = csv_bytes([HEADER[:7], ["单选", "x" * 200_000, "x", "y", "", "", "A"]])
    with pytest.raises(ImportFileError, match="Line 2"):
        parse_csv_bytes(data)


# --- xlsx ------------------------------------------------------------------------


def test_xlsx_reads_the_first_sheet_and_numbers_as_text():
    data = xlsx_bytes([HEADER, [*SINGLE[:9], 3, None]], extra_sheet=[["not", "read"]])
    (question,) = parse_xlsx_bytes(data).questions
    assert (question.row, question.difficulty, question.options) == (2, 3, ("10", "100", "1000"))


def test_xlsx_gaps_keep_sheet_row_numbers():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER[:7])
    sheet["A5"], sheet["B5"], sheet["C5"], sheet["G5"] = "单选", "q", "x", "A"
    buffer = io.BytesIO()
    workbook.save(buffer)
    (error,) = parse_xlsx_bytes(buffer.getvalue()).errors
    assert (error.row, error.column) == (5, "选项B")


def test_xlsx_with_a_too_small_declared_dimension_is_read_whole():
    data = xlsx_bytes([HEADER, SINGLE, ["单选", "second", "x", "y", "", "", "A"]])
    sheet = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    sheet, count = re.subn(rb'<dimension ref="A1:K3" ?/>', b'<dimension ref="A1:B1"/>', sheet)
    assert count == 1
    assert len(parse_xlsx_bytes(rezip(data, {"xl/worksheets/sheet1.xml": sheet})).questions) == 2


def _spaces(megabytes):
    def write(part):
        part.write(
            b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        )
        for _ in range(megabytes):
            part.write(b" " * (1 << 20))
        part.write(b"</sheetData></worksheet>")

    return write


@pytest.fixture
def openpyxl_calls(monkeypatch):
    calls = []
    import openpyxl  # the parser imports it on first use

    monkeypatch.setattr(openpyxl, "load_workbook", lambda *a, **k: calls.append(a))
    return calls


def test_zip_bomb_is_refused_before_openpyxl_and_without_memory_growth(openpyxl_calls):
    bomb = rezip(xlsx_bytes([HEADER]), {"xl/worksheets/sheet1.xml": _spaces(60)})
    assert len(bomb) < 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(ImportFileError, match="50 MB"):
            parse_xlsx_bytes(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 1024 * 1024
    assert openpyxl_calls == []


def test_highly_compressed_part_is_refused_even_under_the_total_limit(openpyxl_calls):
    bomb = rezip(xlsx_bytes([HEADER]), {"xl/worksheets/sheet1.xml": _spaces(3)})
    with pytest.raises(ImportFileError, match="compressed far more tightly"):
        parse_xlsx_bytes(bomb)
    assert openpyxl_calls == []


def test_archive_with_too_many_parts_is_refused():
    parts = {f"xl/media/p{n}.bin": b"x" for n in range(1001)}
    data = xlsx_bytes([HEADER])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        target.writestr(
            "[Content_Types].xml", zipfile.ZipFile(io.BytesIO(data)).read("[Content_Types].xml")
        )
        for name, content in parts.items():
            target.writestr(name, content)
    with pytest.raises(ImportFileError, match="too many parts"):
        parse_xlsx_bytes(out.getvalue())


LAUGHS = (
    b'<?xml version="1.0"?>%s<!DOCTYPE lolz [<!ENTITY lol0 "lol">'
    + b"".join(b'<!ENTITY lol%d "%s">' % (n, b"&lol%d;" % (n - 1) * 10) for n in range(1, 10))
    + b']><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
    b"</sheetData></worksheet>"
)


def test_billion_laughs_is_refused_before_openpyxl(openpyxl_calls):
    data = rezip(xlsx_bytes([HEADER]), {"xl/worksheets/sheet1.xml": LAUGHS % b""})
    with pytest.raises(ImportFileError, match="DOCTYPE"):
        parse_xlsx_bytes(data)
    assert openpyxl_calls == []


def test_billion_laughs_past_the_stream_check_is_still_refused_by_the_xml_parser(monkeypatch):
    """defusedxml is the second line: with the stream check blind to DTDs, the bomb
    still reaches no expansion."""
    monkeypatch.setattr(parsing, "_DTD_MARKERS", ())
    data = rezip(xlsx_bytes([HEADER]), {"xl/worksheets/sheet1.xml": LAUGHS % b""})
    with pytest.raises(ImportFileError, match="cannot be read"):
        parse_xlsx_bytes(data)


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512,
            r"save it as an Excel Workbook \(\.xlsx\)",
        ),
        ("题型,题干,答案\n".encode(), "not an xlsx file"),
        (b"", "not an xlsx file"),
        (b"PK\x03\x04" + b"\x00" * 100, "cannot be read"),
    ],
)
def test_xlsx_refusals(data, words):
    with pytest.raises(ImportFileError, match=words):
        parse_xlsx_bytes(data)


def test_unusually_packed_archive_is_refused(openpyxl_calls):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_BZIP2) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(ImportFileError, match="packed in an unusual way"):
        parse_xlsx_bytes(out.getvalue())
    assert openpyxl_calls == []


def test_a_zip_that_is_not_a_workbook_cannot_be_read():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(ImportFileError, match="cannot be read"):
        parse_xlsx_bytes(out.getvalue())


# --- parse_upload ------------------------------------------------------------------


@pytest.mark.parametrize("filename", ["bank.xlsx", "题库.XLSX", r"C:\Users\me\bank.Xlsx"])
def test_upload_dispatches_xlsx(filename):
    assert parse_upload(xlsx_bytes(BANK), filename).total_rows == 2


@pytest.mark.parametrize("filename", ["bank.csv", "题库.CSV"])
def test_upload_dispatches_csv(filename):
    assert parse_upload(csv_bytes(BANK, encoding="gb18030"), filename).total_rows == 2


@pytest.mark.parametrize(
    ("data", "filename", "words"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "bank.xls", r"\.xlsx"),
        (b"%PDF-1.4", "bank.xlsx", "PDF"),
        (b"%PDF-1.4", "bank.pdf", r"Only \.xlsx and \.csv"),
        (b"x", "bank.txt", r"Only \.xlsx and \.csv"),
        (b"x", "bank", r"Only \.xlsx and \.csv"),
        (None, "bank.csv", "Excel workbook"),
        (csv_bytes(BANK), "bank.xlsx", "not an xlsx file"),
    ],
)
def test_upload_refusals(data, filename, words):
    with pytest.raises(ImportFileError, match=words):
        parse_upload(xlsx_bytes(BANK) if data is None else data, filename)


def test_import_file_error_message_is_lazy_and_plain():
    with pytest.raises(ImportFileError) as caught:
        parse_upload(b"x", "bank.doc")
    assert not isinstance(caught.value.message, str)
    expected = "Only .xlsx and .csv files can be imported; bank.doc is neither."
    assert str(caught.value.message) == str(caught.value) == expected


# --- robustness --------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_only_raise_import_file_error(data):
    for parse in (parse_csv_bytes, parse_xlsx_bytes):
        try:
            result = parse(data)
        except ImportFileError:
            continue
        assert result.total_rows >= len(result.questions)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=400), st.integers(min_value=0, max_value=3000))
def test_damaged_workbooks_only_raise_import_file_error(noise, at):
    data = bytearray(xlsx_bytes(BANK))
    at %= len(data)
    data[at : at + len(noise)] = noise
    with contextlib.suppress(ImportFileError):
        parse_xlsx_bytes(bytes(data))


HEADER_WORDS = [*HEADER, "type", "stem", "answer", "A", "B", "C", "题号", "", None]
CELLS = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.sampled_from(
        ["单选", "多选", "判断", "A", "ab", "A、C", "对", "×", "易", "3", "'=1", "选项A"]
    ),
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(HEADER_WORDS), max_size=14),
    st.lists(st.lists(CELLS, max_size=14), max_size=12),
)
def test_random_cell_grids_only_raise_import_file_error(header, rows):
    try:
        result = parse_rows([header, *rows], max_rows=10)
    except ImportFileError:
        return
    rows_with_problems = {error.row for error in result.errors}
    assert all(2 <= row <= len(rows) + 1 for row in rows_with_problems)
    assert not rows_with_problems & {q.row for q in result.questions}
    for question in result.questions:
        assert question.type in parsing.QUESTION_TYPES
        assert 1 <= question.difficulty <= 3
