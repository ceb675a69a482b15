"""Export questions in the importer's layout, as .csv or .xlsx.

What is written here imports back unchanged through :mod:`quizapp.banks.parsing`.
Cells that a spreadsheet would run as a formula are prefixed with an apostrophe
(:func:`neutralise`); the importer removes exactly that apostrophe again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, BinaryIO, Protocol

from quizapp.banks._cells import LETTERS, clean_text, neutralise

if TYPE_CHECKING:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

__all__ = [
    "EXPORT_HEADER",
    "ExportQuestion",
    "neutralise",
    "question_rows",
    "write_csv",
    "write_xlsx",
]

# Always all eight option columns, so every export has the same layout.
EXPORT_HEADER = ["题型", "题干", *(f"选项{letter}" for letter in LETTERS)]
EXPORT_HEADER += ["答案", "解析", "分类", "难度", "来源"]
SHEET_TITLE = "题库"
TYPE_LABELS = {"single": "单选", "multiple": "多选", "judge": "判断"}
JUDGE_LABELS = {"T": "正确", "F": "错误"}
_WIDTHS = {"A": 8, "B": 60, "K": 10, "L": 40, "M": 16, "N": 8, "O": 24}  # others: 20


class ExportQuestion(Protocol):
    """What the exporter reads; ParsedQuestion and the ORM Question both fit."""

    @property
    def type(self) -> str: ...
    @property
    def stem(self) -> str: ...
    @property
    def options(self) -> Sequence[str]: ...
    @property
    def answer(self) -> str: ...
    @property
    def explanation(self) -> str: ...
    @property
    def category(self) -> str: ...
    @property
    def difficulty(self) -> int: ...
    @property
    def source(self) -> str: ...


def question_rows(questions: Iterable[ExportQuestion]) -> Iterator[list[str]]:
    """The header, then one row of text cells per question.

    Formulas are neutralised; control characters (which xlsx cannot hold and the
    importer drops) are removed, and line breaks are written as LF.

    Types are written 单选/多选/判断, a judge answer 正确/错误, letters as they are.
    Raises ValueError for a question with more than eight options.
    """
    yield list(EXPORT_HEADER)
    for question in questions:
        options = list(question.options or ())
        if len(options) > len(LETTERS):
            raise ValueError(f"{len(options)} options; the layout holds {len(LETTERS)}")
        answer = question.answer
        if question.type == "judge":
            answer = JUDGE_LABELS.get(answer, answer)
        cells = [
            TYPE_LABELS.get(question.type, question.type),
            question.stem,
            *options,
            *[""] * (len(LETTERS) - len(options)),
            answer,
            question.explanation,
            question.category,
            question.difficulty,
            question.source,
        ]
        yield [neutralise(clean_text("" if cell is None else str(cell))) for cell in cells]


def write_csv(questions: Iterable[ExportQuestion], fp: BinaryIO) -> None:
    """Write CSV in UTF-8 with a BOM (so Excel detects the encoding) to ``fp``.

    ``fp`` is left open.
    """
    text = io.TextIOWrapper(fp, encoding="utf-8-sig", newline="")
    try:
        csv.writer(text).writerows(question_rows(questions))
        text.flush()
    finally:
        text.detach()


def write_xlsx(questions: Iterable[ExportQuestion], fp: BinaryIO) -> None:
    """Write a one-sheet workbook ("题库", bold header row) to ``fp``.

    Every cell is stored as text, so nothing is turned into a number, a date or
    a formula.
    """
    from openpyxl import Workbook  # imported when used: keeps web workers small
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(SHEET_TITLE)
    for column in "ABCDEFGHIJKLMNO":
        sheet.column_dimensions[column].width = _WIDTHS.get(column, 20)
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    for index, row in enumerate(question_rows(questions)):
        sheet.append([_text_cell(sheet, value, bold if index == 0 else None) for value in row])
    workbook.save(fp)


def _text_cell(sheet, value: str, font: Font | None) -> WriteOnlyCell:
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"  # "#N/A" or "=1" stay text
    if font is not None:
        cell.font = font
    return cell
