"""Gzip for the app's own static files (CSS, JavaScript, SVG): most of a phone's first
visit to a quiz, over a crowded venue network.

Only static files are compressed. They hold no secret, so compression cannot leak one
(BREACH needs a secret and text an attacker chooses in one compressed body, as in a page
with a CSRF token); pages are sent as they are. Each file is compressed once per process,
kept by its path and ETag, and the gzip variant has an ETag of its own, so that a cache
never takes one representation for the other.
"""

from __future__ import annotations

import gzip

from flask import Flask, Response, request

COMPRESSIBLE = {"text/css", "text/javascript", "application/javascript", "image/svg+xml"}
MIN_BYTES = 512
_cache: dict[tuple[str, str], bytes] = {}


def compress_static(response: Response) -> Response:
    """after_request hook: gzip a 200 static response when the client accepts it."""
    if request.endpoint != "static" or response.mimetype not in COMPRESSIBLE:
        return response
    response.vary.add("Accept-Encoding")
    etag, _weak = response.get_etag()
    if (
        response.status_code != 200
        or not etag
        or not request.accept_encodings["gzip"]
        or "Content-Encoding" in response.headers
    ):
        return response
    response.direct_passthrough = False
    data = response.get_data()
    if len(data) < MIN_BYTES:
        return response
    key = (request.path, etag)
    body = _cache.get(key)
    if body is None:
        if len(_cache) > 256:  # files changed under a long-running dev server
            _cache.clear()
        body = _cache[key] = gzip.compress(data, compresslevel=6, mtime=0)
    response.set_data(body)
    response.headers["Content-Encoding"] = "gzip"
    response.headers.pop("Accept-Ranges", None)  # byte ranges are served for the plain file only
    response.set_etag(f"{etag}-gz")
    return response.make_conditional(request)


def init_app(app: Flask) -> None:
    app.after_request(compress_static)
