"""Ranks of finished attempts from sorted sets in Redis (with ``REDIS_URL``).

Counting the finished attempts ahead of one (``services.ranks_of`` on the database) reads
every one of them: at 5,000 finished attempts about 2 ms of PostgreSQL's time per submit,
when thousands of phones submit within a minute at the end of an opening ceremony's quiz.
Here each competition has a sorted set of every person's best finished attempt, and each
unit one of its members' (people without a unit share one), so a rank is a ZLEXCOUNT:
O(log n), a fraction of a millisecond.

Order: every member has the score 0 and is ``<order key>:<participant id>``, where the
order key is 30 hex digits (score descending, time used ascending, finish time ascending,
fixed width) whose byte order is the ranking's. The number of members whose key is
strictly smaller is the number of people ahead, as the database counts them.

The database stays the source of truth:
- every finish adds its attempt after its commit (``record``, from ``play.services``);
  adding keeps each person's best and never removes anyone else, so adding is idempotent
  and order-independent;
- the sets answer only while the competition's ``ready`` marker lives (``REBUILD_S``).
  When it is missing (first use, a Redis restart, or simply its age) one process empties
  the sets, then reads every finished attempt from the database and merges them, then
  sets the marker. An attempt committed before that read is in it, and one committed
  after adds itself after its commit, so none is lost. Until then, and whenever Redis
  does not answer, ranks come from the database. So an attempt whose adding was lost
  (Redis unreachable at that moment, or the process killed between its commit and
  Redis), or a key Redis evicted, is set right within ``REBUILD_S`` seconds.

Run Redis without eviction (its default ``noeviction``): an evicted key leaves wrong
ranks until the next rebuild. Every key expires ``KEY_TTL_S`` after its competition's
last finish or rebuild.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from flask import current_app

from quizapp.leaderboards.cache import RedisUser, database_tag

log = logging.getLogger(__name__)

REBUILD_S = 60
KEY_TTL_S = 2 * 24 * 3600
LOCK_S = 30
_EPOCH = datetime(1970, 1, 1)
_KEY_LEN = 30
_MAX_SCORE = 0x7FFFFFFF

# KEYS: best (hash pid -> member), all (zset), unit (zset), ready (marker), units (the
# set of the unit zsets' names). ARGV: pid, order key, ttl. Adds the attempt (keeping
# the person's best), then, when the sets are complete, returns {people ahead overall,
# people ahead in the unit}.
_RECORD = f"""
local member = ARGV[2] .. ':' .. ARGV[1]
local best = redis.call('HGET', KEYS[1], ARGV[1])
if (not best) or ARGV[2] < string.sub(best, 1, {_KEY_LEN}) then
  if best then
    redis.call('ZREM', KEYS[2], best)
    redis.call('ZREM', KEYS[3], best)
  end
  best = member
  redis.call('HSET', KEYS[1], ARGV[1], member)
  redis.call('ZADD', KEYS[2], 0, member)
  redis.call('ZADD', KEYS[3], 0, member)
  redis.call('SADD', KEYS[5], KEYS[3])
  for _, i in ipairs({{1, 2, 3, 5}}) do redis.call('EXPIRE', KEYS[i], ARGV[3]) end
end
if redis.call('EXISTS', KEYS[4]) == 0 then return false end
local own = 0
if string.sub(best, 1, {_KEY_LEN}) < ARGV[2] then own = 1 end
local before = '(' .. ARGV[2]
return {{redis.call('ZLEXCOUNT', KEYS[2], '-', before) - own,
        redis.call('ZLEXCOUNT', KEYS[3], '-', before) - own}}
"""

# KEYS: best, all, units, then unit zsets. ARGV: ttl, then (pid, order key, unit key
# index) ...
# The same adding as _RECORD for many attempts; the person's best is (re)added to the
# unit's set, which repairs a set that lost it.
_MERGE = f"""
for i = 2, #ARGV, 3 do
  local pid, key, unit = ARGV[i], ARGV[i + 1], KEYS[tonumber(ARGV[i + 2])]
  local member = key .. ':' .. pid
  local best = redis.call('HGET', KEYS[1], pid)
  if (not best) or key < string.sub(best, 1, {_KEY_LEN}) then
    if best then
      redis.call('ZREM', KEYS[2], best)
      redis.call('ZREM', unit, best)
    end
    best = member
    redis.call('HSET', KEYS[1], pid, member)
    redis.call('ZADD', KEYS[2], 0, member)
  end
  redis.call('ZADD', unit, 0, best)
end
for i = 4, #KEYS do redis.call('SADD', KEYS[3], KEYS[i]) end
for i = 1, #KEYS do redis.call('EXPIRE', KEYS[i], ARGV[1]) end
return 1
"""

# KEYS: best, all, units. Empties a competition's sets before a rebuild.
_RESET = """
for _, unit in ipairs(redis.call('SMEMBERS', KEYS[3])) do redis.call('DEL', unit) end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return 1
"""


def order_key(score: int, duration_ms: int | None, finished_at: datetime) -> str | None:
    """Fixed-width hex whose byte order is the ranking's (score desc, time used asc,
    finish time asc); None for values outside its range (those rank on the database)."""
    inverted = _MAX_SCORE - score
    duration = 0xFFFFFFFF if duration_ms is None else duration_ms  # never: _finish sets it
    micros = (finished_at.replace(tzinfo=None) - _EPOCH) // _MICROSECOND
    if not (0 <= inverted <= 0xFFFFFFFF and 0 <= duration <= 0xFFFFFFFF):
        return None
    if not 0 <= micros < 16**14:
        return None
    return f"{inverted:08x}{duration:08x}{micros:014x}"


_MICROSECOND = datetime(1970, 1, 1, 0, 0, 0, 1) - _EPOCH


class _OutOfRange(ValueError):
    def __init__(self, participant_id: int) -> None:
        super().__init__(f"an attempt of participant {participant_id} has no order key")


class RankIndex(RedisUser):
    """The sorted sets of one installation's competitions, under ``prefix``."""

    MERGE_CHUNK = 500
    WHAT, FALLBACK = "rank index", "ranks from the database"

    def __init__(self, url: str, prefix: str) -> None:
        super().__init__(url, prefix)
        self._record = self._redis.register_script(_RECORD)
        self._merge = self._redis.register_script(_MERGE)
        self._reset = self._redis.register_script(_RESET)

    # --- keys ------------------------------------------------------------------------

    def _keys(self, competition_id: int) -> tuple[str, str, str, str]:
        base = f"{self.prefix}{competition_id}:"
        return base + "best", base + "all", base + "ready", base + "units"

    def _unit_key(self, competition_id: int, unit_id: int | None) -> str:
        return f"{self.prefix}{competition_id}:unit:{'none' if unit_id is None else unit_id}"

    # --- use -------------------------------------------------------------------------

    def record(
        self,
        competition_id: int,
        participant_id: int,
        unit_id: int | None,
        score: int,
        duration_ms: int | None,
        finished_at: datetime,
    ) -> tuple[int, int] | None:
        """Add a finished attempt; its (overall, unit) rank when the sets are complete,
        else None (the caller counts on the database; a rebuild is started when due)."""
        key = order_key(score, duration_ms, finished_at)
        if key is None or not self._up():
            return None
        best, every, ready, units = self._keys(competition_id)
        unit = self._unit_key(competition_id, unit_id)
        try:
            ahead = self._record(
                keys=[best, every, unit, ready, units], args=[participant_id, key, KEY_TTL_S]
            )
        except self._errors as err:
            self._failed(err)
            return None
        if ahead is None:
            return None
        return 1 + int(ahead[0]), 1 + int(ahead[1])

    def rebuild_due(self, competition_id: int) -> bool:
        """Whether this caller should rebuild: the marker is missing and it took the lock."""
        if not self._up():
            return False
        best, _every, ready, _units = self._keys(competition_id)
        try:
            if self._redis.exists(ready):
                return False
            return bool(self._redis.set(best + ":lock", "1", nx=True, ex=LOCK_S))
        except self._errors as err:
            self._failed(err)
            return False

    def rebuild(
        self,
        competition_id: int,
        read_rows: Callable[[], Iterable[tuple[int, int | None, int, int | None, datetime]]],
    ) -> bool:
        """Empty the competition's sets, then merge every finished attempt
        ``(participant_id, unit_id, score, duration_ms, finished_at)`` that ``read_rows``
        reads from the database (in a transaction begun after this call), then mark the
        sets complete. An attempt committed before that read is in it; one committed
        after adds itself after its commit, so nothing is lost, and whatever a lost
        addition or an evicted key broke is repaired. Call after ``rebuild_due``; True
        when done."""
        best, every, ready, units = self._keys(competition_id)
        try:
            self._reset(keys=[best, every, units])
            chunk: list = []
            for row in read_rows():
                chunk.append(row)
                if len(chunk) >= self.MERGE_CHUNK:
                    self._merge_rows(competition_id, chunk)
                    chunk = []
            if chunk:
                self._merge_rows(competition_id, chunk)
            pipe = self._redis.pipeline()
            pipe.set(ready, "1", ex=REBUILD_S)
            pipe.delete(best + ":lock")
            pipe.execute()
        except _OutOfRange as err:
            # Ranks stay on the database; the lock (kept) spaces out further tries.
            log.warning("rank index: competition %s: %s", competition_id, err)
            return False
        except self._errors as err:
            self._failed(err)
            return False
        return True

    def _merge_rows(self, competition_id: int, rows: list) -> None:
        best, every, _ready, units = self._keys(competition_id)
        keys = [best, every, units]
        index: dict[str, int] = {}
        args: list = [KEY_TTL_S]
        for participant_id, unit_id, score, duration_ms, finished_at in rows:
            key = order_key(score, duration_ms, finished_at)
            if key is None:
                raise _OutOfRange(participant_id)
            unit = self._unit_key(competition_id, unit_id)
            if unit not in index:
                keys.append(unit)
                index[unit] = len(keys)  # Lua's 1-based KEYS index
            args += [participant_id, key, index[unit]]
        self._merge(keys=keys, args=args)


def current() -> RankIndex | None:
    """This app's index: with ``REDIS_URL`` and ``RANK_INDEX`` on (the default)."""
    extensions = current_app.extensions
    if "rank_index" not in extensions:
        config = current_app.config
        url = config.get("REDIS_URL")
        index = None
        if url and config.get("RANK_INDEX", True):
            prefix = config.get("RANK_INDEX_PREFIX") or f"quizapp:rank:{database_tag()}:"
            index = RankIndex(url, prefix)
        extensions["rank_index"] = index
    return extensions["rank_index"]
