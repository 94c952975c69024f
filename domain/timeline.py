"""When a fact can be dated: not before the step it follows, not after the recording office's present, not before
people's congresses existed.

Pure: the present is never read here. The edge that takes office input (the gateway) reads its clock and the
tolerance (``YIPANQI_FUTURE_TOLERANCE_DAYS``) and hands the latest allowed moment in with the attribution
(``Attribution.latest``); a simulation or a test brings its own. Days are Hunan's calendar days (Asia/Shanghai):
a step is ordered against the one it follows by day, not by minute, since offices date most steps by the day only.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

#: Hunan's time zone: calendar days of every rule here are days in Asia/Shanghai (UTC+8, no daylight saving).
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")

#: No fact of deputy work is older than the first session of the first National People's Congress (1954-09-15):
#: the people's congress system, local congresses included, dates from 1954. The civil-affairs data give no date
#: on which each division came to exist, so this one floor stands for all of them.
FLOOR = date(1954, 9, 15)
FLOOR_AT = datetime.combine(FLOOR, time(), SHANGHAI)

#: How far ahead of the recording office's present a fact may be dated (a visit entered the evening before).
FUTURE_TOLERANCE = timedelta(days=1)


def latest(now: datetime, tolerance: timedelta = FUTURE_TOLERANCE) -> datetime:
    """The latest moment a fact recorded at ``now`` may be dated."""
    return now + tolerance


def start_of(day: date) -> datetime:
    """The first moment of a calendar day in Hunan."""
    return datetime.combine(day, time(), SHANGHAI)


def day_of(moment: datetime) -> date:
    """The calendar day in Hunan of an aware moment."""
    return moment.astimezone(SHANGHAI).date()


def tolerance_days(text: str | None) -> timedelta:
    """The tolerance as configured (a number of days, ``0`` or more, fractions allowed; empty: the default)."""
    if not text:
        return FUTURE_TOLERANCE
    days = float(text)
    if not 0 <= days <= 366:
        raise ValueError(f"the future tolerance must be 0..366 days (got {text!r})")
    return timedelta(days=days)
