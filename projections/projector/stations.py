"""Liaison stations and station visits: stations and their enrolled deputies, visits with the deputies on duty and
the public's issues; summarised per station and year (``station_years``, ``station_deputies``) and per station now
(``stations.enrolled``) for the current stations view."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from domain.stations import Station
from domain.visits import StationVisit
from projections import schema as s
from projections.decode import LeanEvent
from projections.projector.page import VISITS, Family, Handler, Orphan, Page, assignments, clocks, day_of, in_chunks
from projections.rules import ACTIVE


def _station_established(b: Page, e: LeanEvent) -> None:
    occ = b.occ(e)
    station_id = b.oid
    b.pending["stations"][station_id] = {
        "station_id": station_id,
        "node_id": b.owner,
        "name": e.name,
        "address": e.address,
        "day": day_of(occ),
        "recorded_at": e.timestamp,
        "occurred_at": occ,
        "known_at": e.known_at,
        "successor_id": None,
        **clocks("merged"),
        **clocks("closed"),
        "enrolled": 0,  # counted at the end of the page
    }


def _enrol(b: Page, station_id: str, deputy_id: str, name: str, congress: str, e: LeanEvent) -> None:
    row = {
        "station_id": station_id,
        "deputy_id": deputy_id,
        "version": e.originator_version,
        "node_id": b.owner,
        "deputy_name": name,
        "congress": congress,
        **clocks("since", e.timestamp, b.occ(e), e.known_at),
        **clocks("until"),
    }
    b.pending["enrolments"][(station_id, deputy_id, row["version"])] = row
    b.pending["open_enrolments"][(station_id, deputy_id)] = row
    b.touched["stations"].add(station_id)


def _deputy_enrolled(b: Page, e: LeanEvent) -> None:
    _enrol(b, b.oid, e.deputy_id, e.deputy_name, e.congress, e)


def _deputy_removed(b: Page, e: LeanEvent) -> None:
    until = clocks("until", e.timestamp, b.occ(e), e.known_at)
    station_id, deputy_id = b.oid, e.deputy_id
    b.touched["stations"].add(station_id)
    row = b.pending["open_enrolments"].pop((station_id, deputy_id), None)
    if row is not None:
        row.update(until)
    else:
        b.update(
            s.station_enrolments,
            assignments(until),
            "station_id = ? AND deputy_id = ? AND until_rec IS NULL AND version < ?",
            (*until.values(), station_id, deputy_id, e.originator_version),
        )


def _merged_into(b: Page, e: LeanEvent) -> None:
    at = (e.timestamp, b.occ(e), e.known_at)
    merged, until = {"successor_id": e.successor_id, **clocks("merged", *at)}, clocks("until", *at)
    station_id = b.oid
    b.touched["stations"].add(station_id)
    row = b.pending["stations"].get(station_id)
    if row is not None:
        row.update(merged)
    else:
        b.update(s.stations, assignments(merged), "station_id = ?", (*merged.values(), station_id))
    open_enrolments = b.pending["open_enrolments"]
    for key in [k for k in open_enrolments if k[0] == station_id]:
        open_enrolments.pop(key).update(until)
    b.update(
        s.station_enrolments,
        assignments(until),
        "station_id = ? AND until_rec IS NULL AND version < ?",
        (*until.values(), station_id, e.originator_version),
    )


def _absorbed(b: Page, e: LeanEvent) -> None:
    merged = e.merged_id
    names = {k[1]: r["deputy_name"] for k, r in b.pending["enrolments"].items() if k[0] == merged}
    missing = [d for d in e.deputies if d not in names]
    if missing:
        table = b.db.qualified(s.station_enrolments)
        sql = f"SELECT deputy_id, deputy_name FROM {table} WHERE station_id = '{merged}' AND deputy_id IN (?)"
        names.update(dict(b.select(sql, missing)))
    station_id = b.oid
    for deputy_id, congress in e.deputies.items():
        if (station_id, deputy_id) not in b.pending["open_enrolments"]:  # already enrolled there: the domain keeps one enrolment
            _enrol(b, station_id, deputy_id, names.get(deputy_id, ""), congress, e)


def _station_closed(b: Page, e: LeanEvent) -> None:
    closed = clocks("closed", e.timestamp, b.occ(e), e.known_at)
    station_id = b.oid
    row = b.pending["stations"].get(station_id)
    if row is not None:
        row.update(closed)
    else:
        b.update(s.stations, assignments(closed), "station_id = ?", (*closed.values(), station_id))


def _visit_recorded(b: Page, e: LeanEvent) -> None:
    rec, occ, known = e.timestamp, b.occ(e), e.known_at
    visit_id, node, station_id = b.oid, b.owner, e.station_id
    day = e.visit_date
    year = int(day[:4])
    deputy_ids = list(dict.fromkeys(e.deputy_ids))  # the domain lists each once; a key must not repeat regardless
    b.inserts["visits"].append((visit_id, node, station_id, day, year, e.people_received, len(e.deputy_ids), rec, occ, known))
    b.inserts["visit_deputies"].extend((year, d, visit_id, node, station_id, day, rec, occ, known) for d in deputy_ids)
    for d in deputy_ids:
        b.count(d, year, VISITS)
        b.mark(ACTIVE, year, d, node, rec, occ, known)
        b.add(s.station_deputies, (year, node, station_id, d), ())
    b.add(s.station_years, (year, node, station_id), (1, e.people_received, len(e.deputy_ids), 0, 0, 0, day, 0))
    b.touched["on_duty"].add((year, node, station_id))
    b.visits[visit_id] = [station_id, []]
    b.seen(day)


def _visit(b: Page, e: LeanEvent) -> list[Any]:
    info = b.visits.get(b.oid)
    if info is None:
        raise Orphan(f"visit {e.originator_id} was never recorded here")
    return info


def _issue_raised(b: Page, e: LeanEvent) -> None:
    station_id, years = _visit(b, e)
    occ = b.occ(e)
    day = day_of(occ)
    year = int(day[:4])
    years.append(year)
    key = (b.oid, len(years))
    row = [*key, b.owner, station_id, e.category, day, year, e.timestamp, occ, e.known_at, *[None] * len(_OUTCOME_COLUMNS)]
    b.pending["issues"][key] = row
    b.inserts["visit_issues"].append(row)  # type: ignore[arg-type]  # a list: its outcome may still come in the page
    b.add(s.station_years, (year, b.owner, station_id), (0, 0, 0, 1, 0, 0, "", 0))


_OUTCOME_COLUMNS = ("outcome", "to_unit", "outcome_day", *clocks("outcome"))


def _issue_outcome(outcome: str) -> Handler:
    """An issue resolved or transferred: on its row, and counted under the issue's year and station."""
    counted = (0, 0, 0, 0, 1, 0, "", 0) if outcome == "resolved" else (0, 0, 0, 0, 0, 1, "", 0)

    def handle(b: Page, e: LeanEvent) -> None:
        station_id, years = _visit(b, e)
        if not 0 < e.number <= len(years):
            raise Orphan(f"issue {e.number} of visit {e.originator_id} was never raised here")
        occ = b.occ(e)
        values = (outcome, getattr(e, "to_unit", ""), day_of(occ), e.timestamp, occ, e.known_at)
        row = b.pending["issues"].get((b.oid, e.number))
        if row is not None:
            row[-len(values) :] = values
        else:
            where = "visit_id = ? AND number = ?"
            b.update(s.visit_issues, assignments(_OUTCOME_COLUMNS), where, (*values, b.oid, e.number), keyed=True)
        b.add(s.station_years, (years[e.number - 1], b.owner, station_id), counted)

    return handle


def _load_visits(b: Page, ids: Sequence[str]) -> None:
    for visit_id, station_id in b.select(
        f"SELECT visit_id, station_id FROM {b.db.qualified(s.visits)} WHERE visit_id IN (?)", ids
    ):
        b.visits[visit_id] = [station_id, []]
    sql = f"SELECT visit_id, year FROM {b.db.qualified(s.visit_issues)} WHERE visit_id IN (?) ORDER BY visit_id, number"
    for visit_id, year in b.select(sql, ids):
        b.visits[visit_id][1].append(year)


def _stage(b: Page) -> None:
    pending = b.pending
    b.inserts["stations"].extend(tuple(r[c.name] for c in s.stations.columns) for r in pending["stations"].values())
    columns = s.station_enrolments.columns
    b.inserts["station_enrolments"].extend(tuple(r[c.name] for c in columns) for r in pending["enrolments"].values())


def _finish(b: Page, _: Any) -> None:
    """How many deputies each station whose enrolments changed has enrolled now (a bulk build counts at its end)."""
    if b.touched["stations"] and not b.deferred:
        in_chunks(b.conn, b.sql, _enrolled_sql(b) + " WHERE station_id IN (?)", sorted(b.touched["stations"]), fetch=False)


def _settle(b: Page) -> None:
    """The stations visited in the page: their distinct deputies on duty that year, counted again."""
    keys = sorted(b.touched["on_duty"])
    if keys:
        b.conn.exec_driver_sql(
            _on_duty_sql(b) + f" WHERE year = {b.sql.ph} AND node_id = {b.sql.ph} AND station_id = {b.sql.ph}", keys
        )


def _complete(projector: Any, conn: Connection) -> None:
    conn.exec_driver_sql(_enrolled_sql(projector))
    conn.exec_driver_sql(_on_duty_sql(projector))


def _on_duty_sql(holder: Any) -> str:
    years, on_duty = holder.sql.t(s.station_years), holder.sql.t(s.station_deputies)
    count = (
        f"SELECT count(*) FROM {on_duty} d WHERE d.year = {years}.year AND d.node_id = {years}.node_id "
        f"AND d.station_id = {years}.station_id"
    )
    return f"UPDATE {years} SET deputies = ({count})"


def _enrolled_sql(holder: Any) -> str:
    stations, enrolments = holder.sql.t(s.stations), holder.sql.t(s.station_enrolments)
    count = (
        f"SELECT count(DISTINCT e.deputy_id) FROM {enrolments} e "
        f"WHERE e.station_id = {stations}.station_id AND e.until_rec IS NULL"
    )
    return f"UPDATE {stations} SET enrolled = ({count})"


HANDLERS: dict[type, Handler] = {
    Station.Established: _station_established,
    Station.DeputyEnrolled: _deputy_enrolled,
    Station.DeputyRemoved: _deputy_removed,
    Station.MergedInto: _merged_into,
    Station.Absorbed: _absorbed,
    Station.Closed: _station_closed,
    StationVisit.Recorded: _visit_recorded,
    StationVisit.IssueRaised: _issue_raised,
    StationVisit.IssueResolved: _issue_outcome("resolved"),
    StationVisit.IssueTransferred: _issue_outcome("transferred"),
}

FAMILY = Family(
    HANDLERS,
    prefetch={cls: "visits" for cls in HANDLERS if cls.__qualname__.startswith("StationVisit.")},
    loaders={"visits": _load_visits},
    before=_stage,
    finish=_finish,
    settle=_settle,
    complete=_complete,
)
