"""群众个人信息保护: personal data of the public sealed at the source, field by field, erasable by destroying a key.

Which fields of which events hold personal data of the public is declared here (``PERSONAL``): names and phone
numbers a form gives of a person received at a station, and free text that may name people or hold their numbers
(issue summaries and outcomes, opinions and their notes, 12345 outcomes). Before an event's bytes are formed, the
origin's store (``domain.store``) replaces each such value by its masked form (``domain.personal``) and puts the
originals, encrypted (AES-GCM), in one ``sealed`` attribute of the event. The data key is the person's (a phone or ID
number identifies one: every key sealing that person's data at that node is filed under the same digest) or, where
no person is identified, the record's. Keys stay in the origin's key store (``domain.persistence.datakeys``), wrapped by the
node's master key: never in the log, never in Kafka.

So the log, every parent's copy, Kafka, the views and backups hold masked text and ciphertext. Counts, chains and
rebuilds read the masked values and never need a key. 删除 (erasure) destroys a key: every copy of what it sealed
becomes unreadable at once, and no stored byte changes. An erasure is itself recorded (``Erasure``).

Who may ever read the originals: the recorders and administrators of the origin office, through the origin's
gateway (``gateways.api.auth``), for as long as the key lives. Everyone else, and every level above, sees the
masked form.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol
from uuid import UUID

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.base import Attribution, DomainError, DutyAggregate, NodeRef, natural_id
from domain.contacts import ContactActivity
from domain.personal import find, first_digit, is_masked, mask_name, mask_phone, mask_text, phone_subject
from domain.visits import StationVisit

#: The version tag of a sealed value: ``pd1:<key id>:<base64url(nonce + AES-GCM ciphertext)>``.
SEALED_PREFIX = "pd1:"
_AAD = b"yipanqi personal data\0"


@dataclass(frozen=True)
class PersonalFields:
    """Where an event class holds personal data of the public: ``names`` (names of the public), ``phones`` (their
    phone numbers: these identify the person), ``texts`` (free text), and ``changes`` (free-text fields a correction
    may carry in its ``changes``)."""

    names: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    texts: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()

    @property
    def text_only(self) -> bool:
        """Whether only free text may hold personal data here: text without a digit then needs nothing (most events)."""
        return not (self.names or self.phones or self.changes)


#: Every event class that may hold personal data of the public.
PERSONAL: dict[type, PersonalFields] = {
    StationVisit.IssueRaised: PersonalFields(names=("raised_by_name",), phones=("raised_by_phone",), texts=("summary",)),
    StationVisit.IssueResolved: PersonalFields(texts=("outcome",)),
    StationVisit.Corrected: PersonalFields(changes=("summary",)),
    ContactActivity.OpinionRaised: PersonalFields(texts=("text",)),
    ContactActivity.OpinionHandled: PersonalFields(texts=("note",)),
    ContactActivity.OpinionFedBack: PersonalFields(texts=("note",)),
    ContactActivity.HotlineOutcome: PersonalFields(texts=("outcome",)),
    ContactActivity.Corrected: PersonalFields(changes=("text",)),
}

#: Per class, looked up once per event appended: its fields, and for a class where only free text may hold personal
#: data (most of them), those texts: a text without a digit holds no number, so such an event mostly needs nothing.
_SPECS = {cls: (spec, spec.texts if spec.text_only else None) for cls, spec in PERSONAL.items()}

# Events stored unsealed (before sealing, or with nothing to seal) read "" here.
for _cls in PERSONAL:
    _cls.sealed = ""  # type: ignore[attr-defined]


class KeyRing(Protocol):
    """Where sealing gets its data keys (``domain.persistence.datakeys``): a key for each subject, made for the append
    and kept by the node's key store, filed under the subject's keyed digest."""

    def keys_for(self, subjects: Sequence[str]) -> dict[str, tuple[str, bytes]]:
        """A key (id, 32 bytes) for each subject."""


@dataclass(frozen=True)
class Plan:
    """What sealing one event changes: the masked values (``changes`` for a correction: its new ``changes`` dict),
    the originals to encrypt, and the subject whose key seals them."""

    index: int
    masked: dict[str, Any]
    originals: dict[str, Any]
    subject: str


def plan(index: int, event: Any, spec: PersonalFields) -> Plan | None:
    """What of ``event`` to seal (None: nothing personal in it, or it is sealed already)."""
    state = vars(event)
    if state.get("sealed"):
        return None
    masked: dict[str, Any] = {}
    originals: dict[str, Any] = {}
    subjects: list[str] = []
    names = tuple(state[f] for f in spec.names if state.get(f))
    for f in spec.names:
        if state.get(f) and not is_masked(state[f]):
            masked[f], originals[f] = mask_name(state[f]), state[f]
    for f in spec.phones:
        if state.get(f) and not is_masked(state[f]):
            masked[f], originals[f] = mask_phone(state[f]), state[f]
            subjects.append(phone_subject(state[f]))
    for f in spec.texts:
        _text(f, state.get(f) or "", names, masked, originals, subjects)
    if spec.changes and isinstance(state.get("changes"), dict):
        changes = dict(state["changes"])
        hidden: dict[str, Any] = {}
        for f in spec.changes:
            if isinstance(changes.get(f), str):
                _text(f, changes[f], names, changes, hidden, subjects)
        if hidden:
            masked["changes"], originals["changes"] = changes, hidden
    if not originals:
        return None
    subject = subjects[0] if subjects else f"record:{state['originator_id']}"
    return Plan(index, masked, originals, subject)


def _text(
    field: str, text: str, names: tuple[str, ...], masked: dict[str, Any], originals: dict[str, Any], subjects: list[str]
) -> None:
    found = find(text)
    if not found and not any(name in text for name in names):
        return
    subjects += [f.subject for f in found if f.kind == "id"] + [f.subject for f in found if f.kind != "id"]
    hidden = mask_text(text, names, found)
    if hidden != text:
        masked[field], originals[field] = hidden, text


def seal_events(events: list[Any], keyring: KeyRing) -> list[Any]:
    """``events`` as they are to be stored: each that holds personal data of the public replaced by a copy holding
    it masked, with the originals sealed under their subject's key (made and kept in ``keyring`` first)."""
    plans = []
    specs, digit = _SPECS, first_digit
    for i in [i for i, event in enumerate(events) if type(event) in specs]:
        event = events[i]
        spec, texts = specs[type(event)]
        if texts is not None:
            state = event.__dict__
            for f in texts:
                t = state.get(f)
                if t and digit(t) is not None:
                    break
            else:
                continue
        found = plan(i, event, spec)
        if found is not None:
            plans.append(found)
    if not plans:
        return events
    keys = keyring.keys_for(sorted({p.subject for p in plans}))
    out = list(events)
    for p in plans:
        event = events[p.index]
        key_id, key = keys[p.subject]
        state = {**vars(event), **p.masked}
        state["sealed"] = seal(key_id, key, p.originals, event.originator_id, event.originator_version)
        copy = object.__new__(type(event))
        object.__setattr__(copy, "__dict__", state)
        out[p.index] = copy
    return out


def seal(key_id: str, key: bytes, originals: Mapping[str, Any], originator_id: UUID, version: int) -> str:
    nonce = os.urandom(12)
    data = orjson.dumps(originals)
    ciphertext = AESGCM(key).encrypt(nonce, data, _aad(key_id, originator_id, version))
    return f"{SEALED_PREFIX}{key_id}:{base64.urlsafe_b64encode(nonce + ciphertext).decode()}"


def sealed_key_id(sealed: str) -> str | None:
    """The id of the key that sealed a value (None: not a sealed value)."""
    if not sealed.startswith(SEALED_PREFIX):
        return None
    return sealed[len(SEALED_PREFIX) :].split(":", 1)[0] or None


#: What reading an event's personal data found: its originals (``opened``), a key destroyed (``erased``), a key this
#: store does not hold (``sealed``: only the origin holds its keys), or nothing sealed in it (``not_sealed``).
OPENED, ERASED, SEALED, NOT_SEALED = "opened", "erased", "sealed", "not_sealed"


def open_event(event: Any, key_of: Callable[[str], bytes | None]) -> tuple[Any, str]:
    """A copy of ``event`` with its sealed originals put back, and ``OPENED``; the event itself and ``ERASED``
    where the key is gone (or ``NOT_SEALED``: nothing sealed in it)."""
    sealed = getattr(event, "sealed", "")
    key_id = sealed_key_id(sealed) if sealed else None
    if key_id is None:
        return event, NOT_SEALED
    key = key_of(key_id)
    if key is None:
        return event, ERASED
    blob = base64.urlsafe_b64decode(sealed.rsplit(":", 1)[1])
    try:
        data = AESGCM(key).decrypt(blob[:12], blob[12:], _aad(key_id, event.originator_id, event.originator_version))
    except InvalidTag:
        return event, ERASED
    originals = orjson.loads(data)
    state = dict(vars(event))
    if "changes" in originals:
        state["changes"] = {**state["changes"], **originals.pop("changes")}
    state.update(originals)
    del state["sealed"]
    copy = object.__new__(type(event))
    object.__setattr__(copy, "__dict__", state)
    return copy, OPENED


def _aad(key_id: str, originator_id: UUID, version: int) -> bytes:
    return b"%s%s\0%s\0%d" % (_AAD, key_id.encode(), originator_id.bytes, version)


# ------------------------------------------------------------------------------------------------ erasure


class Erasure(DutyAggregate):
    """删除个人信息: the data keys ``key_ids`` of the node were destroyed; what they sealed, in every copy of the log,
    is unreadable from then on. Counts and chains are untouched (they never needed the keys).

    ``basis``: ``person`` (named by ``subject_id``, the keyed digest of a phone or ID number, never the number),
    ``record`` (one record's key) or ``retention`` (the retention rule: records ended before ``until``)."""

    label: ClassVar[str] = "personal data erasure"
    BASES: ClassVar[dict[str, str]] = {"person": "按人删除", "record": "按记录删除", "retention": "保存期满删除"}

    class Recorded(DutyAggregate.Created):
        label: ClassVar[str] = "删除个人信息"
        basis: str
        subject_id: str
        key_ids: list[str]
        records: int  # how many events the keys sealed, when erased
        reason: str

        def apply(self, erasure: Erasure) -> None:
            erasure.basis, erasure.subject_id, erasure.records = self.basis, self.subject_id, self.records
            erasure.key_ids, erasure.reason = list(self.key_ids), self.reason

    if TYPE_CHECKING:  # set by the event's apply()
        basis: str
        subject_id: str
        key_ids: list[str]
        records: int
        reason: str

    @classmethod
    def record_erasure(
        cls, node: NodeRef, by: Attribution, *, basis: str, subject_id: str, key_ids: Sequence[str], records: int, reason: str
    ) -> Erasure:
        if basis not in cls.BASES:
            raise ValueError(f"basis must be one of {sorted(cls.BASES)}")
        if not key_ids:
            raise ValueError("an erasure names at least one key")
        reason = reason.strip()
        if not reason:
            raise DomainError(f"{cls.label} at {node}", "new", "the reason for an erasure must be given (删除原因必填)")
        ids = sorted(key_ids)
        return cls.start(
            cls.Recorded,
            natural_id("erasure", node.node_id, *ids),
            node.node_id,
            by,
            basis=basis,
            subject_id=subject_id,
            key_ids=ids,
            records=records,
            reason=reason[:200],
        )
