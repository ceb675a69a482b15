"""Per-question time limits (the phone-contest format, e.g. 20 s per question).

When a competition sets ``question_time_s`` the questions are shown one at a time, in
order. Opening a question stamps ``opened_at`` once (a conditional UPDATE, so a
reload or a second device cannot restart its clock); its answer is accepted until
``opened_at + question_time_s`` plus the network grace, and opening the next question
closes the earlier ones. A question's text never leaves the server before it is opened.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_babel import gettext as _
from sqlalchemy import exists, func, select, update

from quizapp.dbtypes import utcnow
from quizapp.errors import Conflict, NotFound
from quizapp.extensions import db
from quizapp.play.models import Attempt, AttemptItem


class QuestionClosed(Conflict):
    code = "question_closed"


class NotNext(Conflict):
    code = "not_next"


def is_paced(attempt: Attempt) -> bool:
    return attempt.competition.question_time_s is not None


def question_seconds(attempt: Attempt) -> int | None:
    """Seconds per question for this attempt: the elder-mode time when the attempt
    started in elder mode and the competition sets one."""
    comp = attempt.competition
    if attempt.elder and comp.elder_question_time_s:
        return comp.elder_question_time_s
    return comp.question_time_s


def question_deadline(attempt: Attempt, item: AttemptItem) -> datetime | None:
    """When this question's own time runs out (never after the attempt's deadline)."""
    seconds = question_seconds(attempt)
    if seconds is None or item.opened_at is None:
        return None
    return min(item.opened_at + timedelta(seconds=seconds), attempt.deadline_at)


def check_window(attempt: Attempt, item: AttemptItem, now: datetime, grace: timedelta) -> None:
    """Raise QuestionClosed unless this paced question is open for answers now."""
    if not is_paced(attempt):
        return
    deadline = question_deadline(attempt, item)
    if deadline is None:
        raise QuestionClosed(_("This question has not been shown yet."))
    if now > deadline + grace:
        raise QuestionClosed(_("Time for this question is up; the answer was not saved."))
    later_open = db.session.scalar(
        select(
            exists().where(
                AttemptItem.attempt_id == attempt.id,
                AttemptItem.position > item.position,
                AttemptItem.opened_at.is_not(None),
            )
        )
    )
    if later_open:
        raise QuestionClosed(_("You have moved on; earlier questions are closed."))


def current_position(attempt: Attempt) -> int | None:
    """The last opened position, or None when no question was opened yet."""
    return db.session.scalar(
        select(func.max(AttemptItem.position)).where(
            AttemptItem.attempt_id == attempt.id, AttemptItem.opened_at.is_not(None)
        )
    )


def open_question(attempt: Attempt, position: int, now: datetime | None = None) -> AttemptItem:
    """Show question ``position``: idempotent for an opened one; otherwise only the next
    in order. Raises NotFound, NotNext. Commits when it opens one."""
    now = now or utcnow()
    item = db.session.scalar(
        select(AttemptItem).where(
            AttemptItem.attempt_id == attempt.id, AttemptItem.position == position
        )
    )
    if item is None:
        raise NotFound(_("This quiz has no question %(n)d.", n=position))
    if item.opened_at is not None:
        return item
    if position != (current_position(attempt) or 0) + 1:
        raise NotNext(_("Questions are shown in order; please answer the current one."))
    db.session.execute(
        update(AttemptItem)
        .where(AttemptItem.id == item.id, AttemptItem.opened_at.is_(None))
        .values(opened_at=now)
    )
    db.session.commit()
    db.session.refresh(item)
    return item


def speed_factor(attempt: Attempt, item: AttemptItem) -> float:
    """Kahoot-style: a right answer scores points × (1 − (t / T) / 2), where t is the time
    from showing the question to the (last) answer and T the time per question; so an
    instant answer earns full points and one at the buzzer half. 1.0 when off."""
    comp = attempt.competition
    if not comp.speed_bonus or comp.question_time_s is None or item.opened_at is None:
        return 1.0
    answered = item.answered_at or item.opened_at
    elapsed = (answered - item.opened_at).total_seconds()
    share = min(max(elapsed / question_seconds(attempt), 0.0), 1.0)
    return 1.0 - share / 2
