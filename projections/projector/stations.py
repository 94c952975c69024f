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


def _station_corrected(b: Page, e: LeanEvent) -> None:
    """更正: a station's name and address, in place: the views list them (the current ones at any cut), none counts by
    them."""
    fields = {name: e.changes[name] for name in ("name", "address") if name in e.changes}
    row = b.pending["stations"].get(b.oid)
    if row is not None:
        row.update(fields)
    else:
        b.update(s.stations, assignments(fields), "station_id = ?", (*fields.values(), b.oid))


#: Positions in a ``visits`` row (its columns' order).
_VISIT = {c.name: i for i, c in enumerate(s.visits.columns)}
_NOT_VOIDED = (None, None, None)  # a row's voided clocks while it holds


def _visit_recorded(b: Page, e: LeanEvent) -> None:
    rec, occ, known = e.timestamp, b.occ(e), e.known_at
    visit_id, node, station_id = b.oid, b.owner, e.station_id
    day = e.visit_date
    year = int(day[:4])
    deputy_ids = list(dict.fromkeys(e.deputy_ids))  # the domain lists each once; a key must not repeat regardless
    row = (visit_id, e.originator_version, node, station_id, day, year, e.people_received, len(e.deputy_ids), rec, occ, known)
    b.inserts["visits"].append((*row, *_NOT_VOIDED))
    b.inserts["visit_deputies"].extend(
        (year, d, visit_id, node, station_id, day, rec, occ, known, *_NOT_VOIDED) for d in deputy_ids
    )
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
    station_id, issues = _visit(b, e)
    occ = b.occ(e)
    day = day_of(occ)
    year = int(day[:4])
    issues.append([year, None])
    key = (b.oid, len(issues))
    row = [*key, b.owner, station_id, e.category, day, year, e.timestamp, occ, e.known_at, *_NOT_VOIDED]
    row += [None] * len(_OUTCOME_COLUMNS)
    b.pending["issues"][key] = row
    b.inserts["visit_issues"].append(row)  # type: ignore[arg-type]  # a list: its outcome may still come in the page
    b.add(s.station_years, (year, b.owner, station_id), (0, 0, 0, 1, 0, 0, "", 0))


_OUTCOME_COLUMNS = ("outcome", "to_unit", "outcome_day", *clocks("outcome"))


def _issue_outcome(outcome: str) -> Handler:
    """An issue resolved or transferred: on its row, and counted under the issue's year and station."""
    counted = (0, 0, 0, 0, 1, 0, "", 0) if outcome == "resolved" else (0, 0, 0, 0, 0, 1, "", 0)

    def handle(b: Page, e: LeanEvent) -> None:
        station_id, issues = _visit(b, e)
        if not 0 < e.number <= len(issues):
            raise Orphan(f"issue {e.number} of visit {e.originator_id} was never raised here")
        issues[e.number - 1][1] = outcome
        occ = b.occ(e)
        values = (outcome, getattr(e, "to_unit", ""), day_of(occ), e.timestamp, occ, e.known_at)
        row = b.pending["issues"].get((b.oid, e.number))
        if row is not None:
            row[-len(values) :] = values
        else:
            where = "visit_id = ? AND number = ?"
            b.update(s.visit_issues, assignments(_OUTCOME_COLUMNS), where, (*values, b.oid, e.number), keyed=True)
        b.add(s.station_years, (issues[e.number - 1][0], b.owner, station_id), counted)

    return handle


# ------------------------------------------------------------------------------------ corrections and voids
#
# A visit's row holds until its ``voided`` clocks (``schema.visits``). A correction of the people received ends the
# row that holds and adds the corrected one (the correction's version; its recorded and known times, the visit's
# occurred time); a void ends the visit's rows, its deputies' and its issues'. Both act on rows of earlier pages and of
# this one alike (``Page.update`` runs after the page's inserts), and change the summaries by difference. What cannot
# be taken back by difference is derived again from the facts that hold (``_derive_again``): the deputies on duty per
# station and year, the station's latest visit; each deputy's first activity of the year (``ACTIVE`` marks, by the
# deputies' family).


def _visit_corrected(b: Page, e: LeanEvent) -> None:
    station_id, _ = _visit(b, e)
    changes = e.changes
    if e.fact == "issue":  # no view counts issues by category, nor reads their summaries: the row keeps the category
        if "category" in changes:
            b.update(s.visit_issues, "category = ?", "visit_id = ? AND number = ?", (changes["category"], b.oid, e.number))
        return
    row, _ = _holding(b)
    people = changes["people_received"]
    corrected = list(row)
    corrected[_VISIT["version"]], corrected[_VISIT["people"]] = e.originator_version, people
    corrected[_VISIT["recorded_at"]], corrected[_VISIT["known_at"]] = e.timestamp, e.known_at
    b.stop_holding(s.visits, "visit_id = ? AND version < ?", (b.oid, e.originator_version), e)
    b.inserts["visits"].append(tuple(corrected))
    key = (row[_VISIT["year"]], row[_VISIT["node_id"]], station_id)
    b.add(s.station_years, key, (0, people - row[_VISIT["people"]], 0, 0, 0, 0, "", 0))


def _visit_voided(b: Page, e: LeanEvent) -> None:
    station_id, issues = _visit(b, e)
    row, deputies = _holding(b)
    year, node = row[_VISIT["year"]], row[_VISIT["node_id"]]
    for table in (s.visits, s.visit_deputies, s.visit_issues):
        b.stop_holding(table, "visit_id = ?", (b.oid,), e)
    b.add(s.station_years, (year, node, station_id), (-1, -row[_VISIT["people"]], -row[_VISIT["deputies_n"]], 0, 0, 0, "", 0))
    for issue_year, outcome in issues:
        resolved, transferred = int(outcome == "resolved"), int(outcome == "transferred")
        b.add(s.station_years, (issue_year, node, station_id), (0, 0, 0, -1, -resolved, -transferred, "", 0))
    for d in deputies:
        b.count(d, year, VISITS, n=-1)
    b.derive_again["station_years"].add((year, node, station_id))
    b.derive_again["active"].update((year, d) for d in deputies)


def _holding(b: Page) -> tuple[Sequence[Any], list[str]]:
    """The row of the visit that holds now (as recorded, or as last corrected) and its deputies on duty: the latest
    this page wrote for it (its own rows are not in the database yet; its updates run at its end), else the database's.
    Corrections and voids are rare: scanning the page's rows for them costs nothing on the way of every visit."""
    ph, visit = b.sql.ph, (b.oid,)
    mine = [r for r in b.inserts["visits"] if r[0] == b.oid]
    if mine:
        row: Sequence[Any] = max(mine, key=lambda r: r[_VISIT["version"]])
    else:
        sql = f"{b.sql.rows_of(s.visits, list(_VISIT))} WHERE visit_id = {ph} AND voided_rec IS NULL"
        row = b.conn.exec_driver_sql(sql, visit).one()
    deputies = [r[1] for r in b.inserts["visit_deputies"] if r[2] == b.oid]  # recorded in this page
    if not deputies:
        sql = f"SELECT deputy_id FROM {b.sql.t(s.visit_deputies)} WHERE visit_id = {ph} AND voided_rec IS NULL"
        deputies = [r[0] for r in b.conn.exec_driver_sql(sql, visit)]
    return row, deputies


def _load_visits(b: Page, ids: Sequence[str]) -> None:
    for visit_id, station_id in b.select(
        f"SELECT DISTINCT visit_id, station_id FROM {b.db.qualified(s.visits)} WHERE visit_id IN (?)", ids
    ):
        b.visits[visit_id] = [station_id, []]
    table = b.db.qualified(s.visit_issues)
    sql = f"SELECT visit_id, year, outcome FROM {table} WHERE visit_id IN (?) ORDER BY visit_id, number"
    for visit_id, year, outcome in b.select(sql, ids):
        b.visits[visit_id][1].append([year, outcome])


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
    """The stations visited in the page: their distinct deputies on duty that year, counted again (what a void
    changed, derived again first)."""
    _derive_again(b, b.conn, b.touched)
    keys = sorted(b.touched["on_duty"])
    if keys:
        b.conn.exec_driver_sql(_on_duty_sql(b) + f" WHERE {_STATION_YEAR.format(ph=b.sql.ph)}", keys)


def _complete(projector: Any, conn: Connection) -> None:
    _derive_again(projector, conn, projector.derive_again)
    conn.exec_driver_sql(_enrolled_sql(projector))
    conn.exec_driver_sql(_on_duty_sql(projector))


_STATION_YEAR = "year = {ph} AND node_id = {ph} AND station_id = {ph}"


def _derive_again(holder: Any, conn: Connection, again: dict[str, set[Any]]) -> None:
    """After voids, from the facts that hold: the deputies on duty per station and year and the station's latest
    visit of the year (each deputy's first activity of the year: ``projector.deputies``)."""
    sql = holder.sql
    keys = sorted(again.pop("station_years", ()))
    if keys:
        where = _STATION_YEAR.format(ph=sql.ph)
        on_duty, visits, years = sql.t(s.station_deputies), sql.t(s.visits), sql.t(s.station_years)
        conn.exec_driver_sql(f"DELETE FROM {on_duty} WHERE {where}", keys)
        deputies = f"SELECT DISTINCT year, node_id, station_id, deputy_id FROM {sql.t(s.visit_deputies)}"
        conn.exec_driver_sql(f"INSERT INTO {on_duty} {deputies} WHERE {where} AND voided_rec IS NULL", keys)
        latest = (
            f"SELECT coalesce(max(v.day), '') FROM {visits} v WHERE v.year = {years}.year AND v.node_id = {years}.node_id "
            f"AND v.station_id = {years}.station_id AND v.voided_rec IS NULL"
        )
        conn.exec_driver_sql(f"UPDATE {years} SET last_day = ({latest}) WHERE {where}", keys)
        conn.exec_driver_sql(_on_duty_sql(holder) + f" WHERE {where}", keys)
        conn.exec_driver_sql(sql.delete_empty(s.station_years), keys)  # a year whose visits and issues all went


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
    Station.Corrected: _station_corrected,
    StationVisit.Recorded: _visit_recorded,
    StationVisit.IssueRaised: _issue_raised,
    StationVisit.IssueResolved: _issue_outcome("resolved"),
    StationVisit.IssueTransferred: _issue_outcome("transferred"),
    StationVisit.Corrected: _visit_corrected,
    StationVisit.Voided: _visit_voided,
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
