"""The curated starter bank itself: loads, is balanced, sourced and free of duplicates."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

from quizapp.banks.parsing import parse_upload

BANK_DIR = Path(__file__).resolve().parent.parent / "question_bank"
CATEGORIES = {
    "质量强国与质量月",
    "质量管理",
    "计量",
    "标准化",
    "认证认可与检验检测",
    "特种设备",
    "食品安全",
    "药品·化妆品·医疗器械",
    "产品质量法",
    "消费者权益保护",
    "知识产权",
    "工匠精神与质量文化",
}


@pytest.fixture(scope="module")
def bank():
    questions = {}
    for path in sorted(BANK_DIR.glob("*.csv")):
        result = parse_upload(path.read_bytes(), path.name)
        assert result.errors == [], (path.name, result.errors[:5])
        questions[path.name] = result.questions
    return questions


def _all(bank):
    return [q for qs in bank.values() for q in qs]


def test_size_and_categories(bank):
    questions = _all(bank)
    assert len(questions) >= 300
    per_category = Counter(q.category for q in questions)
    assert set(per_category) == CATEGORIES
    assert min(per_category.values()) >= 20, per_category
    for name, qs in bank.items():
        assert len({q.category for q in qs}) == 1, f"{name} mixes categories"


def test_type_mix_and_difficulty(bank):
    questions = _all(bank)
    types = Counter(q.type for q in questions)
    share = {t: n / len(questions) for t, n in types.items()}
    assert 0.40 <= share["single"] <= 0.60, share
    assert 0.18 <= share["multiple"] <= 0.32, share
    assert 0.18 <= share["judge"] <= 0.32, share
    assert set(Counter(q.difficulty for q in questions)) == {1, 2, 3}


def test_every_question_has_explanation_and_source(bank):
    for q in _all(bank):
        assert q.explanation.strip(), q.stem
        assert q.source.strip(), q.stem
        assert not re.fullmatch(r"https?://\S+", q.source.strip()), f"URL alone: {q.stem}"


def test_answer_keys_are_valid(bank):
    for q in _all(bank):
        if q.type == "judge":
            assert q.answer in ("T", "F") and q.options == ()
            continue
        letters = "ABCDEFGH"[: len(q.options)]
        assert q.answer and set(q.answer) <= set(letters), q.stem
        assert len(q.answer) == 1 if q.type == "single" else len(q.answer) >= 2
        assert len(set(q.options)) == len(q.options), f"repeated option: {q.stem}"


def test_single_choice_letters_are_balanced(bank):
    singles = [q.answer for q in _all(bank) if q.type == "single"]
    counts = Counter(singles)
    assert max(counts.values()) / len(singles) <= 0.35, counts
    judges = Counter(q.answer for q in _all(bank) if q.type == "judge")
    assert min(judges.values()) / sum(judges.values()) >= 0.35, judges


def _grams(text: str) -> set[str]:
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if ch.isalnum())
    return {text[i : i + 3] for i in range(max(len(text) - 2, 1))}


def _right_texts(q) -> frozenset[str]:
    if q.type == "judge":
        return frozenset(q.answer)
    return frozenset(q.options["ABCDEFGH".index(letter)] for letter in q.answer)


def test_no_duplicates_or_near_duplicates(bank):
    """Near-duplicate: nearly the same stem (3-gram Jaccard > 0.8) expecting the same
    answer. A stem that differs in one key word and expects another answer is fine."""
    questions = _all(bank)
    fingerprints = Counter(q.fingerprint for q in questions)
    assert max(fingerprints.values()) == 1
    grams = [(q, _grams(q.stem), _right_texts(q)) for q in questions]
    similar = []
    for (a, ga, ra), (b, gb, rb) in itertools.combinations(grams, 2):
        if ra == rb and len(ga & gb) / len(ga | gb) > 0.8:
            similar.append((a.stem, b.stem))
    assert similar == []
