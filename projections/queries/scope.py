"""What a person asks a view for: the region, the period (a year or a congress term) and the as-of cut."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Literal, get_args

import sqlalchemy as sa

from domain.base import DomainError
from domain.hierarchy import Hierarchy
from domain.levels import Level
from domain.terms import CONGRESS_AT, term_years
from projections import labels as L
from projections import schema as s
from projections.db import ProjectionDB
from projections.timeutil import day_of_us, iso, parse_moment, us

#: recorded: when the owner office recorded it; occurred: when it happened; known: when this node came to hold it.
Clock = Literal["recorded", "occurred", "known"]
CLOCKS: tuple[str, ...] = get_args(Clock)
#: How each clock is named to people.
CLOCK_LABELS = {
    "recorded": "按记录时间 by recorded time",
    "occurred": "按发生时间 by occurred time",
    "known": "按知悉时间 by known time",
}
LEVELS = list(Level)


class QueryError(ValueError):
    """Bad input for a view: unknown region, a region outside the node's subtree, a bad date or term."""


@dataclass(frozen=True)
class Scope:
    node_id: str  # whose projection
    region_id: str
    region_code: str
    region_name: str
    region_level: str
    first_year: int
    last_year: int
    year: int  # the year the yearly targets are counted in
    term: int | None
    congress: str  # the congress whose term ``term`` counts
    as_of: int | None  # UTC microseconds, or None: everything projected so far
    by: Clock
    ref_day: str  # "today" for overdue replies and idle stations: the as-of day, else the latest activity day

    @property
    def is_root(self) -> bool:
        return self.region_id == self.node_id

    @property
    def child_level(self) -> str | None:
        depth = Level(self.region_level).depth
        return LEVELS[depth + 1].value if depth + 1 < len(LEVELS) else None

    @property
    def last_day(self) -> str:
        return f"{self.last_year}-12-31"

    @property
    def period_us(self) -> tuple[int, int]:
        """The period's first and last instants (Hunan's days) as UTC microseconds: the bounds of an occurred time
        counted in the period (a station merged in it, or open at its end)."""
        return us(parse_moment(f"{self.first_year}-01-01T00:00")), us(parse_moment(self.last_day))

    def describe(self) -> dict[str, Any]:
        data = asdict(self)
        data["as_of"] = iso(self.as_of)
        data["period"] = self.period_label
        data["as_of_label"] = self.as_of_label
        return data

    @property
    def period_label(self) -> str:
        if self.term is not None:
            return f"第{self.term}届({L.CONGRESS[self.congress]}, {self.first_year}–{self.last_year}年)"
        return f"{self.year}年"

    @property
    def as_of_label(self) -> str:
        if self.as_of is None:
            return "截至目前 as projected"
        return f"截至 as of {iso(self.as_of)} ({CLOCK_LABELS[self.by]})"


def make_scope(
    db: ProjectionDB,
    *,
    region: str | None = None,
    year: int | None = None,
    term: int | None = None,
    as_of: str | int | None = None,
    by: str = "recorded",
    hierarchy: Hierarchy | None = None,
    ref_day: str | None = None,
) -> Scope:
    """Validate what a person asked for and fix the period: ``year`` wins; else ``term`` (of the region's congress);
    else the as-of year; else the latest year with activity in the projection."""
    hierarchy = hierarchy or db.hierarchy or Hierarchy.load()
    if by not in CLOCKS:
        raise QueryError(f"--by must be {', '.join(CLOCKS[:-1])} or {CLOCKS[-1]} (got {by!r})")
    try:
        division = hierarchy.resolve(region) if region else hierarchy.get(db.node.node_id)
    except DomainError as e:
        raise QueryError(str(e)) from None
    if not hierarchy.is_within(division, db.node.node_id):
        raise QueryError(
            f"{division.name}({division.code}) is outside the subtree of {db.node.name}({db.node.code}), whose projection "
            f"this is: ask {division.name}'s own node or an ancestor of it (--node)"
        )
    cut: int | None
    if as_of is None or as_of == "":
        cut = None
    elif isinstance(as_of, int):
        cut = as_of
    else:
        try:
            cut = us(parse_moment(as_of))
        except ValueError as e:
            raise QueryError(f"--as-of: {e}") from None
    ref = hierarchy.ref(division)
    congress = CONGRESS_AT[ref.level]
    if ref_day is None:
        with db.connect() as conn:
            latest = conn.execute(sa.select(s.projection_meta.c.value).where(s.projection_meta.c.key == "latest_day")).scalar()
            if latest is None:  # built before the projector kept it: look it up once
                latest = max(
                    (
                        d
                        for d in (
                            conn.execute(sa.select(sa.func.max(t.c.day))).scalar() for t in (s.contacts, s.visits, s.suggestions)
                        )
                        if d
                    ),
                    default=None,
                )
        ref_day = day_of_us(cut) if cut is not None else latest or date.today().isoformat()
    if year is not None:
        if not 2000 <= year <= 2100:
            raise QueryError(f"--year must be 2000..2100 (got {year})")
        first, last, chosen = year, year, year
        if term is not None and not term_years(congress, term)[0] <= year <= term_years(congress, term)[1]:
            raise QueryError(f"{year} is not in the {term}th term of the {congress} congress {term_years(congress, term)}")
    elif term is not None:
        if not 1 <= term <= 99:
            raise QueryError(f"--term must be 1..99 (got {term})")
        first, last = term_years(congress, term)
        anchor = int(ref_day[:4])
        chosen = min(max(anchor, first), last)
    else:
        chosen = int(ref_day[:4])
        first = last = chosen
    return Scope(
        node_id=db.node.node_id.hex,
        region_id=division.id.hex,
        region_code=ref.code,
        region_name=ref.name,
        region_level=ref.level.value,
        first_year=first,
        last_year=last,
        year=chosen,
        term=term,
        congress=congress.value,
        as_of=cut,
        by=by,  # type: ignore[arg-type]
        ref_day=ref_day,
    )
