"""How healthy a subtree's sync is: the state of every stream as its parent sees it, and the report that travels up.

A *stream* is one child's log as its parent receives it. Its state is one of:

- ``following``: the parent holds everything the child has said it published;
- ``behind``: the child is ahead and the position held moves (catching up);
- ``stalled``: the child is ahead and the position held has not moved for ``stall_s``: the parent recovers by itself
  (re-seek, re-request, a new consumer) and says so until the stream moves;
- ``gap``: a frame did not follow the position held; the parent waits for the child to re-publish;
- ``parked``: a message this version cannot read waits for an operator (`yipanqi sync retry` after an upgrade);
- ``diverged``: the child's log differs from what the parent holds (a hash-chain mismatch): never skipped;
- ``silent``: nothing heard from the child for ``silent_s`` (its sync is not running): it may be ahead;
- ``failed``: the child's store is damaged: its sync process left it out (``sync.failures``), the others go on;
- ``unknown``: nobody can say (a part of the tree below a silent child, or one that reports nothing).

Each node's heartbeat carries its subtree's health up (``Health``): per parent node of the subtree, how many of
its streams are in each state, and the streams that are not following (at most ``MAX_PROBLEMS``). A node adds its
own streams to its children's reports; the subtree of a child that went silent is counted as unknown. So the
province knows the state of every stream of Hunan, and "全部正常" means every one of them follows.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any
from uuid import UUID


class StreamState(StrEnum):
    FOLLOWING = "following"
    BEHIND = "behind"
    STALLED = "stalled"
    GAP = "gap"
    PARKED = "parked"
    DIVERGED = "diverged"
    SILENT = "silent"
    FAILED = "failed"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return LABELS[self]


LABELS = {
    StreamState.FOLLOWING: "正常",
    StreamState.BEHIND: "追赶中",
    StreamState.STALLED: "停滞, 自动恢复中",
    StreamState.GAP: "缺口, 等待重发",
    StreamState.PARKED: "已搁置",
    StreamState.DIVERGED: "分叉, 日志不一致",
    StreamState.SILENT: "下级无心跳",
    StreamState.FAILED: "存储损坏, 已停用",
    StreamState.UNKNOWN: "未知",
}
STATES = tuple(StreamState)
#: The most streams a report lists one by one; the counts stay exact beyond it.
MAX_PROBLEMS = 200


@dataclass(frozen=True)
class StreamStatus:
    """One stream as its parent sees it."""

    parent: UUID
    child: UUID
    state: StreamState
    held: int  # the position the parent holds in the child's log
    head: int  # the child's log head as last heard (0: never heard)
    since: str | None = None  # ISO time the state began (not following)
    reason: str = ""

    def encode(self) -> list[Any]:
        return [self.parent.hex, self.child.hex, self.state.value, self.held, self.head, self.since, self.reason]

    @classmethod
    def decode(cls, row: list[Any]) -> StreamStatus:
        parent, child, state, held, head, since, reason = row
        return cls(UUID(parent), UUID(child), StreamState(state), int(held), int(head), since, str(reason))


@dataclass
class Health:
    """A subtree's streams: counts per parent node and state, and the streams that are not following."""

    counts: dict[UUID, Counter[StreamState]] = field(default_factory=dict)
    problems: list[StreamStatus] = field(default_factory=list)
    truncated: int = 0  # problems counted but not listed

    @classmethod
    def of(cls, streams: Iterable[StreamStatus]) -> Health:
        health = cls()
        for stream in streams:
            health._add(stream)
        return health

    def _add(self, stream: StreamStatus) -> None:
        self.counts.setdefault(stream.parent, Counter())[stream.state] += 1
        if stream.state is not StreamState.FOLLOWING:
            self._list([stream])

    def _list(self, problems: list[StreamStatus], truncated: int = 0) -> None:
        room = max(0, MAX_PROBLEMS - len(self.problems))
        self.problems += problems[:room]
        self.truncated += truncated + max(0, len(problems) - room)

    def include(self, below: Health, *, vouched: bool, why: str = "") -> None:
        """Add a child's report. A report the child can no longer vouch for (it went silent) counts as unknown."""
        for parent, counts in below.counts.items():
            mine = self.counts.setdefault(parent, Counter())
            if vouched:
                mine.update(counts)
            else:
                mine[StreamState.UNKNOWN] += sum(counts.values())
        if vouched:
            self._list(below.problems, below.truncated)
        else:
            self._list([replace(p, state=StreamState.UNKNOWN, reason=why) for p in below.problems], below.truncated)

    def total(self) -> Counter[StreamState]:
        out: Counter[StreamState] = Counter()
        for counts in self.counts.values():
            out.update(counts)
        return out

    def encode(self) -> dict[str, Any]:
        return {
            "counts": {parent.hex: [counts.get(s, 0) for s in STATES] for parent, counts in self.counts.items()},
            "problems": [p.encode() for p in self.problems],
            "truncated": self.truncated,
        }

    @classmethod
    def decode(cls, data: Mapping[str, Any]) -> Health:
        """A report as a child sent it; ``ValueError`` for anything that is not one."""
        try:
            counts = {
                UUID(parent): Counter({s: int(n) for s, n in zip(STATES, row, strict=True) if n})
                for parent, row in data["counts"].items()
            }
            problems = [StreamStatus.decode(row) for row in data["problems"]]
            return cls(counts, problems, int(data.get("truncated", 0)))
        except (KeyError, TypeError, AttributeError, ValueError) as e:
            raise ValueError(f"not a health report: {e!r}") from None

    def to_json(self) -> str:
        return json.dumps(self.encode(), separators=(",", ":"), ensure_ascii=False)
