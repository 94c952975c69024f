"""``yipanqi bench store`` on a small run: both paths move every event, the bare path the same bytes (chain column
included), and the result says so."""

from __future__ import annotations

import pytest

from gateways.bench import store as bench


@pytest.mark.postgres
def test_the_bare_insert_moves_the_same_rows_as_our_store(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    moved: list[list[tuple[object, ...]]] = []
    for name in ("_bare_sqlite", "_bare_postgres"):
        original = getattr(bench, name)

        def spy(store, rows, sizes, original=original):  # type: ignore[no-untyped-def]
            moved.append(rows)
            assert sum(sizes) == len(rows) == store.max_position()
            return original(store, rows, sizes)

        monkeypatch.setattr(bench, name, spy)
    monkeypatch.setattr(bench, "ROUNDS", 1)
    result = bench.run_store_benchmark(events=2000, batch=500, pg_dsn=pg_dsn, log=lambda _: None)
    assert len(moved) == 2 and all(len(rows) == 2000 for rows in moved)
    assert all(len(row) == 5 and row[4] is not None and len(row[4]) == 56 for rows in moved for row in rows)
    for backend in ("sqlite", "postgres"):
        assert result[backend]["events_per_s"] > 0 and result[backend]["bare_rows_per_s"] > 0
        assert result[backend]["ratio"] == pytest.approx(
            result[backend]["events_per_s"] / result[backend]["bare_rows_per_s"], rel=0.01
        )
