"""Shared fixtures for the domain unit tests: real Hunan nodes, attributions, and a rejection checker.

Every rejection test goes through ``rejects`` (a command on an existing aggregate) or ``refused`` (a factory that
must not create one): both assert the ``DomainError`` names the right aggregate, state and rule, and ``rejects``
also asserts that nothing was recorded (pending events, version and state unchanged).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from domain.base import Attribution, DomainError, DutyAggregate, NodeRef, Role
from domain.hierarchy import division_id
from domain.levels import DivisionKind, Level
from domain.store import NodeStore, StoreSettings

CST = timezone(timedelta(hours=8), "CST")
NOW = datetime(2025, 3, 10, 9, 30, tzinfo=CST)


def node(code: str, name: str, level: Level, kind: DivisionKind) -> NodeRef:
    return NodeRef(division_id(code), code, name, level, kind)


# ------------------------------------------------------------------------------------------------- nodes


@pytest.fixture
def province() -> NodeRef:
    return node("430000", "湖南省", Level.PROVINCE, DivisionKind.PROVINCE)


@pytest.fixture
def prefecture() -> NodeRef:
    return node("430500", "邵阳市", Level.PREFECTURE, DivisionKind.PREFECTURE_CITY)


@pytest.fixture
def county() -> NodeRef:
    return node("430525", "洞口县", Level.COUNTY, DivisionKind.COUNTY)


@pytest.fixture
def other_county() -> NodeRef:
    return node("430582", "邵东市", Level.COUNTY, DivisionKind.COUNTY_CITY)


@pytest.fixture
def town() -> NodeRef:
    return node("430525101", "江口镇", Level.TOWNSHIP, DivisionKind.TOWN)


@pytest.fixture
def street() -> NodeRef:
    return node("430525001", "文昌街道", Level.TOWNSHIP, DivisionKind.STREET)


@pytest.fixture
def ethnic_township() -> NodeRef:
    """𦰡溪瑶族乡: its first character is outside the Basic Multilingual Plane."""
    return node("430525203", "𦰡溪瑶族乡", Level.TOWNSHIP, DivisionKind.ETHNIC_TOWNSHIP)


@pytest.fixture
def zhuoxi_township() -> NodeRef:
    """斫𥕢乡: its second character is outside the Basic Multilingual Plane."""
    return node("430582204", "斫𥕢乡", Level.TOWNSHIP, DivisionKind.TOWNSHIP)


# ------------------------------------------------------------------------------------------ attributions


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def clerk() -> Attribution:
    """The deputy-affairs office's recorder account."""
    return Attribution("office-clerk-01", Role.RECORDER, NOW)


@pytest.fixture
def admin() -> Attribution:
    return Attribution("office-admin-01", Role.ADMINISTRATOR, NOW)


@pytest.fixture
def system() -> Attribution:
    return Attribution.system(NOW)


def as_deputy(deputy_id: UUID, at: datetime = NOW) -> Attribution:
    """A deputy recording from their own account (actor = their deputy id)."""
    return Attribution(str(deputy_id), Role.DEPUTY, at)


@pytest.fixture
def deputy_account() -> Callable[..., Attribution]:
    return as_deputy


# ---------------------------------------------------------------------------------------------- rejections


def snapshot(aggregate: DutyAggregate) -> dict[str, Any]:
    return copy.deepcopy({k: v for k, v in vars(aggregate).items() if k != "_pending_events"})


def check_rejected(
    aggregate: DutyAggregate,
    command: Callable[[], object],
    *,
    state: str,
    rule: str,
    named: str | None = None,
    untouched: Sequence[DutyAggregate] = (),
) -> DomainError:
    """Run ``command``; it must raise a DomainError naming ``named`` (default: this aggregate), ``state`` and a rule
    containing ``rule``, and neither ``aggregate`` nor any of ``untouched`` may have recorded anything."""
    watched = [aggregate, *untouched]
    before = [(len(a.pending_events), a.version, snapshot(a)) for a in watched]
    with pytest.raises(DomainError) as raised:
        command()
    error = raised.value
    after = [(len(a.pending_events), a.version, snapshot(a)) for a in watched]
    assert after == before, "a rejected command recorded something"
    assert rule in error.rule, f"rule {error.rule!r} does not say {rule!r}"
    assert error.aggregate == (named if named is not None else f"{aggregate.label} {aggregate.id}")
    assert error.state == state
    assert str(error) == f"{error.aggregate} [{error.state}]: {error.rule}"
    assert error.as_dict() == {"aggregate": error.aggregate, "state": error.state, "rule": error.rule}
    return error


def check_records_nothing(aggregate: DutyAggregate, command: Callable[[], object], *, rule: str) -> DomainError:
    """A rejection checked by its rule, and that it recorded nothing."""
    before = (len(aggregate.pending_events), aggregate.version, snapshot(aggregate))
    with pytest.raises(DomainError) as raised:
        command()
    assert (len(aggregate.pending_events), aggregate.version, snapshot(aggregate)) == before
    assert rule in raised.value.rule, f"rule {raised.value.rule!r} does not say {rule!r}"
    return raised.value


def check_refused(command: Callable[[], object], *, named: str, rule: str) -> DomainError:
    """A factory that must not create the aggregate: the error names it and state ``new``."""
    with pytest.raises(DomainError) as raised:
        command()
    error = raised.value
    assert rule in error.rule, f"rule {error.rule!r} does not say {rule!r}"
    assert error.aggregate == named
    assert error.state == "new"
    return error


@pytest.fixture
def rejects() -> Callable[..., DomainError]:
    return check_rejected


@pytest.fixture
def records_nothing() -> Callable[..., DomainError]:
    return check_records_nothing


@pytest.fixture
def refused() -> Callable[..., DomainError]:
    return check_refused


# ---------------------------------------------------------------------------------------------------- stores


@pytest.fixture
def open_store(tmp_path: Path) -> Iterator[Callable[[NodeRef], NodeStore]]:
    """Open real SQLite node stores under a temporary directory; all are closed after the test."""
    opened: list[NodeStore] = []

    def _open(node_ref: NodeRef) -> NodeStore:
        store = NodeStore(node_ref, StoreSettings(store="sqlite", data_dir=tmp_path))
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()
