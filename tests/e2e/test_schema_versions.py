"""A township on an older event-schema version: its v1 ``Suggestion.Submitted`` (one ``deputy_id``, no co-signers, no
``class_version``) travels up three levels byte for byte, and the province reads it through the upcaster.

The four levels (江口镇 → 洞口县 → 邵阳市 → 湖南省) run in one in-process SyncHost on the real broker.
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from domain.base import Attribution, Role
from domain.store import NodeStore, StoreSettings
from domain.suggestions import Suggestion, SuggestionState
from sync.host import SyncHost
from sync.settings import SyncSettings
from tests.sync_helpers import DONGKOU, JIANGKOU, PROVINCE, SHAOYANG, Activity, children_within, parent_of, ref, refs
from tests.unit.test_upcast import CO, LEAD, TOPIC, as_v1

pytestmark = pytest.mark.kafka

CODES = (PROVINCE, SHAOYANG, DONGKOU, JIANGKOU)
CLERK = Attribution("clerk-430525101-01", Role.RECORDER, datetime(2025, 3, 20, 10, 0, tzinfo=timezone(timedelta(hours=8))))


def test_v1_event_flows_up_verbatim_and_is_upcast_at_the_province(
    sqlite_settings: StoreSettings, sync_settings: SyncSettings, ledger_for: Any
) -> None:
    with Activity(sqlite_settings, CODES, days=10, seed=61, scale=0.1) as activity:
        activity.write()
    township = NodeStore(ref(JIANGKOU), sqlite_settings)
    suggestion = Suggestion.submit(
        ref(JIANGKOU),
        CLERK,
        number="v1-0007",
        congress="township",
        term=18,
        session=2,
        title="关于江口镇集镇污水管网改造的建议",
        content="……",
        category="环境",
        lead_deputy_id=LEAD,
        co_deputy_ids=[CO],
    )
    [created] = suggestion.collect_events()
    v1 = as_v1(township, created)  # what the older version of the township's code stored
    township.recorder.insert_events([v1])
    later: Suggestion = township.get(suggestion.id)  # the township (upgraded meanwhile) goes on with it
    later.assign(CLERK, lead_unit="镇城建办", due_on=date(2025, 6, 30))
    township.save(later)
    township.close()

    stores = [NodeStore(r, sqlite_settings) for r in refs(CODES)]
    host = SyncHost(
        bootstrap=sync_settings.kafka, stores=stores, children=children_within(CODES), parent=parent_of, settings=sync_settings
    )
    ledger = ledger_for(sqlite_settings, CODES)
    try:
        deadline = time.monotonic() + 60
        while not ledger.report().ok and time.monotonic() < deadline:
            host.run_once()
    finally:
        host.close()
        for store in stores:
            store.close()
    ledger.assert_nothing_lost_nothing_duplicated()

    for code in (DONGKOU, SHAOYANG, PROVINCE):
        [first, second] = [row for row in ledger.logs()[code] if row[0] == suggestion.id]
        assert first == (v1.originator_id, 1, TOPIC, v1.state)  # byte for byte, still v1
        state = json.loads(first[3])
        assert "class_version" not in state and "co_deputy_ids" not in state and "deputy_id" in state
        assert second[1] == 2
    province = NodeStore(ref(PROVINCE), sqlite_settings)
    try:
        upcast: Suggestion = province.get(suggestion.id)
        assert (upcast.lead_deputy_id, upcast.co_deputy_ids) == (LEAD, [])
        assert (upcast.state, upcast.version, upcast.title) == (SuggestionState.ASSIGNED, 2, suggestion.title)
        [submitted, _] = province.history(suggestion.id)
        assert isinstance(submitted, Suggestion.Submitted) and submitted.lead_deputy_id == LEAD
    finally:
        province.close()
