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
"""

from __future__ import annotations

from flask import current_app, request
from flask_limiter.util import get_remote_address
from limits import parse

from quizapp.extensions import limiter


def on_token_route() -> bool:
    """True when the current request matched a route with a ``<token>`` argument."""
    return "token" in (request.view_args or {})


def unknown_token_over_limit() -> bool:
    """Count one unknown-token answer for this client; True when it is over the limit.

    Fails open (False) when rate limiting is off or its storage does not answer: an
    unreachable Redis must not take the participant pages down.
    """
    if not (limiter.enabled and limiter.initialized):
        return False
    limit = parse(current_app.config.get("TOKEN_GUESS_LIMIT", "60/minute"))
    address = get_remote_address()
    keys = ("token-guess", address)
    try:
        allowed = limiter.limiter.hit(limit, *keys)
        if allowed and limiter.limiter.get_window_stats(limit, *keys).remaining == 0:
            current_app.logger.warning(
                "unknown-token limit (%s) reached by %s on %s", limit, address, request.path
            )
    except Exception:  # the limiter's storage is down: serve the 404, log why
        current_app.logger.exception("token-guess throttle storage failed")
        return False
    return not allowed
