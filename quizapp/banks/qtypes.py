"""The question-type registry: how each type is shown, answered and scored.

Adding a type means adding one ``QuestionType`` here (and its spelling to the
importer's aliases).
"""

from __future__ import annotations

import random
import string
import unicodedata
from dataclasses import dataclass

from flask import has_request_context
from flask_babel import force_locale, get_locale
from flask_babel import lazy_gettext as _l

LETTERS = string.ascii_uppercase[:8]
JUDGE_KEYS = ("T", "F")


_JUDGE_OPTIONS: dict[str, tuple[tuple[str, str], ...]] = {}


def _judge_options(locale: str | None = None) -> tuple[tuple[str, str], ...]:
    """The judge options in ``locale`` (default: the request's language), translated once
    per language (a join shows up to 20 questions: two catalogue lookups each added up to
    a tenth of its time; bench/profile_hot_paths.py). A locale given outside a request
    needs an app context."""
    if locale is None:
        locale = str(get_locale() or "") if has_request_context() else ""
    options = _JUDGE_OPTIONS.get(locale)
    if options is None:
        if locale:
            with force_locale(locale):
                options = (("T", str(_l("True"))), ("F", str(_l("False"))))
        else:
            options = (("T", str(_l("True"))), ("F", str(_l("False"))))
        _JUDGE_OPTIONS[locale] = options
    return options


@dataclass(frozen=True)
class QuestionType:
    name: str
    label: object  # lazy string
    multiple: bool  # several choices may be ticked
    shuffle_options: bool

    def display_options(
        self, options: list[str], locale: str | None = None
    ) -> list[tuple[str, str]]:
        """(key, text) pairs as the phone shows them (the judge options in ``locale``,
        default the request's)."""
        if self.name == "judge":
            return list(_judge_options(locale))
        return list(zip(LETTERS, options, strict=False))

    def normalise_choice(self, raw: object, option_count: int) -> str | None:
        """Canonical choice from what a phone sent, or None when it is not valid.

        Letters are NFKC-normalised (full-width ok), upper-cased, de-duplicated
        and sorted; an empty string clears the answer.
        """
        if not isinstance(raw, str):
            return None
        text = unicodedata.normalize("NFKC", raw).strip().upper()
        text = "".join(ch for ch in text if ch not in ",、 |")
        if text == "":
            return ""
        if self.name == "judge":
            return text if text in JUDGE_KEYS else None
        allowed = LETTERS[:option_count]
        if any(ch not in allowed for ch in text):
            return None
        letters = "".join(sorted(set(text)))
        if not self.multiple and len(letters) != 1:
            return None
        return letters

    def fewest_options(self, raw: object) -> tuple[str, int] | None:
        """The canonical choice from ``raw`` and the fewest options a question of this
        type must have for it to be valid (``normalise_choice(raw, n)`` is that choice
        for every ``n`` from there up to 8), or None when no question of this type takes
        it. Lets a statement check the choice against a stored question's options."""
        choice = self.normalise_choice(raw, len(LETTERS))
        if choice is None:
            return None
        if self.name == "judge" or not choice:
            return choice, 0
        return choice, LETTERS.index(choice[-1]) + 1  # letters are sorted

    def is_correct(self, choice: str | None, key: str) -> bool:
        return bool(choice) and choice == key

    def award(self, choice: str | None, key: str, points: int, mode: str = "all") -> int:
        """Points for one answer.

        Single choice and true/false: ``points`` when the choice equals the key, else 0.
        Multiple choice, by the competition's ``mode``:

        - ``all`` (default): all or nothing — ``points`` only for exactly the key.
        - ``half``: 少选得一半分，错选不得分 — any wrong letter gives 0; a non-empty
          proper subset of the key gives ``points // 2``.
        - ``proportional``: any wrong letter gives 0; otherwise
          ``points * len(chosen) // len(key)`` (floor).
        """
        if not choice:
            return 0
        if choice == key:
            return points
        if not self.multiple or mode == "all" or not set(choice) <= set(key):
            return 0
        if mode == "half":
            return points // 2
        return points * len(choice) // len(key)

    def permutation(self, option_count: int, rng: random.Random) -> str:
        """Display order as original letters, e.g. "CADB" (identity when not shuffled)."""
        letters = list(LETTERS[:option_count])
        if self.shuffle_options:
            rng.shuffle(letters)
        return "".join(letters)


QUESTION_TYPES: dict[str, QuestionType] = {
    "single": QuestionType("single", _l("Single choice"), multiple=False, shuffle_options=True),
    "multiple": QuestionType(
        "multiple", _l("Multiple choice"), multiple=True, shuffle_options=True
    ),
    "judge": QuestionType("judge", _l("True or false"), multiple=False, shuffle_options=False),
}


MULTIPLE_SCORING = ("all", "half", "proportional")


def remap_key(key: str, order: str) -> str:
    """Translate a bank answer key into display letters for permutation ``order``."""
    if not order:
        return key
    if len(key) == 1:  # a single choice: no sorting (twenty of these in every join)
        return LETTERS[order.index(key)]
    return "".join(sorted(LETTERS[order.index(letter)] for letter in key))
