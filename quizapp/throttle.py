"""A throttle on unknown-token guesses that cannot lock out a venue.

Participant and screen URLs carry 128-bit tokens (``/j/<token>``, ``/a/<token>``,
``/screen/<token>``, ``/api/v1/...``); the token is the credential. Three hundred phones
at a venue often share one public address, so a limit that refuses *every* request
from an address once it is used up would let one person (or one stale QR code) lock a
whole venue out. This throttle therefore counts and refuses only requests whose token
route answered 404: a known token is always served, however many guesses came from the
same address. A guesser gets 429 instead of 404 once over ``TOKEN_GUESS_LIMIT`` (per
client address, default 60 a minute).

Refusing valid tokens too would not make guessing harder in any way that matters: with
2**128 possible tokens, a hit is out of reach at any request rate. The throttle is a
tripwire (scans become 429s and one log line per window) and bounds what a scan costs.

The counts live where the login limits' do (Redis when ``REDIS_URL`` is set). When that
storage does not answer, this process counts in its own memory for ``RETRY_AFTER_S``
before trying it again (one WARNING per try), so an outage neither takes the participant
pages down nor lifts the throttle, and a scan does not wait on Redis request after request.
"""

from __future__ import annotations

import time

from flask import current_app, request
from flask_limiter.util import get_remote_address
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import STRATEGIES, RateLimiter

from quizapp.extensions import limiter

RETRY_AFTER_S = 10.0  # after a storage error, count in this process this long


def on_token_route() -> bool:
    """True when the current request matched a route with a ``<token>`` argument."""
    return "token" in (request.view_args or {})


class _Counter:
    """The app's limit storage, or this process's memory while that storage is down."""

    def __init__(self, strategy: str) -> None:
        self.local = STRATEGIES[strategy](MemoryStorage())
        self.down_until = 0.0

    def hit(self, limit: RateLimitItem, *keys: str) -> tuple[bool, RateLimiter]:
        """Count one hit: (allowed, the strategy that counted it)."""
        if time.monotonic() >= self.down_until:
            strategy = limiter.limiter
            try:
                return strategy.hit(limit, *keys), strategy
            except Exception as err:  # the storage is down: count here for a while
                self.down_until = time.monotonic() + RETRY_AFTER_S
                current_app.logger.warning(
                    "unknown-token throttle: rate-limit storage unreachable (%r); "
                    "counting in this process for %g s",
                    err,
                    RETRY_AFTER_S,
                )
        return self.local.hit(limit, *keys), self.local


def _counter() -> _Counter:
    counter = current_app.extensions.get("token_guess_counter")
    if counter is None:
        strategy = current_app.config.get("RATELIMIT_STRATEGY") or "fixed-window"
        counter = current_app.extensions["token_guess_counter"] = _Counter(strategy)
    return counter


def unknown_token_over_limit() -> bool:
    """Count one unknown-token answer for this client; True when it is over the limit.

    Never raises: whatever the storage does, the caller answers 404 or 429, never 500.
    """
    if not (limiter.enabled and limiter.initialized):
        return False
    limit = parse(current_app.config.get("TOKEN_GUESS_LIMIT", "60/minute"))
    address = get_remote_address()
    keys = ("token-guess", address)
    try:
        allowed, strategy = _counter().hit(limit, *keys)
        if allowed and strategy.get_window_stats(limit, *keys).remaining == 0:
            current_app.logger.warning(
                "unknown-token limit (%s) reached by %s on %s", limit, address, request.path
            )
    except Exception:  # anything else (a storage lost just after the hit): serve the 404
        current_app.logger.exception("token-guess throttle failed")
        return False
    return not allowed
