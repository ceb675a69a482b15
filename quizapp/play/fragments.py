"""The quiz page's questions, each rendered once per process and kept.

Every phone at a start loads its quiz page right after joining, and rendering its 20 or
so questions through the ``questions`` macro (``_macros/question.html``) was half of
that page's cost in the workers (py-spy, bench/RESULTS.md session 15): hundreds of
escapes and lookups for markup that is the same for every phone that drew the question
with its options in the same order. So a question not yet answered is rendered by the
same macro once, with its position left open, kept under what it shows (type, stem,
options, the type's label in the page's language), and its position filled in for each
page. An answered question (it shows its choice) is rendered as before; the output is
the macro's, byte for byte (tests/test_quiz_fragments.py).
"""

from __future__ import annotations

import threading

from flask import current_app
from markupsafe import Markup

_MACROS = "_macros/question.html"
# Stands for the position in a kept question. The page escapes what it shows, and no
# escaped text contains a NUL, so it cannot come from a stem or an option.
_POS = "\x00pos\x00"
MAX_KEPT = 4096  # questions kept per process (a few MB at most); emptied when full

_kept: dict[tuple, str] = {}
_lock = threading.Lock()


def _macro():
    return current_app.jinja_env.get_template(_MACROS).module.questions


def questions_html(questions: list[dict], labels: dict[str, str]) -> Markup:
    """What ``questions(questions, labels)`` renders, from kept questions where it can."""
    macro = _macro()
    parts = []
    for q in questions:
        if q["choice"]:
            parts.append(str(macro([q], labels)).rstrip("\n"))
            continue
        key = (
            q["type"],
            q["stem"],
            tuple((o["key"], o["text"]) for o in q["options"]),
            labels[q["type"]],
        )
        html = _kept.get(key)
        if html is None:
            html = str(macro([{**q, "position": _POS}], labels)).rstrip("\n")
            # id, data-pos, the number shown, and each option's name: else not kept
            if html.count(_POS) != 3 + len(q["options"]):
                parts.append(str(macro([q], labels)).rstrip("\n"))
                continue
            with _lock:
                if len(_kept) >= MAX_KEPT:
                    _kept.clear()
                _kept[key] = html
        parts.append(html.replace(_POS, str(q["position"])))
    # Markup: the macro escaped what it rendered.
    return Markup("".join(parts) + "\n")  # noqa: S704  # nosec B704


def clear() -> None:
    with _lock:
        _kept.clear()
