"""Stored events into the projector's lean events: the payload's fields as attributes, already in the read models'
forms, without building domain objects no view keeps.

The store's mapper turns every ``{"_type_", "_data_"}`` value of the library's JSON into a Python object (a
``UUID``, a ``datetime``...) through a Python hook per dict; the projector only turns them back into hex strings and
integers. A :class:`LeanDecoder` parses the stored bytes with :mod:`orjson` and converts each typed value straight
into its read-model form:

======================  ============================================
``uuid_hex``            the 32-character hex string (``UUID.hex``)
``datetime_iso``        integer UTC microseconds (``timeutil.us``)
``date_iso``            the ISO date string (``date.isoformat()``)
``decimal_str``         the decimal's string (``Decimal(s)`` is exact)
======================  ============================================

``originator_id`` is the aggregate id as hex and ``originator_version`` the stored version. Whatever the fast path is
not sure of goes through the store's own mapper (its transcoder, compressor, cipher and upcasters) and the domain
event is converted to the same forms: a transcoder or transcoding this module does not know, a payload of an older
class version (it needs upcasting), bytes :mod:`orjson` refuses. Either way the handlers see one shape.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, Mapper, UUIDAsHex
from eventsourcing.utils import resolve_topic

from domain.codec import DateAsISO
from projections.timeutil import EPOCH, ONE_US


class LeanEvent:
    """One event as the projector's handlers read it (see the module docstring for the forms of its values)."""

    originator_id: str
    originator_version: int
    timestamp: int
    occurred_at: int
    known_at: int  # when this node came to hold it (set by the projector from the store's known spans)
    owner: str

    def __getattr__(self, name: str) -> Any:  # only reached for a field the payload lacks
        raise AttributeError(f"{type(self).__name__} has no field {name!r}")


class _NotLean(Exception):
    """The fast path cannot promise the mapper's reading of this event."""


def _hex(data: str) -> str:
    return data if len(data) == 32 else UUID(data).hex  # what UUIDAsHex writes; anything else as UUID() reads it


def _moment(data: str) -> int:
    return (datetime.fromisoformat(data) - EPOCH) // ONE_US


#: The library's transcodings (exactly these classes) and what their ``_data_`` becomes here.
_KNOWN: dict[type, tuple[str, Callable[[Any], Any]]] = {
    UUIDAsHex: ("uuid_hex", _hex),
    DatetimeAsISO: ("datetime_iso", _moment),
    DateAsISO: ("date_iso", str),
    DecimalAsStr: ("decimal_str", str),
}


def lean_value(value: Any) -> Any:
    """A value of a domain event (the mapper's reading) in its read-model form."""
    if isinstance(value, UUID):
        return value.hex
    if isinstance(value, datetime):
        return (value - EPOCH) // ONE_US
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [lean_value(v) for v in value]
    if isinstance(value, dict):
        return {k: lean_value(v) for k, v in value.items()}
    return value


class LeanDecoder:
    """Decodes stored events (notifications) of one store into :class:`LeanEvent` objects."""

    def __init__(self, mapper: Mapper[Any]) -> None:
        self.mapper = mapper
        self.converters = self._converters(mapper.transcoder)
        self.compressor, self.cipher = mapper.compressor, mapper.cipher
        self.class_versions: dict[str, int] = {}

    @staticmethod
    def _converters(transcoder: Any) -> dict[str, Callable[[Any], Any]] | None:
        """By ``_type_`` name, if every transcoding the store has is one this module reads; else None (mapper only)."""
        if not isinstance(transcoder, JSONTranscoder):
            return None
        found = {}
        for name, transcoding in transcoder.names.items():
            known = _KNOWN.get(type(transcoding))
            if known is None or known[0] != name:
                return None
            found[name] = known[1]
        return found

    def decode(self, notification: Any) -> LeanEvent:
        """The event; raises what the mapper raises for an event it cannot read."""
        event = LeanEvent.__new__(LeanEvent)
        try:
            state = self._fast_state(notification)
        except _NotLean:
            state = {k: lean_value(v) for k, v in vars(self.mapper.to_domain_event(notification)).items()}
        else:
            state["originator_id"] = notification.originator_id.hex
            state["originator_version"] = notification.originator_version
        event.__dict__ = state
        return event

    def _fast_state(self, notification: Any) -> dict[str, Any]:
        if self.converters is None:
            raise _NotLean
        data = notification.state
        if self.cipher:
            data = self.cipher.decrypt(data)
        if self.compressor:
            data = self.compressor.decompress(data)
        try:
            state = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise _NotLean from None
        if type(state) is not dict:
            raise _NotLean
        stored_version = state.pop("class_version", 1)
        if stored_version < self._class_version(notification.topic):
            raise _NotLean  # the class's upcasters bring it up to date
        converters, typed = self.converters, self._typed
        for key, value in state.items():  # the usual typed value inline (a few per event), anything else in _typed
            kind = type(value)
            if kind is dict:
                convert = converters.get(value.get("_type_"))  # type: ignore[arg-type]
                if convert is not None and len(value) == 2 and "_data_" in value:
                    state[key] = convert(value["_data_"])
                else:
                    state[key] = typed(value)
            elif kind is list:
                state[key] = typed(value)
        return state

    def _class_version(self, topic: str) -> int:
        version = self.class_versions.get(topic)
        if version is None:
            version = self.class_versions[topic] = getattr(resolve_topic(topic), "class_version", 1)
        return version

    def _typed(self, value: Any) -> Any:
        """A dict or list of the payload, with its typed values converted (at any depth, as the mapper's hook does)."""
        if type(value) is list:
            return [self._typed(v) if type(v) in (dict, list) else v for v in value]
        name = value.get("_type_")
        if name is not None and len(value) == 2 and "_data_" in value:
            convert = self.converters.get(name)  # type: ignore[union-attr]
            if convert is None:
                raise _NotLean
            return convert(value["_data_"])
        return {k: self._typed(v) if type(v) in (dict, list) else v for k, v in value.items()}
