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

import dataclasses
import types
import typing
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


_MISSING: Any = object()


class _NotSure(Exception):
    """The fast pass met a value it cannot promise to write exactly as :mod:`json` would."""


#: What sends a state to the library's encoder: a value the fast pass is not sure of, an int orjson refuses (more
#: than 64 bits), a lone surrogate (the library fails on it too, with its own error), a reference cycle.
NOT_SURE = (_NotSure, orjson.JSONEncodeError, RecursionError)


#: What every store's encoders are made of, made once per process: a process opens many stores (a sync process
#: hosts hundreds, a simulation of the province all 2,084), each with its own mapper, whose encoders would otherwise
#: read the same annotations and compile the same source again (~1 ms an event class).
_HINTS: dict[type, dict[str, Any]] = {}
_CODE: dict[str, types.CodeType] = {}


def _type_hints(cls: type) -> dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        try:
            hints = typing.get_type_hints(cls)
        except Exception:  # noqa: BLE001 - annotations only make the encoder faster; without them it is still exact
            hints = {}
        _HINTS[cls] = hints
    return hints


def _compiled(source: str) -> types.CodeType:
    code = _CODE.get(source)
    if code is None:
        code = _CODE[source] = compile(source, "<encoder>", "exec")
    return code


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

    def _uuid_list(self, items: list[Any]) -> list[dict[str, Any]]:
        name = self.types[UUID].name
        out = [{"_type_": name, "_data_": f"{u.int:032x}"} for u in items if type(u) is UUID]
        if len(out) != len(items):
            raise _NotSure
        return out

    def _value_code(self, name: str, hint: Any, scope: dict[str, Any], cell: list[Any] | None = None) -> str:
        """Python source converting the value ``name`` as the fast pass does, inlined for the type its annotation
        names (when the library's own transcoding is registered for it), checked by exact type: anything else goes
        through ``_native`` (in ``scope`` as ``_enc_native``). ``scope`` gets the names the source uses.

        ``cell`` (a list holding one (value, conversion) pair): a value that is often the very object of the event
        before (the owner node's id, the time of a clerk's attribution) is converted once and remembered there, with
        its conversion, by identity."""
        general = f"_enc_native({name})"
        kind = typing.get_origin(hint) or hint
        if kind is list and typing.get_args(hint) == (UUID,) and type(self.types.get(UUID)) is UUIDAsHex:
            # A list of ids (the deputies of a visit or a contact), converted in one comprehension.
            scope["_enc_uuid_list"], scope["_enc_list"] = self._uuid_list, list
            return f"_enc_uuid_list({name}) if _enc_type({name}) is _enc_list else {general}"
        if kind in (types.UnionType, typing.Union):  # X | None: the non-None type's code (None goes to _native)
            args = [a for a in typing.get_args(hint) if a is not type(None)]
            kind = args[0] if len(args) == 1 else None
        if kind in (str, int, bool):
            scope[f"_enc_{kind.__name__}"] = kind
            return f"{name} if _enc_type({name}) is _enc_{kind.__name__} else {general}"
        transcoding = self.types.get(kind) if isinstance(kind, type) else None
        if transcoding is None:
            return general
        scope[f"_enc_name_{kind.__name__}"] = transcoding.name
        scope[f"_enc_{kind.__name__}"] = kind
        typed = (
            f"{{'_type_': _enc_name_{kind.__name__}, '_data_': %s}} if _enc_type({name}) is _enc_{kind.__name__}%s else {general}"
        )
        if kind is UUID and type(transcoding) is UUIDAsHex:
            code = typed % (f"f'{{{name}.int:032x}}'", "")
        elif kind is datetime and type(transcoding) is DatetimeAsISO:
            code = typed % (name, f" and _enc_safe_tz.get({name}.tzinfo)")
        elif kind is date and type(transcoding) is DateAsISO:
            return typed % (name, "")
        elif kind is Decimal and type(transcoding) is DecimalAsStr:
            return typed % (f"str({name})", "")
        else:
            return general
        if cell is None:
            return code
        # The conversion (a fresh dict, which orjson only reads) is kept with the value, if it is of that exact
        # (immutable) type: the next event's value is compared by identity.
        cell_name, convert_name = f"_enc_cell_{name}", f"_enc_convert_{name}"
        scope[cell_name] = cell
        source = (
            f"def {convert_name}({name}, _enc_cell):\n"
            f"    converted = {code}\n"
            f"    if _enc_type({name}) is _enc_{kind.__name__}:\n"
            f"        _enc_cell[0] = ({name}, converted)\n"
            "    return converted\n"
        )
        exec(_compiled(source), scope)  # noqa: S102 - source made here from a field name and our own code
        # The value and its conversion are one tuple in the cell, read and replaced whole: encoders are shared by
        # the mappers of a process (``_SHARED``), and a pair half replaced by another thread would be a wrong byte.
        held = f"_enc_held_{name}"
        return f"{held}[1] if {name} is ({held} := {cell_name}[0])[0] else {convert_name}({name}, {cell_name})"

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


#: Per transcoder signature (``NodeMapper._signature``): the remembered values and the encoder of each event class.
_SHARED: dict[Any, tuple[dict[str, list[Any]], dict[type, tuple[str, Callable[[dict[str, Any]], bytes]]]]] = {}


class NodeMapper(Mapper[UUID]):
    """The library's mapper, faster: cached topic and encoder per event class, the fast transcoder's pass (one copy
    of the event's ``__dict__``, not two), and ``to_row`` for plain tuples where no ``StoredEvent`` is needed. Its
    transcoder, compressor and cipher are fixed at construction, as the library's application does (register
    transcodings before mapping events: an event class's encoder is made when its first event is mapped).

    With the fast transcoder, each event class gets an encoder of its own (``_class_encoder``): the payload dict
    written as a literal in the order of the class's fields, each value converted by what its annotation says it
    is, checked by exact type, anything else through the fast pass's converters. A state whose keys are not the
    class's fields in that order (an event made otherwise, or an older version's shape), or a value the fast pass is
    not sure of, takes the general path: the output is the same bytes either way.
    """

    _KEYS = ("originator_id", "originator_version")

    #: Fields whose value is often the very object of the event encoded before, whatever its class (the owner node's
    #: id; the attribution's time, the same for a clerk's commands of a day): remembered by identity (``_value_code``).
    REPEATED = ("owner", "occurred_at")

    #: Attributes some events of a class have beyond its fields, after them (``domain.privacy``'s sealed originals).
    EXTRA = ("sealed",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A process opens many stores (a sync process hosts hundreds of nodes; a benchmark a store per round): the
        # encoders made for one mapper serve every mapper whose transcoder writes the same types the same way.
        shared = _SHARED.setdefault(self._signature(), ({name: [(_MISSING, None)] for name in self.REPEATED}, {}))
        self._cells: dict[str, list[Any]] = shared[0]
        self._classes: dict[type, tuple[str, Callable[[dict[str, Any]], bytes]]] = shared[1]
        self.to_row: Callable[[Any], EventRow] = self._row_function()

    def _signature(self) -> Any:
        """What the encoders depend on: the transcoder's kind and its registered transcodings (a mapper of its own
        for any other transcoder)."""
        transcoder = self.transcoder
        if type(transcoder) is not StateTranscoder:
            return object()
        return tuple(sorted((get_topic(t), get_topic(type(tr)), tr.name) for t, tr in transcoder.types.items()))

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        return StoredEvent(*self.to_row(domain_event))

    def _row_function(self) -> Callable[[Any], EventRow]:
        # One closure with everything it needs in local variables: this runs once per event appended.
        classes = self._classes
        compressor, cipher = self.compressor, self.cipher
        encoder = self._class_encoder

        def to_row(domain_event: Any) -> EventRow:
            cls = type(domain_event)
            try:
                topic, encode = classes[cls]
            except KeyError:
                topic, encode = classes[cls] = (get_topic(cls), encoder(cls))
            state = vars(domain_event)
            data = encode(state)
            if compressor:
                data = compressor.compress(data)
            if cipher:
                data = cipher.encrypt(data)
            return state["originator_id"], state["originator_version"], topic, data

        return to_row

    def _class_encoder(self, cls: type) -> Callable[[dict[str, Any]], bytes]:
        """The state of a ``cls`` event (its ``__dict__``) to stored bytes: a generated fast encoder where it can be
        made, with the general one behind it."""
        general = self._general_encoder(getattr(cls, "class_version", 1))
        transcoder = self.transcoder
        if not isinstance(transcoder, StateTranscoder) or not dataclasses.is_dataclass(cls):
            return general
        names = [f.name for f in dataclasses.fields(cls)]
        if names[:2] != list(self._KEYS) or any(not n.isidentifier() or n.startswith("_enc") for n in names):
            return general
        hints = _type_hints(cls)
        scope: dict[str, Any] = {
            "_enc_keys": tuple(names),
            "_enc_general": general,
            "_enc_dumps": orjson.dumps,
            "_enc_not_sure": NOT_SURE,
            "_enc_native": transcoder._native,  # noqa: SLF001
            "_enc_safe_tz": transcoder._safe_tz,  # noqa: SLF001
            "_enc_type": type,
            "_enc_tuple": tuple,
        }
        values = ", ".join(
            f"{n!r}: {transcoder._value_code(n, hints.get(n), scope, self._cells.get(n))}"  # noqa: SLF001
            for n in names[2:]
        )
        class_version = getattr(cls, "class_version", 1)
        version = f", 'class_version': {int(class_version)!r}" if class_version > 1 else ""
        # An attribute a class declares outside its fields, set on some events only (``domain.privacy``: ``sealed``,
        # after the fields): those events have an encoder of their own too.
        extra = next((n for n in self.EXTRA if isinstance(getattr(cls, n, None), str) and n not in names), None)
        scope["_enc_keys_extra"] = (*names, extra)
        with_extra = (
            "        if _enc_tuple(state) == _enc_keys_extra:\n"
            f"            {', '.join(names)}, {extra}, = state.values()\n"
            "            try:\n"
            f"                return _enc_dumps({{{values}, {extra!r}: {extra} if _enc_type({extra}) is _enc_str "
            f"else _enc_native({extra}){version}}})\n"
            "            except _enc_not_sure:\n"
            "                return _enc_general(state)\n"
            if extra
            else ""
        )
        scope["_enc_str"] = str
        # Everything the function uses bound as keyword defaults: local variables, not global look-ups.
        bound = ", ".join(f"{k}={k}" for k in scope if k.startswith("_enc"))
        source = (
            f"def encode(state, *, {bound}):\n"
            "    if _enc_tuple(state) != _enc_keys:\n"
            f"{with_extra}"
            "        return _enc_general(state)\n"
            f"    {', '.join(names)}, = state.values()\n"
            "    try:\n"
            f"        return _enc_dumps({{{values}{version}}})\n"
            "    except _enc_not_sure:\n"
            "        return _enc_general(state)\n"
        )
        exec(_compiled(source), scope)  # noqa: S102 - source made here from the dataclass's field names
        return scope["encode"]  # type: ignore[no-any-return]

    def _general_encoder(self, class_version: int) -> Callable[[dict[str, Any]], bytes]:
        keys = self._KEYS
        transcoder = self.transcoder
        fast = isinstance(transcoder, StateTranscoder)
        native_dict = transcoder.native_dict if fast else None  # type: ignore[attr-defined]
        library_encode = transcoder.library_encode if fast else None  # type: ignore[attr-defined]
        dumps = orjson.dumps

        def encode(state: dict[str, Any]) -> bytes:
            if fast and class_version == 1:
                try:
                    return dumps(native_dict(state, keys))  # type: ignore[misc]
                except NOT_SURE:
                    payload = dict(state)
                    for key in keys:
                        del payload[key]
                    return library_encode(payload)  # type: ignore[misc, no-any-return]
            payload = {k: v for k, v in state.items() if k not in keys}
            if class_version > 1:
                payload["class_version"] = class_version
            return transcoder.encode(payload)

        return encode
