"""SIGKILL at random points: a relay process (the townships') or an ingest process (their county's) dies while
activity is being written and while it publishes or applies; it is restarted; the county converges to exactly
its subtree's own events.

What a kill can interrupt: a relay between the broker's ack and saving its position (the restart re-publishes:
the county must skip the duplicates), a relay before the ack (nothing advanced), an ingest in the middle of its
transaction (events and position roll back together, so the restart re-applies exactly the missing ones), and
either process during start-up. Twenty trials, each with its own seed for the activity and the kill times.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from domain.store import StoreSettings
from sync.host import UP
from tests.sync_helpers import SIM_START, WULINGYUAN, XIEHE, ZHONGHU, Activity, Ledger

pytestmark = pytest.mark.kafka

TOWNSHIPS = (XIEHE, ZHONGHU)
CODES = (WULINGYUAN, *TOWNSHIPS)
TRIALS = 20


#: Small relay rounds: a burst of activity takes many publish-ack-save rounds, so a kill lands inside one.
SMALL_ROUNDS = {"YIPANQI_RELAY_BATCH": "100"}


class Writer(threading.Thread):
    """Writes the rest of a simulation run in bursts of up to a few hundred events, while sync runs."""

    def __init__(self, activity: Activity, rng: random.Random) -> None:
        super().__init__(daemon=True)
        self.activity, self.rng = activity, rng
        self.error: BaseException | None = None
        self.written = 0

    def run(self) -> None:
        try:
            while not self.activity.done:
                self.written += self.activity.write(events=self.rng.randint(40, 200))
                time.sleep(self.rng.uniform(0.05, 0.2))
        except BaseException as e:  # noqa: BLE001 - reported by the test
            self.error = e


def progress(ledger: Ledger, victim: str) -> list[tuple[int, int]]:
    """How far the victim had gone in each township's log: (published or applied, head)."""
    out = []
    county = ledger.stores.open(ledger.nodes[WULINGYUAN]).recorder.positions()
    for code in TOWNSHIPS:
        store = ledger.stores.open(ledger.nodes[code])
        done = store.recorder.positions().get(UP) if victim == "townships" else county.get(str(ledger.nodes[code].node_id))
        out.append((done.position if done else 0, store.max_position()))
    return out


def mid_flow(where: list[tuple[int, int]]) -> bool:
    """Some of a township's log is through and some is still to go."""
    return any(0 < done < head for done, head in where)


@pytest.mark.parametrize("trial", range(TRIALS))
def test_sigkill_relay_or_ingest_at_a_random_point(
    trial: int, sqlite_settings: StoreSettings, processes: Any, ledger_for: Any, record_property: Any
) -> None:
    rng = random.Random(trial)
    victim = "townships" if trial % 2 == 0 else "county"  # the relay process / the ingest process
    kills = 1 + trial % 3 // 2  # every third trial kills twice
    ledger = ledger_for(sqlite_settings, CODES)
    t0 = time.monotonic()
    with Activity(sqlite_settings, CODES, days=120, seed=1000 + trial, scale=1.0) as activity:
        activity.write(day=SIM_START + timedelta(days=5))  # master data and five days before sync starts
        procs = processes(sqlite_settings)
        running = {
            "townships": procs.start("townships", TOWNSHIPS, extra_env=SMALL_ROUNDS),
            "county": procs.start("county", [WULINGYUAN], extra_env=SMALL_ROUNDS),
        }
        writer = Writer(activity, rng)
        for kill in range(kills):
            if trial % 4 == 3 and kill == 0:
                writer.start()
                time.sleep(rng.uniform(0.1, 0.8))  # during start-up: before or while the host comes up
                where = progress(ledger, victim)
            else:  # while events flow: after a random pause, at the first moment the victim is part-way through
                for proc in running.values():
                    proc.wait_ready(30)
                if not writer.is_alive() and writer.written == 0:
                    writer.start()
                time.sleep(rng.uniform(0.0, 0.6))
                deadline = time.monotonic() + 3
                while not mid_flow(where := progress(ledger, victim)) and time.monotonic() < deadline:
                    time.sleep(0.002)
            running[victim].kill()  # SIGKILL
            note = f"{time.monotonic() - t0:.1f}s: {victim} killed at {where}{' (mid-flow)' if mid_flow(where) else ''}"
            record_property(f"kill{kill}", note)
            print(note)
            time.sleep(rng.uniform(0.0, 0.3))
            running[victim] = procs.start(victim, running[victim].codes, extra_env=SMALL_ROUNDS)
        writer.join(60)
        assert writer.error is None, writer.error
        assert not writer.is_alive()
    assert writer.written > 800, f"only {writer.written} events were written while sync ran"

    t1 = time.monotonic()
    ledger.wait_converged(45, why=procs.tails)
    print(f"writer done at {t1 - t0:.1f}s, converged {time.monotonic() - t1:.1f}s later")
    ledger.assert_nothing_lost_nothing_duplicated()
    assert not procs.dead(), procs.dead()
