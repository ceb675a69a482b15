"""What organisers set up, kept briefly in each app process for the participant hot paths.

At an opening ceremony thousands of phones ask for the same event and draw from the same
banks within seconds; reading the event, its competition, its units and the candidate
questions again for every phone was most of a join's cost (profiled:
``bench/profile_hot_paths.py --path event|join``). Entries here are plain values (no ORM
objects), kept per app in ``app.extensions`` and shared by the process's threads.

Freshness: a commit in this process that touches any set-up table (events, competitions,
their rules, units and banks, question banks and questions) empties the cache at once; a
change made by another process or server shows here within ``SETUP_CACHE_S`` seconds
(default 2). Anything that decides an outcome is still read from the database on every
request: the competition's window and attempts allowed, the draw rules' counts and
points, the participant and their attempts. So at worst a phone that joins within those
seconds after an edit in another process draws from the bank as it was just before it.

An expired entry is recomputed by one thread at a time: while it does, the process's
other threads keep using the expired value instead of each recomputing it too (at a
start every thread of a worker found the draw's pool expired at once, and three or four
of them loaded the same questions: ``tests/test_setup_cache.py``). A thread that claimed
the recompute and stopped before doing it holds its claim at most ``CLAIM_S`` seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from time import monotonic
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

# Tables whose change empties the cache when committed in this process.
SETUP_TABLES = frozenset(
    {
        "events",
        "competitions",
        "draw_rules",
        "draw_rule_banks",
        "competition_banks",
        "competition_units",
        "question_banks",
        "questions",
    }
)
_FLAG = "quizapp.setup_changed"


class SetupCache:
    """A bounded map of ``key -> (expires, value)``; ``ttl`` 0 turns caching off."""

    MAX_ENTRIES = 256
    CLAIM_S = 10.0  # an unreleased claim to recompute an entry lapses after this

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        # key -> (thread ident, monotonic time) of the thread recomputing that entry
        self._claims: dict[Hashable, tuple[int, float]] = {}

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value under ``key``, computed (outside the lock) when absent or expired;
        the expired value while another thread recomputes it."""
        if self.ttl <= 0:
            return compute()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > monotonic():
            if self._claims:
                self._release(key)  # (claimed by kept-value lookup, refreshed meanwhile)
            return entry[1]
        if entry is not None and not self._claim(key):
            return entry[1]
        try:
            value = compute()
        finally:
            self._release(key)
        self.put(key, value)
        return value

    def kept(self, key: Hashable) -> Any | None:
        """The value under ``key`` without computing anything: when fresh, or expired
        while another thread recomputes it. None when absent, or when expired and now
        claimed by this thread, which is to recompute it through :meth:`get`."""
        entry = self._entries.get(key)
        if entry is None or self.ttl <= 0:
            return None
        if entry[0] > monotonic() or not self._claim(key):
            return entry[1]
        return None

    def _claim(self, key: Hashable) -> bool:
        """Whether this thread is (now) the one to recompute ``key``."""
        me, now = threading.get_ident(), monotonic()
        with self._lock:
            holder = self._claims.get(key)
            if holder is not None and holder[0] != me and now - holder[1] < self.CLAIM_S:
                return False
            self._claims[key] = (me, now)
            return True

    def _release(self, key: Hashable) -> None:
        with self._lock:
            holder = self._claims.get(key)
            if holder is not None and holder[0] == threading.get_ident():
                del self._claims[key]

    def put(self, key: Hashable, value: Any) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (monotonic() + self.ttl, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def setup_cache() -> SetupCache:
    """This app's cache (created on first use)."""
    extensions = current_app.extensions
    cache = extensions.get("setup_cache")
    if cache is None:
        cache = extensions["setup_cache"] = SetupCache(
            float(current_app.config.get("SETUP_CACHE_S", 2))
        )
    return cache


def _touches_setup(objects) -> bool:
    return any(getattr(obj, "__tablename__", None) in SETUP_TABLES for obj in objects)


@event.listens_for(Session, "before_flush")
def _note_flush(session, _flush_context, _instances) -> None:
    if not session.info.get(_FLAG) and (
        _touches_setup(session.new)
        or _touches_setup(session.dirty)
        or _touches_setup(session.deleted)
    ):
        session.info[_FLAG] = True


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state) -> None:
    """Bulk INSERT/UPDATE/DELETE statements bypass the flush: look at their table."""
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in SETUP_TABLES:
            state.session.info[_FLAG] = True


@event.listens_for(Session, "after_commit")
def _clear_after_commit(session) -> None:
    if session.info.pop(_FLAG, False) and has_app_context():
        cache = current_app.extensions.get("setup_cache")
        if cache is not None:
            cache.clear()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session) -> None:
    session.info.pop(_FLAG, None)
