"""Parse an uploaded question bank (.xlsx or .csv) into validated questions.

The layout (any column order, Chinese or English headers, several notations for
types, answers and difficulty) is described in ``/work/shared/API.md``, "Import
layout". A file that cannot be used at all raises :class:`ImportFileError`;
problems in single rows are collected as :class:`RowError`, all of them in one
pass. Rows are numbered as the spreadsheet shows them: the header is row 1, the
first question row 2. Columns are named by the header text the organiser wrote.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import defusedxml

from quizapp.banks import _cells
from quizapp.banks._cells import LETTERS, QUESTION_TYPES, fingerprint, parse_answer

# openpyxl already parses with defusedxml when it is installed; defusing the
# stdlib as well covers any other XML parsing in this process.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    defusedxml.defuse_stdlib()

__all__ = [
    "MAX_OPTIONS",
    "QUESTION_TYPES",
    "ImportFileError",
    "ParseResult",
    "ParsedQuestion",
    "RowError",
    "fingerprint",
    "parse_answer",
    "parse_csv_bytes",
    "parse_rows",
    "parse_upload",
    "parse_xlsx_bytes",
]

MAX_OPTIONS = len(LETTERS)
MAX_MEMBERS = 1000  # parts of an xlsx archive
MAX_RATIO = 200  # compression ratio of a part larger than 1 MB
# The XML of an xlsx is checked as a stream before openpyxl parses it, because the
# parser's time and memory grow with the number of elements and with the length of
# single tokens, not with the size of the archive: a 100 KB file of 2.6 million empty
# cells in one row took 13 s and 700 MB, a start tag with a million attributes a minute.
MAX_MARKUP = 1_000_000  # "<" in all XML parts: twice a 5,000-question, 15-column sheet
MAX_TOKEN = 256 * 1024  # bytes of one text, tag, comment, CDATA section or PI; the
# longest cell Excel writes (32,767 characters, escaped) fits
MAX_SHEET_ROWS = 1_048_576  # Excel's last row; openpyxl fills a gap up to row r="…" row by row
_CHUNK = 64 * 1024
_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, or an encrypted .xlsx
_DTD_MARKERS = tuple(
    marker.encode(encoding)
    for marker in ("<!DOCTYPE", "<!ENTITY")
    for encoding in ("ascii", "utf-16-le", "utf-16-be")
)


class ImportFileError(Exception):
    """The whole file is unusable; ``message`` is a lazy string for the organiser."""

    def __init__(self, message: object):
        super().__init__(message)
        self.message = message

    @classmethod
    def of(cls, code: str, **values: object) -> ImportFileError:
        return cls(_cells.lazy_message(code, **values))


class RowError(NamedTuple):
    row: int  # as the spreadsheet shows it
    column: str | None  # the header text as the organiser wrote it
    message: str


@dataclass(frozen=True)
class ParsedQuestion:
    row: int
    type: str
    stem: str
    options: tuple[str, ...]
    answer: str
    explanation: str
    category: str
    difficulty: int
    source: str
    fingerprint: str


@dataclass
class ParseResult:
    questions: list[ParsedQuestion] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    total_rows: int = 0  # question rows read (empty rows not counted)


def parse_upload(data: bytes, filename: str, *, max_rows: int = 5000) -> ParseResult:
    """Parse an upload by its extension, .xlsx or .csv in any case.

    Raises ImportFileError for other extensions, for .xls, and for content that
    does not match the extension (a PDF or CSV named .xlsx, a workbook named .csv).
    """
    extension = os.path.splitext((filename or "").strip())[1].lower()
    if extension == ".csv":
        return parse_csv_bytes(data, max_rows=max_rows)
    if extension == ".xlsx":
        return parse_xlsx_bytes(data, max_rows=max_rows)
    if extension == ".xls":
        raise ImportFileError.of("xls")
    raise ImportFileError.of("bad_extension", name=filename)


def parse_csv_bytes(data: bytes, *, max_rows: int = 5000) -> ParseResult:
    """Parse CSV (UTF-8 with or without BOM, or GB18030; comma, semicolon or tab).

    Raises ImportFileError for binary or undecodable content, unreadable lines,
    and everything parse_rows refuses.
    """
    _refuse_foreign(data, expected="csv")
    encoding = _csv_encoding(data)
    # Decoded while it is read, so a big file is never held a second time as text and
    # reading stops at the row limit.
    text = io.TextIOWrapper(io.BytesIO(data), encoding=encoding, newline="")
    delimiter = _sniff_delimiter(data[:_CHUNK].decode(encoding, errors="replace"))
    reader = csv.reader(text, delimiter=delimiter)
    return parse_rows(_csv_records(reader), max_rows=max_rows)


def parse_xlsx_bytes(
    data: bytes, *, max_rows: int = 5000, max_uncompressed: int = 50 * 1024 * 1024
) -> ParseResult:
    """Parse the first sheet of an .xlsx workbook.

    The archive is checked (total size, compression ratio, number of parts, DTDs)
    before openpyxl sees it. Raises ImportFileError for anything unsafe or unreadable,
    and everything parse_rows refuses.
    """
    rows = _xlsx_rows(data, max_uncompressed=max_uncompressed)
    return parse_rows(rows, max_rows=max_rows)


def parse_rows(rows: Iterable[Sequence[object]], *, max_rows: int = 5000) -> ParseResult:
    """Validate rows of cells, the first being the header; reads ``rows`` lazily.

    Raises ImportFileError for no rows at all, a header without 题型, 题干 or 答案,
    a header naming one field twice, and more than ``max_rows`` question rows.
    """
    iterator = iter(rows)
    header = next(iterator, None)
    if header is None:
        raise ImportFileError.of("empty_file")
    columns = _read_header(header)
    result = ParseResult()
    seen: dict[str, int] = {}
    for row, cells in enumerate(iterator, start=2):
        if not cells:  # a missing sheet row: skipped cheaply (there may be a million)
            continue
        values = {
            name: _cells.cell_text(cells[index]) if index < len(cells) else ""
            for name, (index, _text) in columns.items()
        }
        if not any(values.values()):  # also rows filled only in ignored columns
            continue
        result.total_rows += 1
        if result.total_rows > max_rows:
            raise ImportFileError.of("too_many_rows", limit=max_rows)
        question, errors = _parse_row(row, values, columns)
        if question is not None and question.fingerprint in seen:
            message = _cells.message("duplicate", other=seen[question.fingerprint])
            errors.append(_row_error(row, columns, "stem", message))
        elif question is not None:
            seen[question.fingerprint] = row
            result.questions.append(question)
        result.errors.extend(errors)
    return result


def _read_header(header: Sequence[object]) -> dict[str, tuple[int, str]]:
    """Field -> (column index, header text)."""
    columns: dict[str, tuple[int, str]] = {}
    for index, value in enumerate(header):
        text = _cells.cell_text(value)
        name = _cells.HEADER_LOOKUP.get(_cells.key(text).strip("*"))  # "*题干": required
        if name in columns:
            first_index, first_text = columns[name]
            first_column, column = _column_letter(first_index + 1), _column_letter(index + 1)
            raise ImportFileError.of(
                "duplicate_header", first=first_text, a=first_column, second=text, b=column
            )
        if name is not None:
            columns[name] = (index, text)
    labels = _cells.FIELD_LABELS
    missing = [labels[name] for name in _cells.REQUIRED_FIELDS if name not in columns]
    if missing:
        raise ImportFileError.of("missing_header", names=", ".join(missing))
    return columns


def _row_error(row: int, columns: dict, name: str, message: str) -> RowError:
    return RowError(row, columns[name][1] if name in columns else None, message)


def _parse_row(
    row: int, values: dict[str, str], columns: dict[str, tuple[int, str]]
) -> tuple[ParsedQuestion | None, list[RowError]]:
    errors: list[RowError] = []
    fields = _cells.check_row(
        values, lambda name, message: errors.append(_row_error(row, columns, name, message))
    )
    if errors:
        return None, errors
    identity = fingerprint(fields["type"], fields["stem"], fields["options"])
    return ParsedQuestion(row=row, **fields, fingerprint=identity), errors


# --- reading the bytes -------------------------------------------------------


def _refuse_foreign(data: bytes, *, expected: str) -> None:
    """Refuse content that is plainly another kind of file than ``expected``."""
    if data.startswith(_OLE_MAGIC):
        raise ImportFileError.of("xls")
    if b"%PDF-" in data[:1024]:
        raise ImportFileError.of("pdf")
    if expected == "csv" and data.startswith(_ZIP_MAGIC):
        raise ImportFileError.of("xlsx_as_csv")
    if expected == "xlsx" and not data.startswith(_ZIP_MAGIC):
        raise ImportFileError.of("not_xlsx")


def _csv_encoding(data: bytes) -> str:
    """The encoding the whole file decodes with: UTF-16 (with its BOM), UTF-8 (with or
    without BOM), else GB18030. Checked piece by piece, without decoding the file at once."""
    if not data or data.isspace():
        raise ImportFileError.of("empty_file")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode Text" export, renamed
        decoder = codecs.getincrementaldecoder("utf-16")()
        try:
            for at in range(0, len(data), _CHUNK):
                decoder.decode(data[at : at + _CHUNK], final=at + _CHUNK >= len(data))
        except UnicodeDecodeError as exc:
            raise ImportFileError.of("utf16") from exc
        return "utf-16"
    if b"\x00" in data:
        raise ImportFileError.of("binary")
    utf8_error = _first_undecodable(data, "utf-8")
    if utf8_error is None:
        return "utf-8-sig"
    gb_error = _first_undecodable(data, "gb18030")
    if gb_error is None:
        return "gb18030"
    # The encoding that got further is the one the file was meant to be in.
    at = max(utf8_error, gb_error)
    line = data.count(b"\n", 0, at) + 1
    raise ImportFileError.of("encoding", line=line, byte=f"{data[at]:02X}")


# In UTF-8 and GB18030 a byte below 0x30 is always a character of its own (never part
# of a multi-byte one), so the text can be decoded in pieces that end after one.
_CHARACTER_END = re.compile(rb"[\x00-\x2f]")


def _first_undecodable(data: bytes, encoding: str) -> int | None:
    """Offset of the first byte ``data`` cannot be decoded at, or None."""
    at = 0
    while at < len(data):
        cut = _CHARACTER_END.search(data, at + _CHUNK)
        end = cut.end() if cut else len(data)
        try:
            data[at:end].decode(encoding)
        except UnicodeDecodeError as exc:
            return at + exc.start
        at = end
    return None


def _sniff_delimiter(text: str) -> str:
    """The most frequent of , ; and tab in the first non-blank line (the header)."""
    first = next((line for line in text[:65536].splitlines() if line.strip()), "")
    first = re.sub(r'"[^"]*"', "", first)
    return max(",;\t", key=first.count)  # a tie, or none at all: the comma


def _csv_records(reader) -> Iterator[list[str]]:
    try:
        yield from reader
    except csv.Error as exc:
        raise ImportFileError.of("csv_line", line=reader.line_num, reason=str(exc)) from exc


def _check_archive(archive: zipfile.ZipFile, max_uncompressed: int) -> None:
    """Refuse zip bombs, odd archives and XML that is hostile to parsers (a DTD, too many
    elements, over-long tokens) before openpyxl reads anything.

    Declared sizes are a safe bound: zipfile never returns more bytes than a member
    declares (it fails on the CRC instead).
    """
    members = archive.infolist()
    if len(members) > MAX_MEMBERS:
        raise ImportFileError.of("too_many_parts")
    if sum(member.file_size for member in members) > max_uncompressed:
        raise ImportFileError.of("too_big", limit=max_uncompressed // (1024 * 1024))
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > 1024 * 1024 and ratio > MAX_RATIO:
            raise ImportFileError.of("compressed")
        if member.flag_bits & 0x1 or member.compress_type not in _COMPRESSIONS:
            raise ImportFileError.of("packed")
    markup = 0
    for member in members:
        if member.filename.lower().endswith((".xml", ".rels", ".vml")):
            with archive.open(member) as part:
                markup += _scan_xml(part)
            if markup > MAX_MARKUP:
                raise ImportFileError.of("unreadable")


# Sections whose content may hold "<": the parser keeps each one whole in memory and,
# in expat before 2.6, scans it again for every piece that arrives.
_SECTIONS = {b"<!--": b"-->", b"<![CDATA[": b"]]>", b"<?": b"?>"}


def _utf8_pieces(part) -> Iterator[bytes]:
    """The part's bytes, UTF-16 text (a BOM, or "<" as its first character) as UTF-8."""
    piece = part.read(_CHUNK)
    encoding = None
    if piece.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif piece.startswith(b"<\x00"):
        encoding = "utf-16-le"
    elif piece.startswith(b"\x00<"):
        encoding = "utf-16-be"
    decoder = codecs.getincrementaldecoder(encoding)("replace") if encoding else None
    while piece:
        yield decoder.decode(piece).encode("utf-8") if decoder else piece
        piece = part.read(_CHUNK)


def _scan_xml(part) -> int:
    """Read one XML part as a stream and return its number of "<".

    Raises ImportFileError for a DTD anywhere (not only where openpyxl would look), and
    for a text, tag, comment, CDATA section or processing instruction longer than
    MAX_TOKEN bytes. The part is never held in memory.
    """
    count = 0
    offset = 0  # of the current piece in the (UTF-8) stream
    last_lt = 0  # offset of the last "<"
    tail = b""  # end of the previous piece, for markers split between two pieces
    closer, opened_at = None, 0  # inside a section: its end marker and where it began
    resume = 0  # offset from which sections are looked for
    for piece in _utf8_pieces(part):
        data = tail + piece
        start = offset - len(tail)  # offset of data[0]
        if any(marker in data for marker in _DTD_MARKERS):
            raise ImportFileError.of("dtd")
        count += piece.count(b"<")
        first = piece.find(b"<")
        if offset + (first if first >= 0 else len(piece)) - last_lt > MAX_TOKEN:
            raise ImportFileError.of("unreadable")
        if first >= 0:
            last_lt = offset + piece.rfind(b"<")
        pos = max(resume - start, 0)
        while True:
            if closer is not None:
                end = data.find(closer, pos)
                if start + (len(data) if end < 0 else end) - opened_at > MAX_TOKEN:
                    raise ImportFileError.of("unreadable")
                if end < 0:
                    resume = start + max(pos, len(data) - len(closer) + 1)
                    break
                pos, closer = end + len(closer), None
                continue
            found = [at for at in (data.find(b"<!", pos), data.find(b"<?", pos)) if at >= 0]
            if not found:
                resume = start + max(pos, len(data) - 1)
                break
            at = min(found)
            if len(data) - at < 9:  # perhaps an opener cut in two: wait for the next piece
                resume = start + at
                break
            opener = next((o for o in _SECTIONS if data.startswith(o, at)), None)
            if opener is None:  # another declaration; a DOCTYPE is refused above
                pos = at + 2
                continue
            closer, opened_at, pos = _SECTIONS[opener], start + at, at + len(opener)
        offset += len(piece)
        tail = data[max(min(len(data) - 32, resume - start), 0) :]
    return count


def _xlsx_rows(data: bytes, *, max_uncompressed: int) -> Iterator[tuple]:
    """Values of the first sheet's rows from row 1 on (missing rows come as ())."""
    _refuse_foreign(data, expected="xlsx")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            _check_archive(archive, max_uncompressed)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError) as exc:
        raise ImportFileError.of("unreadable") from exc
    # openpyxl raises all kinds of exceptions on damaged or hostile files (KeyError,
    # InvalidFileException, TypeError, defusedxml's errors...), which all mean the
    # same to the organiser. The consumer's exceptions never enter this generator.
    try:
        import openpyxl  # imported when used: keeps web workers small

        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise ImportFileError.of("unreadable") from exc
    try:
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # some writers declare too small a sheet
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            if number > MAX_SHEET_ROWS:  # <row r="100000000">: a gap openpyxl fills row by row
                raise ImportFileError.of("unreadable")
            yield row
    except ImportFileError:
        raise
    except Exception as exc:
        raise ImportFileError.of("unreadable") from exc
    finally:
        workbook.close()


def read_xlsx_rows(data: bytes, *, max_rows: int = 5000) -> list[tuple]:
    """The first sheet's rows as tuples, with the same archive checks as the importer
    (used for other uploads such as unit lists). Raises ImportFileError."""
    rows = []
    for row in _xlsx_rows(data, max_uncompressed=50 * 1024 * 1024):
        rows.append(row)
        if len(rows) > max_rows:
            raise ImportFileError.of("too_many_rows", limit=max_rows)
    return rows


def _column_letter(index: int) -> str:
    """Spreadsheet column name of a 1-based index: 1 → A, 27 → AA (as openpyxl names them)."""
    name = ""
    while index > 0:
        index, rest = divmod(index - 1, 26)
        name = chr(ord("A") + rest) + name
    return name
