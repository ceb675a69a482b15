"""Drawing an attempt's questions from a competition's banks, replayable from a seed."""

from __future__ import annotations

import random

from flask_babel import gettext as _
from sqlalchemy import select

from quizapp.banks.models import Question
from quizapp.banks.qtypes import LETTERS, QUESTION_TYPES, remap_key
from quizapp.competitions.models import Competition, DrawRule, competition_banks, draw_rule_banks
from quizapp.errors import Conflict
from quizapp.extensions import db
from quizapp.play.models import AttemptItem


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
    by_type: dict[str, list[tuple[int, int, str, int]]] = {}
    for qid, bank_id, qtype, category, difficulty in db.session.execute(
        select(Question.id, Question.bank_id, Question.type, Question.category, Question.difficulty)
        .where(Question.bank_id.in_(shared.union(*own.values())), Question.is_active.is_(True))
        .order_by(Question.id)
    ):
        by_type.setdefault(qtype, []).append((qid, bank_id, category, difficulty))
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
    return result


def draw_items(competition: Competition, rng: random.Random) -> list[AttemptItem]:
    """Draw per the competition's rules, shuffle question order and option order.

    Each item snapshots stem, options, key (in display letters), points and
    explanation, so later edits of the bank never change this attempt.
    Raises BankExhausted when a rule asks for more questions than the banks hold.
    """
    chosen: list[tuple[int, int]] = []  # (question id, points)
    taken: set[int] = set()
    candidates = _candidates_by_rule(competition)
    for rule in competition.rules:
        ids = [qid for qid in candidates[rule.id] if qid not in taken]
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
    questions = {
        q.id: q
        for q in db.session.scalars(select(Question).where(Question.id.in_([c[0] for c in chosen])))
    }
    items = []
    for position, (qid, points) in enumerate(chosen, start=1):
        q = questions[qid]
        qtype = QUESTION_TYPES[q.type]
        order = "" if q.type == "judge" else qtype.permutation(len(q.options), rng)
        options = [q.options[LETTERS.index(letter)] for letter in order]
        items.append(
            AttemptItem(
                position=position,
                question_id=q.id,
                qtype=q.type,
                stem=q.stem,
                options=options,
                option_order=order,
                key=remap_key(q.answer, order),
                points=points,
                explanation=q.explanation,
            )
        )
    return items
