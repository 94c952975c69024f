"""Hunan's administrative tree: divisions with a stable identity, and an index over them.

A division's code is not its identity (邵东县 430521 became 邵东市 430582 in 2019, 荣家湾镇 became 荣家湾街道), so each
division is an event-sourced aggregate whose id comes from the *first* code it had, and whose code, name, kind and
parent change only by dated events. History is never rewritten: every value the division ever had stays answerable
by date (``code_on``, ``name_on``, ``kind_on``), and every code it ever had still finds it (``Hierarchy.by_code``).

The only I/O here is reading the bundled civil-affairs data (``domain/data``, CC BY 4.0, see NOTICE.md).
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib.resources import files
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.domain import Aggregate

from domain.base import DomainError, NodeRef, NotFound, natural_id
from domain.levels import DivisionKind, Level

T = TypeVar("T")

#: The level each kind of division sits at; a change of kind never changes the level (镇 → 街道 stays township-level).
KIND_LEVEL: dict[DivisionKind, Level] = {
    DivisionKind.PROVINCE: Level.PROVINCE,
    DivisionKind.PREFECTURE_CITY: Level.PREFECTURE,
    DivisionKind.AUTONOMOUS_PREFECTURE: Level.PREFECTURE,
    DivisionKind.DISTRICT: Level.COUNTY,
    DivisionKind.COUNTY_CITY: Level.COUNTY,
    DivisionKind.COUNTY: Level.COUNTY,
    DivisionKind.AUTONOMOUS_COUNTY: Level.COUNTY,
    DivisionKind.STREET: Level.TOWNSHIP,
    DivisionKind.TOWN: Level.TOWNSHIP,
    DivisionKind.TOWNSHIP: Level.TOWNSHIP,
    DivisionKind.ETHNIC_TOWNSHIP: Level.TOWNSHIP,
}

#: Code lengths: GB/T 2260 six digits down to the county, nine for township-level units.
CODE_LENGTH: dict[Level, int] = {Level.PROVINCE: 6, Level.PREFECTURE: 6, Level.COUNTY: 6, Level.TOWNSHIP: 9}

PATH_SEPARATOR = " › "


def division_id(first_code: str) -> UUID:
    """The stable id of the division whose earliest known civil-affairs code is ``first_code``; recodings keep it.

    Only codes of the civil-affairs (GB/T 2260) system name ids: the 2023 statistical system reused some township
    codes for other units (430681119 was 归义镇 there, and is 白塘镇 in the civil-affairs system), so an id taken
    from a statistical code could collide with another division's id.
    """
    return natural_id("division", first_code)


@dataclass(frozen=True)
class Dated(Generic[T]):
    """One value an attribute took, from ``effective`` on (None: held since before the records begin)."""

    value: T
    effective: date | None
    approval: str = ""


class Division(Aggregate):
    """One administrative unit (province, prefecture, county or township-level unit) over its whole life.

    Its level is fixed; code, name, kind and parent are dated histories, appended to in date order and never edited.
    Create it with :meth:`establish`; change it with :meth:`recode`, :meth:`rename`, :meth:`change_kind`,
    :meth:`reparent`. Every command checks its rule first and records nothing when the rule is broken.
    """

    class Established(Aggregate.Created):
        """The division as first known: earliest code, name, kind and parent (``effective`` None if undated)."""

        code: str
        name: str
        level: Level
        kind: DivisionKind
        parent_id: UUID | None
        effective: date | None

        def apply(self, aggregate: Division) -> None:
            aggregate._level = Level(self.level)
            aggregate._codes = [Dated(self.code, self.effective)]
            aggregate._names = [Dated(self.name, self.effective)]
            aggregate._kinds = [Dated(DivisionKind(self.kind), self.effective)]
            aggregate._parents = [Dated(self.parent_id, self.effective)]

    class Recoded(Aggregate.Event):
        """The division got a new code (e.g. 撤县设市); the id, and everything recorded under it, carry on."""

        old_code: str
        new_code: str
        effective: date
        approval: str

        def apply(self, aggregate: Division) -> None:
            aggregate._codes.append(Dated(self.new_code, self.effective, self.approval))

    class Renamed(Aggregate.Event):
        """The division got a new name."""

        old_name: str
        new_name: str
        effective: date
        approval: str

        def apply(self, aggregate: Division) -> None:
            aggregate._names.append(Dated(self.new_name, self.effective, self.approval))

    class KindChanged(Aggregate.Event):
        """The division became another kind at the same level (镇 → 街道 loses its township congress)."""

        old_kind: DivisionKind
        new_kind: DivisionKind
        effective: date
        approval: str

        def apply(self, aggregate: Division) -> None:
            aggregate._kinds.append(Dated(DivisionKind(self.new_kind), self.effective, self.approval))

    class Reparented(Aggregate.Event):
        """The division moved under another parent one level up (e.g. a town transferred to another county)."""

        old_parent_id: UUID | None
        new_parent_id: UUID
        effective: date

        def apply(self, aggregate: Division) -> None:
            aggregate._parents.append(Dated(self.new_parent_id, self.effective))

    def __init__(self) -> None:
        # State is set by Established.apply; declared here so that its types are known.
        self._level: Level
        self._codes: list[Dated[str]]
        self._names: list[Dated[str]]
        self._kinds: list[Dated[DivisionKind]]
        self._parents: list[Dated[UUID | None]]

    # ----------------------------------------------------------------------------------------------- commands

    @classmethod
    def establish(
        cls,
        code: str,
        name: str,
        kind: DivisionKind,
        parent: Division | NodeRef | None,
        effective: date | None = None,
        id_code: str | None = None,
    ) -> Division:
        """Create a division from its earliest facts; its id is derived from this first code, once and for all.

        ``id_code`` names the id instead when ``code`` is from another code system (see :func:`division_id`).
        """
        level = KIND_LEVEL[DivisionKind(kind)]
        label = f"division {name}({code})"
        _check_code(label, "new", level, code)
        _check_code(label, "new", level, id_code or code)
        if not name.strip():
            raise DomainError(label, "new", "a division must have a name")
        parent_id = _check_parent(label, "new", level, parent)
        return cls._create(
            cls.Established,
            id=division_id(id_code or code),
            code=code,
            name=name.strip(),
            level=level,
            kind=DivisionKind(kind),
            parent_id=parent_id,
            effective=effective,
        )

    def recode(self, new_code: str, effective: date, approval: str = "") -> None:
        """Give the division a new code from ``effective`` on; its former code keeps finding it."""
        _check_code(self.label, self.state, self.level, new_code)
        self._require(new_code != self.code, f"recoding needs a different code, and {new_code} is already its code")
        self._require_in_order(self._codes, effective, "code")
        self.trigger_event(self.Recoded, old_code=self.code, new_code=new_code, effective=effective, approval=approval)

    def rename(self, new_name: str, effective: date, approval: str = "") -> None:
        """Give the division a new name from ``effective`` on."""
        new_name = new_name.strip()
        self._require(bool(new_name), "a division must have a name")
        self._require(new_name != self.name, f"renaming needs a different name, and it is already called {new_name}")
        self._require_in_order(self._names, effective, "name")
        self.trigger_event(self.Renamed, old_name=self.name, new_name=new_name, effective=effective, approval=approval)

    def change_kind(self, new_kind: DivisionKind, effective: date, approval: str = "") -> None:
        """Make the division another kind at the same level (镇 → 街道, 乡 → 镇, 乡 → 民族乡)."""
        new_kind = DivisionKind(new_kind)
        self._require(new_kind is not self.kind, f"it is already a {new_kind} ({new_kind.label})")
        self._require(
            KIND_LEVEL[new_kind] is self.level,
            f"a {self.level}-level division cannot become a {new_kind} ({new_kind.label}), which is {KIND_LEVEL[new_kind]}-level",
        )
        self._require_in_order(self._kinds, effective, "kind")
        self.trigger_event(self.KindChanged, old_kind=self.kind, new_kind=new_kind, effective=effective, approval=approval)

    def reparent(self, new_parent: Division | NodeRef, effective: date) -> None:
        """Move the division under another parent, which must sit exactly one level up."""
        new_parent_id = _check_parent(self.label, self.state, self.level, new_parent)
        assert new_parent_id is not None  # only a province has no parent, and a province has nothing to move to
        self._require(new_parent_id != self.id, "a division cannot be its own parent")
        self._require(new_parent_id != self.parent_id, f"it is already under {_describe(new_parent)}")
        self._require_in_order(self._parents, effective, "parent")
        self.trigger_event(self.Reparented, old_parent_id=self.parent_id, new_parent_id=new_parent_id, effective=effective)

    # ------------------------------------------------------------------------------------------ current facts

    @property
    def level(self) -> Level:
        return self._level

    @property
    def code(self) -> str:
        return self._codes[-1].value

    @property
    def name(self) -> str:
        return self._names[-1].value

    @property
    def kind(self) -> DivisionKind:
        return self._kinds[-1].value

    @property
    def parent_id(self) -> UUID | None:
        return self._parents[-1].value

    @property
    def established(self) -> date | None:
        """When the division came into being, or None when it predates the records."""
        return self._codes[0].effective

    @property
    def has_congress(self) -> bool:
        """Whether it has a people's congress of its own now (streets do not)."""
        return self.kind.has_congress

    @property
    def former_codes(self) -> tuple[str, ...]:
        """Codes it had before its current one, oldest first; each still resolves to this division."""
        return _former(self._codes)

    @property
    def former_names(self) -> tuple[str, ...]:
        return _former(self._names)

    @property
    def label(self) -> str:
        """How messages name it: the current name and code, e.g. 邵东市(430582)."""
        return f"{self.name}({self.code})"

    @property
    def state(self) -> str:
        """The state that error messages name: what kind of division it is now."""
        return f"{self.kind} ({self.kind.label})"

    def __str__(self) -> str:
        return self.label

    # ------------------------------------------------------------------------------------------ facts by date

    def existed_on(self, day: date) -> bool:
        return self.established is None or self.established <= day

    def code_on(self, day: date) -> str:
        return self._value_on(self._codes, day)

    def name_on(self, day: date) -> str:
        return self._value_on(self._names, day)

    def kind_on(self, day: date) -> DivisionKind:
        return self._value_on(self._kinds, day)

    def parent_id_on(self, day: date) -> UUID | None:
        return self._value_on(self._parents, day)

    def has_congress_on(self, day: date) -> bool:
        """Whether it had a congress that day: 荣家湾镇 did in 2022, 荣家湾街道 does not."""
        return self.kind_on(day).has_congress

    def ref(self, on: date | None = None) -> NodeRef:
        """The facts rules need (level, kind), now or as they stood on a given day."""
        if on is None:
            return NodeRef(self.id, self.code, self.name, self.level, self.kind)
        return NodeRef(self.id, self.code_on(on), self.name_on(on), self.level, self.kind_on(on))

    # ---------------------------------------------------------------------------------------------- internals

    def _value_on(self, history: Sequence[Dated[T]], day: date) -> T:
        for entry in reversed(history):
            if entry.effective is None or entry.effective <= day:
                return entry.value
        raise self._reject(f"it did not exist yet on {day.isoformat()}: it was established on {self.established}")

    def _reject(self, rule: str) -> DomainError:
        return DomainError(f"division {self.label}", self.state, rule)

    def _require(self, condition: bool, rule: str) -> None:
        if not condition:
            raise self._reject(rule)

    def _require_in_order(self, history: Sequence[Dated[Any]], effective: date, what: str) -> None:
        """History is appended, never rewritten: a change must be dated after the last change of the same fact."""
        last = max((e.effective for e in history if e.effective is not None), default=None)
        self._require(
            last is None or effective > last,
            f"a change of {what} dated {effective.isoformat()} would rewrite history: its {what} last changed on {last}",
        )


def _former(history: Sequence[Dated[str]]) -> tuple[str, ...]:
    current = history[-1].value
    return tuple(dict.fromkeys(e.value for e in history[:-1] if e.value != current))


def _describe(node: Division | NodeRef) -> str:
    return f"{node.name}({node.code})"


def _check_code(label: str, state: str, level: Level, code: str) -> None:
    length = CODE_LENGTH[level]
    if not (code.isascii() and code.isdigit() and len(code) == length):
        raise DomainError(label, state, f"a {level}-level code has {length} digits, not {code!r}")


def _check_parent(label: str, state: str, level: Level, parent: Division | NodeRef | None) -> UUID | None:
    """Only the province has no parent; every other division sits directly under the level above it."""
    if level is Level.PROVINCE:
        if parent is not None:
            raise DomainError(label, state, f"a province has no parent, so it cannot go under {_describe(parent)}")
        return None
    wanted = list(Level)[level.depth - 1]
    if parent is None or parent.level != wanted:
        found = "no parent" if parent is None else f"{_describe(parent)}, which is {parent.level}-level"
        raise DomainError(label, state, f"a {level}-level division must be under a {wanted}-level one, not {found}")
    return parent.id if isinstance(parent, Division) else parent.node_id


# ====================================================================================================== Hierarchy

NodeLike = Division | NodeRef | UUID


class Hierarchy:
    """A read-only index over divisions: by id, by current or former code, and as a tree.

    Built once (``load()`` for the bundled Hunan data) and shared; treat its divisions as read-only, because the
    index is not updated when a division changes. The tree is today's tree (current parents).
    """

    def __init__(self, divisions: Iterable[Division]) -> None:
        self._by_id: dict[UUID, Division] = {}
        for division in divisions:
            if division.id in self._by_id:
                raise ValueError(f"{division} is in the hierarchy twice")
            self._by_id[division.id] = division
        self._by_code = _unique_current_codes(self._by_id.values())
        self._by_former_code: dict[str, list[Division]] = defaultdict(list)
        self._children: dict[UUID, list[Division]] = defaultdict(list)
        for division in self._by_id.values():
            for code in division.former_codes:
                self._by_former_code[code].append(division)
            if division.parent_id is not None:
                if division.parent_id not in self._by_id:
                    raise ValueError(f"the parent {division.parent_id} of {division} is not in the hierarchy")
                self._children[division.parent_id].append(division)
        for children in self._children.values():
            children.sort(key=lambda d: d.code)
        self._root = _single_root(self._by_id.values())

    @classmethod
    def from_divisions(cls, divisions: Iterable[Division]) -> Hierarchy:
        """An index over divisions from elsewhere: rebuilt from an event store, or a small tree in a test."""
        return cls(divisions)

    @classmethod
    def load(cls) -> Hierarchy:
        """Hunan's divisions from the bundled data, with their dated changes applied (built once, then cached)."""
        return _bundled_hierarchy()

    # ---------------------------------------------------------------------------------------------- lookups

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Division]:
        return iter(self._by_id.values())

    def __contains__(self, node: object) -> bool:
        node_id = node.id if isinstance(node, Division) else node.node_id if isinstance(node, NodeRef) else node
        return node_id in self._by_id

    @property
    def root(self) -> Division:
        """The province."""
        return self._root

    def get(self, node_id: UUID) -> Division:
        try:
            return self._by_id[node_id]
        except KeyError:
            raise NotFound(f"division {node_id}", "unknown", f"no division has id {node_id}") from None

    def by_code(self, code: str, on: date | None = None) -> Division:
        """The division that has ``code`` now, or had it (on ``on``, if given).

        Without a date, a current code wins over a former one: township codes of the 2023 statistical system were
        sometimes reused for other units (430681119 was 归义镇, it is 白塘镇 now). With a date, the division whose
        *recorded* code that was wins over one whose code before its first recorded change is only assumed.
        """
        code = code.strip()
        if on is None:
            current = self._by_code.get(code)
            return current if current is not None else self._only(code, self._by_former_code.get(code, []))
        holders = [d for d in self._holders(code) if d.existed_on(on) and d.code_on(on) == code]
        recorded = [d for d in holders if code in d.former_codes]
        return self._only(code, recorded or holders, on)

    def resolve(self, code_or_name: str) -> Division:
        """What a person typed: a current or former code, or an exact name (current names before former ones)."""
        text = code_or_name.strip()
        if text.isascii() and text.isdigit():
            return self.by_code(text)
        matches = [d for d in self._by_id.values() if d.name == text]
        matches = matches or [d for d in self._by_id.values() if text in d.former_names]
        if not matches:
            raise NotFound(f"division {text}", "unknown", f"no division is or was called {text}")
        if len(matches) > 1:
            raise self._ambiguous(text, matches)
        return matches[0]

    # ------------------------------------------------------------------------------------------------- tree

    def parent(self, node: NodeLike) -> Division | None:
        parent_id = self._division(node).parent_id
        return None if parent_id is None else self._by_id[parent_id]

    def children(self, node: NodeLike) -> tuple[Division, ...]:
        """Direct children, sorted by code."""
        return tuple(self._children.get(self._division(node).id, ()))

    def subtree(self, node: NodeLike) -> tuple[Division, ...]:
        """The node first, then every descendant, depth-first in code order: the scope a node's views cover."""
        found: list[Division] = []
        stack = [self._division(node)]
        while stack:
            current = stack.pop()
            found.append(current)
            stack.extend(reversed(self._children.get(current.id, ())))
        return tuple(found)

    def ancestors(self, node: NodeLike) -> tuple[Division, ...]:
        """The divisions above the node, province first."""
        chain: list[Division] = []
        parent = self.parent(node)
        while parent is not None:
            chain.append(parent)
            parent = self.parent(parent)
        return tuple(reversed(chain))

    def path(self, node: NodeLike) -> tuple[Division, ...]:
        """Province first, the node last: where its events travel on their way up."""
        return (*self.ancestors(node), self._division(node))

    def path_label(self, node: NodeLike, separator: str = PATH_SEPARATOR) -> str:
        """E.g. 湖南省 › 邵阳市 › 邵东市."""
        return separator.join(d.name for d in self.path(node))

    def is_within(self, node: NodeLike, region: NodeLike) -> bool:
        """Whether ``node`` is ``region`` or lies below it: a region's views and powers cover itself too."""
        region_id = self._division(region).id
        return any(d.id == region_id for d in self.path(node))

    # ------------------------------------------------------------------------------------------------ facts

    def count_by_level(self) -> dict[Level, int]:
        counts = Counter(d.level for d in self._by_id.values())
        return {level: counts[level] for level in Level}

    def count_by_kind(self) -> dict[DivisionKind, int]:
        counts = Counter(d.kind for d in self._by_id.values())
        return {kind: counts[kind] for kind in DivisionKind}

    def ref(self, node: NodeLike, on: date | None = None) -> NodeRef:
        return self._division(node).ref(on)

    def require_congress(self, node: NodeLike, what: str, on: date | None = None) -> NodeRef:
        """Refuse ``what`` (deputies, livelihood voting...) at a street (街道), which has no congress of its own."""
        division = self._division(node)
        ref = division.ref(on)
        if not ref.has_congress:
            raise DomainError(
                f"division {ref}",
                f"{ref.kind} ({ref.kind.label})",
                f"{ref} is a {ref.kind} ({ref.kind.label}): it has no congress, "
                f"so no township deputies and no livelihood voting ({what})",
            )
        return ref

    # ---------------------------------------------------------------------------------------------- internals

    def _division(self, node: NodeLike) -> Division:
        if isinstance(node, Division):
            return self.get(node.id)
        return self.get(node.node_id if isinstance(node, NodeRef) else node)

    def _holders(self, code: str) -> list[Division]:
        current = self._by_code.get(code)
        return ([current] if current is not None else []) + self._by_former_code.get(code, [])

    def _only(self, code: str, found: Sequence[Division], on: date | None = None) -> Division:
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise self._ambiguous(code, found)
        when = "" if on is None else f" on {on.isoformat()}"
        raise NotFound(f"division {code}", "unknown", f"code {code} is unknown: no division had it{when}")

    def _ambiguous(self, text: str, found: Iterable[Division]) -> DomainError:
        candidates = "; ".join(f"{self.path_label(d)} ({d.code})" for d in sorted(found, key=lambda d: d.code))
        return DomainError(f"division {text}", "ambiguous", f"{text} matches several divisions: {candidates}")


def _unique_current_codes(divisions: Iterable[Division]) -> dict[str, Division]:
    by_code: dict[str, Division] = {}
    for division in divisions:
        if division.code in by_code:
            raise ValueError(f"{division} and {by_code[division.code]} have the same current code")
        by_code[division.code] = division
    return by_code


def _single_root(divisions: Iterable[Division]) -> Division:
    roots = [d for d in divisions if d.parent_id is None]
    if len(roots) != 1:
        raise ValueError(f"a hierarchy has exactly one root, not {len(roots)}: {', '.join(map(str, roots))}")
    return roots[0]


# ================================================================================================ bundled data


@dataclass(frozen=True)
class Change:
    """One row of hunan_division_changes.csv: a real, dated change of code, name and perhaps kind."""

    effective: date
    change: str
    old_code: str
    old_name: str
    old_kind: DivisionKind
    new_code: str
    new_name: str
    parent_code: str
    approval: str

    @property
    def crosses_code_systems(self) -> bool:
        """Township rows give the old code in the 2023 statistical system and the new one in the civil-affairs one."""
        return len(self.old_code) == CODE_LENGTH[Level.TOWNSHIP]


def load_divisions() -> list[Division]:
    """Fresh Division aggregates from the bundled data, each with its pending events (to seed an event store).

    Each division is established with its earliest known facts, then its dated changes are applied in date order,
    so 邵东市 keeps the id of 邵东县 (430521) and answers ``code_on`` for any day.
    """
    changes = _read_changes()
    chains = _change_chains(changes)
    divisions: dict[str, Division] = {}  # by current code
    rows = sorted(_read_csv("hunan_divisions.csv"), key=lambda r: Level(r["level"]).depth)
    for row in rows:
        chain = chains.get(row["code"], [])
        parent = divisions[row["parent_code"]] if row["parent_code"] else None
        division = _establish_earliest(row, chain, parent)
        _apply_changes(division, chain, DivisionKind(row["kind"]))
        if (division.code, division.name) != (row["code"], row["name"]):
            raise ValueError(f"the changes lead to {division}, but the data says {row['name']}({row['code']})")
        divisions[row["code"]] = division
    return list(divisions.values())


@cache
def _bundled_hierarchy() -> Hierarchy:
    return Hierarchy.from_divisions(load_divisions())


def _read_csv(filename: str) -> list[dict[str, str]]:
    text = files("domain").joinpath("data", filename).read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def _read_changes() -> list[Change]:
    changes = [
        Change(
            effective=_effective(row["year"]),
            change=row["change"],
            old_code=row["old_code"],
            old_name=row["old_name"],
            old_kind=_old_kind(row["change"], row["old_name"]),
            new_code=row["new_code"],
            new_name=row["new_name"],
            parent_code=row["parent_code"],
            approval=row["approval"] or "",
        )
        for row in _read_csv("hunan_division_changes.csv")
    ]
    return sorted(changes, key=lambda c: c.effective)


def _effective(year: str) -> date:
    """The day a change is taken to apply from, when the data gives only a year or a range of years.

    "2019" → 2019-01-01: only the year is known, so the new facts are taken to hold from its first day.
    "2023-2025" → 2025-01-01: the change happened between the 2023 statistical edition and the 2025 civil-affairs
    edition; we date it at the start of the last year of the range, so the old facts stand until the range ends.
    """
    last_year = year.strip().split("-")[-1]
    return date(int(last_year), 1, 1)


#: Kinds a change can start from, by the old name's ending, longest ending first (县 → county, 镇 → town, 乡 → township).
_OLD_KIND_BY_ENDING: tuple[tuple[str, DivisionKind], ...] = (
    ("自治县", DivisionKind.AUTONOMOUS_COUNTY),
    ("族乡", DivisionKind.ETHNIC_TOWNSHIP),
    ("街道", DivisionKind.STREET),
    ("县", DivisionKind.COUNTY),
    ("镇", DivisionKind.TOWN),
    ("乡", DivisionKind.TOWNSHIP),
)


def _old_kind(change: str, old_name: str) -> DivisionKind:
    """The kind before a change, from the old name's ending, checked against the change (撤县设市: the old one is 县)."""
    kind = next((k for ending, k in _OLD_KIND_BY_ENDING if old_name.endswith(ending)), None)
    if kind is None:
        raise ValueError(f"cannot tell the kind of {old_name} before the change {change}")
    named = change[1:2] if change.startswith("撤") else ""
    if named in ("县", "镇", "乡") and not old_name.endswith(named):
        raise ValueError(f"the change {change} does not fit {old_name}")
    return kind


def _change_chains(changes: Sequence[Change]) -> dict[str, list[Change]]:
    """Each current code's changes in date order, following a code through several changes if need be."""
    chains: dict[str, list[Change]] = {}
    for change in changes:  # in date order, so an earlier change's new code is a later change's old code
        chain = chains.pop(change.old_code, [])
        chains[change.new_code] = [*chain, change]
    return chains


def _establish_earliest(row: dict[str, str], chain: Sequence[Change], parent: Division | None) -> Division:
    if not chain:
        return Division.establish(row["code"], row["name"], DivisionKind(row["kind"]), parent)
    first = chain[0]
    id_code = next((c.old_code for c in chain if not c.crosses_code_systems), chain[-1].new_code)
    return Division.establish(first.old_code, first.old_name, first.old_kind, parent, id_code=id_code)


def _apply_changes(division: Division, chain: Sequence[Change], final_kind: DivisionKind) -> None:
    """Replay the dated changes; a change's new kind is the next change's old kind, or the current kind at the end."""
    for i, change in enumerate(chain):
        new_kind = chain[i + 1].old_kind if i + 1 < len(chain) else final_kind
        if change.new_code != division.code:
            division.recode(change.new_code, change.effective, change.approval)
        if change.new_name != division.name:
            division.rename(change.new_name, change.effective, change.approval)
        if new_kind is not division.kind:
            division.change_kind(new_kind, change.effective, change.approval)
