"""Schemathesis over the whole OpenAPI of a gateway: no server error, and no answer that breaks the schema.

Bounded: a few dozen generated requests per operation (``YIPANQI_SCHEMATHESIS_EXAMPLES``, default 25), positive and
negative data, on real SQLite stores with simulated data. The node code is drawn from the served nodes and the
path ids, half the time, from aggregates that exist, so requests reach the domain instead of stopping at 404.
"""

from __future__ import annotations

import atexit
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from domain.hierarchy import Hierarchy
from domain.store import NodeStore, StoreSettings
from gateways.api import create_app
from gateways.api.devtools import issue_tokens, seed

CODES = ("430582", "430582204")
EXAMPLES = int(os.environ.get("YIPANQI_SCHEMATHESIS_EXAMPLES", "25"))

_data = Path(tempfile.mkdtemp(prefix="yipanqi-schemathesis-"))
atexit.register(shutil.rmtree, _data, True)  # made at import (the schema is read from the app at collection)
_settings = StoreSettings(store="sqlite", data_dir=_data)
_hierarchy = Hierarchy.load()
seed(_settings, CODES, days=3, seed=5, scale=0.05, hierarchy=_hierarchy)
_tokens = issue_tokens(_settings, CODES, ("administrator",), _hierarchy)


def _known_ids() -> list[str]:
    ids: list[str] = []
    for code in CODES:
        store = NodeStore(_hierarchy.ref(_hierarchy.by_code(code)), _settings)
        try:
            ids += sorted({str(n.originator_id) for n in store.iter_notifications()})[:40]
        finally:
            store.close()
    return ids


_IDS = _known_ids()
app = create_app(CODES, settings=_settings, hierarchy=_hierarchy)
schema = schemathesis.openapi.from_asgi("/openapi.json", app)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_server_error_and_no_answer_breaks_the_schema(case: Any) -> None:
    # Steered by the generated case itself (deterministic under derandomize): which node, and whether the path's ids
    # name aggregates that exist.
    pick = random.Random(repr((case.path_parameters, case.query, case.body)))
    code = pick.choice(CODES)
    negative = case.meta is not None and case.meta.generation.mode.is_negative
    if case.path_parameters and not negative:
        if "code" in case.path_parameters and pick.random() < 0.9:
            case.path_parameters["code"] = code
        if pick.random() < 0.5:
            real_id = pick.choice(_IDS)
            for name in case.path_parameters:
                if name.endswith("_id"):
                    case.path_parameters[name] = real_id
    token_code = case.path_parameters.get("code", code) if case.path_parameters else code
    token = _tokens.get((token_code, "administrator"), _tokens[(code, "administrator")])
    case.call_and_validate(headers={"Authorization": f"Bearer {token}"}, checks=CHECKS)
