"""Stored events through a real SQLite node store: a v1 ``Suggestion.Submitted`` upcast on read, and names outside
the Basic Multilingual Plane surviving the round trip."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

from domain.base import Attribution, NodeRef
from domain.contacts import ContactActivity
from domain.deputies import Deputy
from domain.livelihood import LivelihoodProject
from domain.personal import mask_name
from domain.stations import Station
from domain.store import NodeStore
from domain.suggestions import Suggestion, SuggestionState
from domain.visits import StationVisit
from tests.unit.conftest import as_deputy

LEAD, CO = UUID(int=41), UUID(int=42)
TOPIC = "domain.suggestions:Suggestion.Submitted"


def submit(owner: NodeRef, by: Attribution, **kw: Any) -> Suggestion:
    args: dict[str, Any] = {
        "number": "0007",
        "congress": "county",
        "term": 18,
        "session": 3,
        "title": "关于改善山区学校寄宿条件的建议",
        "content": "……",
        "category": "教育",
        "lead_deputy_id": LEAD,
        "co_deputy_ids": [CO],
    }
    args.update(kw)
    return Suggestion.submit(owner, by, **args)


def as_v1(store: NodeStore, event: Any) -> StoredEvent:
    """Store the event as the code before class_version 2 did: one ``deputy_id``, no co-signers, no class_version."""
    v2 = store.mapper.to_stored_event(event)
    state = json.loads(v2.state)
    assert state.pop("class_version") == 2
    state["deputy_id"] = state.pop("lead_deputy_id")
    del state["co_deputy_ids"]
    return StoredEvent(
        originator_id=v2.originator_id,
        originator_version=v2.originator_version,
        topic=v2.topic,
        state=json.dumps(state, separators=(",", ":"), ensure_ascii=False).encode("utf-8"),
    )


# ------------------------------------------------------------------------------------------------- upcast


def test_upcast_function_renames_the_deputy_and_adds_no_co_signers() -> None:
    state: dict[str, Any] = {"deputy_id": LEAD, "title": "x"}
    Suggestion.Submitted.upcast_v1_v2(state)
    assert state == {"lead_deputy_id": LEAD, "co_deputy_ids": [], "title": "x"}
    assert Suggestion.Submitted.class_version == 2


def test_v2_events_are_stored_with_their_class_version(
    county: NodeRef, clerk: Attribution, open_store: Callable[[NodeRef], NodeStore]
) -> None:
    store = open_store(county)
    suggestion = submit(county, clerk)
    suggestion.assign(clerk, lead_unit="县教育局", due_on=date(2025, 6, 30))
    store.save(suggestion)
    submitted, assigned = (json.loads(e.state) for e in store.recorder.select_events(suggestion.id))
    assert submitted["class_version"] == 2 and "deputy_id" not in submitted
    assert submitted["lead_deputy_id"] == {"_type_": "uuid_hex", "_data_": LEAD.hex}
    assert "class_version" not in assigned  # events without versions stay at the implicit version 1


def test_a_stored_v1_submission_is_read_as_v2(
    county: NodeRef, clerk: Attribution, open_store: Callable[[NodeRef], NodeStore]
) -> None:
    store = open_store(county)
    suggestion = submit(county, clerk)
    [created] = suggestion.collect_events()
    store.recorder.insert_events([as_v1(store, created)])

    [raw] = store.recorder.select_events(suggestion.id)
    raw_state = json.loads(raw.state)
    assert raw.topic == TOPIC and raw_state["deputy_id"] == {"_type_": "uuid_hex", "_data_": LEAD.hex}
    assert {"class_version", "lead_deputy_id", "co_deputy_ids"}.isdisjoint(raw_state)

    [event] = store.history(suggestion.id)
    assert isinstance(event, Suggestion.Submitted)
    assert (event.lead_deputy_id, event.co_deputy_ids) == (LEAD, [])

    old = store.get(suggestion.id)
    assert isinstance(old, Suggestion)
    assert old.lead_deputy_id == LEAD
    assert old.co_deputy_ids == []
    assert (old.state, old.number, old.title, old.version) == (SuggestionState.SUBMITTED, "0007", suggestion.title, 1)


def test_an_upcast_suggestion_lives_on_and_mixes_versions(
    county: NodeRef, clerk: Attribution, open_store: Callable[[NodeRef], NodeStore]
) -> None:
    store = open_store(county)
    suggestion = submit(county, clerk)
    [created] = suggestion.collect_events()
    store.recorder.insert_events([as_v1(store, created)])

    old: Suggestion = store.get(suggestion.id)
    old.assign(clerk, lead_unit="县教育局", due_on=date(2025, 6, 30))
    old.start_handling(clerk, contacted_on=date(2025, 4, 1))
    old.reply(clerk, category="A", text="已改善", replied_on=date(2025, 6, 1))
    later = datetime(2025, 6, 2, 10, tzinfo=clerk.occurred_at.tzinfo)
    old.evaluate(as_deputy(LEAD, later), deputy_id=LEAD, evaluation="satisfied")  # the upcast lead deputy evaluates
    old.close(Attribution(clerk.actor, clerk.role, later))
    store.save(old)

    again: Suggestion = store.get(suggestion.id)
    assert again == old
    assert (again.state, again.lead_deputy_id, again.co_deputy_ids, again.version) == (SuggestionState.CLOSED, LEAD, [], 6)
    first = json.loads(next(iter(store.recorder.select_events(suggestion.id))).state)
    assert "class_version" not in first and "deputy_id" in first  # the old event is never rewritten


def test_a_reopened_store_upcasts_too(county: NodeRef, clerk: Attribution, open_store: Callable[[NodeRef], NodeStore]) -> None:
    store = open_store(county)
    suggestion = submit(county, clerk, co_deputy_ids=None)
    [created] = suggestion.collect_events()
    store.recorder.insert_events([as_v1(store, created)])
    store.close()
    reopened = open_store(county)
    assert reopened.get(suggestion.id).lead_deputy_id == LEAD


# ------------------------------------------------------------------------------------ names outside the BMP


@pytest.mark.parametrize("where", ["ethnic_township", "zhuoxi_township"])
def test_names_outside_the_bmp_survive_the_store(
    request, clerk: Attribution, open_store: Callable[[NodeRef], NodeStore], where: str
) -> None:
    place: NodeRef = request.getfixturevalue(where)
    name = place.name
    assert any(ord(c) > 0xFFFF for c in name)

    deputy = Deputy.register(place, clerk, person_id=f"{place.code}-01", name="盘秀英", gender="女", unit=f"{name}人民政府")
    deputy.grant_mandate(place, clerk, congress="township", term=18, elected_by=f"{name}第一选区", delegation=name)
    station = Station.establish(place, clerk, name=f"{name}人大代表联络站", address=f"湖南省{name}政府大院")
    station.enrol(clerk, deputy_id=deputy.id, deputy_name=deputy.name, congress="township")
    visit = StationVisit.record_visit(
        place, clerk, station=station, visit_date=date(2025, 3, 8), deputy_ids=[deputy.id], people_received=4
    )
    visit.raise_issue(clerk, summary=f"{name}集镇路灯损坏", category="基础设施", raised_by_name=f"{name}村民")
    contact = ContactActivity.record_contact(
        place,
        clerk,
        kind="field_research",
        channel="field_research",
        title=f"{name}主席团专题调研",
        held_on=date(2025, 3, 1),
        organiser_kind="township_presidium",
        organiser=f"{name}人大主席团",
        deputy_ids=[deputy.id],
    )
    contact.raise_opinion(clerk, text=f"建议{name}加快饮水工程", deputy_id=deputy.id)
    suggestion = Suggestion.submit(
        place,
        clerk,
        number="001",
        congress="township",
        term=18,
        session=2,
        title=f"关于{name}通村公路的建议",
        content=f"{name}……",
        category="交通",
        lead_deputy_id=deputy.id,
    )
    project = LivelihoodProject.propose(place, clerk, year=2025, title=f"{name}集镇供水工程", category="民生")
    project.list_as_candidate(clerk, estimate_wan=Decimal("88.8"))
    expected: dict[UUID, dict[str, Any]] = {
        deputy.id: {"unit": f"{name}人民政府", "mandates": deputy.mandates},
        station.id: {"name": f"{name}人大代表联络站", "address": f"湖南省{name}政府大院"},
        visit.id: {"issues": [{**visit.issues[0], "raised_by_name": mask_name(f"{name}村民")}]},  # stored sealed
        contact.id: {"title": f"{name}主席团专题调研", "organiser": f"{name}人大主席团", "opinions": contact.opinions},
        suggestion.id: {"title": f"关于{name}通村公路的建议"},
        project.id: {"title": f"{name}集镇供水工程"},
    }
    live = [deputy, station, visit, contact, suggestion, project]
    store = open_store(place)
    store.save_all(live)
    store.close()

    reopened = open_store(place)  # a fresh connection: nothing comes from memory
    for aggregate in live:
        stored = reopened.get(aggregate.id)
        assert stored == aggregate or aggregate is visit
        for field, value in expected[aggregate.id].items():
            assert getattr(stored, field) == value
    assert len(reopened.get(project.id).title) == len(f"{name}集镇供水工程")  # no surrogate halves
    opened, status = reopened.reveal(reopened.history(visit.id)[1])
    assert (status, opened.raised_by_name) == ("opened", f"{name}村民")  # sealed and opened whole

    [created, granted] = reopened.history(deputy.id)
    assert (created.unit, granted.elected_by, granted.delegation) == (f"{name}人民政府", f"{name}第一选区", name)
    raw = b"".join(e.state for e in reopened.recorder.select_events(deputy.id))
    assert name.encode("utf-8") in raw  # stored as UTF-8 (4 bytes for the non-BMP character), not as escapes


# ----------------------------------------------------------------------------------- the projector's decoder


def test_the_projectors_lean_decoder_upcasts_through_the_store(
    county: NodeRef, clerk: Attribution, open_store: Callable[[NodeRef], NodeStore]
) -> None:
    """A v1 submission cannot take the decoder's fast path: it goes through the store's upcaster and reads as v2."""
    from projections.decode import LeanDecoder

    store = open_store(county)
    old, new = submit(county, clerk), submit(county, clerk, number="0008")
    store.recorder.insert_events([as_v1(store, old.collect_events()[0])])
    store.save(new)
    decoder = LeanDecoder(store.mapper)
    lean = {n.originator_id: decoder.decode(n) for n in store.iter_notifications()}
    assert (lean[old.id].lead_deputy_id, lean[old.id].co_deputy_ids) == (LEAD.hex, [])
    assert (lean[new.id].lead_deputy_id, lean[new.id].co_deputy_ids) == (LEAD.hex, [CO.hex])
    assert lean[old.id].originator_id == old.id.hex and lean[old.id].originator_version == 1
    assert {k for k in vars(lean[old.id]) if k != "number"} == {k for k in vars(lean[new.id]) if k != "number"}


def test_the_lean_decoder_reads_every_event_as_the_mapper_does(
    county: NodeRef, clerk: Attribution, open_store: Callable[[NodeRef], NodeStore]
) -> None:
    """Fast path and mapper path give the same fields and values, for every kind of event the simulator records."""
    from domain.simulation import simulate
    from projections.decode import LeanDecoder, lean_value

    store = open_store(county)
    for batch in simulate([county], days=40, start=date(2025, 3, 1), seed=5, scale=0.3):
        store.save_all(batch.aggregates)
    decoder = LeanDecoder(store.mapper)
    topics = set()
    for n in store.iter_notifications():
        slow = {k: lean_value(v) for k, v in vars(store.mapper.to_domain_event(n)).items()}
        assert vars(decoder.decode(n)) == slow, n.topic
        topics.add(n.topic)
    assert len(topics) >= 10  # the comparison covered many event types, not one
