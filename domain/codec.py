"""Domain events to stored events, fast, in the eventsourcing library's own JSON wire format.

The library's :class:`~eventsourcing.persistence.JSONTranscoder` writes every value that JSON has no type for as
``{"_type_": name, "_data_": encoded}`` through a Python ``default`` hook of :mod:`json`'s encoder: one Python call,
one dict and one more trip into the encoder per UUID, datetime, date or Decimal (about four per event), which made
encoding the largest cost of appending events. :class:`StateTranscoder` produces the *same bytes* another way: one
pass in Python that replaces those values by their ``{"_type_", "_data_"}`` dicts (looked up by exact type, as the
library does), then :mod:`orjson` writes the JSON. Anything the fast pass is not sure to write exactly as
:mod:`json` would (floats, dict keys that are not str, subclasses of str, int, list or dict such as enums, types
without a registered transcoding, ints beyond 64 bits...) sends the whole state to the library's encoder instead:
the output never differs, and the errors (an unregistered type) are the library's own.

Decoding is the library's, unchanged: stored bytes stay plain JSON text that any node, of any version, reads.

:class:`NodeMapper` is the library's mapper with a cached per-class topic and class version, and ``to_row`` for the
store's lean append path (plain tuples, no ``StoredEvent`` objects in between).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    Transcoding,
    UUIDAsHex,
)
from eventsourcing.utils import get_topic

from domain.persistence import EventRow

_ONE_MINUTE = timedelta(minutes=1)
_ZERO = timedelta(0)


class _NotSure(Exception):
    """The fast pass met a value it cannot promise to write exactly as :mod:`json` would."""


#: What sends a state to the library's encoder: a value the fast pass is not sure of, an int orjson refuses (more
#: than 64 bits), a lone surrogate (the library fails on it too, with its own error), a reference cycle.
NOT_SURE = (_NotSure, orjson.JSONEncodeError, RecursionError)


class StateTranscoder(JSONTranscoder):
    """The library's JSON transcoder with a fast encoder that writes byte-identical output.

    Register transcodings as usual (``register``); the fast pass picks them up. The library's ``UUIDAsHex``,
    ``DecimalAsStr``, ``DatetimeAsISO`` and our ``DateAsISO`` have inlined encoders (orjson writes dates and
    datetimes itself, as ``isoformat()`` does); any other registered transcoding goes through its ``encode``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._converters: dict[type, Callable[[Any], Any] | None] = {}
        self._safe_tz: dict[Any, bool] = {None: True}
        self._rebuild()

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        self._rebuild()

    def encode(self, obj: Any) -> bytes:
        if type(obj) is dict:
            try:
                return orjson.dumps(self.native_dict(obj))
            except NOT_SURE:
                pass
        return self.library_encode(obj)

    #: The library's own encoder, for what the fast pass is not sure of.
    library_encode = JSONTranscoder.encode

    def native_dict(self, d: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
        """A copy of ``d`` without the keys in ``skip``, each value turned into what :mod:`orjson` writes exactly as
        :mod:`json` with the library's hook would (a ``{"_type_", "_data_"}`` dict for a registered type)."""
        convert = self._converters
        out = dict(d)
        for key in skip:
            del out[key]
        for k, v in out.items():
            if type(k) is not str:
                raise _NotSure
            try:
                c = convert[type(v)]
            except KeyError:
                raise _NotSure from None
            if c is not None:
                out[k] = c(v)  # replacing a value while iterating is safe: the keys do not change
        return out

    def _native(self, v: Any) -> Any:
        try:
            c = self._converters[type(v)]
        except KeyError:
            raise _NotSure from None
        return v if c is None else c(v)

    def _native_list(self, items: list[Any] | tuple[Any, ...]) -> list[Any]:
        convert = self._converters
        out = []
        for v in items:
            try:
                c = convert[type(v)]
            except KeyError:
                raise _NotSure from None
            out.append(v if c is None else c(v))
        return out

    def _tz_is_safe(self, tz: Any) -> bool:
        # orjson writes datetimes as isoformat() does, except for UTC offsets with seconds (it rounds them to
        # minutes). A fixed-offset timezone is checked once; zoneinfo's offsets change with the date: never trusted.
        safe = type(tz) is timezone and tz.utcoffset(None) % _ONE_MINUTE == _ZERO
        self._safe_tz[tz] = safe
        return safe

    def _rebuild(self) -> None:
        # Exact types that pass through unchanged: orjson and json write them alike. Not float (json writes
        # repr(), orjson a shorter exponent form; NaN differs too), nor subclasses (json and orjson treat enums,
        # str and int subclasses alike, but an exact-type table keeps the promise simple).
        converters: dict[type, Callable[[Any], Any] | None] = {str: None, int: None, bool: None, type(None): None}
        converters[list] = converters[tuple] = self._native_list
        converters[dict] = self.native_dict
        for cls, transcoding in self.types.items():
            if cls not in converters and cls is not float:  # json never asks the hook about its own types
                converters[cls] = self._converter(cls, transcoding)
        self._converters = converters

    def _converter(self, cls: type, transcoding: Transcoding) -> Callable[[Any], Any]:
        name = transcoding.name
        native = self._native
        # The library's own transcodings (exactly those classes: a subclass may encode differently) are inlined.
        if cls is UUID and type(transcoding) is UUIDAsHex:
            return lambda o: {"_type_": name, "_data_": f"{o.int:032x}"}  # what UUID.hex does, one call less
        if cls is datetime and type(transcoding) is DatetimeAsISO:
            safe_tz = self._safe_tz
            tz_is_safe = self._tz_is_safe

            def datetime_iso(o: datetime) -> dict[str, Any]:
                tz = o.tzinfo
                safe = safe_tz.get(tz)
                if safe is None:
                    safe = tz_is_safe(tz)
                # orjson writes a datetime as its isoformat() string, when the offset has whole minutes.
                return {"_type_": name, "_data_": o if safe else o.isoformat()}

            return datetime_iso
        if cls is date and type(transcoding) is DateAsISO:
            return lambda o: {"_type_": name, "_data_": o}  # orjson writes a date as isoformat()
        if cls is Decimal and type(transcoding) is DecimalAsStr:
            return lambda o: {"_type_": name, "_data_": str(o)}
        encode = transcoding.encode
        return lambda o: {"_type_": name, "_data_": native(encode(o))}


class DateAsISO(Transcoding):
    """Dates (visit dates, due dates) as ISO strings; the library ships only a datetime transcoding."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class NodeMapper(Mapper[UUID]):
    """The library's mapper, faster: cached topic and class version per event class, the fast transcoder's pass
    (one copy of the event's ``__dict__``, not two), and ``to_row`` for plain tuples where no ``StoredEvent`` is
    needed. Its transcoder, compressor and cipher are fixed at construction, as the library's application does."""

    _KEYS = ("originator_id", "originator_version")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._classes: dict[type, tuple[str, int]] = {}
        self.to_row: Callable[[Any], EventRow] = self._row_function()

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        return StoredEvent(*self.to_row(domain_event))

    def _row_function(self) -> Callable[[Any], EventRow]:
        # One closure with everything it needs in local variables: this runs once per event appended.
        classes = self._classes
        keys = self._KEYS
        transcoder = self.transcoder
        compressor, cipher = self.compressor, self.cipher
        fast = isinstance(transcoder, StateTranscoder)
        native_dict = transcoder.native_dict if fast else None  # type: ignore[attr-defined]
        library_encode = transcoder.library_encode if fast else None  # type: ignore[attr-defined]
        dumps = orjson.dumps

        def to_row(domain_event: Any) -> EventRow:
            cls = type(domain_event)
            try:
                topic, class_version = classes[cls]
            except KeyError:
                topic, class_version = classes[cls] = (get_topic(cls), getattr(cls, "class_version", 1))
            state = vars(domain_event)
            if fast and class_version == 1:
                try:
                    data = dumps(native_dict(state, keys))  # type: ignore[misc]
                except NOT_SURE:
                    payload = dict(state)
                    for key in keys:
                        del payload[key]
                    data = library_encode(payload)  # type: ignore[misc]
            else:
                payload = {k: v for k, v in state.items() if k not in keys}
                if class_version > 1:
                    payload["class_version"] = class_version
                data = transcoder.encode(payload)
            if compressor:
                data = compressor.compress(data)
            if cipher:
                data = cipher.encrypt(data)
            return state["originator_id"], state["originator_version"], topic, data

        return to_row
