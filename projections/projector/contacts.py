"""Contacts (两个联系): organs contacting deputies and deputies contacting the public; the opinions deputies raise,
how they are handled and fed back; the first-occurrence marks behind the coverage targets, and per node and year
how many opinions were raised, handled and fed back (``opinion_years``)."""

from __future__ import annotations

from collections.abc import Sequence

from domain.contacts import Channel, ContactActivity, ContactKind, OrganiserKind
from projections import schema as s
from projections.decode import LeanEvent
from projections.projector.page import CONTACTS, OPINIONS, Family, Handler, Orphan, Page, assignments, clocks, day_of
from projections.rules import ACTIVE

#: Organs that contact deputies (the 2023 实施意见: organs' contact activities with deputies).
ORGANS = frozenset(
    {
        OrganiserKind.SC_MEMBER.value,
        OrganiserKind.CHAIR_COUNCIL.value,
        OrganiserKind.SPECIAL_COMMITTEE.value,
        OrganiserKind.SC_OFFICE.value,
        OrganiserKind.TOWNSHIP_PRESIDIUM.value,
        OrganiserKind.STREET_COMMITTEE.value,
    }
)
#: Organisers whose face-to-face contacts count for an SC member (主任会议成员 are SC members too).
SC_MEMBER_ORGANISERS = frozenset({OrganiserKind.SC_MEMBER.value, OrganiserKind.CHAIR_COUNCIL.value})
#: Who organises an SC's or a township presidium's thematic research (not deputy groups, not street committees).
RESEARCH_ORGANISERS = frozenset(
    {
        OrganiserKind.SC_MEMBER.value,
        OrganiserKind.CHAIR_COUNCIL.value,
        OrganiserKind.SPECIAL_COMMITTEE.value,
        OrganiserKind.SC_OFFICE.value,
        OrganiserKind.TOWNSHIP_PRESIDIUM.value,
    }
)
FACE_TO_FACE = frozenset(c.value for c in Channel if c.face_to_face)
ORGAN_TO_DEPUTY = frozenset({ContactKind.ORGAN_MEETING.value, ContactKind.FIELD_RESEARCH.value})
DEPUTY_MARKS = {
    ContactKind.PRACTICAL_DEED.value: "deed",
    ContactKind.GROUP_ACTIVITY.value: "group",
    ContactKind.CONSTITUENT_REPORT.value: "report",
}
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
        )
    )
    b.inserts["contact_deputies"].extend((year, d, contact_id, node, rec, occ, known) for d in deputy_ids)
    b.contacts[contact_id] = [kind, []]
    b.seen(day)
    mark, count = b.mark, b.count
    deputy_mark = DEPUTY_MARKS.get(kind)
    if deputy_mark is None and kind in ORGAN_TO_DEPUTY and organiser_kind in ORGANS:
        deputy_mark = "organ"
    if deputy_mark is None:
        for d in deputy_ids:
            count(d, year, CONTACTS)
            mark(ACTIVE, year, d, node, rec, occ, known)
    else:
        counter = COUNTER_OF_MARK[deputy_mark]
        for d in deputy_ids:
            mark(deputy_mark, year, d, node, rec, occ, known)
            count(d, year, CONTACTS, counter)
            mark(ACTIVE, year, d, node, rec, occ, known)
    if kind in ORGAN_TO_DEPUTY:
        if organiser_kind in SC_MEMBER_ORGANISERS and face:
            mark("f2f", year, f"{node}:{e.organiser_id}", node, rec, occ, known)
        if kind == "field_research" and organiser_kind in RESEARCH_ORGANISERS:
            mark("research", year, node, node, rec, occ, known)


def _opinion_raised(b: Page, e: LeanEvent) -> None:
    info = b.contacts.get(b.oid)
    if info is None:
        raise Orphan(f"contact {e.originator_id} was never recorded here")
    occ = b.occ(e)
    day = day_of(occ)
    year = int(day[:4])
    years = info[1]
    years.append(year)
    deputy_id = e.deputy_id
    key = (b.oid, len(years))
    # handling, unit and the clocks of being handled and fed back: none yet
    row = [year, *key, day, b.owner, deputy_id, info[0], e.timestamp, occ, e.known_at, *[None] * 8]
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

    def handle(b: Page, e: LeanEvent) -> None:
        info = b.contacts.get(b.oid)
        years = info[1] if info is not None else ()
        if not 0 < e.number <= len(years):
            raise Orphan(f"opinion {e.number} of contact {e.originator_id} was never raised here")
        occ = b.occ(e)
        at = (e.timestamp, occ, e.known_at)
        values = (e.handling, e.unit, *at) if step == "handled" else at
        row = b.pending["opinions"].get((b.oid, e.number))
        if row is not None:
            row[first : first + len(values)] = values
        else:
            b.update(s.opinions, assignments(columns), "contact_id = ? AND number = ?", (*values, b.oid, e.number), keyed=True)
        b.add(s.opinion_years, (years[e.number - 1], b.owner), counted)

    return handle


def _load_contacts(b: Page, ids: Sequence[str]) -> None:
    for contact_id, kind in b.select(f"SELECT contact_id, kind FROM {b.db.qualified(s.contacts)} WHERE contact_id IN (?)", ids):
        b.contacts[contact_id] = [kind, []]
    sql = f"SELECT contact_id, year FROM {b.db.qualified(s.opinions)} WHERE contact_id IN (?) ORDER BY contact_id, number"
    for contact_id, year in b.select(sql, ids):
        b.contacts[contact_id][1].append(year)


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


HANDLERS: dict[type, Handler] = {
    ContactActivity.Recorded: _contact_recorded,
    ContactActivity.OpinionRaised: _opinion_raised,
    ContactActivity.OpinionHandled: _opinion_step("handled"),
    ContactActivity.OpinionFedBack: _opinion_step("fed_back"),
    ContactActivity.Corrected: _contact_corrected,
}

FAMILY = Family(
    HANDLERS,
    prefetch={cls: "contacts" for cls in HANDLERS},  # a contact's kind, and the year of each of its opinions
    loaders={"contacts": _load_contacts},
)
