"""``yipanqi bench store`` on a small run: both paths move every event, the bare path the same bytes (chain column
included, and the data keys sealing personal data) in transactions of the same sizes, and the result says so."""

from __future__ import annotations

from typing import Any

import pytest

from gateways.bench import store as bench


@pytest.mark.postgres
def test_the_bare_insert_moves_the_same_rows_as_our_store(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    moved: dict[str, list[list[tuple[Any, ...]]]] = {"BareSQLite": [], "_BarePostgres": []}
    keys_moved: dict[Any, list[Any]] = {}  # the data keys ours wrote beside the events: the bare path writes them too
    for name, transactions in moved.items():
        cls = getattr(bench, name)
        original = cls.insert

        def spy(
            self: Any, rows: list[tuple[Any, ...]], keys: list[Any], original: Any = original, transactions: Any = transactions
        ) -> float:
            transactions.append(rows)
            keys_moved[original].extend(keys)
            return float(original(self, rows, keys))

        keys_moved[original] = []

        monkeypatch.setattr(cls, "insert", spy)
    monkeypatch.setattr(bench, "ROUNDS", 1)
    result = bench.run_store_benchmark(events=12000, batch=3000, pg_dsn=pg_dsn, log=lambda _: None)
    for transactions in moved.values():
        assert len(transactions) >= 4 and sum(len(rows) for rows in transactions) == 12000
        assert all(len(row) == 5 and row[4] is not None and len(row[4]) == 56 for rows in transactions for row in rows)
    for (name, transactions), keys in zip(moved.items(), keys_moved.values(), strict=True):
        sealed = {m for rows in transactions for row in rows for m in bench._SEALED_KEY.findall(bytes(row[3]))}
        assert len(keys) == len(sealed) > 0, name  # one key per subject and append, each written by the bare path too
        assert all(len(key_id) == 24 and len(subject) == 32 and len(wrapped) == 60 for key_id, subject, wrapped in keys)
    for backend in ("sqlite", "postgres"):
        got = result[backend]
        assert got["events_per_s"] > 0 and got["bare_rows_per_s"] > 0
        assert got["ratio"] == pytest.approx(got["events_per_s"] / got["bare_rows_per_s"], rel=0.01)
