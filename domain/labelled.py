"""String enums whose members carry their Chinese label, declared together: ``ACTIVE = "active", "在任"``."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Self


class Labelled(StrEnum):
    """The value is what events and the API carry; the label is what people read in tables and on the dashboard."""

    label: str

    if TYPE_CHECKING:
        # Once the class is built, EnumType swaps in Enum.__new__, so ``Level("county")`` looks a member up by its
        # value; mypy would read the member builder below as the signature of that call (python/mypy#10573).
        def __new__(cls, value: str) -> Self: ...

    else:

        def __new__(cls, value: str, label: str) -> Labelled:
            member = str.__new__(cls, value)
            member._value_ = value
            member.label = label
            return member
