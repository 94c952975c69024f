"""The subtree health that travels up in beats: counts per parent and state stay exact however reports nest, a
silent child's subtree turns unknown, and a report survives its JSON round trip."""

from __future__ import annotations

import json
from collections import Counter
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.health import MAX_PROBLEMS, Health, StreamState, StreamStatus


def stream(parent: object, state: StreamState, held: int = 5, head: int = 9) -> StreamStatus:
    return StreamStatus(parent, uuid4(), state, held, head, "2026-12-05T10:00:00+00:00", f"why {state}")  # type: ignore[arg-type]


@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(list(StreamState))), max_size=60), st.booleans())
def test_counts_stay_exact_through_nesting_and_round_trips(streams: list[tuple[int, StreamState]], vouched: bool) -> None:
    parents = [uuid4() for _ in range(4)]
    below = Health.of(stream(parents[p], state) for p, state in streams)
    below = Health.decode(json.loads(below.to_json()))  # as it arrives in a beat
    top = Health.of([stream(uuid4(), StreamState.FOLLOWING)])
    top.include(below, vouched=vouched, why="child silent")
    total = top.total()
    assert sum(total.values()) == len(streams) + 1
    if vouched:
        assert total == Counter(s for _, s in streams) + Counter({StreamState.FOLLOWING: 1})
    else:
        assert total == Counter({StreamState.UNKNOWN: len(streams), StreamState.FOLLOWING: 1})
    assert all(p.state is not StreamState.FOLLOWING for p in top.problems)
    assert len(top.problems) + top.truncated == sum(1 for _, s in streams if s is not StreamState.FOLLOWING)


def test_problems_are_listed_up_to_a_bound_and_counted_beyond_it() -> None:
    parent = uuid4()
    health = Health.of(stream(parent, StreamState.STALLED) for _ in range(MAX_PROBLEMS + 7))
    outer = Health()
    outer.include(health, vouched=True)
    assert len(outer.problems) == MAX_PROBLEMS and outer.truncated == 7
    assert outer.counts[parent][StreamState.STALLED] == MAX_PROBLEMS + 7


def test_a_silent_childs_problems_turn_unknown_with_the_reason() -> None:
    below = Health.of([stream(uuid4(), StreamState.STALLED), stream(uuid4(), StreamState.FOLLOWING)])
    top = Health()
    top.include(below, vouched=False, why="no beat since 10:00")
    assert [(p.state, p.reason) for p in top.problems] == [(StreamState.UNKNOWN, "no beat since 10:00")]


@pytest.mark.parametrize(
    "bad",
    [{}, {"counts": {"x": [1]}, "problems": []}, {"counts": {}, "problems": [["a"]]}, {"counts": [], "problems": []}],
)
def test_anything_but_a_report_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="not a health report"):
        Health.decode(bad)  # type: ignore[arg-type]
