"""Cell-level helpers of the bank importer and exporter.

Pure text work: the organiser-facing messages, the alias tables for headers and
cell notations, turning a spreadsheet value into clean text, the formula escape,
the duplicate fingerprint, and the validation of one row's cells.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence

from flask_babel import LazyString
from flask_babel import lazy_gettext as _l

from quizapp.banks import qtypes
from quizapp.banks.qtypes import LETTERS  # option columns A..H

QUESTION_TYPES = tuple(qtypes.QUESTION_TYPES)  # ("single", "multiple", "judge")
LIMITS = {"stem": 2000, "explanation": 4000, "category": 100, "source": 500, "option": 500}

# All organiser-facing texts in one place; values are filled in by message().
MESSAGES = {
    "empty_file": _l("The file is empty."),
    "too_many_rows": _l("The file has more than %(limit)s questions; split it into smaller files."),
    "duplicate_header": _l(
        'Row 1 has two columns for the same thing: "%(first)s" (column %(a)s) and "%(second)s" '
        "(column %(b)s). Delete or rename one of them."
    ),
    "missing_header": _l("Row 1 must be the header row, but it has no %(names)s column."),
    "bad_extension": _l("Only .xlsx and .csv files can be imported; %(name)s is neither."),
    "xls": _l(
        "This is an old Excel file (.xls) or a password-protected workbook. Open it in Excel or "
        "WPS, save it as an Excel Workbook (.xlsx) without a password, and upload that."
    ),
    "pdf": _l(
        "This is a PDF file; export the questions from Excel or WPS as .xlsx or .csv instead."
    ),
    "xlsx_as_csv": _l(
        "This file is an Excel workbook, not CSV; give it the .xlsx extension and upload it again."
    ),
    "not_xlsx": _l(
        "This is not an xlsx file; save it from Excel or WPS as an Excel Workbook (.xlsx)."
    ),
    "binary": _l("This is a binary file, not CSV text."),
    "utf16": _l("The UTF-16 text of this file is damaged."),
    "encoding": _l(
        "The file is neither UTF-8 nor GB18030 text: line %(line)s holds a byte (0x%(byte)s) "
        'that cannot be read. Save it as "CSV UTF-8" and upload it again.'
    ),
    "csv_line": _l("Line %(line)s of the CSV file cannot be read (%(reason)s)."),
    "too_many_parts": _l("The workbook has too many parts to be a question bank."),
    "too_big": _l(
        "The workbook unpacks to more than %(limit)s MB, which is too big for a question bank."
    ),
    "compressed": _l(
        "The workbook is compressed far more tightly than a real spreadsheet; save it again from "
        "Excel or WPS."
    ),
    "packed": _l("The workbook is encrypted or packed in an unusual way."),
    "dtd": _l("The workbook contains XML declarations that are not allowed (DOCTYPE or ENTITY)."),
    "unreadable": _l(
        "The workbook cannot be read; open it in Excel or WPS, save it as .xlsx and upload it "
        "again."
    ),
    "type_missing": _l("The question type is missing; write 单选, 多选 or 判断."),
    "type_bad": _l('"%(value)s" is not a question type; write 单选, 多选 or 判断.'),
    "stem_missing": _l("The question text is missing."),
    "too_long": _l("This cell has %(length)s characters; at most %(limit)s are allowed."),
    "difficulty_bad": _l('"%(value)s" is not a difficulty; write 1, 2 or 3 (易, 中, 难).'),
    "option_gap": _l(
        "Option %(letter)s is filled but option %(previous)s is empty; fill the options from A "
        "onwards without gaps."
    ),
    "too_few_options": _l("A choice question needs at least two options (A and B)."),
    "answer_missing": _l("The answer is missing."),
    "judge_bad": _l(
        '"%(value)s" is not a true/false answer; write 正确 or 错误 (also 对/错, √/×, T/F).'
    ),
    "judge_letter": _l(
        "Answer %(letter)s must point at an option that says 正确 or 错误; "
        "or write 正确/错误 as the answer."
    ),
    "answer_bad": _l('"%(value)s" is not an answer; write option letters such as B or ABD.'),
    "answer_twice": _l("The answer %(value)s names an option twice."),
    "answer_empty_option": _l("The answer names option %(letters)s, which is empty."),
    "single_count": _l("A single-choice question has exactly one answer letter, not %(value)s."),
    "multiple_count": _l(
        "A multiple-choice question needs at least two answer letters, not %(value)s."
    ),
    "duplicate": _l("This question duplicates row %(other)s."),
}


def message(code: str, **values: object) -> str:
    """The message ``code`` in the current locale, with its placeholders filled in."""
    text = str(MESSAGES[code])
    return text % values if values else text


def lazy_message(code: str, **values: object) -> LazyString:
    """Like :func:`message`, translated only when it is shown."""
    return LazyString(message, code, **values)


# Canonical field -> header spellings, compared after key().
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "type": ("题型", "type", "类型", "题目类型"),
    "stem": ("题干", "stem", "题目", "question"),
    "answer": ("答案", "answer", "正确答案"),
    "explanation": ("解析", "explanation", "答案解析", "analysis"),
    "category": ("分类", "category", "知识点"),
    "difficulty": ("难度", "difficulty"),
    "source": ("来源", "source", "出处"),
}
for _low in LETTERS.lower():
    HEADER_ALIASES[_low.upper()] = (f"选项{_low}", _low, f"{_low}选项", f"option{_low}")
REQUIRED_FIELDS = ("type", "stem", "answer")
FIELD_LABELS = {"type": "题型 (type)", "stem": "题干 (stem)", "answer": "答案 (answer)"}
TYPE_ALIASES = {
    "single": ("单选", "单选题", "单项选择", "单项选择题", "single", "singlechoice"),
    "multiple": ("多选", "多选题", "多项选择", "多项选择题", "multiple", "multiplechoice"),
    "judge": ("判断", "判断题", "judge", "trueorfalse", "truefalse"),
}
JUDGE_ALIASES = {
    "T": ("对", "√", "✓", "✔", "正确", "t", "true", "是", "y", "yes"),
    "F": ("错", "×", "✗", "✘", "错误", "f", "false", "否", "n", "no"),
}
DIFFICULTY_ALIASES = {
    1: ("1", "易", "简单", "容易", "easy"),
    2: ("2", "中", "中等", "一般", "medium", "normal"),
    3: ("3", "难", "困难", "hard"),
}


def _invert(table: dict) -> dict:
    return {alias: name for name, aliases in table.items() for alias in aliases}


HEADER_LOOKUP = _invert(HEADER_ALIASES)
TYPE_LOOKUP = _invert(TYPE_ALIASES)
JUDGE_LOOKUP = _invert(JUDGE_ALIASES)
DIFFICULTY_LOOKUP = _invert(DIFFICULTY_ALIASES)

# A cell starting with one of these is run as a formula (or DDE payload) by
# Excel, LibreOffice or WPS; tab and CR are in the OWASP list because some
# spreadsheets skip them before looking at the first character.
FORMULA_START = frozenset("=+-@\uff1d\uff0b\uff0d\uff20\t\r")
_AFTER_APOSTROPHES = re.compile(r"'*(.)", re.DOTALL)
# C0/C1 controls except tab and newline, and the two XML non-characters: xlsx
# cannot store them, and they are never meant to be part of a question.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffe\uffff]")
# Chinese punctuation is category P*/S* already; the set documents the intent.
_CJK_PUNCT = frozenset("，。、；：？！…—－·・「」『』〈〉《》【】〔〕（）“”‘’～￥")
_ANSWER_SEPARATORS = re.compile(r"[,、|;/\s]+")  # after NFKC, so ，；｜ too


def key(text: str) -> str:
    """Comparison form of a notation: NFKC, case-folded, without any whitespace."""
    text = unicodedata.normalize("NFKC", text).replace("\ufeff", "")
    return "".join(text.casefold().split())


def neutralise(cell: str) -> str:
    """Prefix an apostrophe to a cell that a spreadsheet would run as a formula.

    A cell of apostrophes followed by a formula character gets one more as well,
    so :func:`unneutralise` gives back every string exactly.
    """
    match = _AFTER_APOSTROPHES.match(cell)
    return "'" + cell if match and match.group(1) in FORMULA_START else cell


def unneutralise(cell: str) -> str:
    """Undo :func:`neutralise`: drop ONE apostrophe that precedes a formula character."""
    match = _AFTER_APOSTROPHES.match(cell, 1)
    if cell.startswith("'") and match and match.group(1) in FORMULA_START:
        return cell[1:]
    return cell


def cell_text(value: object) -> str:
    """A spreadsheet value as trimmed text: ``None`` is ``""``, ``3.0`` is ``"3"``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unneutralise(clean_text(str(value)).strip()).strip()


def clean_text(text: str) -> str:
    """Line breaks as LF; control characters other than tab and LF removed."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _squeeze(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(
        ch
        for ch in text
        if not ch.isspace() and ch not in _CJK_PUNCT and unicodedata.category(ch)[0] not in "PSZ"
    )


def fingerprint(qtype: str, stem: str, options: Sequence[str]) -> str:
    """Identity of a question for duplicate detection (sha256 hex, 64 chars).

    Stem and options are NFKC-normalised and case-folded and lose all whitespace,
    punctuation and symbols, so "A、1+1=？" and "a 1 1" collide on purpose. Options
    are sorted, so their order does not matter. The type is part of the identity.
    """
    parts = [qtype, _squeeze(stem), *sorted(_squeeze(option) for option in options)]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


Fail = Callable[[str, str], None]  # fail(field, message)


def check_row(values: dict[str, str], fail: Fail) -> dict[str, object]:
    """Validate one row's cell texts, keyed by field ("type", "stem", "A"...).

    Returns the fields of a ParsedQuestion but its row and fingerprint; they are
    only meaningful when ``fail`` was not called. ``fail(field, message)`` receives
    every problem of the row.
    """
    get = values.get
    qtype = TYPE_LOOKUP.get(key(values["type"]))
    if qtype is None and values["type"]:
        fail("type", message("type_bad", value=values["type"]))
    elif qtype is None:
        fail("type", message("type_missing"))
    if not values["stem"]:
        fail("stem", message("stem_missing"))
    for name in ("stem", "explanation", "category", "source"):
        if len(get(name, "")) > LIMITS[name]:
            fail(name, message("too_long", length=len(get(name, "")), limit=LIMITS[name]))
    difficulty = DIFFICULTY_LOOKUP.get(key(get("difficulty", "")) or "2")
    if difficulty is None:
        fail("difficulty", message("difficulty_bad", value=get("difficulty")))
    raw_options = [get(letter, "") for letter in LETTERS]
    options = () if qtype == "judge" else check_options(raw_options, qtype, fail)
    answer = ""
    try:
        if qtype == "judge":
            answer = judge_answer(values["answer"], raw_options)
        elif qtype is not None:
            answer = parse_answer(qtype, values["answer"], len(options))
    except ValueError as exc:
        fail("answer", exc.args[0])
    return {
        "type": qtype,
        "stem": values["stem"],
        "options": options,
        "answer": answer,
        "explanation": get("explanation", ""),
        "category": get("category", ""),
        "difficulty": difficulty,
        "source": get("source", ""),
    }


def check_options(raw: list[str], qtype: str | None, fail: Fail) -> tuple[str, ...]:
    """Options A.. up to the first empty one; reports gaps, over-long options and a
    choice question with fewer than two options."""
    for index, text in enumerate(raw):
        letter = LETTERS[index]
        if text and index and not raw[index - 1]:
            fail(letter, message("option_gap", letter=letter, previous=LETTERS[index - 1]))
        if len(text) > LIMITS["option"]:
            fail(letter, message("too_long", length=len(text), limit=LIMITS["option"]))
    count = raw.index("") if "" in raw else len(raw)
    if qtype is not None and count < 2:
        fail("B" if count else "A", message("too_few_options"))
    return tuple(raw[:count])


def judge_answer(raw: str, raw_options: Sequence[str]) -> str:
    """T/F from a judge notation, or from a letter pointing at an option 正确/错误
    (a true/false question written as two options). Raises ValueError(message)."""
    letter = unicodedata.normalize("NFKC", raw).strip().upper()
    if key(raw) not in JUDGE_LOOKUP and len(letter) == 1 and letter in LETTERS:
        verdict = JUDGE_LOOKUP.get(key(raw_options[LETTERS.index(letter)]))
        if verdict is None:
            raise ValueError(message("judge_letter", letter=letter))
        return verdict
    return parse_answer("judge", raw, 0)


def parse_answer(qtype: str, raw: str, option_count: int) -> str:
    """Canonical answer: sorted letters (``"ABD"``), or ``"T"``/``"F"`` for judge.

    Accepts full- and half-width forms and the separators , 、 | ; / and spaces.
    Raises ValueError with a message for the organiser when the answer is bad.
    """
    if qtype not in QUESTION_TYPES:
        raise ValueError(f"unknown question type {qtype!r}")
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text:
        raise ValueError(message("answer_missing"))
    if qtype == "judge":
        if key(text) not in JUDGE_LOOKUP:
            raise ValueError(message("judge_bad", value=raw))
        return JUDGE_LOOKUP[key(text)]
    letters = _ANSWER_SEPARATORS.sub("", text).upper()
    if not letters or any(ch not in LETTERS for ch in letters):
        raise ValueError(message("answer_bad", value=raw))
    if len(set(letters)) != len(letters):
        raise ValueError(message("answer_twice", value=raw))
    empty = "".join(ch for ch in letters if LETTERS.index(ch) >= option_count)
    if empty:
        raise ValueError(message("answer_empty_option", letters=empty))
    if qtype == "single" and len(letters) != 1:
        raise ValueError(message("single_count", value=raw))
    if qtype == "multiple" and len(letters) < 2:
        raise ValueError(message("multiple_count", value=raw))
    return "".join(sorted(letters))
