"""Configuration from environment variables (12-factor).

Every setting has a safe default for the embedded mode: an SQLite file in the
instance folder, an in-process cache and rate-limit store, and a secret key
generated once and kept in the instance folder.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def load_secret_key(instance_path: str) -> str:
    """Return ``SECRET_KEY`` from the environment, or the one kept in ``instance/``.

    The file is created with mode 0600 on first use so that sessions survive a
    restart and are shared by every worker of the same installation.
    """
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip()


def database_url(instance_path: str) -> str:
    """``DATABASE_URL`` if set (``postgres://`` is upgraded to psycopg 3), else SQLite."""
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        return "sqlite:///" + str(Path(instance_path) / "quizapp.sqlite3")
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def from_environment(instance_path: str) -> dict:
    """Build the Flask config mapping from the environment."""
    db_url = database_url(instance_path)
    # No pool_pre_ping: a server connection idle for DB_PING_IDLE_S is pinged before use
    # (quizapp.pool_ping); an SQLite file has nothing to ping.
    engine_options: dict = {}
    if db_url.startswith("postgresql"):
        engine_options.update(
            pool_size=_int("DB_POOL_SIZE", 5),
            max_overflow=_int("DB_MAX_OVERFLOW", 10),
            pool_recycle=1800,
            # Bounded waits: a request gives up (503, retry) well before gunicorn's 30 s
            # timeout would kill its worker, when the pool is empty or the host silent.
            pool_timeout=_int("DB_POOL_TIMEOUT", 10),
            connect_args={"connect_timeout": _int("DB_CONNECT_TIMEOUT", 5)},
        )
    redis_url = os.environ.get("REDIS_URL", "").strip() or None
    return {
        "SECRET_KEY": load_secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": db_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        # A moving window: "10/minute" means at most 10 in any 60 seconds, not 20 across
        # the edge of two fixed windows.
        "RATELIMIT_STRATEGY": "moving-window",
        # Unknown-token answers (404) allowed per client address before 429 (quizapp.throttle).
        "TOKEN_GUESS_LIMIT": os.environ.get("TOKEN_GUESS_LIMIT", "").strip() or "60/minute",
        # Reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted (0: none,
        # the socket's address is the client's). Rate limits key on the client address.
        "TRUSTED_PROXIES": max(_int("TRUSTED_PROXIES", 0), 0),
        "PUBLIC_BASE_URL": os.environ.get("PUBLIC_BASE_URL", "").rstrip("/") or None,
        "ANSWER_GRACE_S": min(max(_int("ANSWER_GRACE_S", 5), 0), 10),
        # The answer save's common case answered in front of Flask (quizapp.play.fast_save).
        "FAST_ANSWER_SAVE": os.environ.get("FAST_ANSWER_SAVE", "").strip() != "0",
        # ... and the event info a phone reads on scanning, from the set-up cache.
        "FAST_EVENT_GET": os.environ.get("FAST_EVENT_GET", "").strip() != "0",
        # On PostgreSQL, a new phone's join in two statements (quizapp.play.services).
        "FAST_JOIN": os.environ.get("FAST_JOIN", "").strip() != "0",
        # With REDIS_URL, a submit's ranks from sorted sets (quizapp.leaderboards.rank_index).
        "RANK_INDEX": os.environ.get("RANK_INDEX", "").strip() != "0",
        # Its keys' prefix; by default named after DATABASE_URL (the same on every server).
        "RANK_INDEX_PREFIX": os.environ.get("RANK_INDEX_PREFIX", "").strip() or None,
        "MAX_CONTENT_LENGTH": _int("MAX_UPLOAD_MB", 5) * 1024 * 1024,
        # Bodies other than file uploads (forms, JSON): the largest form is under 400 KB.
        "MAX_FORM_BODY": _int("MAX_FORM_BODY_KB", 1024) * 1024,
        # multipart/form-data: parts per request, bytes per field that is not a file.
        "MAX_FORM_PARTS": _int("MAX_FORM_PARTS", 1000),
        "MAX_FORM_MEMORY_SIZE": 500_000,
        "IMPORT_MAX_ROWS": _int("IMPORT_MAX_ROWS", 5000),
        "SQLITE_BUSY_TIMEOUT_MS": _int("SQLITE_BUSY_TIMEOUT_MS", 15000),
        "DB_PING_IDLE_S": float(os.environ.get("DB_PING_IDLE_S", "").strip() or 1.0),
        # What organisers set up, kept this long in each process for the phones' hot
        # paths (quizapp.setup_cache); 0 turns it off.
        "SETUP_CACHE_S": float(os.environ.get("SETUP_CACHE_S", "").strip() or 2.0),
        # SQLite: WAL checkpoints in a background thread every this many seconds (0:
        # SQLite's own, inside the commit that crosses 1,000 pages; see sqlite_writer).
        "SQLITE_CHECKPOINT_S": float(os.environ.get("SQLITE_CHECKPOINT_S", "").strip() or 0.5),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("SESSION_COOKIE_SECURE", "") == "1",
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "zh",
        "BABEL_DEFAULT_TIMEZONE": os.environ.get("TIMEZONE", "Asia/Shanghai"),
        "LANGUAGES": ("zh", "en"),
        "SEND_FILE_MAX_AGE_DEFAULT": 3600,
    }
