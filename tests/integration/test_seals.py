"""A node's signing key and the signed checkpoints of its chain, on SQLite and PostgreSQL: what a check of the log
finds when the chain is rewritten consistently, a checkpoint or a key is forged, or a key is rotated; and a store
that refuses a checkpoint its own chain contradicts."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domain.base import Attribution
from domain.hierarchy import Hierarchy
from domain.keys import Checkpoint, NodeKey, key_id, node_key_id, public_bytes
from domain.persistence.chain import ChainContradiction
from domain.persistence.keys import KeyFileError, key_path
from domain.persistence.verify import Difference
from domain.store import NodeStore, StoreSettings
from tests.integration.conftest import TOWNSHIP
from tests.integration.test_chain import CHILD, rows
from tests.tamper import Tamper


def own_findings(store: NodeStore) -> list[tuple[Difference, int]]:
    check = store.verify()
    return [(f.kind, f.seq) for f in check.chains[store.node.node_id.bytes].findings]


def test_the_key_file_is_the_owners_alone_and_its_public_half_is_registered(store: NodeStore, settings: StoreSettings) -> None:
    key = store.signing_key()
    path = key_path(settings.data_dir, store.node.node_id)
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    record: NodeKey = store.get(node_key_id(store.node.node_id))
    assert record.current == key_id(public_bytes(key)) and record.keys[record.current] == public_bytes(key).hex()
    assert key_id(public_bytes(store.signing_key())) == record.current and store.max_position() == 1  # once only
    os.chmod(path, 0o644)
    with pytest.raises(KeyFileError, match="readable by others"):
        store.signing_key()
    os.chmod(path, 0o600)
    path.rename(path.with_suffix(".gone"))
    with pytest.raises(KeyFileError, match="missing"):
        store.signing_key()


def test_a_checkpoint_signs_the_link_right_before_it_and_only_when_the_chain_moved(
    store: NodeStore, settings: StoreSettings
) -> None:
    key = store.signing_key()
    store.append_rows(rows(5))
    assert store.seal(key) == 6  # the key's registration and five events
    assert store.seal(key) is None
    again = NodeStore(store.node, settings)  # another process (a restarted sync): the head knows it was sealed
    try:
        assert again.seal(key) is None
    finally:
        again.close()
    store.append_rows(rows(2, 10))
    assert store.seal(key) == 9
    check = store.verify()
    assert check.ok and check.chains[store.node.node_id.bytes].sealed == 9


def test_a_chain_rewritten_to_agree_with_itself_still_contradicts_its_seal(store: NodeStore) -> None:
    key = store.signing_key()
    store.append_rows(rows(5))
    store.seal(key)  # the checkpoint at seq 7 signs seq 6
    store.append_rows(rows(3, 10))
    tamper = Tamper(store)
    tamper.change_byte(3)
    assert own_findings(store) == [(Difference.BYTES_CHANGED, 3)]
    tamper.rechain(store, store.node.node_id.bytes)  # every link and the head recomputed: the store agrees with itself
    assert own_findings(store) == [(Difference.SEAL_CONTRADICTED, 7)]


def test_a_checkpoint_or_a_key_the_origins_key_did_not_sign_is_forged(store: NodeStore) -> None:
    store.signing_key()
    store.append_rows(rows(3))
    stranger = Ed25519PrivateKey.generate()
    store.books.insert_sealed(lambda head: store.take_rows([Checkpoint.seal(store.node, stranger, head.seq, head.link)]))
    assert own_findings(store) == [(Difference.BAD_SIGNATURE, 5)]

    record: NodeKey = store.get(node_key_id(store.node.node_id))
    record.record(
        NodeKey.Rotated,
        Attribution.system(),
        public_key=public_bytes(stranger).hex(),
        key_id=key_id(public_bytes(stranger)),
        endorsement=stranger.sign(b"anything").hex(),
    )
    store.save_all([record])
    assert own_findings(store) == [(Difference.BAD_SIGNATURE, 5), (Difference.BAD_SIGNATURE, 6)]


def test_a_rotated_key_endorsed_by_the_old_one_signs_on(store: NodeStore, settings: StoreSettings) -> None:
    old = store.signing_key()
    store.append_rows(rows(2))
    store.seal(old)
    new_id = store.rotate_key()
    assert key_path(settings.data_dir, store.node.node_id).with_name(f"{store.node.node_id}.key.1").exists()
    new = store.signing_key()
    assert key_id(public_bytes(new)) == new_id != key_id(public_bytes(old))
    store.append_rows(rows(2, 10))
    assert store.seal(new) == 7
    check = store.verify()
    assert check.ok and check.chains[store.node.node_id.bytes].sealed == 7
    # The old key (say, the one that leaked) signs nothing more.
    store.books.insert_sealed(lambda head: store.take_rows([Checkpoint.seal(store.node, old, head.seq, head.link)]))
    assert own_findings(store) == [(Difference.BAD_SIGNATURE, 9)]


def test_a_store_refuses_a_checkpoint_its_own_copy_of_the_chain_contradicts(store: NodeStore) -> None:
    child = Hierarchy.load().ref(Hierarchy.load().resolve(TOWNSHIP))  # the child's node, as far as the key goes
    store.books.insert_rows(rows(3, 100), origins=[CHILD] * 3)
    before = (store.max_position(), store.books.chain_heads())
    forged = store.take_rows([Checkpoint.seal(child, Ed25519PrivateKey.generate(), 3, b"\x01" * 32)])
    with pytest.raises(ChainContradiction, match="signs seq 3"):
        store.books.insert_rows([*rows(1, 200), *forged], origins=[CHILD, CHILD])
    assert (store.max_position(), store.books.chain_heads()) == before  # nothing of the insert was stored
    _, heads = store.books.chain_heads()
    honest = store.take_rows([Checkpoint.seal(child, Ed25519PrivateKey.generate(), 3, heads[CHILD].link)])
    store.books.insert_rows(honest, origins=[CHILD])  # the claim agrees: stored (its signature is verify's to judge)
    assert store.books.chain_heads()[1][CHILD].seq == 4
