"""Certificates: earned by a participant whose best finished score reaches the
competition's ``certificate_min_score``; verified publicly by an unguessable token.

The certificate belongs to the participant's best finished attempt (the one the
leaderboards rank). Its public token is issued the first time the certificate is
opened, by a conditional UPDATE (``WHERE certificate_token IS NULL``): however many
requests open it at once, one token wins and every request shows that one. A
certificate once issued stays valid: the page always shows what the database holds.
"""

from __future__ import annotations

import secrets

from flask_babel import gettext as _
from sqlalchemy import select, update

from quizapp.errors import NotFound
from quizapp.extensions import db
from quizapp.leaderboards.services import mask_name
from quizapp.play.models import Attempt
from quizapp.reports.facts import FINISHED


def best_finished(participant_id: int) -> Attempt | None:
    """The participant's best finished attempt in the ranking order, or None."""
    return db.session.scalar(
        select(Attempt)
        .where(Attempt.participant_id == participant_id, Attempt.status.in_(FINISHED))
        .order_by(
            Attempt.score.desc(),
            Attempt.duration_ms.asc(),
            Attempt.finished_at.asc(),
            Attempt.id.asc(),
        )
        .limit(1)
    )


def earned_attempt(attempt: Attempt) -> Attempt | None:
    """The attempt that carries the certificate of ``attempt``'s participant, or None
    when the competition gives none or the best finished score is below the bar."""
    minimum = attempt.competition.certificate_min_score
    if minimum is None:
        return None
    best = best_finished(attempt.participant_id)
    return best if best is not None and best.score >= minimum else None


def issue_token(attempt_id: int) -> str:
    """The attempt's certificate token, issued now if it has none. Race-safe. Commits."""
    db.session.execute(
        update(Attempt)
        .where(Attempt.id == attempt_id, Attempt.certificate_token.is_(None))
        .values(certificate_token=secrets.token_urlsafe(16))
    )
    db.session.commit()
    token = db.session.scalar(select(Attempt.certificate_token).where(Attempt.id == attempt_id))
    assert token is not None  # set above or by a concurrent request
    return token


def certificate_for(attempt_token: str) -> Attempt:
    """The certificate attempt of the participant owning ``attempt_token``, with its
    certificate token issued. Raises NotFound (unknown token, nothing earned). Commits."""
    attempt = db.session.scalar(select(Attempt).where(Attempt.token == attempt_token))
    if attempt is None:
        raise NotFound(_("No quiz was found for this link."))
    earned = earned_attempt(attempt)
    if earned is None:
        raise NotFound(_("No certificate has been earned with this quiz."))
    if earned.certificate_token is None:
        issue_token(earned.id)
        db.session.refresh(earned)
    return earned


def verify(certificate_token: str) -> Attempt:
    """The attempt a certificate token was issued for. Raises NotFound."""
    attempt = db.session.scalar(
        select(Attempt).where(Attempt.certificate_token == certificate_token)
    )
    if attempt is None or not certificate_token:
        raise NotFound(_("This certificate is not valid."))
    return attempt


def masked_name(attempt: Attempt) -> str:
    """张小三 → 张*三: enough to confirm, not enough to expose."""
    return mask_name(attempt.participant.name)
