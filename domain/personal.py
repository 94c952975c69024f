"""个人信息: personal data of the public (群众个人信息) in text, and the one masking rule every output applies.

Phone numbers (mobiles, with or without +86, spaces or hyphens; landlines with an area code, in brackets or not) and
resident ID numbers (18 digits, or the old 15; groups separated by spaces or hyphens) are found in free text as
people type them, full-width digits (１３８…) included. What is found is masked in place: a mobile keeps its first
three and last four digits (``138****5678``), a landline its area code and last four (``0739-****4321``), an ID number
its first three characters and its last (``430**************4``), a name its first character (``张*``). Ordinary
numbers (dates, money, station numbers, division codes, work-order numbers) are left alone: a number is taken for a
phone or an ID only when its digits have the shape of one, standing alone.

Pure functions, no I/O: the store seals what is found (``domain.privacy``), the gateways mask what they show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: Full-width digits and signs as people type them on Chinese keyboards, mapped one character to one (so positions in
#: the normalized text are positions in the original).
_NARROW = str.maketrans(
    "０１２３４５６７８９＋－（）　Ｘｘ\u2014\u2013",
    "0123456789+-() Xx--",
)

_ANY_DIGIT = re.compile(r"[0-9０-９]")
_NOT_DIGIT = re.compile(r"[^0-9]")
_SEP = r"[ \-]?"
_DATE8 = r"(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
_DATE6 = r"[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
_ALONE_BEFORE = r"(?<![0-9A-Za-z*])"
_ALONE_AFTER = r"(?![0-9A-Za-z*])"

_ID18 = re.compile(_ALONE_BEFORE + rf"([1-9][0-9]{{5}}){_SEP}({_DATE8}){_SEP}([0-9]{{3}}[0-9Xx])" + _ALONE_AFTER)
_ID15 = re.compile(_ALONE_BEFORE + rf"([1-9][0-9]{{5}}){_SEP}({_DATE6}){_SEP}([0-9]{{3}})" + _ALONE_AFTER)
_MOBILE = re.compile(
    r"(?<![0-9A-Za-z*+])" + rf"(?:(?:\+|00)?86{_SEP})?(1[3-9][0-9]){_SEP}([0-9]{{4}}){_SEP}([0-9]{{4}})" + _ALONE_AFTER
)
_LANDLINE = re.compile(
    _ALONE_BEFORE
    + rf"(?:\((0[1-9][0-9]{{1,2}})\) ?|(0[1-9][0-9]{{1,2}}){_SEP})([2-9][0-9]{{2,3}}){_SEP}([0-9]{{4}})"
    + _ALONE_AFTER
)


@dataclass(frozen=True)
class Found:
    """One piece of personal data found in a text: where (``start``, ``end`` in the text as given), what kind
    (``id``, ``mobile``, ``landline``), its digits as a key (``subject``) and the masked form that replaces it."""

    start: int
    end: int
    kind: str
    subject: str
    masked: str


#: The first digit of a text (full-width ones too), or None: a text without one holds no phone or ID number. (The
#: regex's own method: a hot loop calls it without a Python call around it.)
first_digit = _ANY_DIGIT.search


def find(text: str) -> list[Found]:
    """The phone and ID numbers in ``text``, in order, none overlapping (an ID number wins over a phone inside it)."""
    if not text or first_digit(text) is None:
        return []
    narrow = text.translate(_NARROW)
    found: list[Found] = []
    for m in _ID18.finditer(narrow):
        digits = (m[1] + m[2] + m[3]).upper()
        found.append(Found(m.start(), m.end(), "id", f"id:{digits}", digits[:3] + "*" * 14 + digits[-1]))
    for m in _ID15.finditer(narrow):
        digits = m[1] + m[2] + m[3]
        found.append(Found(m.start(), m.end(), "id", f"id:{digits}", digits[:3] + "*" * 11 + digits[-1]))
    for m in _MOBILE.finditer(narrow):
        digits = m[1] + m[2] + m[3]
        found.append(Found(m.start(), m.end(), "mobile", f"phone:{digits}", f"{m[1]}****{m[3]}"))
    for m in _LANDLINE.finditer(narrow):
        area = m[1] or m[2]
        found.append(Found(m.start(), m.end(), "landline", f"phone:{area}{m[3]}{m[4]}", f"{area}-****{m[4]}"))
    found.sort(key=lambda f: (f.start, -(f.end - f.start)))
    kept: list[Found] = []
    for f in found:
        if not kept or f.start >= kept[-1].end:
            kept.append(f)
    return kept


def mask_text(text: str, names: tuple[str, ...] = (), found: list[Found] | None = None) -> str:
    """``text`` with its phone and ID numbers masked (``found``: what ``find`` found in it, if known), and with each
    of ``names`` (names of the public a form gave beside the text, two characters or more) masked wherever the text
    repeats them."""
    out, at = [], 0
    for f in find(text) if found is None else found:
        out += [text[at : f.start], f.masked]
        at = f.end
    out.append(text[at:])
    masked = "".join(out)
    for name in names:
        name = name.strip()
        if len(name) >= 2 and name in masked:
            masked = masked.replace(name, mask_name(name))
    return masked


def phone_subject(value: str) -> str:
    """The key of a phone number given in a form field: its digits (full-width ones too), without +86."""
    digits = value if value.isascii() and value.isdigit() else _NOT_DIGIT.sub("", value.translate(_NARROW))
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return f"phone:{digits}"


def mask_phone(value: str) -> str:
    """A phone number given in a form field: ``138****5678``; a short number keeps only its first digit."""
    v = value.strip()
    if len(v) == 11 and v.isascii() and v.isdigit() and v[0] == "1":  # a mobile as forms mostly give it
        return f"{v[:3]}****{v[7:]}"
    found = find(v)
    if len(found) == 1 and found[0].start == 0 and found[0].end == len(v):
        return found[0].masked
    digits = "".join(c for c in v.translate(_NARROW) if c.isdigit() or c == "+")
    if len(digits) <= 4:
        return "*" * len(digits)
    if len(digits) <= 7:
        return digits[:1] + "*" * (len(digits) - 1)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def mask_id(value: str) -> str:
    v = value.strip()
    return v[:3] + "*" * (len(v) - 4) + v[-1:] if len(v) > 4 else "*" * len(v)


def mask_name(value: str) -> str:
    v = value.strip()
    return v[:1] + "*" * (len(v) - 1) if v else v


def is_masked(value: str) -> bool:
    """Whether a value is already in its masked form (masking it again would change nothing)."""
    return "*" in value


# ------------------------------------------------------------------------------------------- the output rule

_PHONE_KEYS = ("phone", "mobile", "tel")
_ID_KEYS = ("id_number", "id_card", "idcard", "identity")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_NAME_KEYS = ("raised_by_name", "citizen_name", "public_name", "reporter_name")


def _kind(key: str) -> str | None:
    k = key.lower()
    if k in _NAME_KEYS:
        return "name"
    if any(k == p or k.endswith("_" + p) or k.endswith(p) and p != "tel" for p in _PHONE_KEYS):
        return "phone"
    if any(p in k for p in _ID_KEYS):
        return "id"
    return None


def mask(value: Any, key: str = "", names: tuple[str, ...] = ()) -> Any:
    """A copy of ``value`` (JSON-like) as a reader who may not see personal data of the public sees it: fields named
    like a phone, an ID number or a name of the public masked as such, every other text scrubbed (``mask_text``), the
    names of the public a record gives masked wherever its text repeats them. The one rule of every output: API,
    dashboard, reports, history, audit, logs."""
    if isinstance(value, dict):
        given = tuple(v for k, v in value.items() if isinstance(v, str) and v and _kind(str(k)) == "name" and not is_masked(v))
        names = names + given if given else names
        return {k: mask(v, str(k), names) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask(v, key, names) for v in value]
    if isinstance(value, str):
        kind = _kind(key)
        if kind is None:
            return value if len(value) == 36 and _UUID.fullmatch(value) else mask_text(value, names)
        if is_masked(value) or not any(c.isdigit() for c in value.translate(_NARROW)):
            return value if kind != "name" or not value else mask_name(value)
        if kind == "phone":
            return mask_phone(value)
        if kind == "id":
            return mask_id(value)
        return mask_name(value)
    return value
