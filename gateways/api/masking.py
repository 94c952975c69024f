"""Masking personal data of the public (phone numbers, ID numbers, names of the people received) in responses.

Structured fields are masked by name (``raised_by_phone``, ``raised_by_name``, anything named like a phone or an ID
number); free text (issue summaries, opinions, outcomes, notes) is scrubbed of mobile and landline numbers and
18-digit resident ID numbers. Who sees unmasked data: ``gateways.api.auth`` (recorders and administrators of the
node that owns the record; everyone else, and every ancestor level, sees the masked form).
"""

from __future__ import annotations

import re
from typing import Any

_PHONE_KEYS = ("phone", "mobile", "tel")
_ID_KEYS = ("id_number", "id_card", "idcard", "identity")
_NAME_KEYS = ("raised_by_name", "citizen_name", "public_name")

_ID_RE = re.compile(r"(?<![0-9])([1-9][0-9]{5})(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])[0-9]{2}[0-9]{3}([0-9Xx])(?![0-9])")
_MOBILE_RE = re.compile(r"(?<![0-9])(1[3-9][0-9])[0-9]{4}([0-9]{4})(?![0-9])")
_LANDLINE_RE = re.compile(r"(?<![0-9])(0[0-9]{2,3})-?[0-9]{3,4}([0-9]{4})(?![0-9])")


def mask_phone(value: str) -> str:
    """138****5678; short numbers keep only their first digit."""
    v = value.strip()
    if len(v) <= 4:
        return "*" * len(v)
    if len(v) <= 7:
        return v[:1] + "*" * (len(v) - 1)
    return v[:3] + "*" * (len(v) - 7) + v[-4:]


def mask_id(value: str) -> str:
    v = value.strip()
    return v[:3] + "*" * max(len(v) - 5, 0) + v[-2:] if len(v) > 5 else "*" * len(v)


def mask_name(value: str) -> str:
    v = value.strip()
    return v[:1] + "*" * (len(v) - 1) if v else v


def scrub_text(text: str) -> str:
    text = _ID_RE.sub(lambda m: m.group(1)[:3] + "*" * 14 + m.group(2).upper(), text)
    text = _MOBILE_RE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", text)
    return _LANDLINE_RE.sub(lambda m: f"{m.group(1)}-****{m.group(2)}", text)


def _kind(key: str) -> str | None:
    k = key.lower()
    if any(n == k for n in _NAME_KEYS):
        return "name"
    if any(p in k for p in _PHONE_KEYS):
        return "phone"
    if any(p in k for p in _ID_KEYS):
        return "id"
    return None


def mask(value: Any, key: str = "") -> Any:
    """A copy of ``value`` (JSON-like) with personal data of the public masked."""
    if isinstance(value, dict):
        return {k: mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, key) for v in value]
    if isinstance(value, str):
        kind = _kind(key)
        if kind == "phone":
            return mask_phone(value)
        if kind == "id":
            return mask_id(value)
        if kind == "name":
            return mask_name(value)
        return scrub_text(value)
    return value
