"""Draw rule rows: availability per row, adding and removing rows, sample draws."""

from __future__ import annotations

import random

from flask_babel import gettext as _
from sqlalchemy import func, select

from quizapp.banks.models import Question, QuestionBank
from quizapp.competitions.models import Competition, DrawRule
from quizapp.errors import Conflict, InvalidField, NotFound
from quizapp.extensions import db
from quizapp.play.draw import candidate_ids, draw_items
from quizapp.play.models import Attempt


def availability(comp: Competition) -> list[tuple[DrawRule, int]]:
    """Each rule with how many active questions its banks hold for it. Rules draw in
    order without repeats, so overlapping rows share one pool; the figure is per row."""
    return [(rule, len(candidate_ids(rule))) for rule in comp.rules]


def categories(comp: Competition, banks: list[QuestionBank] | None = None) -> list[str]:
    bank_ids = [b.id for b in (banks or comp.banks)]
    if not bank_ids:
        return []
    return list(
        db.session.scalars(
            select(Question.category)
            .where(Question.bank_id.in_(bank_ids), Question.category != "")
            .distinct()
            .order_by(Question.category)
        )
    )


def _guard_unstarted(comp: Competition) -> None:
    started = db.session.scalar(
        select(func.count()).select_from(Attempt).where(Attempt.competition_id == comp.id)
    )
    if started:
        raise Conflict(_("Participants have started; the draw rules can no longer change."))


def add_rule(
    comp: Competition,
    *,
    qtype: str,
    count: int,
    points: int,
    category: str | None,
    difficulty: int | None,
    banks: list[QuestionBank] | None = None,
) -> DrawRule:
    """Add a row after checking its banks (``banks``, else the competition's) hold enough
    for it. Raises InvalidField, Conflict. Commits."""
    _guard_unstarted(comp)
    banks = list(banks or [])
    rule = DrawRule(
        qtype=qtype,
        count=count,
        points=points,
        category=category or None,
        difficulty=difficulty or None,
    )
    have = len(candidate_ids(rule, [b.id for b in (banks or comp.banks)]))
    if count > have:
        raise InvalidField(
            _("The chosen banks hold only %(n)d question(s) for this row.", n=have), field="count"
        )
    rule.banks = banks
    comp.rules.append(rule)
    db.session.commit()
    return rule


def remove_rule(comp: Competition, rule_id: int) -> None:
    """Raises NotFound, Conflict (attempts exist, or it is the last row). Commits."""
    _guard_unstarted(comp)
    rule = next((r for r in comp.rules if r.id == rule_id), None)
    if rule is None:
        raise NotFound(_("No such draw rule."))
    if len(comp.rules) == 1:
        raise Conflict(_("A competition needs at least one draw rule."))
    comp.rules.remove(rule)
    db.session.commit()


def sample_draw(comp: Competition, seed: int | None = None):
    """A draw as a participant would get it (nothing is stored). Raises BankExhausted."""
    items = draw_items(comp, random.Random(seed))
    db.session.rollback()  # the items were never added; drop anything autoflush touched
    return items
