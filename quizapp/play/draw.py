"""Drawing an attempt's questions from a competition's banks, replayable from a seed."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from flask_babel import gettext as _
from sqlalchemy import select

from quizapp.banks.models import Question
from quizapp.banks.qtypes import LETTERS, QUESTION_TYPES, remap_key
from quizapp.competitions.models import Competition, DrawRule, competition_banks, draw_rule_banks
from quizapp.errors import Conflict
from quizapp.extensions import db
from quizapp.setup_cache import setup_cache


class BankExhausted(Conflict):
    code = "bank_exhausted"


def candidate_ids(rule: DrawRule, bank_ids: list[int] | None = None) -> list[int]:
    """Active question ids a rule may draw from (its banks unless ``bank_ids`` is
    given), in a stable order."""
    if bank_ids is None:
        bank_ids = rule.bank_ids()
    stmt = select(Question.id).where(
        Question.bank_id.in_(bank_ids), Question.type == rule.qtype, Question.is_active.is_(True)
    )
    if rule.category:
        stmt = stmt.where(Question.category == rule.category)
    if rule.difficulty:
        stmt = stmt.where(Question.difficulty == rule.difficulty)
    return list(db.session.scalars(stmt.order_by(Question.id)))


def _candidates_by_rule(competition: Competition) -> dict[int, list[int]]:
    """``candidate_ids`` of every rule of a saved competition, in three statements
    whatever the number of rules (a join draws on every phone's start)."""
    return load_pool(competition, content=False).candidates


_LETTER_INDEX = {letter: i for i, letter in enumerate(LETTERS)}

# What a question's snapshot in an attempt is made of: type, stem, options, key, explanation.
Content = tuple[str, str, list[str], str, str]
_CONTENT_COLUMNS = (Question.stem, Question.options, Question.answer, Question.explanation)
POOL_CONTENT_MAX = 3000  # larger pools keep ids only; the drawn questions are then read


@dataclass(frozen=True)
class Pool:
    """The candidates of each rule of a competition (ids in id order) and, for pools of at
    most ``POOL_CONTENT_MAX`` questions, their content."""

    signature: tuple
    candidates: dict[int, list[int]]
    content: dict[int, Content]

    def contents(self, ids: list[int]) -> dict[int, Content]:
        missing = [qid for qid in ids if qid not in self.content]
        found = {qid: self.content[qid] for qid in ids if qid in self.content}
        if missing:
            rows = db.session.execute(
                select(Question.id, Question.type, *_CONTENT_COLUMNS).where(
                    Question.id.in_(missing)
                )
            )
            found.update((row[0], tuple(row[1:])) for row in rows)
        return found


def _signature(rules) -> tuple:
    return tuple((r.id, r.qtype, r.category, r.difficulty) for r in rules)


def load_pool(competition: Competition, *, content: bool = True) -> Pool:
    """The pool of a saved competition from the database, in three statements whatever
    the number of rules."""
    rules = competition.rules
    own: dict[int, set[int]] = {}
    for rule_id, bank_id in db.session.execute(
        select(draw_rule_banks.c.draw_rule_id, draw_rule_banks.c.bank_id).where(
            draw_rule_banks.c.draw_rule_id.in_([r.id for r in rules])
        )
    ):
        own.setdefault(rule_id, set()).add(bank_id)
    shared = set(
        db.session.scalars(
            select(competition_banks.c.bank_id).where(
                competition_banks.c.competition_id == competition.id
            )
        )
    )
    columns = (Question.id, Question.bank_id, Question.type, Question.category, Question.difficulty)
    by_type: dict[str, list[tuple[int, int, str, int]]] = {}
    texts: dict[int, Content] = {}
    rows = db.session.execute(
        select(*columns, *(_CONTENT_COLUMNS if content else ()))
        .where(Question.bank_id.in_(shared.union(*own.values())), Question.is_active.is_(True))
        .order_by(Question.id)
    ).all()
    keep_content = content and len(rows) <= POOL_CONTENT_MAX
    for row in rows:
        qid, bank_id, qtype, category, difficulty = row[:5]
        by_type.setdefault(qtype, []).append((qid, bank_id, category, difficulty))
        if keep_content:
            texts[qid] = (qtype, *row[5:])
    result = {}
    for rule in rules:
        banks = own.get(rule.id) or shared
        category, difficulty = rule.category, rule.difficulty
        result[rule.id] = [
            qid
            for qid, bank_id, cat, diff in by_type.get(rule.qtype, ())
            if bank_id in banks
            and (not category or cat == category)
            and (not difficulty or diff == difficulty)
        ]
    return Pool(_signature(rules), result, texts)


def cached_pool(competition: Competition, rules: Sequence[RuleLike] | None = None) -> Pool:
    """``load_pool`` through this process's set-up cache (see ``quizapp.setup_cache``),
    for the join: reloaded when the competition's rules (``rules``: as just read, when the
    caller has them) differ from the cached ones."""
    cache = setup_cache()
    key = ("pool", competition.id)
    pool = cache.get(key, lambda: load_pool(competition))
    if pool.signature != _signature(competition.rules if rules is None else rules):
        # the rules changed in another process
        pool = load_pool(competition)
        cache.put(key, pool)
    return pool


def kept_pool(competition_id: int, rules: Sequence[RuleLike]) -> Pool | None:
    """The competition's pool from the set-up cache when it is kept there for these
    rules (expired too, while another thread reloads it), else None, without reading
    anything: the caller then loads it with :func:`cached_pool`."""
    pool = setup_cache().kept(("pool", competition_id))
    return pool if pool is not None and pool.signature == _signature(rules) else None


class RuleLike(Protocol):
    """What the draw reads of a rule: a DrawRule, or its row as the join reads it."""

    id: int
    qtype: str
    count: int
    points: int
    category: str | None
    difficulty: int | None


@dataclass(slots=True)
class DrawnItem:
    """A drawn question as an attempt item stores it (the columns it fills)."""

    position: int
    question_id: int
    qtype: str
    stem: str
    options: list[str]
    option_order: str
    key: str
    points: int
    explanation: str
    # As a new attempt's item has them, for the presenters of a join answered without
    # the ORM (quizapp.play.services.NewAttempt).
    choice: str | None = None
    opened_at: None = None


def draw_items(
    competition: Competition,
    rng: random.Random,
    pool: Pool | None = None,
    rules: Sequence[RuleLike] | None = None,
) -> list[DrawnItem]:
    """Draw per the competition's rules, shuffle question order and option order.

    Each item snapshots stem, options, key (in display letters), points and
    explanation, so later edits of the bank never change this attempt.
    Raises BankExhausted when a rule asks for more questions than the banks hold.
    ``pool``: the competition's pool when the caller has it (default: read now);
    ``rules``: its rules in id order, as the join reads them (default: ``competition.rules``).
    """
    chosen: list[tuple[int, int]] = []  # (question id, points)
    taken: set[int] = set()
    if pool is None:
        pool = load_pool(competition, content=False)
    candidates = pool.candidates
    for rule in competition.rules if rules is None else rules:
        ids = candidates[rule.id]
        if not taken.isdisjoint(ids):  # (rules of different types never overlap)
            ids = [qid for qid in ids if qid not in taken]
        if len(ids) < rule.count:
            raise BankExhausted(
                _(
                    "The question banks hold %(have)d question(s) of this type; "
                    "the competition draws %(want)d.",
                    have=len(ids),
                    want=rule.count,
                )
            )
        picked = rng.sample(ids, rule.count)
        taken.update(picked)
        chosen.extend((qid, rule.points) for qid in picked)
    rng.shuffle(chosen)
    questions = pool.contents([qid for qid, _points in chosen])
    items = []
    for position, (qid, points) in enumerate(chosen, start=1):
        qtype, stem, texts, answer, explanation = questions[qid]
        order = "" if qtype == "judge" else QUESTION_TYPES[qtype].permutation(len(texts), rng)
        items.append(
            DrawnItem(
                position=position,
                question_id=qid,
                qtype=qtype,
                stem=stem,
                options=[texts[_LETTER_INDEX[letter]] for letter in order],
                option_order=order,
                key=remap_key(answer, order),
                points=points,
                explanation=explanation,
            )
        )
    return items
