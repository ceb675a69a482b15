"""The quiz page's questions, assembled from parts rendered once per process and kept.

Every phone at a start loads its quiz page right after joining, and rendering its 20 or
so questions through the ``questions`` macro (``_macros/question.html``) was half of
that page's cost in the workers (py-spy; bench/RESULTS.md, sessions 15 and 16):
hundreds of escapes and lookups for markup that is the same for every phone that drew
the question.

Each phone sees its questions at its own positions, with the options of a choice
question in its own order, so a question is kept in parts, rendered by the macro itself
with the position and the option's letter left open:

- the part before the options, per question type, its label (the page's language) and
  stem;
- one part per option, per input type and option text;
- the part after the options.

A question that is answered (it shows its choice) and a true-or-false question (its two
options are the same for every phone: kept whole, per type, label and stem) are rendered
as before or kept whole. The page is the macro's byte for byte
(tests/test_quiz_fragments.py).

How the parts are cut: the macro renders a question as ``A + B1 + ... + Bn + C`` (A
before the options, each B one option, C after). Rendered with no option and with one,
the two outputs share the prefix ``A + x``, where ``x`` is what ``B`` and ``C`` begin
with alike; so the kept parts are ``A + x``, ``B - x + x`` (one option's markup rotated
by ``x``) and ``C - x``, whose concatenation is the macro's for any number of options.
"""

from __future__ import annotations

import os
import threading

from flask import current_app
from markupsafe import Markup

_MACROS = "_macros/question.html"
# Stand for the position and for an option's letter in a kept part. The page escapes
# what it shows, and no escaped text contains a NUL, so they cannot come from a stem or
# an option.
_POS = "\x00pos\x00"
_KEY = "\x00key\x00"
MAX_KEPT = 8192  # parts kept per process (a few MB at most); emptied when full

_kept: dict[tuple, object] = {}
_lock = threading.Lock()


def _macro():
    return current_app.jinja_env.get_template(_MACROS).module.questions


def _render(q: dict, labels: dict[str, str]) -> str:
    return str(_macro()([q], labels)).rstrip("\n")


def _keep(key: tuple, value: object) -> None:
    with _lock:
        if len(_kept) >= MAX_KEPT:
            _kept.clear()
        _kept[key] = value


def _common_prefix(a: str, b: str) -> int:
    return len(os.path.commonprefix([a, b]))


def _parts(q: dict, labels: dict[str, str]) -> tuple[str, str] | None:
    """(before the options, after them) for this question with its position open."""
    key = ("question", q["type"], labels[q["type"]], q["stem"])
    parts = _kept.get(key)
    if parts is None:
        bare = {"position": _POS, "type": q["type"], "stem": q["stem"], "choice": ""}
        empty = _render({**bare, "options": []}, labels)
        one = _render({**bare, "options": [{"key": _KEY, "text": ""}]}, labels)
        cut = _common_prefix(empty, one)
        before, after = empty[:cut], empty[cut:]
        # id, data-pos and the number shown: else the stem holds a placeholder
        if before.count(_POS) != 3 or _POS in after or _KEY in before + after:
            return None
        parts = (before, after)
        _keep(key, parts)
    return parts


def _option(q: dict, text: str, parts: tuple[str, str], labels: dict[str, str]) -> str | None:
    """One option's part, its position and letter open (see the module's docstring)."""
    key = ("option", q["type"] == "multiple", text)
    part = _kept.get(key)
    if part is None:
        bare = {"position": _POS, "type": q["type"], "stem": q["stem"], "choice": ""}
        one = _render({**bare, "options": [{"key": _KEY, "text": text}]}, labels)
        before, after = parts
        if not (one.startswith(before) and one.endswith(after)):
            return None
        part = one[len(before) : len(one) - len(after)]
        if part.count(_POS) != 1 or part.count(_KEY) != 2:  # the name; value and letter
            return None
        _keep(key, part)
    return part


def _question(q: dict, labels: dict[str, str]) -> str:
    if q["choice"] or q["type"] == "judge":
        return _whole(q, labels)
    parts = _parts(q, labels)
    if parts is None:
        return _render(q, labels)
    pos = str(q["position"])
    html = [parts[0].replace(_POS, pos)]
    for option in q["options"]:
        part = _option(q, option["text"], parts, labels)
        if part is None:
            return _render(q, labels)
        html.append(part.replace(_POS, pos).replace(_KEY, option["key"]))
    html.append(parts[1])
    return "".join(html)


def _whole(q: dict, labels: dict[str, str]) -> str:
    """A question kept whole (a true-or-false one), or rendered (one with a choice)."""
    if q["choice"]:
        return _render(q, labels)
    options = tuple((o["key"], o["text"]) for o in q["options"])
    key = ("whole", q["type"], labels[q["type"]], q["stem"], options)
    html = _kept.get(key)
    if html is None:
        html = _render({**q, "position": _POS}, labels)
        # id, data-pos, the number shown, and each option's name: else not kept
        if html.count(_POS) != 3 + len(q["options"]):
            return _render(q, labels)
        _keep(key, html)
    return html.replace(_POS, str(q["position"]))


def questions_html(questions: list[dict], labels: dict[str, str]) -> Markup:
    """What ``questions(questions, labels)`` renders, from kept parts where it can."""
    html = "".join(_question(q, labels) for q in questions) + "\n"
    # Markup: the macro escaped what it rendered.
    return Markup(html)  # noqa: S704  # nosec B704


def clear() -> None:
    with _lock:
        _kept.clear()
