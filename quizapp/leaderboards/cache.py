"""Where computed screen boards are kept between polls.

Without ``REDIS_URL`` each app process keeps its own copy (``MemoryStore``). With it,
every process shares one copy in Redis (``RedisStore``), so a change is recomputed once
for the whole installation however many processes and screens poll; when Redis stops
answering the process falls back to its own memory for a while instead of failing.

An entry is ``{"settings", "data", "at", "digest", "body"}``: ``settings`` are what the
organiser set (metric, top N, masking, freeze), ``data`` the change signature of the
attempts (None for a frozen board, which never changes), ``at`` when it was computed
(seconds since the epoch, from the caller's ``now``) and ``digest`` a hash of ``body``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from flask import current_app

log = logging.getLogger(__name__)

ENTRY_TTL_S = 3600  # a board nobody asked for in an hour is recomputed on demand


KEY_KINDS = ("screen", "rank")  # quizapp:<kind>:<database tag>:... (screen, rank_index)


def database_tag(database_url: str | None = None) -> str:
    """A short tag of this app's database (or of ``database_url``), which keeps its Redis
    keys apart from those of another database sharing the Redis."""
    database = database_url or str(current_app.config["SQLALCHEMY_DATABASE_URI"])
    return hashlib.sha256(database.encode()).hexdigest()[:10]


def forget_database(redis_url: str, database_url: str) -> int:
    """Delete the keys every app process kept in Redis for ``database_url`` (screen
    boards, rank index); for runs that share a Redis and drop their database after.
    Returns how many."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        keys = [
            key
            for kind in KEY_KINDS
            for key in client.scan_iter(f"quizapp:{kind}:{database_tag(database_url)}:*")
        ]
        if keys:
            client.delete(*keys)
        return len(keys)
    finally:
        client.close()


def digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class MemoryStore:
    """Entries in this process, shared by its threads."""

    MAX_ENTRIES = 1000

    def __init__(self) -> None:
        self._entries: dict[str, dict] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, name: str) -> dict | None:
        return self._entries.get(name)

    def set(self, name: str, entry: dict) -> None:
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[name] = entry

    def delete(self, name: str) -> None:
        self._entries.pop(name, None)

    @contextmanager
    def lock(self, name: str) -> Iterator[bool]:
        """Yields whether this caller holds the recompute lock for ``name``."""
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        got = lock.acquire(blocking=False)
        try:
            yield got
        finally:
            if got:
                lock.release()


class RedisUser:
    """A client of the shared Redis under ``prefix`` that, when Redis does not answer,
    leaves it alone for ``RETRY_AFTER_S`` (each user has its fallback meanwhile)."""

    RETRY_AFTER_S = 10.0
    WHAT, FALLBACK = "Redis client", "its fallback"

    def __init__(self, url: str, prefix: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30
        )
        self._errors = (redis.RedisError, OSError)
        self.prefix = prefix
        self._down_until = 0.0

    def _up(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, err: Exception) -> None:
        log.warning("%s: Redis unavailable (%s); %s", self.WHAT, err, self.FALLBACK)
        self._down_until = time.monotonic() + self.RETRY_AFTER_S


class RedisStore(RedisUser):
    """Entries in Redis under ``prefix``: a small ``meta:<name>`` and the body under
    ``body:<digest>``, so an unchanged board costs one small GET and no JSON parse
    (bodies already seen are kept in this process by digest)."""

    LOCAL_BODIES = 256
    WHAT, FALLBACK = "screen cache", "using this process's memory"

    def __init__(self, url: str, prefix: str) -> None:
        super().__init__(url, prefix)
        self._bodies: dict[str, dict] = {}
        self._fallback = MemoryStore()

    def get(self, name: str) -> dict | None:
        if not self._up():
            return self._fallback.get(name)
        try:
            raw = self._redis.get(self.prefix + "meta:" + name)
            if raw is None:
                return None
            meta = json.loads(raw)
            body = self._bodies.get(meta["digest"])
            if body is None:
                raw_body = self._redis.get(self.prefix + "body:" + meta["digest"])
                if raw_body is None:
                    return None
                body = self._remember(meta["digest"], json.loads(raw_body))
        except self._errors as err:
            self._failed(err)
            return self._fallback.get(name)
        return {**meta, "body": body}

    def _remember(self, key: str, body: dict) -> dict:
        if len(self._bodies) >= self.LOCAL_BODIES:
            self._bodies.clear()
        self._bodies[key] = body
        return body

    def set(self, name: str, entry: dict) -> None:
        self._fallback.set(name, entry)
        if not self._up():
            return
        meta = {k: v for k, v in entry.items() if k != "body"}
        body = json.dumps(entry["body"], ensure_ascii=False)
        try:
            pipe = self._redis.pipeline()
            pipe.set(self.prefix + "body:" + entry["digest"], body, ex=ENTRY_TTL_S)
            pipe.set(self.prefix + "meta:" + name, json.dumps(meta), ex=ENTRY_TTL_S)
            pipe.execute()
        except self._errors as err:
            self._failed(err)
        self._remember(entry["digest"], entry["body"])

    def delete(self, name: str) -> None:
        self._fallback.delete(name)
        try:
            self._redis.delete(self.prefix + "meta:" + name)
        except self._errors as err:
            self._failed(err)

    @contextmanager
    def lock(self, name: str) -> Iterator[bool]:
        if not self._up():
            with self._fallback.lock(name) as got:
                yield got
            return
        lock = self._redis.lock(self.prefix + "lock:" + name, timeout=30, blocking=False)
        try:
            got = bool(lock.acquire())
        except self._errors as err:
            self._failed(err)
            got = True
        try:
            yield got
        finally:
            if got:
                # Expired, or Redis gone: either way the lock times out by itself.
                with suppress(Exception):
                    lock.release()


@dataclass(frozen=True)
class Policy:
    """``min_interval_s``: a board is recomputed at most this often while attempts keep
    changing (a change shows within one poll plus this); ``max_age_s``: even with no
    change detected a live board is recomputed after this long (catches what the
    signature cannot see, such as a renamed unit)."""

    min_interval_s: float = 1.0
    max_age_s: float = 60.0


def _usable(entry: dict | None, settings: list, data: list | None, now: float, p: Policy) -> bool:
    if entry is None or entry["settings"] != settings:
        return False
    if data is None:  # frozen: computed once for this freeze
        return entry["data"] is None
    age = max(0.0, now - entry["at"])
    if entry["data"] == data:
        return age < p.max_age_s
    return entry["data"] is not None and age < p.min_interval_s


def fetch(
    store,
    name: str,
    settings: list,
    data: list | None,
    now: float,
    compute: Callable[[], dict],
    policy: Policy,
) -> dict:
    """The entry for ``name``, recomputed with ``compute`` only when the stored one does
    not fit ``settings``/``data`` (see Policy). While another thread or process holds the
    recompute lock, callers keep serving the stored entry if its settings fit."""
    entry = store.get(name)
    if _usable(entry, settings, data, now, policy):
        return entry
    with store.lock(name) as mine:
        if not mine and entry is not None and entry["settings"] == settings:
            return entry
        if mine:
            latest = store.get(name)
            if latest is not entry and _usable(latest, settings, data, now, policy):
                return latest
        body = compute()
        entry = {"settings": settings, "data": data, "at": now, "digest": digest(body)}
        entry["body"] = body
        store.set(name, entry)
        return entry
