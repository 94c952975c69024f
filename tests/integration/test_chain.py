"""Each origin's hash chain, kept beside the events on SQLite and PostgreSQL, and what a check of the log finds when
rows are changed, deleted, inserted or swapped behind the store's back."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from domain.hierarchy import Hierarchy
from domain.persistence import StreamPosition
from domain.persistence.chain import GENESIS, link
from domain.persistence.verify import Difference, Verification
from domain.store import NodeStore, StoreSettings
from tests.integration.conftest import TOWNSHIP
from tests.integration.test_store import _township_aggregates
from tests.tamper import Tamper

CHILD = uuid.UUID(int=0xC41D).bytes  # another origin, as an ingest would store its events


def rows(n: int, start: int = 0) -> list[tuple[uuid.UUID, int, str, bytes]]:
    return [(uuid.UUID(int=start + i + 1), 1, "domain.x:X.Happened", b'{"people":%d}' % (start + i + 7)) for i in range(n)]


def filled(store: NodeStore) -> tuple[list[int], list[int]]:
    """Own events (real aggregates, then plain rows) and a child's, interleaved: the positions of each."""
    own = list(store.save_all(_township_aggregates(TOWNSHIP)))
    child = list(store.books.insert_rows(rows(5, 100), origins=[CHILD] * 5))
    own += store.append_rows(rows(6))
    child += store.books.insert_rows(rows(4, 200), origins=[CHILD] * 4)
    return own, child


def only(check: Verification, origin: bytes) -> list[Any]:
    """The findings of ``origin``'s chain, the other chains' being none."""
    others = [f for o, c in check.chains.items() if o != origin for f in c.findings]
    assert others == [] and check.strays == []
    return check.chains[origin].findings


def test_each_origin_is_numbered_and_linked_on_from_its_own_head(store: NodeStore) -> None:
    own, child = filled(store)
    me = store.node.node_id.bytes
    chained = store.books.chained_rows(1, 100)
    seqs = {origin: [r[6] for r in chained if r[5] == origin] for origin in (me, CHILD)}
    assert seqs == {me: list(range(1, len(own) + 1)), CHILD: list(range(1, len(child) + 1))}
    prev = GENESIS
    for position, originator_id, version, topic, state, origin, seq, stored in chained:
        if origin == CHILD:
            prev = link(prev, CHILD, seq or 0, originator_id, version, topic, state)
            assert stored == prev, position
    last, heads = store.books.chain_heads()
    assert last == max(own + child)
    assert {o: h.seq for o, h in heads.items()} == {me: len(own), CHILD: len(child)}
    check = store.verify(batch=4)
    assert check.ok and check.events == len(own) + len(child) and check.unchained == 0


def test_unchained_events_are_those_of_a_recorder_without_an_origin(store: NodeStore, settings: StoreSettings) -> None:
    store.books.origin = None  # as a store written before chaining began
    store.append_rows(rows(3))
    store.books.origin = store.node.node_id.bytes
    store.append_rows(rows(2, 50))
    check = store.verify()
    assert check.ok and check.unchained == 3 and check.chains[store.node.node_id.bytes].events == 2


@pytest.mark.parametrize(
    ("harm", "kind"),
    [
        ("change_byte", Difference.BYTES_CHANGED),
        ("delete", Difference.ROW_MISSING),
        ("swap", Difference.ORDER_CHANGED),
        ("delete_last", Difference.ROW_MISSING),
        ("insert", Difference.ROW_INSERTED),
    ],
)
@pytest.mark.parametrize("victim", ["own", "child"])
def test_a_changed_deleted_swapped_or_inserted_row_is_found_in_its_chain_only(
    store: NodeStore, harm: str, kind: Difference, victim: str
) -> None:
    own, child = filled(store)
    positions, origin = (own, store.node.node_id.bytes) if victim == "own" else (child, CHILD)
    assert store.verify().ok
    tamper = Tamper(store)
    at = positions[2]
    if harm == "change_byte":
        tamper.change_byte(at)
    elif harm == "delete":
        tamper.delete(at)
    elif harm == "delete_last":
        tamper.delete(at := positions[-1])
    elif harm == "swap":
        tamper.swap(at, positions[3])
    else:
        tamper.insert_copy(at, version=99)
    check = store.verify()
    assert not check.ok
    if harm == "insert":  # a row without a chain row, after chaining began: not in any chain
        assert [f.kind for f in check.strays] == [kind] and not any(c.findings for c in check.chains.values())
        return
    findings = only(check, origin)
    assert [f.kind for f in findings] == [kind], findings
    if harm == "delete_last":
        assert findings[0].position == 0 and findings[0].seq == len(positions)  # found at the log's end, by the head
    elif harm == "delete":
        assert findings[0].position == positions[3] and findings[0].seq == 3
    else:
        assert findings[0].position == at and findings[0].seq == 3


def test_a_reordered_chain_row_is_an_order_change_and_a_repeated_seq_an_insert(store: NodeStore) -> None:
    own, child = filled(store)
    tamper = Tamper(store)
    tamper.swap(own[1], own[2])
    tamper.swap(own[1], own[2])  # back where they were
    assert store.verify().ok
    # A copy of an event given the same seq and link as the original: a seq that appears twice.
    copy = tamper.insert_copy(own[0], version=77, chain=True)
    findings = only(store.verify(), store.node.node_id.bytes)
    assert [(f.kind, f.position, f.seq) for f in findings] == [(Difference.ROW_INSERTED, copy, 1)]


def test_concurrent_writers_keep_one_unbroken_chain(store: NodeStore, settings: StoreSettings) -> None:
    stores = [NodeStore(store.node, settings) for _ in range(3)]
    try:
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda i: [stores[i].append_rows(rows(2, 1000 * i + 10 * k)) for k in range(20)], range(3)))
    finally:
        for s in stores:
            s.close()
    check = store.verify()
    assert check.ok and check.chains[store.node.node_id.bytes].events == 120


def test_a_log_is_compared_with_its_parents_copy_up_to_the_position_the_parent_holds(settings: StoreSettings) -> None:
    hierarchy = Hierarchy.load()
    township = hierarchy.resolve(TOWNSHIP)
    child = NodeStore(hierarchy.ref(township), settings)
    parent = NodeStore(hierarchy.ref(hierarchy.parent(township)), settings)  # type: ignore[arg-type]
    try:
        ids = child.append_rows(rows(6))
        copied = child.books.log_page(1, 4)  # the parent holds the first four
        held = StreamPosition(str(child.node.node_id), copied[-1][0], "0" * 64)
        at_parent = parent.books.insert_rows(
            [(r[1], r[2], r[3], r[4]) for r in copied], positions=[held], origins=[child.node.node_id.bytes] * 4
        )
        check = child.compare_with(parent)
        assert check.ok and (check.held, check.compared) == (ids[3], 4)
        Tamper(child).change_byte(ids[1])
        Tamper(child).change_byte(ids[5])  # beyond what the parent holds: not judged
        Tamper(parent).delete(at_parent[2])
        found = [(f.kind, f.position, f.seq) for f in child.compare_with(parent).findings]
        assert found == [(Difference.BYTES_CHANGED, ids[1], 2), (Difference.ROW_MISSING, ids[2], 3)]
    finally:
        child.close()
        parent.close()
