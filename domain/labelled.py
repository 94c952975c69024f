"""String enums whose members carry their Chinese label, declared together: ``ACTIVE = "active", "在任"``."""

from __future__ import annotations

from enum import StrEnum


class Labelled(StrEnum):
    """The value is what events and the API carry; the label is what people read in tables and on the dashboard."""

    label: str

    def __new__(cls, value: str, label: str) -> Labelled:
        member = str.__new__(cls, value)
        member._value_ = value
        member.label = label
        return member
