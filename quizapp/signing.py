"""Signed session cookies and CSRF tokens, written without zlib.

itsdangerous's URL-safe serializers (under Flask's session cookie and Flask-WTF's CSRF
token) zlib-compress every payload they sign and keep the result only when it is
shorter. Ours never are: a session holds a 40-character random CSRF secret and a
language, a CSRF token signs that random secret. Yet each ``zlib.compress`` sets up a
deflate state of about 256 KB (14-60 µs here) and lets go of the GIL around the
compression, so a busy worker's thread waits to take it back: during a 5,000-phone start
through the pages, py-spy found 9 % of the workers' samples in that one call
(bench/RESULTS.md, session 16). A phone's join page signs twice (its CSRF token and its
new session cookie), its quiz page once.

These serializers write the same format without trying to compress. Reading is
itsdangerous's own, which takes compressed payloads too: cookies and tokens signed
before this change still load.
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import current_app, g, session
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.serializer import Serializer


class UncompressedSerializer(URLSafeTimedSerializer):
    """URLSafeTimedSerializer whose payloads are never compressed (it reads both)."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(Serializer.dump_payload(self, obj))


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session (its ``get_signing_serializer``, key fallbacks
    included), signed by :class:`UncompressedSerializer`."""

    def get_signing_serializer(self, app) -> UncompressedSerializer | None:
        if not app.secret_key:
            return None
        keys = [*(app.config.get("SECRET_KEY_FALLBACKS") or ()), app.secret_key]  # current last
        return UncompressedSerializer(
            keys,
            salt=self.salt,
            serializer=self.serializer,
            signer_kwargs={
                "key_derivation": self.key_derivation,
                "digest_method": self.digest_method,
            },
        )


def generate_csrf() -> str:
    """Flask-WTF's ``generate_csrf()`` with its default key and field name, signed by
    :class:`UncompressedSerializer`: the same token for the rest of the request (kept in
    ``g``, where Flask-WTF's forms and ``csrf_token()`` find it), checked by Flask-WTF's
    own ``validate_csrf``."""
    field_name = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    if field_name not in g:
        secret_key = current_app.config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
        if not secret_key:
            raise RuntimeError("A secret key is required to use CSRF.")
        signer = UncompressedSerializer(secret_key, salt="wtf-csrf-token")
        if not isinstance(session.get(field_name), str):
            session[field_name] = secrets.token_hex(20)  # Flask-WTF's: 40 hex digits
        setattr(g, field_name, signer.dumps(session[field_name]))
    return g.get(field_name)
