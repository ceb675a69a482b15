"""Uploads: no file or form body costs the server more than the limits allow, and a
refused one changes nothing.

The cases go through the real import page (an organiser logged in, CSRF on) and, for
files, mostly through ``flask bank import`` as well. "Changes nothing" is a row count of
every table before and after; memory is the peak that tracemalloc sees while the request
(or command) runs, time is wall-clock time.
"""

from __future__ import annotations

import codecs
import functools
import io
import random
import re
import struct
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Callable, Iterable

import pytest
from openpyxl import Workbook

from quizapp.extensions import db
from tests.conftest import table_counts

MB = 1024 * 1024
HEADER = ["题型", "题干", "选项A", "选项B", "答案"]
QUESTION = ["单选", "1 米等于多少厘米？", "10", "100", "B"]
SECRET = "the-server-file-contents-7f3a"


# --- helpers ---------------------------------------------------------------------


def _token(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def _login(client) -> None:
    token = _token(client.get("/auth/login").get_data(as_text=True))
    form = {"email": "org@example.com", "password": "correct-horse-1", "csrf_token": token}
    assert client.post("/auth/login", data=form).status_code == 302


@pytest.fixture(autouse=True)
def _quick_passwords(monkeypatch):
    """One-round password hashes: these tests are about uploads, and scrypt would cost
    0.3 s per test for the account and its login."""
    from quizapp.auth import models

    quick = functools.partial(models.generate_password_hash, method="pbkdf2:sha256:1")
    monkeypatch.setattr(models, "generate_password_hash", quick)


@pytest.fixture
def organiser(app, client, make_user):
    """The client, logged in as an organiser, with CSRF checked and English messages."""
    app.config["WTF_CSRF_ENABLED"] = True
    app.config["BABEL_DEFAULT_LOCALE"] = "en"  # the command line's messages
    make_user()
    db.session.commit()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "en"
    _login(client)
    return client


def _upload(client, content: bytes, name: str):
    token = _token(client.get("/banks/import").get_data(as_text=True))
    data = {"csrf_token": token, "bank_name": "上传测试", "file": (io.BytesIO(content), name)}
    return client.post("/banks/import", data=data, content_type="multipart/form-data")


def _multipart(fields: Iterable[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    """A multipart body from (name, filename or None, content) parts, and its type."""
    boundary = "upload-test-boundary"
    out = io.BytesIO()
    for name, filename, content in fields:
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"'.encode())
        out.write(f'; filename="{filename}"\r\n'.encode() if filename else b"\r\n")
        out.write(b"\r\n" + content + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def _measure(action: Callable[[], object]) -> tuple[object, float, int]:
    """The action's result, its duration in seconds and the peak of memory it allocated."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = action()
        return result, time.perf_counter() - started, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _refused(response, words: str) -> str:
    """The import page refused the file with ``words`` in its message, staging nothing."""
    page = response.get_data(as_text=True)
    assert response.status_code == 422, page[-2000:]
    assert 'class="flash flash-error"' in page and words in page, page[-2000:]
    assert 'name="token"' not in page
    return page


def _cli_refuses(runner, tmp_path, content: bytes, name: str, words: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    result = runner.invoke(args=["bank", "import", str(path), "--bank", "命令行测试"])
    assert result.exit_code == 1 and words in result.output, result.output
    assert "nothing was added" in result.output


class Tripwire(io.RawIOBase):
    """A request body that records every attempt to read it and never gives a byte."""

    def __init__(self):
        self.reads = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        self.reads += 1
        raise AssertionError("the body was read")


class Endless(io.RawIOBase):
    """A request body without end: a file part whose content never stops."""

    def __init__(self, head: bytes):
        self.head, self.sent = head, 0

    def readable(self):
        return True

    def readinto(self, buffer):
        size = len(buffer)
        head = self.head[self.sent : self.sent + size]
        buffer[:size] = head + b"x" * (size - len(head))
        self.sent += size
        return size


# --- request bodies -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/banks/import", "/auth/login"])
def test_an_oversize_body_is_413_before_it_is_read(app, organiser, path):
    """Content-Length over MAX_CONTENT_LENGTH: 413 from the header alone."""
    limit = app.config["MAX_CONTENT_LENGTH"]
    before = table_counts()
    body = Tripwire()
    r = organiser.post(
        path,
        environ_overrides={
            "wsgi.input": body,
            "CONTENT_LENGTH": str(limit + 1),
            "CONTENT_TYPE": "multipart/form-data; boundary=x",
        },
    )
    assert r.status_code == 413 and body.reads == 0
    assert r.headers["Content-Security-Policy"] and "413" in r.get_data(as_text=True)
    assert table_counts() == before


def test_a_body_without_length_is_cut_off_at_the_limit(app, organiser):
    """Chunked uploads (no Content-Length; gunicorn sets wsgi.input_terminated) stop with
    413 once MAX_CONTENT_LENGTH bytes have arrived, and the file is never all in memory."""
    limit = app.config["MAX_CONTENT_LENGTH"]
    token = _token(organiser.get("/banks/import").get_data(as_text=True))
    head, content_type = _multipart([("csrf_token", None, token.encode())])
    head = head[: head.rindex(b"--upload-test-boundary--")]
    head += b'--upload-test-boundary\r\nContent-Disposition: form-data; name="file"; '
    head += b'filename="huge.csv"\r\n\r\n'
    body = Endless(head)
    before = table_counts()
    r, seconds, peak = _measure(
        lambda: organiser.post(
            "/banks/import",
            content_type=content_type,
            environ_overrides={
                "wsgi.input": body,
                "wsgi.input_terminated": True,
                "HTTP_TRANSFER_ENCODING": "chunked",
                "CONTENT_TYPE": content_type,
            },
        )
    )
    assert r.status_code == 413
    assert limit <= body.sent <= limit + MB
    assert peak < 8 * MB and seconds < 5
    assert table_counts() == before


@pytest.mark.parametrize("kind", ["fields", "files"])
@pytest.mark.parametrize("path", ["/banks/import", "/auth/login"])
def test_a_form_of_ten_thousand_parts_is_413_at_once(app, client, make_user, path, kind):
    """Flask's MAX_FORM_PARTS (1,000 unless configured) stops the multipart parser: a
    clear 413 on the import page and on the login page (logged out), quickly, in little
    memory."""
    assert app.config["MAX_FORM_PARTS"] <= 1000
    app.config["WTF_CSRF_ENABLED"] = True
    make_user()
    db.session.commit()
    if path == "/banks/import":
        _login(client)
    token = _token(client.get(path).get_data(as_text=True))
    parts = [("csrf_token", None, token.encode())]
    parts += [(f"f{n}", f"{n}.csv" if kind == "files" else None, b"x") for n in range(10_000)]
    body, content_type = _multipart(parts)
    before = table_counts()
    r, seconds, peak = _measure(lambda: client.post(path, data=body, content_type=content_type))
    assert r.status_code == 413, r.get_data(as_text=True)[-1000:]
    assert r.headers["Content-Security-Policy"]
    assert seconds < 2 and peak < 5 * MB
    assert table_counts() == before


def test_a_form_without_files_over_one_megabyte_is_413_before_it_is_read(app, client):
    """The largest form without a file (40,000 characters of event names, 9 bytes each
    once URL-encoded) is well under 1 MB; a bigger urlencoded or JSON body is refused."""
    assert app.config["MAX_CONTENT_LENGTH"] > MB + 1
    body = Tripwire()
    r = client.post(
        "/auth/login",
        environ_overrides={
            "wsgi.input": body,
            "CONTENT_LENGTH": str(MB + 1),
            "CONTENT_TYPE": "application/x-www-form-urlencoded",
        },
    )
    assert r.status_code == 413 and body.reads == 0


# --- files that are not what they say --------------------------------------------------

PDF = b"%PDF-1.7\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\ntrailer <</Root 1 0 R>>\n%%EOF\n"
XLS = bytes.fromhex("d0cf11e0a1b11ae1") + bytes(16) + bytes.fromhex("3e000300feff")
XLS += bytes(512 - len(XLS)) + bytes.fromhex("fdffffff") * 128  # an OLE2 header and a FAT


def _xlsx(rows) -> bytes:
    workbook = Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("题库.xlsx", PDF, "This is a PDF file"),
        ("题库.csv", PDF, "This is a PDF file"),
        ("题库.xls", XLS, "old Excel file (.xls)"),
        ("题库.xlsx", XLS, "old Excel file (.xls)"),
        ("题库.csv", XLS, "old Excel file (.xls)"),
        ("题库.xls", None, "old Excel file (.xls)"),  # a real xlsx named .xls
    ],
    ids=["pdf-as-xlsx", "pdf-as-csv", "xls", "xls-as-xlsx", "xls-as-csv", "xlsx-as-xls"],
)
def test_a_pdf_or_legacy_xls_is_refused_with_a_message(
    organiser, runner, tmp_path, name, content, words
):
    content = content if content is not None else _xlsx([HEADER, QUESTION])
    before = table_counts()
    _refused(_upload(organiser, content, name), words)
    assert table_counts() == before
    _cli_refuses(runner, tmp_path, content, name, words)
    assert table_counts() == before


# --- CSV ------------------------------------------------------------------------------


def test_a_million_row_csv_is_refused_by_the_row_limit_in_bounded_memory(app, organiser):
    """A million question rows in 2 MB (under the upload limit): refused at row 5,001,
    without ever holding the file a second time."""
    limit = app.config["IMPORT_MAX_ROWS"]
    csv = "题型,题干,答案\n".encode() + b"1\n" * 1_000_000
    token = _token(organiser.get("/banks/import").get_data(as_text=True))
    body, content_type = _multipart(
        [("csrf_token", None, token.encode()), ("bank_name", None, "百万行".encode()),
         ("file", "million.csv", csv)]
    )  # fmt: skip
    assert len(body) < app.config["MAX_CONTENT_LENGTH"]
    before = table_counts()
    r, seconds, peak = _measure(
        lambda: organiser.post("/banks/import", data=body, content_type=content_type)
    )
    _refused(r, f"more than {limit} questions")
    assert table_counts() == before
    assert peak < len(csv) + 3 * MB, peak
    assert seconds < 5


def test_a_million_realistic_rows_meet_the_upload_limit_first_and_the_row_limit_in_the_cli(
    app, organiser, runner, tmp_path
):
    """The same million rows written out in full (65 MB) are refused with 413 before the
    body is read; the command line, which has no upload limit, stops at the row limit,
    holding nothing but the file's bytes (before: the file four times over)."""
    rows = (f"单选,第{n}题：计量单位“米”的符号是？,m,kg,A\n".encode() for n in range(1_000_000))
    path = tmp_path / "million.csv"
    with path.open("wb") as out:
        out.write("题型,题干,选项A,选项B,答案\n".encode())
        out.writelines(rows)
    size = path.stat().st_size
    assert size > 6 * app.config["MAX_CONTENT_LENGTH"]
    body = Tripwire()
    r = organiser.post(
        "/banks/import",
        environ_overrides={
            "wsgi.input": body,
            "CONTENT_LENGTH": str(size + 300),
            "CONTENT_TYPE": "multipart/form-data; boundary=x",
        },
    )
    assert r.status_code == 413 and body.reads == 0
    before = table_counts()
    result, seconds, peak = _measure(
        lambda: runner.invoke(args=["bank", "import", str(path), "--bank", "百万行"])
    )
    assert result.exit_code == 1, result.output
    assert f"more than {app.config['IMPORT_MAX_ROWS']} questions" in result.output
    assert peak < size + 3 * MB and seconds < 5  # the file itself, read whole by the CLI
    assert table_counts() == before


# --- xlsx: zip bombs and parser bombs ---------------------------------------------------


def _deflate(pieces: Iterable[bytes]) -> tuple[bytes, int, int]:
    """Raw deflate of the pieces, their CRC-32 and their total size."""
    packer, out, crc, size = zlib.compressobj(9, zlib.DEFLATED, -15), [], 0, 0
    for piece in pieces:
        out.append(packer.compress(piece))
        crc, size = zlib.crc32(piece, crc), size + len(piece)
    return b"".join(out) + packer.flush(), crc, size


def _repeated(block: bytes, times: int, before: bytes = b"", after: bytes = b""):
    """Raw deflate of before + block * times + after, built from one compressed block
    (a full flush makes every copy of the block compress alike): hundreds of MB in a
    fraction of a second."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = packer.compress(before) + packer.flush(zlib.Z_FULL_FLUSH)
    middle = packer.compress(block) + packer.flush(zlib.Z_FULL_FLUSH)
    tail = packer.compress(after) + packer.flush()
    crc = zlib.crc32(before)
    for _ in range(times):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(after, crc)
    return head + middle * times + tail, crc, len(before) + len(block) * times + len(after)


def _archive(parts: dict[str, bytes | tuple[bytes, int, int]], sizes=None) -> bytes:
    """A zip archive of the parts (content, or deflated bytes with CRC and size); ``sizes``
    overrides the size a part declares."""
    out, central = io.BytesIO(), []
    for name, part in parts.items():
        deflated, crc, size = part if isinstance(part, tuple) else _deflate([part])
        size, raw, offset = (sizes or {}).get(name, size), name.encode(), out.tell()
        fields = (crc, len(deflated), size, len(raw))
        out.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, *fields, 0))
        out.write(raw + deflated)
        entry = (b"PK\x01\x02", 20, 20, 0, 8, 0, 0, *fields, 0, 0, 0, 0, 0, offset)
        central.append(struct.pack("<4s6H3L5H2L", *entry) + raw)
    start, directory = out.tell(), b"".join(central)
    end = (b"PK\x05\x06", 0, 0, len(parts), len(parts), len(directory), start, 0)
    return out.getvalue() + directory + struct.pack("<4s4H2LH", *end)


_BASE: dict[str, bytes] = {}


def _workbook_parts() -> dict[str, bytes]:
    """The parts of a small, valid workbook (one question), read once."""
    if not _BASE:
        archive = zipfile.ZipFile(io.BytesIO(_xlsx([HEADER, QUESTION])))
        _BASE.update((name, archive.read(name)) for name in archive.namelist())
    return dict(_BASE)


def _workbook(replace: dict, sizes=None) -> bytes:
    return _archive({**_workbook_parts(), **replace}, sizes)


SHEET = "xl/worksheets/sheet1.xml"
START = (
    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
    + b'<row r="1">'
    + b"".join(
        b'<c r="%s1" t="inlineStr"><is><t>%s</t></is></c>' % (column.encode(), text.encode())
        for column, text in zip("ABCDE", HEADER, strict=True)
    )
    + b"</row>"
)
END = b"</sheetData></worksheet>"


def _noisy(unit: bytes, size: int, every: int = 40) -> bytes:
    """``unit`` repeated to ``size`` bytes, every few units with a random letter for its
    "x", so that it compresses about as well as real XML (under the ratio limit)."""
    letters = random.Random(size).choices(b"abcdefghijklmnopqrstuvwxyz", k=size // every)
    units = [unit] * (size // len(unit))
    for n, letter in zip(range(0, len(units), every), letters, strict=False):
        units[n] = unit.replace(b"x", bytes([letter]), 1)
    return b"".join(units)


def _attributes() -> bytes:
    return START + b'<row r="2" ' + b" ".join(b'a%d="1"' % n for n in range(200_000)) + b"/>" + END


GAP = b'<row r="2000000000"><c r="A2" t="inlineStr"><is><t>single</t></is></c></row>'
TEXT = b'<row r="2"><c r="B2" t="inlineStr"><is><t>', b"</t></is></c></row>" + END
TOO_BIG = "unpacks to more than 50 MB"
UNREADABLE = "cannot be read"
# case: (build the file, words of the refusal, whether memory is measured: tracing makes
# the million empty rows of the row-number case 30 times slower, and it is about time)
BOMBS: dict[str, tuple[Callable[[], bytes], str, bool]] = {
    # hundreds of MB
    "one part of 300 MB": (
        lambda: _workbook({SHEET: _repeated(b" " * MB, 300, START, END)}),
        TOO_BIG,
        True,
    ),
    "300 parts of 1 MB": (
        lambda: _workbook({f"xl/media/image{n}.png": _repeated(b" " * MB, 1) for n in range(300)}),
        TOO_BIG,
        True,
    ),
    "a part declaring 10 KB that inflates to 300 MB": (
        lambda: _workbook({SHEET: _repeated(b" " * MB, 300, START, END)}, {SHEET: 10_000}),
        UNREADABLE,
        True,
    ),
    # under the archive limits, but costly to parse before the stream check
    "a row of 1.1 million empty cells": (
        lambda: _workbook(
            {SHEET: START + b'<row r="2">' + _noisy(b'<c r="Qx2"/>', 12 * MB, 4) + b"</row>" + END}
        ),
        UNREADABLE,
        True,
    ),
    "a tag with 200,000 attributes": (lambda: _workbook({SHEET: _attributes()}), UNREADABLE, True),
    "a cell of 45 MB of text": (
        lambda: _workbook({SHEET: _repeated(_noisy(b"xxxx", MB), 45, START + TEXT[0], TEXT[1])}),
        UNREADABLE,
        True,
    ),
    "a comment of 45 MB full of <": (
        lambda: _workbook(
            {SHEET: _repeated(_noisy(b"<x> ", MB), 45, START + b"<!--", b"-->" + END)}
        ),
        UNREADABLE,
        True,
    ),
    "a question on row 2,000,000,000": (
        lambda: _workbook({SHEET: START + GAP + END}),
        UNREADABLE,
        False,
    ),
}


@pytest.mark.parametrize("case", BOMBS)
def test_xlsx_bombs_are_refused_quickly_in_little_memory(organiser, runner, tmp_path, case):
    """Zip bombs of hundreds of MB are refused before anything inflates. Files within the
    archive limits that are costly to parse are refused by the stream check of the XML;
    before it, these took: 1.1 million cells in one row 600 MB, 200,000 attributes 3.5 s,
    the 45 MB text 95 MB, a 10 MB comment 6 s (growing with its square), and row number
    2e9 hung the worker. All are now refused in well under 50 MB and 2 s."""
    build, words, traced = BOMBS[case]
    data = build()
    assert len(data) < 3 * MB
    before = table_counts()
    if traced:
        r, _seconds, peak = _measure(lambda: _upload(organiser, data, "bomb.xlsx"))
        assert peak < 50 * MB, peak
    else:
        started = time.perf_counter()
        r = _upload(organiser, data, "bomb.xlsx")
        assert time.perf_counter() - started < 2
    _refused(r, words)
    assert table_counts() == before
    started = time.perf_counter()
    _cli_refuses(runner, tmp_path, data, "bomb.xlsx", words)
    assert time.perf_counter() - started < 2
    assert table_counts() == before


def _with_dtd(part: bytes, dtd: bytes, reference: bytes, padding: bytes = b"") -> bytes:
    """``part`` with a DTD before its root element (after ``padding``) and ``reference``
    as the first content of the root element."""
    declaration = re.match(rb"<\?xml[^>]*\?>", part)
    at = declaration.end() if declaration else 0
    root = re.compile(rb"<([A-Za-z][\w:]*)[^>]*?(/?)>").search(part, at)
    inside = part[: root.end()].replace(b"/>", b">") + reference
    rest = part[root.end() :] if not root.group(2) else b"</" + root.group(1) + b">"
    return part[:at] + padding + dtd + inside[at:] + rest


def _laughs(root: bytes) -> tuple[bytes, bytes]:
    entities = b'<!ENTITY lol0 "lol">' + b"".join(
        b'<!ENTITY lol%d "%s">' % (n, b"&lol%d;" % (n - 1) * 10) for n in range(1, 10)
    )
    return b"<!DOCTYPE %s [%s]>" % (root, entities), b"&lol9;"


def _external(secret_file) -> Callable[[bytes], tuple[bytes, bytes]]:
    def dtd(root: bytes) -> tuple[bytes, bytes]:
        uri = secret_file.as_uri().encode()
        declaration = b'<!ENTITY xxe SYSTEM "%s"><!ENTITY %% remote SYSTEM "%s">%%remote;'
        return b"<!DOCTYPE %s [%s]>" % (root, declaration % (uri, uri)), b"&xxe;"

    return dtd


XML_PARTS = [
    "[Content_Types].xml",
    "_rels/.rels",
    "docProps/app.xml",
    "docProps/core.xml",
    "xl/workbook.xml",
    "xl/_rels/workbook.xml.rels",
    "xl/styles.xml",
    "xl/theme/theme1.xml",
    SHEET,
]


@pytest.mark.parametrize("kind", ["billion laughs", "external entity"])
def test_xml_entity_bombs_in_any_part_are_refused_unexpanded(organiser, runner, tmp_path, kind):
    """A DTD in any XML part - at its top, hidden after 5 KB (where the old 4 KB check no
    longer looked: docProps/app.xml, the theme and _rels/.rels were then imported), or in
    UTF-16 - is refused before any parser sees it; nothing expands, no file is read."""
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    make_dtd = _laughs if kind == "billion laughs" else _external(secret)
    padding = b"<!--" + b"x" * 5000 + b"-->"
    before = table_counts()
    for name in XML_PARTS:
        original = _workbook_parts()[name]
        root = re.search(rb"<([A-Za-z][\w:]*)", original.split(b"?>", 1)[-1]).group(1)
        dtd, reference = make_dtd(root)
        variants = {
            "top": _with_dtd(original, dtd, reference),
            "after 5 KB": _with_dtd(original, dtd, reference, padding),
        }
        if name in (SHEET, "[Content_Types].xml"):
            plain = _with_dtd(original, dtd, reference).replace(b'encoding="UTF-8"', b"")
            variants["UTF-16"] = codecs.BOM_UTF16_LE + plain.decode().encode("utf-16-le")
        for where, part in variants.items():
            data = _workbook({name: part})
            r, seconds, peak = _measure(lambda data=data: _upload(organiser, data, "x.xlsx"))
            page = _refused(r, "not allowed (DOCTYPE or ENTITY)")
            assert SECRET not in page and "lollol" not in page, (name, where)
            assert peak < 5 * MB and seconds < 1, (name, where, peak, seconds)
    assert table_counts() == before
    _cli_refuses(runner, tmp_path, data, "x.xlsx", "not allowed (DOCTYPE or ENTITY)")
    assert table_counts() == before


def test_a_dtd_in_a_part_the_stream_check_skips_is_refused_by_the_xml_parser(organiser):
    """The stream check reads parts named .xml, .rels and .vml; a workbook that points
    openpyxl at a sheet named .dat still meets defusedxml, which refuses the DTD."""
    parts = _workbook_parts()
    renamed = {
        name.replace("sheet1.xml", "sheet1.dat"): content.replace(b"sheet1.xml", b"sheet1.dat")
        for name, content in parts.items()
    }
    r = _upload(organiser, _archive(renamed), "x.xlsx")  # without the DTD it is read
    assert r.status_code == 200 and 'name="token"' in r.get_data(as_text=True)
    dtd, reference = _laughs(b"worksheet")
    renamed["xl/worksheets/sheet1.dat"] = _with_dtd(parts[SHEET], dtd, reference)
    before = table_counts()
    r, seconds, peak = _measure(lambda: _upload(organiser, _archive(renamed), "x.xlsx"))
    page = _refused(r, UNREADABLE)
    assert "lollol" not in page and peak < 5 * MB and seconds < 1
    assert table_counts() == before


def test_the_stream_check_lets_the_largest_real_bank_through():
    """The limits on markup and token length leave room for a 5,000-question bank as
    Excel writes it: 15 columns of shared strings, every question's text in two rich-text
    runs, and one cell of 32,767 characters that all need escaping."""
    from quizapp.banks import parsing

    text = random.Random(0)

    def words() -> bytes:
        return text.randbytes(18).hex().encode()  # compresses about as text does

    columns = "ABCDEFGHIJKLMNO"
    rows = b"".join(
        b'<row r="%d" spans="1:15">' % row
        + b"".join(
            b'<c r="%s%d" s="1" t="s"><v>%d</v></c>' % (column.encode(), row, row * 15 + n)
            for n, column in enumerate(columns)
        )
        + b"</row>"
        for row in range(2, 5002)
    )
    rich = b'<r><rPr><b/><sz val="11"/><rFont val="SimSun"/><charset val="134"/></rPr><t>%s</t></r>'
    strings = [b"<si>" + rich % words() + rich % words() + b"</si>" for _ in range(5000)]
    strings += [b"<si><t>%s</t></si>" % words() for _ in range(70_000)]
    strings.append(b"<si><t>" + b"&amp;" * 32_767 + b"</t></si>")
    sst = b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    sst += b"".join(strings) + b"</sst>"
    data = _workbook({SHEET: START + rows + END, "xl/sharedStrings.xml": sst})
    archive = zipfile.ZipFile(io.BytesIO(data))
    markup = sum(archive.read(name).count(b"<") for name in archive.namelist())
    assert 650_000 < markup < parsing.MAX_MARKUP, markup
    parsing._check_archive(archive, 50 * MB)  # raises ImportFileError when it refuses


@pytest.mark.parametrize("shift", range(-10, 10))
def test_the_stream_check_sees_what_straddles_two_reads(shift):
    """Markers and sections cut between two reads of a part are still seen."""
    from quizapp.banks.parsing import _CHUNK, MAX_TOKEN, ImportFileError, _scan_xml

    def scan(xml: bytes):
        try:
            return _scan_xml(io.BytesIO(b"<a>" + b"x" * (_CHUNK - 6 + shift) + xml))
        except ImportFileError as error:
            return str(error)

    assert "DOCTYPE" in scan(b"<!DOCTYPE a><a/>")
    assert UNREADABLE in scan(b"<!--" + b"<a>" * (MAX_TOKEN // 3) + b"-->")
    assert UNREADABLE in scan(b"<![CDATA[" + b"<" * MAX_TOKEN + b"]]>")
    assert UNREADABLE in scan(b"<!--x--><c>" + b"y" * MAX_TOKEN + b"</c>")
    assert scan(b"<!--" + b"<" * (MAX_TOKEN - 100) + b"--><b/>") == MAX_TOKEN - 100 + 3
    assert scan(b"<?pi x?><![CDATA[<>]]>" * 3 + b"<d/>") == 1 + 3 * 3 + 1  # every "<"
