"""The congresses' terms (届) as calendar years: a term is five years, counted from the year of its first session.

The anchors are Hunan's current terms (national and provincial 14th from 2023, prefecture 16th from 2022, county
and township 18th from 2022), the same the simulator uses. The domain has no term calendar yet; when it gets one,
this module should read it from there.
"""

from __future__ import annotations

from domain.levels import CongressLevel, Level

TERM_YEARS = 5
ANCHORS: dict[CongressLevel, tuple[int, int]] = {
    CongressLevel.NATIONAL: (14, 2023),
    CongressLevel.PROVINCIAL: (14, 2023),
    CongressLevel.PREFECTURE: (16, 2022),
    CongressLevel.COUNTY: (18, 2022),
    CongressLevel.TOWNSHIP: (18, 2022),
}

CONGRESS_AT: dict[Level, CongressLevel] = {
    Level.PROVINCE: CongressLevel.PROVINCIAL,
    Level.PREFECTURE: CongressLevel.PREFECTURE,
    Level.COUNTY: CongressLevel.COUNTY,
    Level.TOWNSHIP: CongressLevel.TOWNSHIP,
}


def term_years(congress: CongressLevel | str, term: int) -> tuple[int, int]:
    """First and last calendar year of a term of a congress."""
    anchor_term, anchor_year = ANCHORS[CongressLevel(congress)]
    first = anchor_year + TERM_YEARS * (term - anchor_term)
    return first, first + TERM_YEARS - 1


def term_of(congress: CongressLevel | str, year: int) -> int:
    anchor_term, anchor_year = ANCHORS[CongressLevel(congress)]
    return anchor_term + (year - anchor_year) // TERM_YEARS
