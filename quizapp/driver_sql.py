"""Hot-path statements run straight on the DBAPI cursor of the session's connection.

``Session.execute`` spends most of an answer save's database time in SQLAlchemy itself
(the compiled-cache lookup, the execution context, the result wrapper: about 0.05 ms per
statement and several times the time SQLite takes to run it; ``bench/profile_hot_paths``).
A :class:`DriverStatement` is a Core statement compiled once per dialect; running it
applies the statement's own bind processors (a datetime is stored exactly as SQLAlchemy
would store it) and result processors, calls the engine's ``before_cursor_execute``
listeners (the SQLite writer queue turns a read transaction into a writer before the
first write; statement logs see the statement), and executes on the cursor of the given
connection (by default the session's), inside its transaction, which the caller commits
as usual.

A DBAPI error is raised as SQLAlchemy's wrapped exception, and a lost connection is
invalidated, so callers and the error handlers (``quizapp.errors``: 503 ``unavailable``)
see what ``Session.execute`` would raise.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import suppress
from operator import itemgetter
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql import ClauseElement

from .extensions import db


class _Compiled:
    """One statement compiled for one dialect, with its processors."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if compiled.escaped_bind_names:  # names that need escaping: not supported here
            raise ValueError(f"bind names need escaping: {compiled.escaped_bind_names}")
        self.sql: str = compiled.string
        self.positions: Sequence[str] | None = (
            list(compiled.positiontup) if compiled.positional else None
        )
        # The positional values in one C call (a 20-row INSERT has 200 of them).
        self._in_order: Callable[[dict], tuple] | None = None
        if self.positions is not None and len(self.positions) == 1:
            only = self.positions[0]
            self._in_order = lambda params: (params[only],)
        elif self.positions:
            self._in_order = itemgetter(*self.positions)
        binds = compiled.binds
        # Values written into the statement itself (``status == "active"``).
        self.literals: dict[str, Any] = {
            name: bind.effective_value for name, bind in binds.items() if not bind.required
        }
        self.required = frozenset(name for name, bind in binds.items() if bind.required)
        self._places: dict[str, list[int]] = {}
        self.bind_processors: list[tuple[str, Callable]] = [
            (name, processor)
            for name, bind in binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect))
        ]
        columns = getattr(statement, "selected_columns", None)
        returning = getattr(statement, "_returning", ()) or ()
        result_columns = list(columns) if columns is not None else list(returning)
        self.keys = [column.key for column in result_columns]
        self.result_processors: list[tuple[int, Callable]] = [
            (i, processor)
            for i, column in enumerate(result_columns)
            if (processor := column.type.dialect_impl(dialect).result_processor(dialect, None))
        ]

    def places(self, name: str) -> list[int]:
        """The indices of parameter ``name`` in the positional values (it may recur)."""
        places = self._places.get(name)
        if places is None:
            places = self._places[name] = [
                i for i, position in enumerate(self.positions or ()) if position == name
            ]
        return places

    def parameters(self, values: dict[str, Any]) -> Sequence[Any] | dict[str, Any]:
        missing = self.required - values.keys()
        if missing:
            raise exc.ArgumentError(f"missing values for {sorted(missing)}")
        params = {**self.literals, **values}
        for name, processor in self.bind_processors:
            params[name] = processor(params[name])
        if self.positions is None:
            return params
        return self._in_order(params) if self._in_order is not None else ()


def _cursor(fairy, compiled: _Compiled):
    """This statement's own cursor on this DBAPI connection, kept for its next run in the
    connection's ``info`` (which the pool clears when it closes or invalidates the
    connection). psycopg keeps what it learnt of a statement's parameters (their dumpers)
    in a cursor that runs the same query again: a new cursor each time spent about 0.1 ms
    per answer save finding them anew (bench/profile_hot_paths.py on PostgreSQL)."""
    cursors = fairy.info.get("driver_cursors")
    if cursors is None:
        cursors = fairy.info["driver_cursors"] = {}
    cursor = cursors.get(compiled)
    if cursor is None:
        cursor = cursors[compiled] = fairy.cursor()
    return cursor


def _drop_cursor(fairy, compiled: _Compiled) -> None:
    cursor = fairy.info.get("driver_cursors", {}).pop(compiled, None)
    if cursor is not None:
        with suppress(Exception):  # its connection may be gone
            cursor.close()


class Row(tuple):
    """A result row: a tuple whose columns are also attributes, by key (properties made
    per statement, as in a namedtuple: a column named ``count`` or ``index`` is the
    column, not the tuple method)."""

    __slots__ = ()


class Result:
    """What :meth:`DriverStatement.execute` returns: the rows (read at once) and the
    cursor's rowcount."""

    __slots__ = ("rows", "rowcount")

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self.rows, self.rowcount = rows, rowcount

    def first(self) -> Row | None:
        return self.rows[0] if self.rows else None


class Prepared:
    """Bound values processed for one dialect (:meth:`DriverStatement.prepare`)."""

    __slots__ = ("dialect", "params")

    def __init__(self, dialect: Dialect, params: Sequence[Any] | dict[str, Any]) -> None:
        self.dialect, self.params = dialect, params


class DriverStatement:
    """A Core statement (SELECT, INSERT, UPDATE, DELETE, with or without RETURNING)
    executed on the DBAPI cursor of a connection (default: ``db.session``'s)."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[Dialect, tuple[_Compiled, type[Row]]] = {}

    def _for(self, dialect: Dialect) -> tuple[_Compiled, type[Row]]:
        found = self._compiled.get(dialect)
        if found is None:
            compiled = _Compiled(self.statement, dialect)
            columns = {key: property(itemgetter(i)) for i, key in enumerate(compiled.keys)}
            row_type = type("Row", (Row,), {"__slots__": (), **columns})
            found = self._compiled[dialect] = (compiled, row_type)
        return found

    def complete(self, prepared: Prepared, values: dict[str, Any]) -> Prepared:
        """``prepared`` with the values of some of its parameters replaced (run through
        their bind processors): those known only once the lock is held (an id just
        inserted), set in the values prepared before it was taken."""
        compiled, _row_type = self._for(prepared.dialect)
        unknown = values.keys() - compiled.required
        if unknown:
            raise exc.ArgumentError(f"no parameter {sorted(unknown)}")
        processors = dict(compiled.bind_processors)
        values = {
            name: processors[name](value) if name in processors else value
            for name, value in values.items()
        }
        if compiled.positions is None:
            return Prepared(prepared.dialect, {**prepared.params, **values})
        params = list(prepared.params)
        for name, value in values.items():
            for i in compiled.places(name):
                params[i] = value
        return Prepared(prepared.dialect, tuple(params))

    def prepare(self, values: dict[str, Any], dialect: Dialect) -> Prepared:
        """The statement with ``values`` run through its bind processors, ready to
        :meth:`execute` on a connection of ``dialect``: work done before a transaction
        that holds a lock (a 20-row INSERT's 200 values), not while it is held."""
        compiled, _row_type = self._for(dialect)
        return Prepared(dialect, compiled.parameters(values))

    def execute(
        self, values: dict[str, Any] | Prepared, connection: Connection | None = None
    ) -> Result:
        """Run with ``values`` (or values prepared by :meth:`prepare`) on ``connection``
        (default: ``db.session.connection()``, which begins the session's transaction;
        pass it to save that call on a path that runs several statements)."""
        if connection is None:
            connection = db.session.connection()
        dialect = connection.dialect
        compiled, row_type = self._for(dialect)
        if isinstance(values, Prepared):
            if values.dialect is not dialect:
                raise exc.ArgumentError("values prepared for another dialect")
            params = values.params
        else:
            params = compiled.parameters(values)
        fairy = connection.connection
        cursor = _cursor(fairy, compiled)
        try:
            for listener in connection.dispatch.before_cursor_execute:
                listener(connection, cursor, compiled.sql, params, None, False)
            try:
                cursor.execute(compiled.sql, params)
                # Whether rows come back is known from the statement (psycopg builds the
                # cursor's description anew on each access).
                raw = cursor.fetchall() if compiled.keys else []
                rowcount = cursor.rowcount
            except dialect.loaded_dbapi.Error as err:
                invalidated = dialect.is_disconnect(err, fairy.dbapi_connection, cursor)
                if invalidated:
                    connection.invalidate(err)
                raise exc.DBAPIError.instance(
                    compiled.sql,
                    params,
                    err,
                    dialect.loaded_dbapi.Error,
                    connection_invalidated=invalidated,
                    dialect=dialect,
                ) from err
        except BaseException:
            _drop_cursor(fairy, compiled)
            raise
        if compiled.result_processors:
            rows = []
            for record in raw:
                record = list(record)
                for i, processor in compiled.result_processors:
                    record[i] = processor(record[i])
                rows.append(row_type(record))
        else:
            rows = [row_type(record) for record in raw]
        return Result(rows, rowcount)
