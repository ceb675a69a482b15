"""JSON in and out with orjson: the app's JSON provider and the database's JSON columns.

A new phone's join answers with its 20 questions (about 7 KB of JSON) and writes them as
one JSON parameter (quizapp.play.services); with the standard library the two encodes
took about 0.2 ms of the join's 1.3 ms of app CPU, with orjson a tenth of that
(bench/RESULTS.md, session 13). The output is UTF-8 rather than ASCII with ``\\uXXXX``
escapes, which also makes a Chinese response about a third smaller.

What the provider writes, besides that, is what Flask's default provider writes:
sorted keys, no spaces, a newline after a response body; dates, dataclasses and other
values orjson does not write itself go through Flask's own conversion (``_default``),
so a ``datetime`` is still an HTTP date and a tuple subclass (a result row) a list.
Calls with options of the standard library's ``json.dumps`` (the session cookie's
serializer passes ``separators``) are left to the standard library.
"""

from __future__ import annotations

import dataclasses
import typing as t

import orjson
from flask.json.provider import DefaultJSONProvider, _default

# Values orjson would write its own way are passed to ``default`` (Flask's conversion).
_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _convert(o: t.Any) -> t.Any:
    if isinstance(o, tuple):  # a named tuple or a result row: a list, as json writes it
        return list(o)
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return dataclasses.asdict(o)
    return _default(o)


def dumps_bytes(obj: t.Any) -> bytes:
    """``obj`` as compact JSON in UTF-8 with sorted keys."""
    return orjson.dumps(obj, default=_convert, option=_OPTIONS)


def dumps_text(obj: t.Any) -> str:
    """The same as text (the database's JSON columns and parameters)."""
    return orjson.dumps(obj, default=_convert, option=_OPTIONS).decode()


def loads(s: str | bytes | bytearray | memoryview) -> t.Any:
    return orjson.loads(s)


class OrjsonProvider(DefaultJSONProvider):
    """Flask's JSON provider on orjson (see the module's docstring)."""

    def dumps(self, obj: t.Any, **kwargs: t.Any) -> str:
        if kwargs:  # the standard library's options: its output, as Flask's provider
            return super().dumps(obj, **kwargs)
        return dumps_text(obj)

    def loads(self, s: str | bytes, **kwargs: t.Any) -> t.Any:
        if kwargs:
            return super().loads(s, **kwargs)
        return orjson.loads(s)

    def response(self, *args: t.Any, **kwargs: t.Any):
        obj = self._prepare_response_obj(args, kwargs)
        if self._app.debug:  # indented, as Flask's provider does in debug mode
            return super().response(obj)
        body = orjson.dumps(obj, default=_convert, option=_OPTIONS | orjson.OPT_APPEND_NEWLINE)
        return self._app.response_class(body, mimetype=self.mimetype)


def engine_options() -> dict[str, t.Any]:
    """``SQLALCHEMY_ENGINE_OPTIONS`` for JSON columns and parameters read and written
    with orjson (on PostgreSQL psycopg's JSON loader is this one too)."""
    return {"json_serializer": dumps_text, "json_deserializer": loads}
