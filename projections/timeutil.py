"""Times in the read models: UTC microseconds since the epoch (exact, fast to compare and to bind), days as ISO
strings in Hunan's time zone (what the offices call "the day", and what years and terms are counted in)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

CST = timezone(timedelta(hours=8), "CST")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_US = timedelta(microseconds=1)


def us(moment: datetime) -> int:
    """A timezone-aware datetime as integer UTC microseconds since 1970 (exact: no float on the way)."""
    return (moment - EPOCH) // ONE_US


def from_us(value: int | None) -> datetime | None:
    return None if value is None else EPOCH + timedelta(microseconds=value)


def iso(value: int | None) -> str | None:
    """UTC microseconds as an ISO time in Hunan's time zone (for people and JSON)."""
    moment = from_us(value)
    return None if moment is None else moment.astimezone(CST).isoformat(timespec="seconds")


def cst_day(moment: datetime) -> str:
    return moment.astimezone(CST).date().isoformat()


def parse_moment(text: str) -> datetime:
    """``2025-03-31``, ``2025-03-31T12:00`` or with an offset; a date means the end of that day, naive means CST."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, 23, 59, 59, 999999, tzinfo=CST)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a date or time (YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][+08:00]): {text!r}") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=CST)


def day_of_us(value: int) -> str:
    moment = from_us(value)
    assert moment is not None
    return cst_day(moment)
