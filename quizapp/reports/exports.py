"""Results as .xlsx and .csv, and the spreadsheet writers the activity summary shares.

Every text cell is neutralised (a cell starting with = + - @, their full-width
forms, tab or CR gets a leading apostrophe), so no spreadsheet runs a name or an
answer typed by a participant as a formula. CSV is UTF-8 with a BOM, so Excel and
WPS open it with the right encoding.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, BinaryIO
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import select

from quizapp.banks.qtypes import QUESTION_TYPES
from quizapp.banks.spreadsheet import neutralise
from quizapp.extensions import db
from quizapp.play.models import AttemptItem
from quizapp.reports.services import ResultRow, results

if TYPE_CHECKING:
    from openpyxl.cell import WriteOnlyCell

Cell = str | int | float | datetime | None
Sheet = tuple[str, list[list[Cell]]]  # (title, rows with the header first)

# Characters an xlsx file cannot hold (C0 controls but tab, LF, CR; XML non-characters).
_UNSTORABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def safe_text(value: str) -> str:
    """Text that a spreadsheet shows as typed: storable characters, formulas neutralised."""
    return neutralise(_UNSTORABLE.sub("", value))


def status_label(status: str) -> str:
    return {
        "active": _("In progress"),
        "submitted": _("Submitted"),
        "expired": _("Timed out"),
    }.get(status, status)


def answer_cell(qtype: str, choice: str | None, key: str) -> str:
    """The answer as the participant chose it, with ✓ or ✗ ("" when unanswered).
    Letters are the ones shown on that participant's phone."""
    if not choice:
        return ""
    if qtype == "judge":
        labels = dict(QUESTION_TYPES["judge"].display_options([]))
        shown = labels.get(choice, choice)
    else:
        shown = choice
    return f"{shown} {'✓' if choice == key else '✗'}"


def _answers(attempt_ids: Sequence[int]) -> dict[int, dict[int, str]]:
    answers: dict[int, dict[int, str]] = defaultdict(dict)
    for start in range(0, len(attempt_ids), 500):  # bounded IN lists
        chunk = attempt_ids[start : start + 500]
        rows = db.session.execute(
            select(
                AttemptItem.attempt_id,
                AttemptItem.position,
                AttemptItem.qtype,
                AttemptItem.choice,
                AttemptItem.key,
            ).where(AttemptItem.attempt_id.in_(chunk))
        )
        for attempt_id, position, qtype, choice, key in rows:
            answers[attempt_id][position] = answer_cell(qtype, choice, key)
    return answers


def _local(moment: datetime | None, tz: ZoneInfo) -> datetime | None:
    return moment.astimezone(tz).replace(tzinfo=None) if moment else None


def results_table(
    competition_id: int,
    tz: ZoneInfo,
    *,
    event_id: int | None = None,
    unit_id: int | None = None,
    status: str | None = None,
) -> list[list[Cell]]:
    """The header and one row per attempt (ranking order), with the same filters as the
    results page and no row limit. Times are local (``tz``) and naive."""
    rows: list[ResultRow] = results(
        competition_id, event_id=event_id, unit_id=unit_id, status=status, limit=None
    )
    answers = _answers([r.attempt_id for r in rows])
    positions = max((max(a) for a in answers.values() if a), default=0)
    header: list[Cell] = [
        _("Name"),
        _("Phone"),
        _("Unit"),
        _("Event"),
        _("Attempt"),
        _("Status"),
        _("Score"),
        _("Full score"),
        _("Correct answers"),
        _("Time used (s)"),
        _("Started"),
        _("Submitted at"),
        _("Focus losses"),
        *(_("Q%(n)d", n=n) for n in range(1, positions + 1)),
    ]
    table = [header]
    for r in rows:
        chosen = answers.get(r.attempt_id, {})
        table.append(
            [
                r.name,
                r.phone,
                r.unit,
                r.event,
                r.number,
                status_label(r.status),
                r.score,
                r.max_score,
                r.correct_count,
                round(r.duration_ms / 1000, 1) if r.duration_ms is not None else None,
                _local(r.started_at, tz),
                _local(r.finished_at, tz),
                r.focus_losses,
                *(chosen.get(n, "") for n in range(1, positions + 1)),
            ]
        )
    return table


def _csv_value(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime(DATETIME_FORMAT)
    if isinstance(value, str):
        return safe_text(value)
    return str(value)


def write_csv(rows: Iterable[Sequence[Cell]], fp: BinaryIO) -> None:
    """CSV in UTF-8 with a BOM to ``fp`` (left open)."""
    text = io.TextIOWrapper(fp, encoding="utf-8-sig", newline="")
    try:
        writer = csv.writer(text)
        for row in rows:
            writer.writerow([_csv_value(v) for v in row])
        text.flush()
    finally:
        text.detach()


def _xlsx_cell(sheet, value: Cell, bold: bool) -> WriteOnlyCell:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    if isinstance(value, str):
        cell = WriteOnlyCell(sheet, value=safe_text(value))
        cell.data_type = "s"  # stays text even if it looks like a number or "#N/A"
    else:
        cell = WriteOnlyCell(sheet, value=value)
        if isinstance(value, datetime):
            cell.number_format = "yyyy-mm-dd hh:mm:ss"
    if bold:
        cell.font = Font(bold=True)
    return cell


def write_xlsx(sheets: Iterable[Sheet], fp: BinaryIO) -> None:
    """A workbook (openpyxl write-only) with one sheet per (title, rows); each first row
    is a bold, frozen header. Text stays text; numbers and local times keep their type."""
    from openpyxl import Workbook  # imported when used: keeps web workers small

    workbook = Workbook(write_only=True)
    for title, rows in sheets:
        sheet = workbook.create_sheet(safe_sheet_title(title))
        sheet.freeze_panes = "A2"
        for index, row in enumerate(rows):
            sheet.append([_xlsx_cell(sheet, value, index == 0) for value in row])
    workbook.save(fp)


def safe_sheet_title(title: str) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\."""
    return re.sub(r"[\[\]:*?/\\]", " ", str(title))[:31] or "Sheet"


def download_name(title: str, suffix: str) -> str:
    """A file name from a competition title, safe on Windows and in a header."""
    stem = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", title).strip(" ._") or "results"
    return f"{stem[:80]}-{suffix}"
