"""The attempt engine: join, save answers, submit, expire.

Time is the server's and a parameter (``now``). Every state change of an attempt
is a conditional UPDATE on its row (``WHERE status = 'active'``), so the
database settles races between workers: one submit wins, and an answer saved
concurrently with a submit is either counted or refused, never lost silently.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import unicodedata
from collections import namedtuple
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from types import SimpleNamespace
from typing import Any, NamedTuple

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import (
    JSON,
    Integer,
    String,
    and_,
    bindparam,
    case,
    column,
    exists,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, make_transient_to_detached, selectinload, undefer
from sqlalchemy.orm.attributes import instance_state, set_committed_value

from quizapp.auth.services import normalise_name
from quizapp.banks.qtypes import QUESTION_TYPES
from quizapp.competitions.models import Competition, CompetitionUnit, DrawRule, Event
from quizapp.dbtypes import new_token, utcnow
from quizapp.driver_sql import DriverStatement, Prepared
from quizapp.errors import Conflict, InvalidField, NotFound
from quizapp.extensions import db
from quizapp.leaderboards.services import record_finish
from quizapp.play import pacing
from quizapp.play.draw import DrawnItem, RuleLike, cached_pool, draw_items, kept_pool
from quizapp.play.models import Attempt, AttemptItem, Participant
from quizapp.setup_cache import setup_cache
from quizapp.sqlite_writer import reads_first, writes_now

_MOBILE = re.compile(r"1[3-9]\d{9}")
MAX_NAME = 30


def commit_keeping_state() -> None:
    """Commit without expiring the session's objects, for a request that goes on to show
    what it has just read and written (saves reloading them in a second transaction)."""
    session = db.session()
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True


class NotOpen(Conflict):
    code = "not_open"


class AttemptsExhausted(Conflict):
    code = "attempts_exhausted"


class IdentityMismatch(Conflict):
    code = "identity_mismatch"


class DeadlinePassed(Conflict):
    code = "deadline_passed"


class AlreadySubmitted(Conflict):
    code = "already_submitted"


class InvalidChoice(InvalidField):
    code = "invalid_choice"


def grace() -> timedelta:
    return timedelta(seconds=current_app.config.get("ANSWER_GRACE_S", 5))


def normalise_phone(raw: object) -> str:
    """An 11-digit mainland mobile number from what a person typed (spaces, dashes,
    full-width digits, +86 prefix accepted). Raises InvalidField."""
    text = unicodedata.normalize("NFKC", str(raw or ""))
    digits = re.sub(r"[\s\-()]", "", text)
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
    if not _MOBILE.fullmatch(digits):
        raise InvalidField(_("Please enter an 11-digit mobile number."), field="phone")
    return digits


_EVENT_BY_JOIN_TOKEN = select(Event).where(Event.join_token == bindparam("token", type_=String))


def event_by_join_token(token: str, *, with_competition: bool = False) -> Event:
    """The event with this join token (and its competition in the same SELECT when asked)."""
    if with_competition:
        return _event_and_competition(token)
    event = db.session.scalar(_EVENT_BY_JOIN_TOKEN, {"token": token})
    if event is None:
        raise NotFound(_("This event link is not valid. Please scan the QR code again."))
    return event


_events_table, _competitions_table = Event.__table__, Competition.__table__
# The join's first read: the event and its competition as plain columns in one SELECT on
# the DBAPI cursor, made into the session's objects as SQLAlchemy's loader would (through
# the ORM the SELECT cost a fifth of a join: bench/profile_hot_paths.py --path join).
_EVENT_AND_COMPETITION_COLUMNS = [
    *(column.label(f"e_{column.key}") for column in _events_table.c),
    *(column.label(f"c_{column.key}") for column in _competitions_table.c),
]
_EVENT_AND_COMPETITION_LABELS = [column.key for column in _EVENT_AND_COMPETITION_COLUMNS]
_RUN_EVENT_AND_COMPETITION = DriverStatement(
    select(*_EVENT_AND_COMPETITION_COLUMNS)
    .join(_competitions_table, _competitions_table.c.id == _events_table.c.competition_id)
    .where(_events_table.c.join_token == bindparam("token", type_=String))
)


def _attribute_keys(model) -> list[tuple[str, str]]:
    """(attribute, column) key pairs of a model's column attributes."""
    mapper = sa_inspect(model)
    return [(prop.key, prop.columns[0].key) for prop in mapper.column_attrs]


_EVENT_KEYS, _COMPETITION_KEYS = _attribute_keys(Event), _attribute_keys(Competition)


def _event_and_competition(token: str) -> Event:
    row = _RUN_EVENT_AND_COMPETITION.execute({"token": token}).first()
    if row is None:
        raise NotFound(_("This event link is not valid. Please scan the QR code again."))
    return _event_in_session(row)


def _event_in_session(row) -> Event:
    """The session's event (with its competition) from the leading columns of a row of
    ``_EVENT_AND_COMPETITION_COLUMNS``."""
    values = dict(zip(_EVENT_AND_COMPETITION_LABELS, row, strict=False))
    comp = _in_session(Competition, {a: values[f"c_{c}"] for a, c in _COMPETITION_KEYS})
    event = _in_session(Event, {a: values[f"e_{c}"] for a, c in _EVENT_KEYS})
    if "competition" not in instance_state(event).dict:
        set_committed_value(event, "competition", comp)
    return event


def _in_session(model, values: dict):
    """The session's object of ``model`` with these column values: the one it holds
    already, else one built as the ORM's loader builds it from a row (no attribute
    events) and added as persistent."""
    mapper = sa_inspect(model)
    key = mapper.identity_key_from_primary_key((values["id"],))
    held = db.session.identity_map.get(key)
    if held is not None:
        return held
    obj = mapper.class_manager.new_instance()
    state = instance_state(obj)
    state.dict.update(values)
    state.key = key
    db.session.add(obj)
    return obj


@dataclass(frozen=True)
class JoinPage:
    """What the join page shows of an event (plain values, shared by the phones that scan
    its QR code; see ``join_page``)."""

    event: SimpleNamespace  # name, venue, elder_default
    comp: SimpleNamespace  # id, title, theme, free_units, units (each with id and name)
    info: dict  # leaderboards.screen.competition_info, without is_open
    opens_at: datetime
    closes_at: datetime | None
    # The page as rendered from these values, by (language, is_open), with the CSRF
    # token left out (quizapp.play.routes.join_page): it lives as long as they do.
    rendered: dict[tuple[str, bool], str] = field(default_factory=dict, compare=False, repr=False)

    def is_open(self, now: datetime) -> bool:
        return self.opens_at <= now and (self.closes_at is None or now < self.closes_at)


def join_page(token: str) -> JoinPage:
    """The join page's data for the event with this join token, from this process's
    set-up cache (quizapp.setup_cache). Raises NotFound (not cached)."""
    from quizapp.leaderboards.screen import competition_info

    def load() -> JoinPage:
        event = event_by_join_token(token)
        comp = event.competition
        units = [SimpleNamespace(id=u.id, name=u.name) for u in comp.units]
        info = competition_info(comp, comp.opens_at)
        info.pop("is_open")
        return JoinPage(
            event=SimpleNamespace(
                name=event.name, venue=event.venue, elder_default=event.elder_default
            ),
            comp=SimpleNamespace(
                id=comp.id,
                title=comp.title,
                theme=comp.theme,
                free_units=comp.free_units,
                units=units,
            ),
            info=info,
            opens_at=comp.opens_at,
            closes_at=comp.closes_at,
        )

    return setup_cache().get(("join page", token), load)


_ATTEMPT_BY_TOKEN = select(Attempt).where(Attempt.token == bindparam("token", type_=String))
# What a page shows of an attempt, in two SELECTs instead of four lazy loads.
_ATTEMPT_WITH_ALL = _ATTEMPT_BY_TOKEN.options(
    joinedload(Attempt.competition),
    joinedload(Attempt.event),
    selectinload(Attempt.items),
    undefer(Attempt.participant_unit_id),
)
# What a submit reads before it takes the attempt's row (its items are read after).
_ATTEMPT_TO_FINISH = _ATTEMPT_BY_TOKEN.options(
    joinedload(Attempt.competition), undefer(Attempt.participant_unit_id)
)


def attempt_by_token(token: str, *, with_all: bool = False, to_finish: bool = False) -> Attempt:
    """The attempt with this token; ``with_all``: with its competition, event and items
    (a page shows them all); ``to_finish``: with its competition (a submit scores it)."""
    stmt = _ATTEMPT_BY_TOKEN
    if with_all:
        stmt = _ATTEMPT_WITH_ALL
    elif to_finish:
        stmt = _ATTEMPT_TO_FINISH
    attempt = db.session.scalar(stmt, {"token": token})
    if attempt is None:
        raise NotFound(_("No quiz was found for this link."))
    return attempt


_units_table = CompetitionUnit.__table__
_UNIT_OF_COMPETITION = DriverStatement(
    select(_units_table.c.id).where(
        _units_table.c.id == bindparam("unit_id", type_=Integer),
        _units_table.c.competition_id == bindparam("competition_id", type_=Integer),
    )
)


def _resolve_unit(comp: Competition, unit_id: object, unit_name: object) -> int:
    """The id of the participant's unit: one of the competition's by id, or by name (a
    new one when the competition takes free-text units). Raises InvalidField."""
    if unit_id not in (None, ""):
        try:
            uid = int(unit_id)
        except (TypeError, ValueError, OverflowError):
            uid = None
        # An id past the integer column's range matches no row (and SQLite would overflow).
        if uid and 0 < uid < 2**31:
            found = _UNIT_OF_COMPETITION.execute({"unit_id": uid, "competition_id": comp.id})
            if found.rows:
                return uid
        raise InvalidField(_("Please choose your unit from the list."), field="unit_id")
    name = normalise_name(str(unit_name or ""))[:120]
    if not name:
        field = "unit_name" if comp.free_units else "unit_id"
        raise InvalidField(_("Please give your unit."), field=field)
    unit = db.session.scalar(
        select(CompetitionUnit).where(
            CompetitionUnit.competition_id == comp.id, CompetitionUnit.name == name
        )
    )
    if unit is None:
        if not comp.free_units:
            raise InvalidField(_("Please choose your unit from the list."), field="unit_id")
        unit = CompetitionUnit(competition_id=comp.id, name=name)
        db.session.add(unit)
        db.session.flush()
    return unit.id


_participants_table = Participant.__table__
_attempts_table = Attempt.__table__
_items_table = AttemptItem.__table__
_ITEM_FIELDS = (
    "position",
    "question_id",
    "qtype",
    "stem",
    "options",
    "option_order",
    "key",
    "points",
    "explanation",
)


def _insert(
    table, columns: tuple[str, ...], returning: tuple, rows: int = 0, fixed: dict | None = None
) -> DriverStatement:
    """An INSERT of ``columns`` (``rows`` > 0: that many rows in one statement, the
    values named ``<column>_<row>``; ``fixed``: SQL expressions for other columns, the
    same in every row) run on the DBAPI cursor (quizapp.driver_sql)."""

    def values(suffix: str) -> dict:
        return {c: bindparam(c + suffix, type_=table.c[c].type) for c in columns} | (fixed or {})

    rows_values = [values(f"_{i}") for i in range(rows)] if rows else values("")
    statement = insert(table).values(rows_values)
    return DriverStatement(statement.returning(*returning) if returning else statement)


# Built once: the join's writes (a statement built per request costs more than it runs).
_PARTICIPANT_COLUMNS = ("competition_id", "name", "phone", "unit_id", "created_at")
_ATTEMPT_COLUMNS = (
    "token",
    "participant_id",
    "competition_id",
    "event_id",
    "number",
    "status",
    "seed",
    "started_at",
    "deadline_at",
    "finished_at",
    "score",
    "max_score",
    "correct_count",
    "duration_ms",
    "focus_losses",
    "elder",
)
_INSERT_PARTICIPANT = _insert(
    _participants_table, _PARTICIPANT_COLUMNS, (_participants_table.c.id,)
)
_INSERT_ATTEMPT = _insert(_attempts_table, _ATTEMPT_COLUMNS, (_attempts_table.c.id,))
# The items' values are bound and processed before the first write, not while SQLite's
# writer lock is held; their attempt's id is set in them once it is inserted
# (DriverStatement.complete).
_ATTEMPT_ID = bindparam("attempt_id", type_=Integer)
_INSERT_ITEMS: dict[tuple[int, bool], DriverStatement] = {}  # by number of items, ids
# On PostgreSQL the items come as one JSON parameter, unpacked by json_to_recordset: a
# VALUES list of 20 rows has 180 parameters, and psycopg converts a statement with more
# than 50 afresh on every execution (its cache stops there), a tenth of a join's time.
_ITEMS_RECORDSET = (
    func.json_to_recordset(bindparam("items", type_=JSON))
    .table_valued(*(column(name, _items_table.c[name].type) for name in _ITEM_FIELDS))
    .render_derived(name="item", with_types=True)
)
_INSERT_ITEMS_FROM_JSON = DriverStatement(
    insert(_items_table)
    .from_select(
        ["attempt_id", *_ITEM_FIELDS],
        select(_ATTEMPT_ID, *(_ITEMS_RECORDSET.c[name] for name in _ITEM_FIELDS)),
    )
    .returning(_items_table.c.position, _items_table.c.id)
)


def _insert_items(count: int, item_ids: bool = True) -> DriverStatement:
    """The INSERT of ``count`` items; ``item_ids``: returning their ids by position.
    Without them SQLite runs it in one step: each returned row is another step, and each
    step lets go of Python's GIL and waits to take it back, with the writer lock held."""
    statement = _INSERT_ITEMS.get((count, item_ids))
    if statement is None:
        statement = _INSERT_ITEMS[count, item_ids] = _insert(
            _items_table,
            _ITEM_FIELDS,
            (_items_table.c.position, _items_table.c.id) if item_ids else (),
            rows=count,
            fixed={"attempt_id": _ATTEMPT_ID},
        )
    return statement


_item_mapper = sa_inspect(AttemptItem)


def _detached_item(values: dict) -> AttemptItem:
    """An AttemptItem with these column values, detached with its identity, built as
    SQLAlchemy's loader builds one from a row it read (the constructor's attribute events
    for each column cost ten times as much: twenty items were a tenth of a join)."""
    item = _item_mapper.class_manager.new_instance()
    state = instance_state(item)
    state.dict.update(values)
    state.key = _item_mapper.identity_key_from_primary_key((values["id"],))
    return item


def _attempt_values(
    comp: Competition,
    event_id: int,
    number: int,
    now: datetime,
    elder: bool,
    seed: int,
    max_score: int,
) -> dict:
    """The column values of a new attempt (all but its participant)."""
    limit = comp.elder_time_limit_s if elder and comp.elder_time_limit_s else comp.time_limit_s
    deadline = now + timedelta(seconds=limit)
    if comp.closes_at is not None:
        deadline = min(deadline, comp.closes_at)
    return {
        "token": new_token(),
        "competition_id": comp.id,
        "event_id": event_id,
        "number": number,
        "status": "active",
        "seed": seed,
        "started_at": now,
        "deadline_at": deadline,
        "finished_at": None,
        "score": 0,
        "max_score": max_score,
        "correct_count": 0,
        "duration_ms": None,
        "focus_losses": 0,
        "elder": elder,
    }


def _item_rows(items: list[DrawnItem]) -> list[dict]:
    """The items as the rows of the JSON parameter that json_to_recordset unpacks."""
    return [{name: getattr(item, name) for name in _ITEM_FIELDS} for item in items]


def _start_attempt(
    comp: Competition,
    participant: Participant | dict,
    event: Event,
    number: int,
    now: datetime,
    elder: bool,
    seed: int,
    items: list[DrawnItem],
    max_score: int,
) -> Attempt:
    """Store a new attempt (and the participant, given as the dict of a new row) and
    commit. Under SQLite every writer waits for the one before it, so the writes are
    three plain INSERTs prepared beforehand, and the ORM objects the caller presents are
    built after the commit from the values written (no reload)."""
    values = _attempt_values(comp, event.id, number, now, elder, seed, max_score)
    connection = db.session.connection()
    prepared_items = _prepared_items(items, connection)
    # The writes: from here to the commit SQLite's writer lock is held.
    if isinstance(participant, dict):
        values["participant_id"] = _INSERT_PARTICIPANT.execute(participant, connection).rows[0][0]
    else:
        values["participant_id"] = participant.id
    attempt_id = _INSERT_ATTEMPT.execute(values, connection).rows[0][0]
    ids = _write_items(prepared_items, attempt_id, connection)
    commit_keeping_state()
    return _stored_attempt(comp, event, values, attempt_id, items, ids)


def _prepared_items(
    items: list[DrawnItem], connection: Connection, item_ids: bool = True
) -> tuple[DriverStatement, Prepared]:
    """The INSERT of an attempt's items with their values processed, work done before the
    writer lock is taken; run it with :func:`_write_items`. ``item_ids``: the INSERT
    returns the items' ids by position (always on PostgreSQL: one statement either way)."""
    params: dict = {"attempt_id": 0}  # set by _write_items
    if connection.dialect.name == "postgresql":
        insert_items = _INSERT_ITEMS_FROM_JSON
        params["items"] = _item_rows(items)
    else:
        insert_items = _insert_items(len(items), item_ids)
        for names, item in zip(_item_param_names(len(items)), items, strict=True):
            params.update(zip(names, _item_values(item), strict=True))
    return insert_items, insert_items.prepare(params, connection.dialect)


def _write_items(
    prepared: tuple[DriverStatement, Prepared], attempt_id: int, connection: Connection
) -> dict[int, int]:
    """Run the items' INSERT of :func:`_prepared_items` for this attempt; their ids by
    position (empty when it was prepared without them)."""
    insert_items, values = prepared
    values = insert_items.complete(values, {"attempt_id": attempt_id})
    return dict(insert_items.execute(values, connection).rows)


_item_values = attrgetter(*_ITEM_FIELDS)  # an item's values in _ITEM_FIELDS order
_ITEM_PARAM_NAMES: dict[int, list[tuple[str, ...]]] = {}  # by number of items


def _item_param_names(count: int) -> list[tuple[str, ...]]:
    """The parameter names of each row of _insert_items(count) (``stem_3`` …), made
    once: building 180 names on every join was a tenth of its Python time."""
    names = _ITEM_PARAM_NAMES.get(count)
    if names is None:
        names = _ITEM_PARAM_NAMES[count] = [
            tuple(f"{name}_{i}" for name in _ITEM_FIELDS) for i in range(count)
        ]
    return names


def _stored_attempt(
    comp: Competition,
    event: Event,
    values: dict,
    attempt_id: int,
    items: list[DrawnItem],
    ids: dict[int, int],
) -> Attempt:
    """The ORM objects of an attempt just committed, built from the values written (no
    reload): the attempt in the session, its items (ids by position) detached."""
    attempt = Attempt(id=attempt_id, **values)
    stored = [
        _detached_item(
            {
                "id": ids[item.position],
                "attempt_id": attempt_id,
                **{name: getattr(item, name) for name in _ITEM_FIELDS},
                "choice": None,
                "answered_at": None,
                "opened_at": None,
                "awarded": None,
            }
        )
        for item in sorted(items, key=lambda item: item.position)
    ]
    # The attempt joins the session (callers may load what it refers to); its items stay
    # detached with every column set.
    make_transient_to_detached(attempt)
    db.session.add(attempt)
    set_committed_value(attempt, "certificate_token", None)  # issued on first view
    set_committed_value(attempt, "items", stored)
    set_committed_value(attempt, "competition", comp)
    set_committed_value(attempt, "event", event)
    return attempt


@reads_first()
def join(
    join_token: str,
    *,
    name: object,
    phone: object,
    unit_id: object = None,
    unit_name: object = None,
    now: datetime | None = None,
    elder: bool = False,
    fast: bool = True,
) -> tuple[Attempt, bool]:
    """Start an attempt for name+phone at an event, or resume the active one.

    ``elder``: the attempt starts in elder mode (longer limits when the competition sets
    them); a resumed attempt keeps the mode it started with. ``fast``: try the common
    case's path first (:func:`join_new_phone`; False when it was tried already).

    Returns (attempt, created). Raises NotFound, InvalidField, NotOpen,
    IdentityMismatch, AttemptsExhausted, BankExhausted. Commits.
    """
    now = now or utcnow()
    if fast and _joins_fast(db.engine):
        written = _join_new(join_token, name, phone, unit_id, now, bool(elder))
        if written is not None:
            event = _event_in_session(written.row)
            attempt = _stored_attempt(
                event.competition,
                event,
                written.values,
                written.attempt_id,
                written.items,
                written.item_ids,
            )
            return attempt, True
    event = event_by_join_token(join_token, with_competition=True)
    comp = event.competition
    clean_name = normalise_name(str(name or ""))
    if not clean_name or len(clean_name) > MAX_NAME:
        raise InvalidField(
            _("Please enter your name (at most %(n)d characters).", n=MAX_NAME), field="name"
        )
    clean_phone = normalise_phone(phone)
    for _try in range(3):  # a concurrent join of the same person loses the insert race once
        try:
            return _join_once(
                comp, event, clean_name, clean_phone, unit_id, unit_name, now, bool(elder)
            )
        except IntegrityError:
            db.session.rollback()
    raise Conflict(_("Too many simultaneous requests; please try again."))


def join_for_token(join_token: str, **fields: Any) -> str:
    """:func:`join` (``fields``: its keyword arguments) for a caller that needs only the
    attempt's token (the join form redirects to its quiz page): a new phone's attempt,
    written by :func:`join_new_phone`, is not made into the session's objects (a sixth of
    the form's request). Raises what :func:`join` raises."""
    fields["now"] = fields.get("now") or utcnow()
    if _joins_fast(db.engine):
        new = join_new_phone(
            join_token,
            fields.get("name"),
            fields.get("phone"),
            fields.get("unit_id"),
            fields["now"],
            bool(fields.get("elder")),
        )
        if new is not None:
            return new.token
    attempt, _created = join(join_token, **fields, fast=False)
    return attempt.token


def _join_once(
    comp, event, name, phone, unit_id, unit_name, now, elder=False
) -> tuple[Attempt, bool]:
    participant = _PARTICIPANT_BY_PHONE.execute({"competition_id": comp.id, "phone": phone}).first()
    if participant is not None:
        if participant.name != name:
            raise IdentityMismatch(
                _("This phone number has joined under another name. Please check your name.")
            )
        active = db.session.scalar(
            select(Attempt).where(
                Attempt.participant_id == participant.id, Attempt.status == "active"
            )
        )
        if active is not None and not finalize_if_overdue(active, now):
            return active, False
        used = db.session.scalar(
            select(func.count()).where(Attempt.participant_id == participant.id)
        )
        if used >= comp.attempts_allowed:
            raise AttemptsExhausted(_("You have used all your attempts for this competition."))
    else:
        used = 0
    if not comp.is_open(now):
        raise NotOpen(_("This competition is not open now."))
    seed = secrets.randbits(62)
    # Reads only, before the first write; the pool comes from this process's set-up cache.
    rules = _RULES_OF_COMPETITION.execute({"competition_id": comp.id}).rows
    items = draw_items(comp, random.Random(seed), cached_pool(comp, rules), rules)
    if participant is None:
        participant = {
            "competition_id": comp.id,
            "name": name,
            "phone": phone,
            "unit_id": _resolve_unit(comp, unit_id, unit_name),
            "created_at": utcnow(),
        }
    max_score = sum(rule.count * rule.points for rule in rules)
    attempt = _start_attempt(comp, participant, event, used + 1, now, elder, seed, items, max_score)
    return attempt, True


# The join's reads of plain values, on the DBAPI cursor (quizapp.driver_sql).
_PARTICIPANT_BY_PHONE = DriverStatement(
    select(_participants_table.c.id, _participants_table.c.name).where(
        _participants_table.c.competition_id == bindparam("competition_id", type_=Integer),
        _participants_table.c.phone == bindparam("phone", type_=String),
    )
)
_rules_table = DrawRule.__table__


# A draw rule as the join reads it: the fields of draw.RuleLike, in their order.
_RuleRow = namedtuple("_RuleRow", list(RuleLike.__annotations__))


_RULES_OF_COMPETITION = DriverStatement(
    select(*(_rules_table.c[name] for name in _RuleRow._fields))
    .where(_rules_table.c.competition_id == bindparam("competition_id", type_=Integer))
    .order_by(_rules_table.c.id)  # as Competition.rules: the draw replays from its seed
)


# The join's common case in one read and one write (join_new_phone): one SELECT reads
# all it decides on; on PostgreSQL one INSERT chain writes the participant, the attempt
# and its items, in autocommit. The rules come as a JSON array of rows, ordered by id
# in Python (as Competition.rules: the draw replays from its seed).
def _join_read(rules_json) -> DriverStatement:
    return DriverStatement(
        select(
            *_EVENT_AND_COMPETITION_COLUMNS,
            select(_participants_table.c.id)
            .where(
                _participants_table.c.competition_id == _competitions_table.c.id,
                _participants_table.c.phone == bindparam("phone", type_=String),
            )
            .scalar_subquery()
            .label("participant_id"),
            exists()
            .where(
                _units_table.c.id == bindparam("unit_id", type_=Integer),
                _units_table.c.competition_id == _competitions_table.c.id,
            )
            .label("unit_ok"),
            select(rules_json(*(_rules_table.c[name] for name in _RuleRow._fields)))
            .where(_rules_table.c.competition_id == _competitions_table.c.id)
            .scalar_subquery()
            .label("rules"),
        )
        .join(_competitions_table, _competitions_table.c.id == _events_table.c.competition_id)
        .where(_events_table.c.join_token == bindparam("token", type_=String))
    )


_JOIN_READS = {
    "postgresql": _join_read(lambda *row: func.json_agg(func.json_build_array(*row))),
    "sqlite": _join_read(lambda *row: func.json_group_array(func.json_array(*row))),
}


def _typed_params(table, columns) -> list:
    return [bindparam(name, type_=table.c[name].type) for name in columns]


_NEW_PARTICIPANT = (
    insert(_participants_table)
    .values(
        dict(
            zip(
                _PARTICIPANT_COLUMNS,
                _typed_params(_participants_table, _PARTICIPANT_COLUMNS),
                strict=True,
            )
        )
    )
    .returning(_participants_table.c.id)
    .cte("new_participant")
)
_NEW_ATTEMPT_COLUMNS = [name for name in _ATTEMPT_COLUMNS if name != "participant_id"]
_NEW_ATTEMPT = (
    insert(_attempts_table)
    .from_select(
        [*_NEW_ATTEMPT_COLUMNS, "participant_id"],
        select(*_typed_params(_attempts_table, _NEW_ATTEMPT_COLUMNS), _NEW_PARTICIPANT.c.id),
    )
    .returning(_attempts_table.c.id)
    .cte("new_attempt")
)
_NEW_ITEMS = (
    insert(_items_table)
    .from_select(
        ["attempt_id", *_ITEM_FIELDS],
        select(_NEW_ATTEMPT.c.id, *(_ITEMS_RECORDSET.c[name] for name in _ITEM_FIELDS))
        .select_from(_NEW_ATTEMPT)
        .join(_ITEMS_RECORDSET, true()),
    )
    .returning(_items_table.c.position, _items_table.c.id)
    .cte("new_items")
)
_JOIN_WRITE = DriverStatement(
    select(
        _NEW_PARTICIPANT.c.id.label("participant_id"),
        _NEW_ATTEMPT.c.id.label("attempt_id"),
        select(func.json_agg(func.json_build_array(_NEW_ITEMS.c.position, _NEW_ITEMS.c.id)))
        .scalar_subquery()
        .label("item_ids"),
    ).select_from(_NEW_PARTICIPANT.join(_NEW_ATTEMPT, true()))
)


def _joins_fast(engine: Engine) -> bool:
    return (
        current_app.config.get("FAST_JOIN", True)
        and engine.dialect.name in _JOIN_READS
        and not session_in_transaction()
    )


@dataclass(slots=True)
class NewAttempt:
    """An attempt :func:`join_new_phone` has just written, with what the presenters
    read of it (quizapp.play.presenters.attempt_payload): plain values, no ORM."""

    id: int
    token: str
    status: str
    started_at: datetime
    deadline_at: datetime
    elder: bool
    competition: Competition  # its columns only: detached, nothing loads
    items: list[DrawnItem]  # in position order


@dataclass(slots=True)
class _Written:
    row: Any  # the join's read: event and competition columns (_event_in_session)
    competition: Competition  # detached, from the read (_detached_competition)
    values: dict  # the attempt's columns but its id
    attempt_id: int
    items: list[DrawnItem]
    item_ids: dict[int, int]  # by position


_competition_mapper = sa_inspect(Competition)


def _detached_competition(row, labels: list[str] = _EVENT_AND_COMPETITION_LABELS) -> Competition:
    """The competition's columns (labelled ``c_<column>``) from a row of a read, as a
    detached object built as the ORM's loader builds one (nothing lazy-loads; its methods
    read its columns)."""
    values = dict(zip(labels, row, strict=False))
    comp = _competition_mapper.class_manager.new_instance()
    state = instance_state(comp)
    state.dict.update({a: values[f"c_{c}"] for a, c in _COMPETITION_KEYS})
    state.key = _competition_mapper.identity_key_from_primary_key((state.dict["id"],))
    return comp


@reads_first()
def join_new_phone(
    join_token: str, name: object, phone: object, unit_id: object, now: datetime, elder: bool
) -> NewAttempt | None:
    """The join's most frequent case, a new phone choosing its unit from the list at an
    open event, in one read and one write (PostgreSQL: two statements, two round trips;
    SQLite: one read and three INSERTs, where the session's path reads four times;
    bench/RESULTS.md). The outcome is the session's: the same reads decide, the same
    draw, the same rows. Returns None, having written nothing, for every other case (a
    returning phone, an invalid field or unit, a closed competition, a concurrent join of
    the same phone, another database), which the session's path then settles and
    explains. Needs an app context, no request context: the API's join is answered with
    it in front of Flask (quizapp.play.fast_save)."""
    written = _join_new(join_token, name, phone, unit_id, now, elder, item_ids=False)
    if written is None:
        return None
    return NewAttempt(
        id=written.attempt_id,
        token=written.values["token"],
        status="active",
        started_at=written.values["started_at"],
        deadline_at=written.values["deadline_at"],
        elder=elder,
        competition=written.competition,
        items=written.items,
    )


def _join_new(
    join_token: str,
    name: object,
    phone: object,
    unit_id: object,
    now: datetime,
    elder: bool,
    item_ids: bool = True,
) -> _Written | None:
    """``item_ids``: the items' ids are needed (the ORM objects of the session's join);
    without them the written item_ids may be empty."""
    engine = db.engine
    read = _JOIN_READS.get(engine.dialect.name)
    clean_name = normalise_name(str(name or ""))
    if read is None or not clean_name or len(clean_name) > MAX_NAME:
        return None
    try:
        clean_phone = normalise_phone(phone)
        uid = int(unit_id)  # type: ignore[arg-type]
    except (InvalidField, TypeError, ValueError, OverflowError):
        return None
    if not 0 < uid < 2**31:
        return None
    params = {"token": join_token, "phone": clean_phone, "unit_id": uid}
    person = {"name": clean_name, "phone": clean_phone, "unit_id": uid}
    with engine.connect() as connection:
        _autocommit_on_a_server(connection)
        # (on SQLite a statement outside a transaction: it reads without the writer lock)
        row = read.execute(params, connection).first()
        decided = _join_decision(row, now)
        if decided is None:
            return None
        comp, rules = decided
        pool = kept_pool(comp.id, rules)
        if pool is not None:  # the common case: the write takes this connection too
            return _draw_and_write(connection, row, comp, rules, pool, person, now, elder, item_ids)
    # Load the draw's pool (not kept yet, or its rules changed) through the session, with
    # the read's connection given back first, so that a thread never holds two (twenty
    # threads joining at once would empty a pool of fifteen, each waiting for a second).
    pool = cached_pool(_event_in_session(row).competition, rules)
    if session_in_transaction():
        commit_keeping_state()  # (reading the items' content when the pool keeps none)
    with engine.connect() as connection:
        _autocommit_on_a_server(connection)
        return _draw_and_write(connection, row, comp, rules, pool, person, now, elder, item_ids)


def _join_decision(row, now: datetime) -> tuple[Competition, list[_RuleRow]] | None:
    """The competition and its rules (by id) when the join's read allows a new phone's
    join now; None otherwise (the session's path settles and explains it)."""
    if row is None or row.participant_id is not None or not row.unit_ok:
        return None
    comp = _detached_competition(row)
    if not comp.is_open(now):
        return None
    rules_json = row.rules
    if isinstance(rules_json, str):  # SQLite's JSON is text
        rules_json = json.loads(rules_json)
    rules = sorted((_RuleRow(*rule) for rule in rules_json or ()), key=lambda rule: rule.id)
    return comp, rules


def _draw_and_write(
    connection: Connection,
    row,
    comp: Competition,
    rules: list[_RuleRow],
    pool,
    person: dict,
    now: datetime,
    elder: bool,
    item_ids: bool = True,
) -> _Written | None:
    """Draw the items and write the participant (``person``: name, phone, unit_id), the
    attempt and its items on ``connection``; None when the same phone joined meanwhile."""
    seed = secrets.randbits(62)
    items = draw_items(comp, random.Random(seed), pool, rules)
    max_score = sum(rule.count * rule.points for rule in rules)
    values = _attempt_values(comp, row.e_id, 1, now, elder, seed, max_score)
    participant = {**person, "competition_id": comp.id, "created_at": utcnow()}
    try:
        values["participant_id"], attempt_id, ids = _write_new(
            connection, participant, values, items, item_ids
        )
    except IntegrityError:
        return None  # the same phone joined meanwhile: the session's path resumes it
    return _Written(row, comp, values, attempt_id, items, ids)


def _autocommit_on_a_server(connection: Connection) -> None:
    """One statement at a time in autocommit on a database server (each atomic by itself,
    no COMMIT round trip); SQLite begins as the writer queue says (quizapp.sqlite_writer)."""
    if connection.dialect.name != "sqlite":
        connection.execution_options(isolation_level="AUTOCOMMIT")


def _write_new(
    connection: Connection,
    participant: dict,
    values: dict,
    items: list[DrawnItem],
    item_ids: bool = True,
) -> tuple[int, int, dict[int, int]]:
    """Insert a new participant, its attempt and the attempt's items, committed: on
    PostgreSQL as one INSERT chain, on SQLite as three INSERTs prepared beforehand (from
    the first to the commit the writer lock is held). Returns the participant's id, the
    attempt's and the items' (by position; on SQLite only with ``item_ids``, else {}).
    ``connection`` is in autocommit on a server and outside a transaction on SQLite
    (_autocommit_on_a_server)."""
    if connection.dialect.name == "postgresql":
        written = _JOIN_WRITE.execute(
            {**participant, **values, "items": _item_rows(items)}, connection
        ).first()
        return (
            written.participant_id,
            written.attempt_id,
            {position: item_id for position, item_id in written.item_ids},
        )
    prepared = _prepared_items(items, connection, item_ids)
    with writes_now():
        connection.begin()  # BEGIN IMMEDIATE: the lock is held from here to the commit
    try:
        participant_id = _INSERT_PARTICIPANT.execute(participant, connection).rows[0][0]
        attempt_id = _INSERT_ATTEMPT.execute(
            {**values, "participant_id": participant_id}, connection
        ).rows[0][0]
        ids = _write_items(prepared, attempt_id, connection)
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    return participant_id, attempt_id, ids


# The answer-save path runs for every tap of every phone, so its statements are built
# once (with bound parameters) instead of per request, and the attempt, the item and the
# competition come back in one SELECT (profiled: bench/profile_hot_paths.py --path save).
_SAVE_LOAD = (
    select(Attempt, AttemptItem)
    .outerjoin(
        AttemptItem,
        and_(
            AttemptItem.attempt_id == Attempt.id,
            AttemptItem.position == bindparam("position", type_=Integer),
        ),
    )
    .where(Attempt.token == bindparam("token", type_=String))
    .options(joinedload(Attempt.competition))
)
_attempts = Attempt.__table__
_items = AttemptItem.__table__
# The write is conditional on the attempt still taking answers, in one statement. On a
# database server the sub-SELECT takes a share lock on the attempt's row (FOR SHARE: saves
# of one attempt do not wait for each other; a submit's UPDATE waits for them, and a save
# waiting for a submit re-reads the row it committed and writes nothing), so whichever
# runs second sees the other's outcome. SQLite has no row locks: there every writer holds
# the database's one write lock from BEGIN IMMEDIATE, so the condition alone is enough.
_TAKES_ANSWERS = and_(
    _attempts.c.id == bindparam("lock_attempt_id"),
    _attempts.c.status == "active",
    _attempts.c.deadline_at >= bindparam("cutoff", type_=Attempt.deadline_at.type),
)
_SAVE_WRITE_IF_TAKING = (
    _items.update()
    .where(
        _items.c.id == bindparam("item_id"),
        exists(select(_attempts.c.id).where(_TAKES_ANSWERS).with_for_update(read=True)),
    )
    .values(
        choice=bindparam("new_choice", type_=_items.c.choice.type),
        answered_at=bindparam("now", type_=_items.c.answered_at.type),
    )
)


_competitions = Competition.__table__
# What the common case needs, as plain columns (no ORM objects): an active attempt within
# its time, a competition without per-question limits. Anything else takes _SAVE_LOAD.
_SAVE_PEEK = (
    select(
        _attempts.c.id,
        _attempts.c.status,
        _attempts.c.deadline_at,
        _items.c.id.label("item_id"),
        _items.c.qtype,
        _items.c.options,
        _competitions.c.question_time_s,
    )
    .select_from(_attempts)
    .join(_competitions, _competitions.c.id == _attempts.c.competition_id)
    .outerjoin(
        _items,
        and_(
            _items.c.attempt_id == _attempts.c.id,
            _items.c.position == bindparam("position", type_=Integer),
        ),
    )
    .where(_attempts.c.token == bindparam("token", type_=String))
)

# The common case in one statement (one round trip on a database server): write the item
# at this position of an attempt that takes answers now, in a competition without
# per-question limits, when its question takes the choice: for each type, the choice's
# fewest options (``fewest_<type>``, NULL when that type refuses it) against the
# question's own. Anything else writes nothing and takes the path that tells why.
_attempt_taking_answers = (
    select(_attempts.c.id)
    .join(_competitions, _competitions.c.id == _attempts.c.competition_id)
    .where(
        _attempts.c.token == bindparam("token", type_=String),
        _attempts.c.status == "active",
        _attempts.c.deadline_at >= bindparam("cutoff", type_=Attempt.deadline_at.type),
        _competitions.c.question_time_s.is_(None),
    )
    .with_for_update(read=True, of=_attempts)  # as in _SAVE_WRITE_IF_TAKING
    .scalar_subquery()
)
_SAVE_IN_ONE = (
    _items.update()
    .where(
        _items.c.attempt_id == _attempt_taking_answers,
        _items.c.position == bindparam("position", type_=Integer),
        or_(
            *(
                and_(
                    _items.c.qtype == name,
                    func.json_array_length(_items.c.options)
                    >= bindparam(f"fewest_{name}", type_=Integer),
                )
                for name in QUESTION_TYPES
            )
        ),
    )
    .values(
        choice=bindparam("new_choice", type_=_items.c.choice.type),
        answered_at=bindparam("now", type_=_items.c.answered_at.type),
    )
)

# The most frequent request: its statements run on the DBAPI cursor (quizapp.driver_sql).
_RUN_SAVE_IN_ONE = DriverStatement(_SAVE_IN_ONE)
_RUN_SAVE_PEEK = DriverStatement(_SAVE_PEEK)
_RUN_SAVE_WRITE_IF_TAKING = DriverStatement(_SAVE_WRITE_IF_TAKING)


def save_answer(
    token: str,
    position: int,
    raw_choice: object,
    now: datetime | None = None,
    *,
    tried_in_one: bool = False,
) -> str:
    """Save one answer (last write before the deadline wins). Returns the stored choice.

    Raises NotFound (token, position), InvalidField (choice), AlreadySubmitted,
    DeadlinePassed. Commits.

    The common case (an active attempt within its time, no per-question limits, a valid
    choice) is :func:`save_in_one`. When it writes nothing, the save is done again in the
    session, which finds out why (unknown link or position, a finished or overdue
    attempt, which it closes, per-question windows, an invalid choice) and says so. When
    the session is already in a transaction (a page that read the attempt first), the
    save joins it, so that it never waits for a lock its own request holds.
    ``tried_in_one``: the caller already ran :func:`save_in_one` for this request
    (quizapp.play.fast_save) and it wrote nothing.
    """
    now = now or utcnow()
    if not tried_in_one and not session_in_transaction():
        choice = save_in_one(db.engine, token, position, raw_choice, now, grace())
        if choice is not None:
            return choice
    return _save_in_session(token, position, raw_choice, now)


def save_in_one(
    engine: Engine,
    token: str,
    position: int,
    raw_choice: object,
    now: datetime,
    grace: timedelta,
) -> str | None:
    """The common case of :func:`save_answer`: one conditional UPDATE on a connection of
    its own, outside the ORM session (whose transaction bookkeeping cost as much as the
    statement), committed. Returns the stored choice, or None when it wrote nothing (for
    whatever reason: :func:`save_answer` finds out which and says so).

    On SQLite it begins as BEGIN IMMEDIATE through the writer queue; on a database server
    it runs in autocommit (one round trip). Needs no app or request context.
    """
    taken = _choice_for_every_type(raw_choice)
    if taken is None:
        return None
    choice, fewest = taken
    values = {
        "token": token,
        "position": position,
        "cutoff": now - grace,
        "new_choice": choice or None,
        "now": now,
        **fewest,
    }
    with engine.connect() as connection:
        if connection.dialect.name != "sqlite":
            # One statement, atomic by itself (its sub-SELECT locks the attempt's row):
            # run in autocommit it saves the COMMIT's round trip.
            connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.begin()
        if _RUN_SAVE_IN_ONE.execute(values, connection).rowcount == 1:
            connection.commit()
            return choice
        connection.rollback()
    return None


def _choice_for_every_type(raw_choice: object) -> tuple[str, dict[str, int | None]] | None:
    """The canonical choice and the ``fewest_<type>`` values of _SAVE_IN_ONE, or None when
    no type takes the choice or two types would store it differently."""
    choice = None
    fewest: dict[str, int | None] = {}
    for name, qtype in QUESTION_TYPES.items():
        found = qtype.fewest_options(raw_choice)
        fewest[f"fewest_{name}"] = None if found is None else found[1]
        if found is not None:
            if choice is not None and found[0] != choice:
                return None
            choice = found[0]
    return None if choice is None else (choice, fewest)


def session_in_transaction() -> bool:
    """Whether this context's ORM session has begun a transaction (without creating the
    session when it has none yet)."""
    return db.session.registry.has() and db.session().in_transaction()


def _fast_save(peek, now: datetime) -> bool:
    return (
        peek.item_id is not None
        and peek.status == "active"
        and now <= peek.deadline_at + grace()
        and peek.question_time_s is None
    )


def _valid_choice(qtype: str, options: list[str], raw_choice: object) -> str:
    choice = QUESTION_TYPES[qtype].normalise_choice(raw_choice, len(options))
    if choice is None:
        raise InvalidChoice(_("That is not a valid choice for this question."), field="choice")
    return choice


@reads_first()
def _save_in_session(token: str, position: int, raw_choice: object, now: datetime) -> str:
    """save_answer in the ORM session: unknown links, finished or overdue attempts (which
    it closes), per-question time windows, a session already in a transaction."""
    connection = db.session.connection()
    peek = _RUN_SAVE_PEEK.execute({"token": token, "position": position}, connection).first()
    if peek is not None and _fast_save(peek, now):
        attempt_id, item_id, qtype, options = peek.id, peek.item_id, peek.qtype, peek.options
    else:
        row = db.session.execute(_SAVE_LOAD, {"token": token, "position": position}).first()
        if row is None:
            raise NotFound(_("No quiz was found for this link."))
        attempt, item = row
        if item is None:
            raise NotFound(_("This quiz has no question %(n)d.", n=position))
        guard_active(attempt, now)
        pacing.check_window(attempt, item, now, grace())
        attempt_id, item_id, qtype, options = attempt.id, item.id, item.qtype, item.options
    choice = _valid_choice(qtype, options, raw_choice)
    if not _write_answer(db.session.connection(), attempt_id, item_id, choice, now):
        db.session.rollback()
        guard_active(db.session.get(Attempt, attempt_id), now)
        raise DeadlinePassed(_("Time is up; this answer was not saved."))
    db.session.commit()
    return choice


def _write_answer(
    connection: Connection, attempt_id: int, item_id: int, choice: str, now: datetime
) -> bool:
    """Store the choice if the attempt still takes answers; False when it does not (the
    caller rolls back). Commits nothing."""
    cutoff = now - grace()
    values = {
        "lock_attempt_id": attempt_id,
        "cutoff": cutoff,
        "item_id": item_id,
        "new_choice": choice or None,
        "now": now,
    }
    return _RUN_SAVE_WRITE_IF_TAKING.execute(values, connection).rowcount == 1


def guard_active(attempt: Attempt, now: datetime) -> None:
    """Raise AlreadySubmitted or DeadlinePassed unless the attempt takes answers now."""
    if attempt.status == "submitted":
        raise AlreadySubmitted(_("This quiz has already been submitted."))
    if attempt.status == "expired" or finalize_if_overdue(attempt, now):
        raise DeadlinePassed(_("Time is up; this answer was not saved."))


# A finish's statements, built once (Core on the tables: no ORM bulk-update machinery).
_attempts, _items = Attempt.__table__, AttemptItem.__table__
_TAKE_ACTIVE = (
    update(_attempts)
    .where(_attempts.c.id == bindparam("b_id"), _attempts.c.status == "active")
    .values(status=bindparam("b_status"), finished_at=bindparam("b_finished_at"))
)
_SCORED = ("status", "finished_at", "score", "correct_count", "duration_ms", "max_score")
_WRITE_SCORE = (
    update(_attempts)
    .where(_attempts.c.id == bindparam("b_id"))
    .values({name: bindparam(f"b_{name}") for name in _SCORED})
)
_ITEMS_OF = (
    select(AttemptItem)
    .where(AttemptItem.attempt_id == bindparam("attempt_id", type_=Integer))
    .order_by(AttemptItem.position)
    .execution_options(populate_existing=True)
)
_AWARDS: dict[int, Any] = {}


def _awards_update(count: int):
    """UPDATE of ``count`` items' awards: ``b_i<k>`` the ids, ``b_a<k>`` the awards."""
    stmt = _AWARDS.get(count)
    if stmt is None:
        ids = [bindparam(f"b_i{k}", type_=Integer) for k in range(count)]
        awards = [
            (_items.c.id == ids[k], bindparam(f"b_a{k}", type_=Integer)) for k in range(count)
        ]
        stmt = _AWARDS[count] = (
            update(_items).where(_items.c.id.in_(ids)).values(awarded=case(*awards))
        )
    return stmt


def _finish(attempt: Attempt, status: str, finished_at: datetime) -> bool:
    """Move an active attempt to ``status`` and score it; False when another request
    finished it first. Scores from the item snapshots only. Commits; the attempt and its
    items then show what was written (no reload)."""
    mode = attempt.competition.multiple_scoring  # read before the row lock is taken
    connection = db.session.connection()
    taken = {"b_id": attempt.id, "b_status": status, "b_finished_at": finished_at}
    if connection.execute(_TAKE_ACTIVE, taken).rowcount != 1:
        db.session.rollback()
        db.session.refresh(attempt)
        return False
    # One SELECT that overwrites stale identity-map state: an answer saved by another
    # request before we took the row lock is seen (populate_existing), as a per-item
    # refresh would, at a fraction of the cost.
    items = db.session.scalars(_ITEMS_OF, {"attempt_id": attempt.id}).all()
    score = correct = 0
    awards: list[int] = []
    for item in items:
        qtype = QUESTION_TYPES[item.qtype]
        awarded = qtype.award(item.choice, item.key, item.points, mode)
        if awarded:
            awarded = round(awarded * pacing.speed_factor(attempt, item))
        awards.append(awarded)
        score += awarded
        correct += qtype.is_correct(item.choice, item.key)
    if items:  # every item's award in one UPDATE, not one per item
        values = {f"b_i{k}": item.id for k, item in enumerate(items)}
        values.update((f"b_a{k}", awarded) for k, awarded in enumerate(awards))
        connection.execute(_awards_update(len(items)), values)
    written = {
        "status": status,
        "finished_at": finished_at,
        "score": score,
        "correct_count": correct,
        "duration_ms": max(0, int((finished_at - attempt.started_at).total_seconds() * 1000)),
        "max_score": sum(i.points for i in items),
    }
    connection.execute(
        _WRITE_SCORE, {"b_id": attempt.id, **{f"b_{k}": v for k, v in written.items()}}
    )
    commit_keeping_state()
    for name, value in written.items():
        set_committed_value(attempt, name, value)
    for item, awarded in zip(items, awards, strict=True):
        set_committed_value(item, "awarded", awarded)
    set_committed_value(attempt, "items", list(items))
    record_finish(attempt)
    return True


def finalize_if_overdue(attempt: Attempt, now: datetime) -> bool:
    """Expire an active attempt past its deadline plus grace, scoring what was saved.
    Returns True when the attempt is (now) finished. Commits when it changes it."""
    if attempt.status != "active":
        return True
    if now <= attempt.deadline_at + grace():
        return False
    _finish(attempt, "expired", attempt.deadline_at)
    return True


@reads_first()
def submit(token: str, now: datetime | None = None) -> Attempt:
    """Submit an attempt; idempotent (a repeat returns the same result).

    Raises NotFound, DeadlinePassed (arrived after deadline plus grace; the attempt
    is then scored as expired on what was saved). Commits.
    """
    now = now or utcnow()
    attempt = attempt_by_token(token, to_finish=True)
    if attempt.status == "active" and now <= attempt.deadline_at + grace():
        _finish(attempt, "submitted", min(now, attempt.deadline_at))
    elif attempt.status == "active":
        _finish(attempt, "expired", attempt.deadline_at)
    if attempt.status == "expired":
        raise DeadlinePassed(
            _(
                "Time was up before the quiz was submitted; "
                "it was scored on the answers saved in time."
            )
        )
    return attempt


def close_overdue(now: datetime | None = None, competition_id: int | None = None) -> int:
    """Finalise every active attempt past its deadline plus grace. Returns how many."""
    now = now or utcnow()
    stmt = select(Attempt).where(Attempt.status == "active", Attempt.deadline_at < now - grace())
    if competition_id is not None:
        stmt = stmt.where(Attempt.competition_id == competition_id)
    closed = 0
    for attempt in db.session.scalars(stmt).all():
        closed += _finish(attempt, "expired", attempt.deadline_at)
    return closed


_COUNT_FOCUS_LOSS = (
    update(_attempts)
    .where(_attempts.c.token == bindparam("b_token", type_=String), _attempts.c.status == "active")
    .values(focus_losses=_attempts.c.focus_losses + 1)
)


@reads_first()
def record_focus_loss(token: str) -> bool:
    """Count one page focus loss (切屏) of an active attempt; never fails anyone. One
    UPDATE (on SQLite the writer queue is held for it alone); True when it counted, False
    for a finished attempt; NotFound for an unknown token. Commits."""
    counted = db.session.execute(_COUNT_FOCUS_LOSS, {"b_token": token}).rowcount == 1
    db.session.commit()
    if not counted:
        attempt_by_token(token)  # raises NotFound for a token no attempt has
    return counted


# ---------------------------------------------------------------- the quiz page's read

# Everything the quiz page of an active attempt shows, in one SELECT on the DBAPI cursor:
# the attempt, its competition and event, one row per item (through the ORM, with its
# two SELECTs and twenty objects, the read was 40 % of the page's CPU in the workers:
# py-spy; bench/RESULTS.md, sessions 15 and 16).
_QUIZ_COLUMNS = [
    _attempts_table.c.token,
    _attempts_table.c.status,
    _attempts_table.c.started_at,
    _attempts_table.c.deadline_at,
    _attempts_table.c.elder,
    _events_table.c.elder_default.label("e_elder_default"),
    *(column.label(f"c_{column.key}") for column in _competitions_table.c),
    _items_table.c.position,
    _items_table.c.qtype,
    _items_table.c.stem,
    _items_table.c.options,
    _items_table.c.choice,
]
_QUIZ_LABELS = [column.key for column in _QUIZ_COLUMNS]
_RUN_QUIZ_READ = DriverStatement(
    select(*_QUIZ_COLUMNS)
    .select_from(
        _attempts_table.join(
            _competitions_table, _competitions_table.c.id == _attempts_table.c.competition_id
        )
        .outerjoin(_events_table, _events_table.c.id == _attempts_table.c.event_id)
        .outerjoin(_items_table, _items_table.c.attempt_id == _attempts_table.c.id)
    )
    .where(_attempts_table.c.token == bindparam("token", type_=String))
    .order_by(_items_table.c.position)
)


class ShownItem(NamedTuple):
    """A question of the quiz page as read for it (what presenters.question_view reads)."""

    position: int
    qtype: str
    stem: str
    options: list[str]
    choice: str | None


@dataclass(slots=True)
class QuizAttempt:
    """An active attempt as its quiz page shows it: plain values (no ORM), read with
    :func:`quiz_attempt`; the presenters read it as they read an Attempt."""

    token: str
    status: str
    started_at: datetime
    deadline_at: datetime
    elder: bool
    elder_default: bool  # its event's (False without an event)
    competition: Competition  # its columns only: detached, nothing loads
    items: list[ShownItem]  # in position order


def quiz_attempt(token: str, now: datetime) -> QuizAttempt | None:
    """The quiz page's attempt in one read (one round trip on a server), when it is active
    and within its deadline plus grace in a competition without per-question time limits.
    None otherwise (an unknown token, a finished or overdue attempt, a paced competition):
    the page then reads through the session, which explains, finishes or paces it as
    always."""
    if session_in_transaction():
        rows = _RUN_QUIZ_READ.execute({"token": token}).rows
    else:  # on a connection of its own, in autocommit on a server: one round trip, where
        # the session's transaction took three (BEGIN, the read, ROLLBACK at teardown)
        with db.engine.connect() as connection:
            _autocommit_on_a_server(connection)
            rows = _RUN_QUIZ_READ.execute({"token": token}, connection).rows
    if not rows:
        return None
    first = rows[0]
    if first.status != "active" or now > first.deadline_at + grace():
        return None
    comp = _detached_competition(first, _QUIZ_LABELS)
    if comp.question_time_s is not None:
        return None
    items = [
        ShownItem(row.position, row.qtype, row.stem, row.options, row.choice)
        for row in rows
        if row.position is not None
    ]
    return QuizAttempt(
        token=first.token,
        status=first.status,
        started_at=first.started_at,
        deadline_at=first.deadline_at,
        elder=first.elder,
        elder_default=bool(first.e_elder_default),
        competition=comp,
        items=items,
    )
