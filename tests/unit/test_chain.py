"""The chainer's two ways of linking rows give the same chain columns and the same heads."""

from __future__ import annotations

import random
from uuid import UUID

import pytest

from domain.persistence.chain import GENESIS, Chainer, Head, link, packed

OWN, OTHER = UUID(int=1).bytes, UUID(int=2).bytes


def _rows(n: int, seed: int) -> list[tuple[object, int, str, bytes]]:
    rng = random.Random(seed)
    rows: list[tuple[object, int, str, bytes]] = []
    for i in range(n):
        oid = UUID(int=rng.getrandbits(128))
        rows.append((oid if i % 3 else oid.hex, i + 1, f"domain.x:X.E{i % 4}", rng.randbytes(rng.randint(0, 300))))
    return rows


@pytest.mark.parametrize("heads", [{}, {OWN: Head(OWN, 41, bytes(range(32)), 40), OTHER: Head(OTHER, 7, b"\1" * 32)}])
def test_a_nodes_own_rows_link_as_one_by_one(heads: dict[bytes, Head]) -> None:
    rows = _rows(200, seed=len(heads))
    one_by_one, at_once = Chainer(heads, OWN, None), Chainer(heads, OWN, None)
    expected = [one_by_one.add(row) for row in rows]
    got = list(at_once.hex_rows(iter(rows)))
    assert [g[4] for g in got] == expected
    assert [g[0] for g in got] == [r[0].hex if isinstance(r[0], UUID) else r[0] for r in rows]  # type: ignore[attr-defined]
    assert [g[1:4] for g in got] == [r[1:] for r in rows]
    assert at_once.heads() == one_by_one.heads()
    # the first link follows the head (or the genesis) by the documented formula
    head = heads.get(OWN)
    seq, prev = (head.seq, head.link) if head else (0, GENESIS)
    oid = rows[0][0] if isinstance(rows[0][0], UUID) else UUID(hex=str(rows[0][0]))
    first = link(prev, OWN, seq + 1, oid.bytes, 1, rows[0][2], rows[0][3])
    assert got[0][4] == packed(OWN, seq + 1, first)


def test_rows_of_named_origins_keep_their_own_chains() -> None:
    rows = _rows(30, seed=9)
    origins = [OWN if i % 2 else (OTHER if i % 5 else None) for i in range(30)]
    one_by_one, at_once = Chainer({}, OWN, origins), Chainer({}, OWN, origins)
    expected = [one_by_one.add(row) for row in rows]
    assert [g[4] for g in at_once.hex_rows(rows)] == expected
    assert at_once.heads() == one_by_one.heads() and {h.origin for h in at_once.heads()} == {OWN, OTHER}
    assert [e is None for e in expected] == [o is None for o in origins]
