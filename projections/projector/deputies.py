"""Deputies and standing committees: who serves where (registrations, flags, mandates, SC members), and the
summaries built on a person's records and activity counters (coverage populations and who is covered, the people the
duty ranking lists, how many of them were active in each year).

The person summaries are kept by recomputing each changed person: the page reads what its persons contributed before
its rows are written and after, and adds the difference (a person's records may be at several nodes and areas, and a
deed covers all of them: counting the change event by event would have to know all that anyway).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.bodies import StandingCommittee
from domain.deputies import Deputy
from domain.levels import CongressLevel
from domain.timeline import start_of
from projections import schema as s
from projections.decode import LeanEvent
from projections.projector.page import (
    VISITS,
    Family,
    Handler,
    Orphan,
    Page,
    add_sum,
    assignments,
    clocks,
    in_chunks,
    mark_again,
)
from projections.projector.statements import Statements
from projections.rules import ACTIVE, report_term_start
from projections.timeutil import us

PROVINCIAL = CongressLevel.PROVINCIAL.value
LOCAL_CONGRESSES = (CongressLevel.COUNTY.value, CongressLevel.TOWNSHIP.value)  # whose deputies report to constituents


def _deputy_registered(b: Page, e: LeanEvent) -> None:
    rec, occ, known = e.timestamp, b.occ(e), e.known_at
    node, home = b.owner, e.home_node
    area = home if home in b.p.subtree else node
    deputy_id = b.oid
    b.pending["deputies"][deputy_id] = [
        deputy_id,
        node,
        home,
        area,
        e.person_id,
        e.name,
        e.gender,
        e.unit,
        e.grassroots,
        e.leading_cadre,
        rec,
        occ,
        known,
        False,  # serving, serving_provincial, serving_local: refreshed from the mandates at flush
        False,
        False,
    ]
    b.inserts["deputy_flags"].append((deputy_id, e.originator_version, e.grassroots, e.leading_cadre, rec, occ, known))


def _flags_set(b: Page, e: LeanEvent) -> None:
    _flags(b, e, e.grassroots, e.leading_cadre, b.occ(e))


def _deputy_corrected(b: Page, e: LeanEvent) -> None:
    """A corrected category holds from its ``effective_from`` on the occurred clock (not clamped to the deputy's
    latest event, nor moving it: the flags are read as of a cut by version, whatever their order in time), and from
    when it was recorded (resp. came to be held here) on the recorded (resp. known) clock. A corrected name, gender or
    work unit is the deputy's row's (every view shows the current one, at any cut), and its person's."""
    if e.fact == "category":
        since = us(start_of(date.fromisoformat(e.effective_from)))
        _flags(b, e, e.changes["grassroots"], e.changes["leading_cadre"], since)
        return
    if e.fact == "mandate":
        _mandate_corrected(b, e)
        return
    fields = {name: e.changes[name] for name in _REGISTERED if name in e.changes}
    row = b.pending["deputies"].get(b.oid)
    if row is not None:
        for name, value in fields.items():
            row[_REGISTERED[name]] = value
    else:
        b.update(s.deputies, assignments(fields), "deputy_id = ?", (*fields.values(), b.oid))
    b.touched["renamed"].add(b.oid)


def _mandate_corrected(b: Page, e: LeanEvent) -> None:
    """How a mandate was won (its electing unit, the way), in place: the duty record lists it, nothing counts by it
    (nor is the delegation projected). The mandate is found by its grant's version."""
    fields = {name: e.changes[name] for name in ("elected_by", "via") if name in e.changes}
    row = next((m for key, m in b.pending["mandates"].items() if key[0] == b.oid and m["version"] == e.version), None)
    if row is not None:
        row.update(fields)
        return
    ph, found = b.sql.ph, (b.oid, e.version)
    held = b.conn.exec_driver_sql(f"SELECT 1 FROM {b.sql.t(s.mandates)} WHERE deputy_id = {ph} AND version = {ph}", found)
    if held.first() is None:
        raise Orphan(f"mandate {e.version} of deputy {e.originator_id} has no row here (projected before 0011: rebuild)")
    if fields:
        b.update(s.mandates, assignments(fields), "deputy_id = ? AND version = ?", (*fields.values(), *found))


#: Where a registration's correctable fields are in a deputy's row (``_deputy_registered``).
_REGISTERED = {"name": 5, "gender": 6, "unit": 7}


def _flags(b: Page, e: LeanEvent, grassroots: bool, leading_cadre: bool, occ: int) -> None:
    deputy_id = b.oid
    b.inserts["deputy_flags"].append((deputy_id, e.originator_version, grassroots, leading_cadre, e.timestamp, occ, e.known_at))
    b.touched["flagged"].add(deputy_id)
    row = b.pending["deputies"].get(deputy_id)
    if row is not None:
        row[8], row[9] = grassroots, leading_cadre
    else:
        b.update(s.deputies, "grassroots = ?, leading_cadre = ?", "deputy_id = ?", (grassroots, leading_cadre, deputy_id))


def _mandate_granted(b: Page, e: LeanEvent) -> None:
    deputy_id = b.oid
    b.pending["mandates"][(deputy_id, e.congress, e.term)] = {
        "deputy_id": deputy_id,
        "congress": e.congress,
        "term": e.term,
        "node_id": b.owner,
        "elected_by": e.elected_by,
        "via": e.via,
        "version": e.originator_version,
        **clocks("granted", e.timestamp, b.occ(e), e.known_at),
        **clocks("reviewed"),
        "passed": None,
        **clocks("terminated"),
        "reason": None,
    }


def _mandate_step(prefix: str, column: str) -> Handler:
    """A later step of a mandate (reviewed: ``passed``; terminated: ``reason``), on its row in the page or in the
    database."""

    def handle(b: Page, e: LeanEvent) -> None:
        changes = {**clocks(prefix, e.timestamp, b.occ(e), e.known_at), column: getattr(e, column)}
        key = (b.oid, e.congress, e.term)
        b.touched["mandated"].add(b.oid)
        mandate = b.pending["mandates"].get(key)
        if mandate is not None:
            mandate.update(changes)
        else:
            b.update(s.mandates, assignments(changes), "deputy_id = ? AND congress = ? AND term = ?", (*changes.values(), *key))

    return handle


def _deputy_voided(b: Page, e: LeanEvent) -> None:
    """作废: the record served no mandate. Every mandate still in force or under review ends when the void was recorded
    (resp. held here), and on the occurred clock ends where it began (it never held); a mandate terminated before ends
    there too. The serving flags follow at the page's end, and with them every population and the person summaries;
    what was recorded against the record (contacts, visits on duty) stays, counted for its person's other records."""
    deputy_id = b.oid
    b.touched["mandated"].add(deputy_id)
    ended = {"terminated_rec": e.timestamp, "terminated_known": e.known_at, "reason": f"作废: {e.reason}"[:200]}
    for key, mandate in b.pending["mandates"].items():
        if key[0] == deputy_id:
            if mandate["terminated_rec"] is None:
                mandate.update(ended)
            mandate["terminated_occ"] = mandate["granted_occ"]
    b.update(s.mandates, assignments(ended), "deputy_id = ? AND terminated_rec IS NULL", (*ended.values(), deputy_id))
    b.update(s.mandates, "terminated_occ = granted_occ", "deputy_id = ?", (deputy_id,))


def _sc_constituted(b: Page, e: LeanEvent) -> None:
    b.inserts["standing_committees"].append((b.oid, b.owner, e.term, e.level, e.timestamp, b.occ(e), e.known_at))


def _member_appointed(b: Page, e: LeanEvent) -> None:
    row = {
        "sc_id": b.oid,
        "member_id": e.member_id,
        "version": e.originator_version,
        "node_id": b.owner,
        "name": e.name,
        "post": e.post,
        **clocks("appointed", e.timestamp, b.occ(e), e.known_at),
        **clocks("left"),
    }
    b.pending["members"][(row["sc_id"], e.member_id, row["version"])] = row
    b.pending["open_members"][(row["sc_id"], e.member_id)] = row


def _member_left(b: Page, e: LeanEvent) -> None:
    left = clocks("left", e.timestamp, b.occ(e), e.known_at)
    sc_id = b.oid
    row = b.pending["open_members"].pop((sc_id, e.member_id), None)
    if row is not None:
        row.update(left)
    else:
        b.update(
            s.sc_members,
            assignments(left),
            "sc_id = ? AND member_id = ? AND left_rec IS NULL AND version < ?",
            (*left.values(), sc_id, e.member_id, e.originator_version),
        )


def _appointment_corrected(b: Page, e: LeanEvent) -> None:
    """更正: an appointment's name and post, in place: the coverage lists show them, none counts by them."""
    fields = {name: e.changes[name] for name in ("name", "post") if name in e.changes}
    row = next((m for key, m in b.pending["members"].items() if key[0] == b.oid and key[2] == e.version), None)
    if row is not None:
        row.update(fields)
    else:
        b.update(s.sc_members, assignments(fields), "sc_id = ? AND version = ?", (*fields.values(), b.oid, e.version))


def _stage(b: Page) -> Any:
    """The page's new rows into its inserts; and, for the persons the page changes, what they contribute now."""
    pending = b.pending
    ins = b.inserts
    ins["deputies"].extend(tuple(r) for r in pending["deputies"].values())
    ins["mandates"].extend(tuple(m[c.name] for c in s.mandates.columns) for m in pending["mandates"].values())
    ins["sc_members"].extend(tuple(m[c.name] for c in s.sc_members.columns) for m in pending["members"].values())
    if b.deferred:
        return None
    persons = _changed_persons(b)
    return persons, contributions(b.conn, b.sql, persons)


def _changed_persons(b: Page) -> list[str]:
    """Persons whose records or activity the page changes (a deputy not registered here has no person yet)."""
    new = b.pending["deputies"]
    persons = {row[4] for row in new.values()}
    ids = {d for d, _ in b.years} | b.touched["mandated"] | b.touched["flagged"] | b.touched["renamed"]
    known = sorted(i for i in ids if i not in new)
    sql = f"SELECT DISTINCT person_id FROM {b.db.qualified(s.deputies)} WHERE deputy_id IN (?)"
    persons.update(r[0] for r in b.select(sql, known))
    return sorted(persons)


def _finish(b: Page, before: Any) -> None:
    """Serving flags from the mandates; activity counters per deputy and person; the person summaries' change."""
    conn, sql = b.conn, b.sql
    if b.deferred:  # nothing reads them before the end of a bulk build, which sets them all at once
        return
    mandated = b.touched["mandated"]
    if mandated:
        conn.exec_driver_sql(_serving_sql(sql, one=True), [(d, d, d, d) for d in sorted(mandated)])
    if b.pending["deputies"]:  # before this page's counters go in: they are added to the person below
        conn.exec_driver_sql(_adopt_sql(sql), [(d,) for d in sorted(b.pending["deputies"])])
    if b.years:
        keys = sorted(b.years)
        _count_visitors(b, [k for k in keys if b.years[k][VISITS]])
        conn.exec_driver_sql(sql.add(s.deputy_years), [(*k, *b.years[k]) for k in keys])
        conn.exec_driver_sql(_person_add_sql(sql), [(k[1], *b.years[k], _total(b.years[k]), k[0]) for k in keys])
    _derive_active(sql, conn, b.derive_again.pop("active", ()))
    persons, (old_sums, old_people) = before
    if not persons:
        return
    in_chunks(conn, sql, _person_marks_sql(sql, persons=True), persons, fetch=False)
    new_sums, new_people = contributions(conn, sql, persons)
    for sign, sums in ((-1, old_sums), (1, new_sums)):
        for table, rows in sums.items():
            for key, values in rows.items():
                b.add(table, key, [sign * v for v in values])
    in_chunks(conn, sql, f"DELETE FROM {sql.t(s.people)} WHERE person_id IN (?)", persons, fetch=False)
    if new_people:
        conn.exec_driver_sql(sql.insert(s.people), [new_people[p] for p in sorted(new_people)])


def _complete(projector: Any, conn: Connection) -> None:
    """The end of a bulk build (every deputy's counters are in): persons' counters, then the person summaries."""
    sql = projector.sql
    _derive_active(sql, conn, projector.derive_again.pop("active", ()))
    conn.exec_driver_sql(_serving_sql(sql, one=False))
    conn.exec_driver_sql(_person_years_sql(sql))
    conn.exec_driver_sql(_person_marks_sql(sql, persons=False))
    years = f"SELECT year, count(*) FROM {sql.t(s.deputy_years)} WHERE visits > 0 GROUP BY year"
    for year, n in conn.exec_driver_sql(years):
        add_sum(projector.deferred_sums, s.visitor_years, (year,), (n,))
    sums, people = contributions(conn, sql, None)
    for table, rows in sums.items():
        for key, values in rows.items():
            add_sum(projector.deferred_sums, table, key, values)
    if people:
        conn.exec_driver_sql(sql.insert(s.people), [people[p] for p in sorted(people)])


# ---------------------------------------------------------------------------------------- person summaries

_RECORD = (
    "person_id",
    "deputy_id",
    "area_node_id",
    "name",
    "node_id",
    "grassroots",
    "leading_cadre",
    "serving_provincial",
    "serving_local",
)
_YEAR = ("person_id", "year", "organ_contacts", "group_activities", "deeds", "reports", "total")
Sums = dict[sa.Table, dict[tuple[Any, ...], list[int]]]


def contributions(conn: Connection, sql: Statements, persons: Sequence[str] | None) -> tuple[Sums, dict[str, tuple[Any, ...]]]:
    """What the persons (None: everyone) contribute to the person summaries, and their ``people`` rows."""
    records = _rows(conn, sql, f"{sql.rows_of(s.deputies, _RECORD)} WHERE serving = TRUE", persons)
    years = _rows(conn, sql, sql.rows_of(s.person_years, _YEAR), persons)
    member: dict[str, list[tuple[str, str]]] = defaultdict(list)  # person -> (target, area) of each serving record
    people: dict[str, tuple[Any, ...]] = {}
    for r in sorted(records, key=lambda r: r[1]):  # a person's first serving record (by deputy id) is listed
        person, area = r[0], r[2]
        people.setdefault(person, (person, r[1], r[3], area, r[4]))
        member[person].extend((target, area) for target in _targets_of(r))
    population = Counter(x for memberships in member.values() for x in memberships)
    covered: Counter[tuple[Any, ...]] = Counter()
    active: Counter[tuple[Any, ...]] = Counter()
    for person, year, organ, group, deeds, _reports, total in years:
        memberships = member.get(person)
        if memberships is None:
            continue  # no serving record: in no population, not ranked
        done = {"organ": organ > 0, "group": group > 0, "deed": deeds > 0, "report": False}
        covered.update((target, year, area) for target, area in memberships if done[target])
        if total > 0:
            active[(year,)] += 1
    for person, first in {(p, report_term_start(y)) for p, y, *_, reports, _ in years if reports > 0 and p in member}:
        covered.update(("report", first, area) for target, area in member[person] if target == "report")
    sums = {s.coverage_population: population, s.coverage_covered: covered, s.duty_years: active}
    return {table: {k: [n] for k, n in counted.items() if n} for table, counted in sums.items()}, people


#: The facts that give a deputy the ``ACTIVE`` mark of a year: contacts, visits on duty, suggestions signed.
_ACTIVITY = (s.contact_deputies, s.visit_deputies, s.suggestion_signers)


def _derive_active(sql: Statements, conn: Connection, keys: Iterable[tuple[int, str]]) -> None:
    """The ``ACTIVE`` marks of these (year, deputy), derived again from the facts that hold (``mark_again``)."""
    ph = sql.ph
    union = " UNION ALL ".join(
        f"SELECT node_id, recorded_at, occurred_at, known_at FROM {sql.t(t)} WHERE year = {ph} AND deputy_id = {ph}"
        + (" AND voided_rec IS NULL" if "voided_rec" in t.c else "")
        for t in _ACTIVITY
    )
    for year, deputy in sorted(keys):
        mark_again(sql, conn, (ACTIVE, year, deputy), conn.exec_driver_sql(union, (year, deputy) * len(_ACTIVITY)).fetchall())


def _count_visitors(b: Page, keys: list[tuple[str, int]]) -> None:
    """The deputies whose visits of a year the page takes from none to some (their first visit) or from some to none
    (their visits voided), before its counters are added: visitors of the year, one more or one less."""
    if not keys:
        return
    sql = f"SELECT deputy_id, year, visits FROM {b.sql.t(s.deputy_years)} WHERE deputy_id IN (?)"
    before = {(d, y): n for d, y, n in b.select(sql, sorted({d for d, _ in keys}))}
    change: Counter[int] = Counter()
    for key in keys:
        had = before.get(key, 0)
        change[key[1]] += (had + b.years[key][VISITS] > 0) - (had > 0)
    for year, n in sorted(change.items()):
        if n:
            b.add(s.visitor_years, (year,), (n,))


def _rows(conn: Connection, sql: Statements, statement: str, persons: Sequence[str] | None) -> Sequence[Any]:
    if persons is None:
        return conn.exec_driver_sql(statement).fetchall()
    joiner = " AND " if " WHERE " in statement else " WHERE "
    return in_chunks(conn, sql, statement + joiner + "person_id IN (?)", persons)


def _targets_of(r: tuple[Any, ...]) -> list[str]:
    """The coverage targets whose population a serving record (``_RECORD``) is in."""
    targets = ["deed"]  # every serving deputy
    if r[5] and r[7]:
        targets.append("organ")  # grassroots provincial deputies
    if r[6]:
        targets.append("group")  # leading cadres
    if r[8]:
        targets.append("report")  # county and township deputies
    return targets


def _total(counters: list[int]) -> int:
    return counters[0] + counters[1] + counters[2]  # contacts + visits + suggestions


# ------------------------------------------------------------------------------------------- statements


def _serving_sql(sql: Statements, *, one: bool) -> str:
    """Deputies' serving flags, from their mandates as they are now: of ``one`` deputy (its id bound four times),
    else of every deputy."""
    deputies = sql.t(s.deputies)
    deputy = sql.ph if one else f"{deputies}.deputy_id"
    local = ", ".join(f"'{c}'" for c in LOCAL_CONGRESSES)
    in_force = (
        f"SELECT 1 FROM {sql.t(s.mandates)} m WHERE m.deputy_id = {deputy} AND m.passed = TRUE "
        "AND m.reviewed_rec IS NOT NULL AND m.terminated_rec IS NULL"
    )
    return (
        f"UPDATE {deputies} SET serving = EXISTS ({in_force}), "
        f"serving_provincial = EXISTS ({in_force} AND m.congress = '{PROVINCIAL}'), "
        f"serving_local = EXISTS ({in_force} AND m.congress IN ({local}))" + (f" WHERE deputy_id = {sql.ph}" if one else "")
    )


def _person_add_sql(sql: Statements) -> str:
    """A page's counters of a deputy, added to their person's (nothing while the deputy is not registered here)."""
    values = ", ".join([sql.ph] * (len(s.ACTIVITY_COUNTERS) + 1))
    select = f"SELECT person_id, {sql.ph}, {values} FROM {sql.t(s.deputies)} WHERE deputy_id = {sql.ph}"
    return sql.add(s.person_years, select)


def _adopt_sql(sql: Statements) -> str:
    """A deputy registered now: the counters recorded for them before, added to their person's."""
    counters = ", ".join(f"y.{c}" for c in s.ACTIVITY_COUNTERS)
    select = (
        f"SELECT d.person_id, y.year, {counters}, y.contacts + y.visits + y.suggestions FROM {sql.t(s.deputy_years)} y "
        f"JOIN {sql.t(s.deputies)} d ON d.deputy_id = y.deputy_id WHERE y.deputy_id = {sql.ph}"
    )
    return sql.add(s.person_years, select)


def _person_years_sql(sql: Statements) -> str:
    """Every person's counters from their deputies' (the end of a bulk build, into an empty table)."""
    sums = ", ".join(f"sum(y.{c})" for c in s.ACTIVITY_COUNTERS)
    columns = ", ".join([*s.ACTIVITY_COUNTERS, "total"])
    return (
        f"INSERT INTO {sql.t(s.person_years)} (person_id, year, {columns}) "
        f"SELECT d.person_id, y.year, {sums}, sum(y.contacts + y.visits + y.suggestions) FROM {sql.t(s.deputy_years)} y "
        f"JOIN {sql.t(s.deputies)} d ON d.deputy_id = y.deputy_id GROUP BY d.person_id, y.year"
    )


def _person_marks_sql(sql: Statements, *, persons: bool) -> str:
    """The persons' ``person_marks`` rows from their deputy records and the records' marks: of the persons bound to
    ``IN (?)`` (the years of each record found from its counters: every deputy mark comes with one), else everyone's."""
    later = "CASE WHEN m.first_{c} > d.{own} THEN m.first_{c} ELSE d.{own} END"
    firsts = [
        f"MIN(CASE WHEN m.mark = '{mark}' THEN {later.format(c=suffix, own=s.CLOCK_COLUMNS[by])} END)"
        for mark in s.PERSON_MARKS
        for by, suffix in s.CLOCK_SUFFIXES.items()
    ]
    names = [f"{mark}_{suffix}" for mark in s.PERSON_MARKS for suffix in s.CLOCK_SUFFIXES.values()]
    marks = ", ".join(f"'{mark}'" for mark in s.PERSON_MARKS)
    if persons:
        source = (
            f"{sql.t(s.deputies)} d JOIN {sql.t(s.deputy_years)} y ON y.deputy_id = d.deputy_id "
            f"JOIN {sql.t(s.marks)} m ON m.mark IN ({marks}) AND m.year = y.year AND m.subject_id = d.deputy_id "
            "WHERE d.person_id IN (?)"
        )
    else:
        source = f"{sql.t(s.marks)} m JOIN {sql.t(s.deputies)} d ON d.deputy_id = m.subject_id WHERE m.mark IN ({marks})"
    return (
        f"INSERT INTO {sql.t(s.person_marks)} (person_id, year, {', '.join(names)}) "
        f"SELECT d.person_id, m.year, {', '.join(firsts)} FROM {source} GROUP BY d.person_id, m.year "
        f"ON CONFLICT (person_id, year) DO UPDATE SET {', '.join(f'{n} = excluded.{n}' for n in names)}"
    )


HANDLERS: dict[type, Handler] = {
    Deputy.Registered: _deputy_registered,
    Deputy.MandateGranted: _mandate_granted,
    Deputy.CredentialsReviewed: _mandate_step("reviewed", "passed"),
    Deputy.MandateTerminated: _mandate_step("terminated", "reason"),
    Deputy.FlagsSet: _flags_set,
    Deputy.Corrected: _deputy_corrected,
    Deputy.Voided: _deputy_voided,
    StandingCommittee.Constituted: _sc_constituted,
    StandingCommittee.MemberAppointed: _member_appointed,
    StandingCommittee.MemberLeft: _member_left,
    StandingCommittee.Corrected: _appointment_corrected,
}

FAMILY = Family(HANDLERS, before=_stage, finish=_finish, complete=_complete)
