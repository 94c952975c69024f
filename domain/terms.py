"""The congresses' terms (届) on the calendar: five years each, counted from the year of the term's first session.

Anchored on Hunan's current terms: the national and provincial congresses are in their 14th term since 2023,
prefecture congresses in their 16th since 2022, county and township congresses in their 18th since 2022. Every
term before or after follows by counting five years.
"""

from __future__ import annotations

from domain.levels import CongressLevel, Level

TERM_YEARS = 5
ANCHORS: dict[CongressLevel, tuple[int, int]] = {  # congress → (a term, the year of its first session)
    CongressLevel.NATIONAL: (14, 2023),
    CongressLevel.PROVINCIAL: (14, 2023),
    CongressLevel.PREFECTURE: (16, 2022),
    CongressLevel.COUNTY: (18, 2022),
    CongressLevel.TOWNSHIP: (18, 2022),
}

CONGRESS_AT: dict[Level, CongressLevel] = {  # the congress a node of each level convenes
    Level.PROVINCE: CongressLevel.PROVINCIAL,
    Level.PREFECTURE: CongressLevel.PREFECTURE,
    Level.COUNTY: CongressLevel.COUNTY,
    Level.TOWNSHIP: CongressLevel.TOWNSHIP,
}


def term_of(congress: CongressLevel | str, year: int) -> int:
    """The term a congress is in during ``year``."""
    anchor_term, anchor_year = ANCHORS[CongressLevel(congress)]
    return anchor_term + (year - anchor_year) // TERM_YEARS


def term_years(congress: CongressLevel | str, term: int) -> tuple[int, int]:
    """First and last calendar year of a term of a congress."""
    anchor_term, anchor_year = ANCHORS[CongressLevel(congress)]
    first = anchor_year + TERM_YEARS * (term - anchor_term)
    return first, first + TERM_YEARS - 1


def session_of(congress: CongressLevel | str, year: int) -> tuple[int, int]:
    """The term and the number of the annual session (第几次会议) a congress holds in ``year``."""
    term = term_of(congress, year)
    return term, year - term_years(congress, term)[0] + 1
