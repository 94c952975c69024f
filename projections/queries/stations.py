"""The stations view: visits, deputies on duty, people received, issues; idle stations; merged stations' history
under their successors.

The stations are those open at the end of the period (a year, or a term's last year), by occurred time, as known at
the as-of cut if one is given: a station merged in 2025 is open in the 2024 view and counts as merged in 2025's.
What each station did in the period is read from the projector's summaries now (``station_years``,
``station_deputies``, ``stations.enrolled``), from the facts as of a cut or at the end of a past period; the rest of
the view is the same for both.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import ColumnElement

from projections import schema as s
from projections.db import ProjectionDB
from projections.queries.context import Ctx, fetch_rows, paged, rate, view_answer
from projections.queries.scope import Scope

#: What each station did in the period (per station as recorded, before merges are followed).
COUNTS = ("visits", "people", "duty_slots", "issues_raised", "issues_resolved", "issues_transferred")
_KEYS = ["stations", "visits", "people", "duty_slots", "deputies", "issues_raised", "issues_resolved", "issues_transferred"]
_KEYS += ["idle_stations", "merged", "closed"]  # merged, closed: in the period


@dataclass
class Activity:
    """The period's activity of the region's stations, per station id as recorded."""

    counts: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0] * len(COUNTS)))
    deputies: Counter[str] = field(default_factory=Counter)  # distinct deputies on duty
    enrolled: Counter[str] = field(default_factory=Counter)  # distinct deputies enrolled (at the cut, or now)
    last_visit: dict[str, str] = field(default_factory=dict)  # the latest visit on or before the reference day
    region_deputies: int = 0  # distinct deputies on duty anywhere in the region


def stations(
    db: ProjectionDB, scope: Scope, *, idle_days: int = 30, offset: int = 0, limit: int = 20, brief: bool = False
) -> dict[str, Any]:
    """Visits, deputies on duty, people received and issues per station and region; idle stations. A merged
    station's history counts under its successor (followed to the end of the chain, as of the cut). ``brief``: the
    figures alone, without the busiest and idle stations (what the 一盘棋 rollup shows)."""
    past = scope.ref_day > scope.last_day
    if past:  # a past period's stations are seen at its end: idle days count to its last day, not to today
        scope = replace(scope, ref_day=scope.last_day)
    with db.connect() as conn:
        ctx = Ctx(db, scope, conn)
        info = _stations(ctx)
        activity = _activity_now(ctx) if scope.as_of is None else _activity_at_cut(ctx)
        if not brief:  # what the lists show of each station: the figures by region do not count it
            activity.enrolled.update(_enrolled(ctx, past=past))
    rows = _open_stations(ctx, info, activity)
    per_node: dict[str | None, dict[str, float]] = defaultdict(lambda: dict.fromkeys(_KEYS, 0))
    for r in rows:
        agg = per_node[r.node_id]
        agg["stations"] += 1
        for k, n in zip(COUNTS, r.counts, strict=True):
            agg[k] += n
        agg["deputies"] += r.deputies
        agg["idle_stations"] += 1 if r.idle_days >= idle_days else 0
    for meta in info.values():
        if meta["ended_in_period"]:  # counted under its status then: merged or closed
            per_node[meta["node_id"]][meta["status"]] += 1
    by_region = ctx.rollup(per_node, _KEYS)
    for region in by_region:
        for k in _KEYS:
            region[k] = int(region[k])
        region["issues_pending"] = region["issues_raised"] - region["issues_resolved"] - region["issues_transferred"]
    totals: dict[str, Any] = {k: sum(r[k] for r in by_region) for k in _KEYS}
    totals["issues_pending"] = totals["issues_raised"] - totals["issues_resolved"] - totals["issues_transferred"]
    totals["distinct_deputies"] = activity.region_deputies
    totals["resolve_rate"] = rate(totals["issues_resolved"], totals["issues_raised"])
    answer = view_answer("stations", scope, idle_days=idle_days, totals=totals, by_region=by_region)
    if brief:
        return answer
    idle = sorted((r for r in rows if r.idle_days >= idle_days), key=lambda r: (-r.idle_days, r.name))
    busiest = [r.shown(ctx) for r in sorted(rows, key=lambda r: (-r.counts[0], r.name))[:10]]
    listed = [r.shown(ctx) for r in idle[offset : offset + limit]]
    return {**answer, "busiest": busiest, "idle": paged(listed, len(idle), offset, limit)}


def _stations(ctx: Ctx) -> dict[str, dict[str, Any]]:
    """The region's stations established by the end of the period and known at the cut, with their status at that
    end (a merged one: its successor), and whether it was merged or closed within the period."""
    st = s.stations
    start, end = ctx.scope.period_us
    cut = ctx.scope.as_of

    def by_end(occurred: int | None, clock: int | None) -> bool:
        """The transition happened by the period's end (occurred time) and was known at the cut (the scope's clock):
        by occurred time both bound the same clock, so the earlier of the two wins."""
        return occurred is not None and occurred <= end and (cut is None or (clock is not None and clock <= cut))

    columns: list[ColumnElement[Any]] = [st.c.station_id, st.c.node_id, st.c.name, st.c.day, st.c.successor_id]
    columns += [st.c.merged_occ, ctx.clock(st, "merged"), st.c.closed_occ, ctx.clock(st, "closed")]
    existing = [ctx.by_cut(st), st.c.occurred_at <= end, ctx.in_region(st.c.node_id)]
    info = {}
    for station_id, node_id, name, day, successor_id, merged_occ, merged_at, closed_occ, closed_at in ctx.conn.execute(
        sa.select(*columns).where(*existing)
    ):
        merged, closed = by_end(merged_occ, merged_at), by_end(closed_occ, closed_at)
        ended_at = merged_occ if merged else closed_occ if closed else None
        info[station_id] = {
            "station_id": station_id,
            "node_id": node_id,
            "name": name,
            "established": day,
            "status": "merged" if merged else "closed" if closed else "open",
            "successor_id": successor_id if merged else None,
            "ended_in_period": ended_at is not None and ended_at >= start,
        }
    return info


def _activity_now(ctx: Ctx) -> Activity:
    """From the summaries: per station and year, the deputies on duty."""
    out = Activity()
    y = s.station_years
    ref_day, ref_year = ctx.scope.ref_day, int(ctx.scope.ref_day[:4])
    late: list[str] = []  # stations visited later in the reference year than the reference day
    one_year = ctx.scope.first_year == ctx.scope.last_year
    for year, station_id, *counts, last_day, deputies in fetch_rows(
        ctx.conn,
        sa.select(y.c.year, y.c.station_id, *[y.c[k] for k in COUNTS], y.c.last_day, y.c.deputies).where(
            y.c.year <= max(ref_year, ctx.scope.last_year), ctx.in_region(y.c.node_id)
        ),
    ):
        if ctx.scope.first_year <= year <= ctx.scope.last_year:
            _add(out.counts[station_id], counts)
            if one_year:
                out.deputies[station_id] += deputies
        if not last_day:
            continue  # only issues were raised that year, at a visit of the year before
        if year < ref_year or (year == ref_year and last_day <= ref_day):
            out.last_visit[station_id] = max(out.last_visit.get(station_id, ""), last_day)
        elif year == ref_year:
            late.append(station_id)
    if late:
        _last_visits(ctx, late, out.last_visit)
    if not one_year:
        out.deputies.update(_on_duty(ctx))
    out.region_deputies = _region_deputies(ctx)
    return out


def _enrolled(ctx: Ctx, *, past: bool) -> dict[str, int]:
    """Distinct deputies enrolled per station: now (the projector's count on the station's row), else at the end of the
    period as known at the cut (``_enrolled_at_end``)."""
    if past or ctx.scope.as_of is not None:
        return _enrolled_at_end(ctx)
    st = s.stations
    enrolled = sa.select(st.c.station_id, st.c.enrolled).where(ctx.in_region(st.c.node_id), st.c.enrolled > 0)
    return dict(ctx.conn.execute(enrolled).all())


def _enrolled_at_end(ctx: Ctx) -> dict[str, int]:
    """Distinct deputies enrolled per station at the end of the period (occurred time), as known at the cut: an
    enrolment ended after that end, or ended by then but not known to have at the cut, still counts."""
    en = s.station_enrolments
    end = ctx.scope.period_us[1]
    began = [ctx.by_cut(en, "since"), en.c.since_occ <= end]
    still = sa.or_(ctx.not_yet(en, "until"), en.c.until_occ > end)
    stmt = (
        sa.select(en.c.station_id, sa.func.count(sa.distinct(en.c.deputy_id)))
        .where(*began, still, ctx.in_region(en.c.node_id))
        .group_by(en.c.station_id)
    )
    return dict(ctx.conn.execute(stmt).all())


def _on_duty(ctx: Ctx) -> Counter[str]:
    """Distinct deputies on duty per station over the period's years (one year: ``station_years`` has them)."""
    d = s.station_deputies
    in_period = [ctx.years(d.c.year), ctx.in_region(d.c.node_id)]
    stmt = sa.select(d.c.station_id, sa.func.count(sa.distinct(d.c.deputy_id))).where(*in_period).group_by(d.c.station_id)
    return Counter(dict(ctx.conn.execute(stmt).all()))


def _region_deputies(ctx: Ctx) -> int:
    """Distinct deputies on duty anywhere in the region in the period: at the root for one year, the projector's
    count of them."""
    if ctx.scope.is_root and ctx.scope.first_year == ctx.scope.last_year:
        v = s.visitor_years
        stmt = sa.select(v.c.deputies).where(v.c.year == ctx.scope.year)
    else:
        d = s.station_deputies
        stmt = sa.select(sa.func.count(sa.distinct(d.c.deputy_id))).where(ctx.years(d.c.year), ctx.in_region(d.c.node_id))
    return ctx.conn.execute(stmt).scalar() or 0


def _last_visits(ctx: Ctx, station_ids: list[str], into: dict[str, str]) -> None:
    """The latest visit on or before the reference day of these stations, from the visits themselves."""
    v = s.visits
    for station_id, last in ctx.conn.execute(
        sa.select(v.c.station_id, sa.func.max(v.c.day))
        .where(v.c.station_id.in_(station_ids), v.c.day <= ctx.scope.ref_day, ctx.in_region(v.c.node_id), ctx.holds(v))
        .group_by(v.c.station_id)
    ):
        into[station_id] = last


def _activity_at_cut(ctx: Ctx) -> Activity:
    """From the facts known at the cut."""
    out = Activity()
    v, vd, vi = s.visits, s.visit_deputies, s.visit_issues
    conn, scope = ctx.conn, ctx.scope
    in_period, by_ref_day = ctx.years(v.c.year), v.c.day <= scope.ref_day  # one reading of the visits for both
    visits_n, people_n, slots_n = (sa.func.sum(sa.case((in_period, x), else_=0)) for x in (1, v.c.people, v.c.deputies_n))
    for station_id, visits, people, slots, last in conn.execute(
        sa.select(v.c.station_id, visits_n, people_n, slots_n, sa.func.max(sa.case((by_ref_day, v.c.day), else_=None)))
        .where(ctx.by_cut(v), ctx.holds(v), sa.or_(in_period, by_ref_day), ctx.in_region(v.c.node_id))
        .group_by(v.c.station_id)
    ):
        if visits:
            _add(out.counts[station_id], (visits, people or 0, slots or 0, 0, 0, 0))
        if last is not None:
            out.last_visit[station_id] = last
    on_duty = [ctx.by_cut(vd), ctx.holds(vd), ctx.years(vd.c.year), ctx.in_region(vd.c.node_id)]
    distinct = sa.func.count(sa.distinct(vd.c.deputy_id))
    out.deputies.update(dict(conn.execute(sa.select(vd.c.station_id, distinct).where(*on_duty).group_by(vd.c.station_id)).all()))
    out.region_deputies = conn.execute(sa.select(distinct).where(*on_duty)).scalar() or 0
    outcome = sa.case((ctx.by_cut(vi, "outcome"), vi.c.outcome), else_=None)
    for station_id, result, n in conn.execute(
        sa.select(vi.c.station_id, outcome, sa.func.count())
        .where(ctx.by_cut(vi), ctx.holds(vi), ctx.years(vi.c.year), ctx.in_region(vi.c.node_id))
        .group_by(vi.c.station_id, outcome)
    ):
        _add(out.counts[station_id], (0, 0, 0, n, n if result == "resolved" else 0, n if result == "transferred" else 0))
    return out


@dataclass(slots=True)
class _Open:
    """An open station, with what it and the stations merged into it did."""

    station_id: str
    node_id: str
    name: str
    counts: list[int]  # ``COUNTS``
    deputies: int
    enrolled: int
    last_visit: str | None
    idle_days: int
    absorbed: int

    def shown(self, ctx: Ctx) -> dict[str, Any]:
        return {
            "station_id": self.station_id,
            "name": self.name,
            "node": ctx.region_label(self.node_id)["name"],
            "node_id": self.node_id,
            **dict(zip(COUNTS[:3], self.counts[:3], strict=True)),
            "deputies": self.deputies,
            "enrolled": self.enrolled,
            **dict(zip(COUNTS[3:], self.counts[3:], strict=True)),
            "last_visit": self.last_visit,
            "idle_days": self.idle_days,
            "absorbed": self.absorbed,
        }


def _open_stations(ctx: Ctx, info: dict[str, dict[str, Any]], activity: Activity) -> list[_Open]:
    """Every open station with what it and the stations merged into it did."""

    def final(station_id: str) -> str:
        seen = set()
        while station_id in info and info[station_id]["successor_id"] and station_id not in seen:
            seen.add(station_id)
            station_id = info[station_id]["successor_id"]
        return station_id

    finals = {station_id: final(station_id) for station_id in info}
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * len(COUNTS))
    for station_id, values in activity.counts.items():
        _add(counts[finals.get(station_id, station_id)], values)
    deputies, enrolled, last_visit = Counter[str](), Counter[str](), dict[str, str]()
    for station_id, n in activity.deputies.items():
        deputies[finals.get(station_id, station_id)] += n
    for station_id, n in activity.enrolled.items():
        enrolled[finals.get(station_id, station_id)] += n
    for station_id, day in activity.last_visit.items():
        f = finals.get(station_id, station_id)
        last_visit[f] = max(last_visit.get(f, ""), day)
    ref, ref_day = date.fromisoformat(ctx.scope.ref_day), ctx.scope.ref_day
    absorbed = Counter(finals.values())  # an open station is its own final station: one more than it absorbed
    rows = []
    for station_id, meta in info.items():
        if meta["status"] == "open":
            last = last_visit.get(station_id)
            since = last or meta["established"]
            idle = (ref - date.fromisoformat(since)).days if since <= ref_day else 0
            rows.append(
                _Open(
                    station_id,
                    meta["node_id"],
                    meta["name"],
                    counts[station_id],
                    deputies[station_id],
                    enrolled[station_id],
                    last,
                    idle,
                    absorbed[station_id] - 1,
                )
            )
    return rows


def _add(into: list[int], values: Any) -> None:
    for i, v in enumerate(values):
        into[i] += v
