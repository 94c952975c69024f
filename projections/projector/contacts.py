"""Contacts (两个联系): organs contacting deputies and deputies contacting the public; the opinions deputies raise,
how they are handled and fed back; the first-occurrence marks behind the coverage targets, and per node and year
how many opinions were raised, handled and fed back (``opinion_years``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from domain.contacts import ContactActivity
from projections import schema as s
from projections.decode import LeanEvent
from projections.projector.page import (
    CONTACTS,
    OPINIONS,
    Family,
    Handler,
    Orphan,
    Page,
    assignments,
    clocks,
    day_of,
    mark_again,
)
from projections.projector.statements import Statements
from projections.rules import (
    ACTIVE,
    FACE_TO_FACE,
    deputy_mark,
    organiser_marks,
)

#: Where the contacts behind each mark are counted in a ``deputy_years`` row (``schema.ACTIVITY_COUNTERS``).
COUNTER_OF_MARK = {"deed": 4, "group": 5, "organ": 6, "report": 7}


def _contact_recorded(b: Page, e: LeanEvent) -> None:
    rec, occ, known = e.timestamp, b.occ(e), e.known_at
    contact_id, node = b.oid, b.owner
    kind, channel, organiser_kind = e.kind, e.channel, e.organiser_kind
    day = e.held_on
    year = int(day[:4])
    face = channel in FACE_TO_FACE
    deputy_ids = list(dict.fromkeys(e.deputy_ids))  # the domain lists each once; a key must not repeat regardless
    b.inserts["contacts"].append(
        (
            contact_id,
            node,
            kind,
            channel,
            face,
            organiser_kind,
            e.organiser,
            e.organiser_id,
            e.title,
            day,
            year,
            e.public_count,
            len(e.deputy_ids),
            rec,
            occ,
            known,
            *_HOLDS,
        )
    )
    b.inserts["contact_deputies"].extend((year, d, contact_id, node, rec, occ, known, *_HOLDS) for d in deputy_ids)
    b.contacts[contact_id] = [kind, []]
    b.seen(day)
    mark, count = b.mark, b.count
    given = deputy_mark(kind, organiser_kind)
    if given is None:
        for d in deputy_ids:
            count(d, year, CONTACTS)
            mark(ACTIVE, year, d, node, rec, occ, known)
    else:
        counter = COUNTER_OF_MARK[given]
        for d in deputy_ids:
            mark(given, year, d, node, rec, occ, known)
            count(d, year, CONTACTS, counter)
            mark(ACTIVE, year, d, node, rec, occ, known)
    for body_mark, subject in organiser_marks(node, kind, organiser_kind, e.organiser_id, face):
        mark(body_mark, year, subject, node, rec, occ, known)


def _opinion_raised(b: Page, e: LeanEvent) -> None:
    info = b.contacts.get(b.oid)
    if info is None:
        raise Orphan(f"contact {e.originator_id} was never recorded here")
    occ = b.occ(e)
    day = day_of(occ)
    year = int(day[:4])
    opinions = info[1]
    deputy_id = e.deputy_id
    opinions.append([year, deputy_id, False, False])
    key = (b.oid, len(opinions))
    # handling, unit, the clocks of being handled and fed back, and of the contact's void: none yet
    row = [year, *key, day, b.owner, deputy_id, info[0], e.timestamp, occ, e.known_at, *[None] * 11]
    b.pending["opinions"][key] = row
    b.inserts["opinions"].append(row)  # type: ignore[arg-type]  # a list: it may be handled within the page
    b.inserts["opinion_texts"].append((*key, e.text))
    b.add(s.opinion_years, (year, b.owner), (1, 0, 0))
    if deputy_id is not None:
        b.count(deputy_id, year, OPINIONS)


def _opinion_step(step: str) -> Handler:
    """An opinion handled or fed back: on its row, and counted under the year the opinion was raised in."""
    columns = ("handling", "unit", *clocks("handled")) if step == "handled" else tuple(clocks("fed"))
    first = [c.name for c in s.opinions.columns].index(columns[0])  # where they are in an opinions row
    counted = (0, 1, 0) if step == "handled" else (0, 0, 1)
    flag = 2 if step == "handled" else 3  # in the contact's opinion (``_load_contacts``)

    def handle(b: Page, e: LeanEvent) -> None:
        info = b.contacts.get(b.oid)
        opinions = info[1] if info is not None else ()
        if not 0 < e.number <= len(opinions):
            raise Orphan(f"opinion {e.number} of contact {e.originator_id} was never raised here")
        opinion = opinions[e.number - 1]
        opinion[flag] = True
        occ = b.occ(e)
        at = (e.timestamp, occ, e.known_at)
        values = (e.handling, e.unit, *at) if step == "handled" else at
        row = b.pending["opinions"].get((b.oid, e.number))
        if row is not None:
            row[first : first + len(values)] = values
        else:
            b.update(s.opinions, assignments(columns), "contact_id = ? AND number = ?", (*values, b.oid, e.number), keyed=True)
        b.add(s.opinion_years, (opinion[0], b.owner), counted)

    return handle


def _load_contacts(b: Page, ids: Sequence[str]) -> None:
    """Each contact's kind and its opinions: [year, deputy, handled, fed back] (what a void takes back)."""
    for contact_id, kind in b.select(f"SELECT contact_id, kind FROM {b.db.qualified(s.contacts)} WHERE contact_id IN (?)", ids):
        b.contacts[contact_id] = [kind, []]
    sql = (
        f"SELECT contact_id, year, deputy_id, handled_rec IS NOT NULL, fed_rec IS NOT NULL FROM {b.db.qualified(s.opinions)} "
        "WHERE contact_id IN (?) ORDER BY contact_id, number"
    )
    for contact_id, year, deputy_id, handled, fed in b.select(sql, ids):
        b.contacts[contact_id][1].append([year, deputy_id, bool(handled), bool(fed)])


def _contact_corrected(b: Page, e: LeanEvent) -> None:
    """更正: a contact's title, organiser and public count, an opinion's text, in place: the views list them (the current
    ones at any cut) and count none of them."""
    if b.oid not in b.contacts:
        raise Orphan(f"contact {e.originator_id} was never recorded here")
    if e.fact == "opinion":
        b.update(s.opinion_texts, "text = ?", "contact_id = ? AND number = ?", (e.changes["text"], b.oid, e.number))
        return
    fields = {name: e.changes[name] for name in ("title", "organiser", "public_count") if name in e.changes}
    b.update(s.contacts, assignments(fields), "contact_id = ?", (*fields.values(), b.oid))


def _contact_voided(b: Page, e: LeanEvent) -> None:
    """作废: the contact's rows (its deputies, its opinions) stop holding; what it counted is taken back, and the marks
    it may have set (first times by each clock) are derived again from the contacts that hold, at the page's end."""
    info = b.contacts.get(b.oid)
    if info is None:
        raise Orphan(f"contact {e.originator_id} was never recorded here")
    row, deputies = _holding(b)
    node, kind, organiser_kind, organiser_id, face, year = (row[_CONTACT[c]] for c in _VOIDED_BY)
    for table in (s.contacts, s.opinions):
        b.stop_holding(table, "contact_id = ?", (b.oid,), e)
    b.stop_holding(s.contact_deputies, "year = ? AND contact_id = ?", (year, b.oid), e)  # by its key's first column
    given = deputy_mark(kind, organiser_kind)
    also = None if given is None else COUNTER_OF_MARK[given]
    again = b.derive_again
    for d in deputies:
        b.count(d, year, CONTACTS, also, n=-1)
        if given is not None:
            again["marks"].add((given, year, d))
    again["active"].update((year, d) for d in deputies)
    again["marks"].update(
        (mark, year, subject) for mark, subject in organiser_marks(node, kind, organiser_kind, organiser_id, face)
    )
    for opinion_year, deputy_id, handled, fed in info[1]:
        b.add(s.opinion_years, (opinion_year, node), (-1, -int(handled), -int(fed)))
        if deputy_id is not None:
            b.count(deputy_id, opinion_year, OPINIONS, n=-1)


#: Positions in a ``contacts`` row, and the columns a void reads of it.
_CONTACT = {c.name: i for i, c in enumerate(s.contacts.columns)}
_VOIDED_BY = ("node_id", "kind", "organiser_kind", "organiser_id", "face_to_face", "year")
_HOLDS = (None, None, None)  # a row's voided clocks while it holds


def _holding(b: Page) -> tuple[Sequence[Any], list[str]]:
    """The contact's row and its deputies: this page's (its rows are not in the database yet), else the database's.
    Voids are rare: scanning the page's rows for them costs nothing on the way of every contact."""
    ph, contact = b.sql.ph, (b.oid,)
    mine = [r for r in b.inserts["contacts"] if r[0] == b.oid]
    if mine:
        row: Sequence[Any] = mine[0]
    else:
        row = b.conn.exec_driver_sql(f"{b.sql.rows_of(s.contacts, list(_CONTACT))} WHERE contact_id = {ph}", contact).one()
    deputies = [r[1] for r in b.inserts["contact_deputies"] if r[2] == b.oid]
    if not deputies:  # by year first: the table's key starts with it
        sql = f"SELECT deputy_id FROM {b.sql.t(s.contact_deputies)} WHERE year = {ph} AND contact_id = {ph}"
        deputies = [r[0] for r in b.conn.exec_driver_sql(sql, (row[_CONTACT["year"]], b.oid))]
    return row, deputies


def _derive_marks(sql: Statements, conn: Connection, keys: Iterable[tuple[str, int, str]]) -> None:
    """The marks a void may have taken the first time of, derived again from the contacts that hold (``mark_again``),
    by the same rules that set them (``rules.deputy_mark``, ``rules.organiser_marks``). A deputy's person's first marks
    are left to be derived again from their records' marks (``projector.deputies``, which writes only the rows it
    finds: one whose last mark went would stay, so it goes here)."""
    ph, c, cd = sql.ph, sql.t(s.contacts), sql.t(s.contact_deputies)
    clocks = "c.node_id, c.recorded_at, c.occurred_at, c.known_at"
    of_deputy = (
        f"SELECT {clocks}, c.kind, c.organiser_kind FROM {cd} cd JOIN {c} c ON c.contact_id = cd.contact_id "
        f"WHERE cd.year = {ph} AND cd.deputy_id = {ph} AND cd.voided_rec IS NULL"
    )
    of_node = (
        f"SELECT {clocks}, c.kind, c.organiser_kind, c.organiser_id, c.face_to_face FROM {c} c "
        f"WHERE c.year = {ph} AND c.node_id = {ph} AND c.voided_rec IS NULL"
    )
    forget = (
        f"DELETE FROM {sql.t(s.person_marks)} WHERE year = {ph} "
        f"AND person_id IN (SELECT person_id FROM {sql.t(s.deputies)} WHERE deputy_id = {ph})"
    )
    for mark, year, subject in sorted(keys):
        if mark in ("f2f", "research"):
            node = subject.split(":", 1)[0]  # f2f: "<node>:<member>"; research: "<node>"
            rows = conn.exec_driver_sql(of_node, (year, node)).fetchall()
            facts = [r[:4] for r in rows if (mark, subject) in organiser_marks(node, *r[4:])]
        else:
            rows = conn.exec_driver_sql(of_deputy, (year, subject)).fetchall()
            facts = [r[:4] for r in rows if deputy_mark(r[4], r[5]) == mark]
            conn.exec_driver_sql(forget, (year, subject))
        mark_again(sql, conn, (mark, year, subject), facts)


def _finish(b: Page, _: Any) -> None:
    """The marks voids took the first time of, derived again (before the deputies' step reads them for persons); a
    bulk build derives them at its end."""
    if not b.deferred:
        _derive_marks(b.sql, b.conn, b.derive_again.pop("marks", ()))


def _complete(projector: Any, conn: Connection) -> None:
    _derive_marks(projector.sql, conn, projector.derive_again.pop("marks", ()))


HANDLERS: dict[type, Handler] = {
    ContactActivity.Recorded: _contact_recorded,
    ContactActivity.OpinionRaised: _opinion_raised,
    ContactActivity.OpinionHandled: _opinion_step("handled"),
    ContactActivity.OpinionFedBack: _opinion_step("fed_back"),
    ContactActivity.Corrected: _contact_corrected,
    ContactActivity.Voided: _contact_voided,
}

FAMILY = Family(
    HANDLERS,
    prefetch={cls: "contacts" for cls in HANDLERS},  # a contact's kind, and the year of each of its opinions
    loaders={"contacts": _load_contacts},
    finish=_finish,
    complete=_complete,
)
