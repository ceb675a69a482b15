"""The Simplified Chinese catalog is complete, compiled and wired up.

English is the source language: the msgids are English and there is no ``en``
catalog, so an ``en`` request falls back to the msgids.

If ``test_every_source_string_is_translated`` fails, run the three commands in
``quizapp/translations/README.md`` (extract, update, compile) and translate the
listed msgids in ``quizapp/translations/zh/LC_MESSAGES/messages.po``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from flask_babel import refresh

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "quizapp" / "translations"
ZH_PO = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.po"
ZH_MO = TRANSLATIONS / "zh" / "LC_MESSAGES" / "messages.mo"

# Same options as the extract command in quizapp/translations/README.md. The explicit
# --ignore-dirs matters: without it Babel also skips every directory starting with "_"
# (quizapp/templates/_macros); ".*" still skips .venv, .git and the tool caches.
EXTRACT_ARGS = ["-F", "babel.cfg", "-k", "_l", "-k", "lazy_gettext", "--ignore-dirs", ".*"]

# A %-format conversion: %(name)s, %(n)d, %s, %5.1f, %% …
_FORMAT = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<conv>[diouxXeEfFgGcrsa%])"
)


def _forms(message) -> tuple[str, ...]:
    string = _as_tuple(message.string)
    return string if isinstance(string, tuple) else (string,)


def _as_tuple(value):
    # plural ids/strings are tuples from read_po, lists from read_mo
    return tuple(value) if isinstance(value, list) else value


def _label(msgid: str | tuple[str, ...]) -> str:
    return " | ".join(msgid) if isinstance(msgid, tuple) else msgid


def _placeholders(text: str) -> list[tuple[str | None, str]]:
    return [(m["name"], m["conv"]) for m in _FORMAT.finditer(text) if m["conv"] != "%"]


@pytest.fixture(scope="module")
def zh_catalog():
    with ZH_PO.open("rb") as f:
        return read_po(f, locale="zh")


@pytest.fixture(scope="module")
def source_template(tmp_path_factory):
    """The catalog template as the source code reads now (never the committed .pot)."""
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "-q",
            "extract",
            *EXTRACT_ARGS,
            "-o",
            str(pot),
            ".",
        ],
        cwd=ROOT,
        check=True,
    )
    with pot.open("rb") as f:
        return read_po(f)


def test_extraction_finds_the_source_strings(source_template):
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in source_template if m.id}
    assert len(ids) > 100, "extraction found almost nothing: check babel.cfg and EXTRACT_ARGS"
    files = {path for m in source_template for path, _line in m.locations}
    assert any(p.startswith("quizapp/templates/_macros/") for p in files)
    assert any(p.endswith(".py") for p in files)
    assert not any(".venv" in p or "site-packages" in p for p in files)


def test_every_source_string_is_translated(source_template, zh_catalog):
    problems = []
    for msg in source_template:
        if not msg.id:
            continue
        where = ", ".join(f"{p}:{n}" for p, n in msg.locations[:3])
        entry = zh_catalog.get(msg.id, context=msg.context)
        if entry is None:
            problems.append(f"missing      {_label(msg.id)!r}  ({where})")
        elif entry.id != msg.id:
            problems.append(
                f"plural differs {_label(msg.id)!r} vs po {_label(entry.id)!r}  ({where})"
            )
        elif entry.fuzzy:
            problems.append(f"fuzzy        {_label(msg.id)!r}  ({where})")
        elif not all(form.strip() for form in _forms(entry)):
            problems.append(f"untranslated {_label(msg.id)!r}  ({where})")
    assert not zh_catalog.fuzzy, "the zh catalog header is marked fuzzy"
    if problems:
        print("\n".join(problems))
    assert not problems, (
        f"{len(problems)} msgid(s) lack a Chinese translation in {ZH_PO.relative_to(ROOT)}; "
        "run extract + update (quizapp/translations/README.md) and translate them:\n"
        + "\n".join(problems)
    )


def test_compiled_catalog_matches_po(zh_catalog, tmp_path):
    assert ZH_MO.is_file(), "run: pybabel compile -d quizapp/translations"
    fresh = tmp_path / "messages.mo"
    with fresh.open("wb") as f:
        write_mo(f, zh_catalog)

    def messages(path: Path):
        with path.open("rb") as f:
            catalog = read_mo(f)
        return catalog.plural_forms, {
            (m.context, _as_tuple(m.id)): _forms(m) for m in catalog if m.id
        }

    committed_forms, committed = messages(ZH_MO)
    fresh_forms, expected = messages(fresh)
    stale = sorted(
        _label(key[1])
        for key in expected.keys() | committed.keys()
        if expected.get(key) != committed.get(key)
    )
    assert committed_forms == fresh_forms
    assert not stale, (
        "messages.mo is out of date with messages.po; run: pybabel compile -d "
        "quizapp/translations\n" + "\n".join(stale)
    )


def test_placeholders_match(zh_catalog):
    problems = []
    for msg in zh_catalog:
        if not msg.id or not any(_forms(msg)):
            continue
        # Chinese has one plural form; it must read right for any n, as msgid_plural does.
        wanted = _placeholders(msg.id[1] if msg.pluralizable else msg.id)
        named = sorted(p for p in wanted if p[0])
        positional = [p for p in wanted if not p[0]]
        if positional and not named:
            args = (1,) * len(positional)
        else:
            args = {name: 1 for name, _conv in named} | ({"num": 1} if msg.pluralizable else {})
        for form in _forms(msg):
            got = _placeholders(form)
            if (
                sorted(p for p in got if p[0]) != named
                or [p for p in got if not p[0]] != positional
            ):
                problems.append(f"{_label(msg.id)!r}: {wanted} -> {form!r}: {got}")
                continue
            # Jinja's new-style gettext applies "%" to every translation, so a stray "%"
            # breaks the page even in a string without placeholders.
            try:
                form % args
            except (TypeError, ValueError, KeyError) as exc:
                problems.append(f"{_label(msg.id)!r} -> {form!r}: {exc}")
    assert not problems, "\n".join(problems)


def _get(client, url, **kwargs):
    """One request with a fresh locale choice. Flask-Babel caches the locale on ``g``,
    and the ``app`` fixture keeps one app context (so one ``g``) for the whole test, so
    without the refresh the first request's locale would stick."""
    refresh()
    return client.get(url, **kwargs)


def test_login_page_is_chinese_by_default(client):
    page = _get(client, "/auth/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "组织者登录" in html
    assert "Organiser login" not in html


def test_login_page_in_english_on_request(client):
    html = _get(client, "/auth/login?lang=en").get_data(as_text=True)
    assert "Organiser login" in html
    assert "组织者登录" not in html
    # The choice is remembered for the session.
    assert "Organiser login" in _get(client, "/auth/login").get_data(as_text=True)


def test_browser_language_is_honoured(client):
    html = _get(client, "/auth/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(
        as_text=True
    )
    assert "Organiser login" in html
    html = _get(client, "/auth/login", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).get_data(
        as_text=True
    )
    assert "组织者登录" in html
