"""The term calendar: Hunan's current terms and the ones around them."""

from __future__ import annotations

import pytest

from domain.levels import CongressLevel
from domain.terms import session_of, term_of, term_years


@pytest.mark.parametrize(
    ("congress", "year", "term", "session"),
    [
        (CongressLevel.PROVINCIAL, 2023, 14, 1),
        (CongressLevel.PROVINCIAL, 2025, 14, 3),
        (CongressLevel.PROVINCIAL, 2027, 14, 5),
        (CongressLevel.PROVINCIAL, 2028, 15, 1),
        (CongressLevel.NATIONAL, 2022, 13, 5),
        (CongressLevel.PREFECTURE, 2026, 16, 5),
        (CongressLevel.COUNTY, 2022, 18, 1),
        (CongressLevel.TOWNSHIP, 2027, 19, 1),
        (CongressLevel.TOWNSHIP, 2016, 16, 5),
    ],
)
def test_term_and_session_of_a_year(congress: CongressLevel, year: int, term: int, session: int) -> None:
    assert term_of(congress, year) == term
    assert session_of(congress, year) == (term, session)


def test_term_years_round_trip() -> None:
    for congress in CongressLevel:
        for term in range(10, 20):
            first, last = term_years(congress, term)
            assert last - first == 4
            assert {term_of(congress, y) for y in range(first, last + 1)} == {term}
            assert term_of(congress, first - 1) == term - 1


def test_unknown_congress_is_refused() -> None:
    with pytest.raises(ValueError, match="bogus"):
        term_of("bogus", 2025)
