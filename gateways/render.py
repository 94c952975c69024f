"""Terminal rendering for people: Chinese labels first, English after."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

from rich.table import Table
from rich.tree import Tree

from domain.base import NodeRef
from domain.hierarchy import Hierarchy
from domain.personal import mask
from domain.store import StoreSettings

CST = timezone(timedelta(hours=8), "CST")  # times are shown as Hunan's offices read them
_ENVELOPE_FIELDS = (
    "originator_id",
    "originator_version",
    "timestamp",
    "originator_topic",
    "owner",
    "actor",
    "role",
    "occurred_at",
    "token",
)


def node_label(node: NodeRef) -> str:
    return f"{node.name} {node.code} ({node.level.label}·{node.kind.label})"


def node_tree(hierarchy: Hierarchy, root: Any, depth: int, settings: StoreSettings) -> Tree:
    def label(division: Any) -> str:
        ref = hierarchy.ref(division)
        text = node_label(ref)
        former = [c for c in division.former_codes if c != ref.code]
        if former:
            text += f" [dim]曾用代码 formerly {', '.join(former)}[/]"
        if not ref.has_congress:
            text += " [yellow]无人大 no congress[/]"
        if settings.backend(ref.level) == "sqlite" and settings.sqlite_path(division.id).exists():
            text += " [green]● 已初始化[/]"
        children = hierarchy.children(division)
        if children:
            text += f" [dim]· {len(children)} 下级[/]"
        return text

    def grow(branch: Tree, division: Any, level: int) -> None:
        if level >= depth:
            return
        for child in hierarchy.children(division):
            grow(branch.add(label(child)), child, level + 1)

    path = " › ".join(hierarchy.ref(d).name for d in hierarchy.path(root))
    tree = Tree(f"[bold]{label(root)}[/]  [dim]{path} · id {root.id}[/]")
    grow(tree, root, 0)
    return tree


def simulation_summary(region: NodeRef, summary: Any) -> Table:
    """Events recorded per level (rows) and per event family (columns)."""
    families = summary.families
    table = Table(title=f"已记录事件 events recorded — {node_label(region)}", show_footer=True)
    table.add_column("层级 level", footer="合计 total")
    for family in families:
        table.add_column(family.label, justify="right", footer=f"{summary.family_total(family):,}")
    table.add_column("合计 total", justify="right", footer=f"{summary.total:,}")
    for level, nodes in summary.levels():
        row = [f"{level.label} ({nodes} 个节点)"]
        row += [f"{summary.count(level, family):,}" for family in families]
        row.append(f"{summary.level_total(level):,}")
        table.add_row(*row)
    return table


def event_dict(event: Any) -> dict[str, Any]:
    """An event's fields as the command line shows them: personal data of the public masked (``domain.personal``: the
    command line has no role that sees it; what the log holds is masked already, but for events stored before it
    sealed personal data)."""
    data: dict[str, Any] = mask({f.name: getattr(event, f.name) for f in dataclasses.fields(event)})
    data["type"] = type(event).__qualname__
    data["label"] = getattr(event, "label", "")
    return data


def history_table(
    hierarchy: Hierarchy, aggregate_id: UUID, events: list[Any], node: NodeRef, known: list[datetime | None]
) -> Table:
    """An aggregate's events as ``node``'s store holds them, with when that node came to hold each (``known``)."""
    owner = _owner_label(hierarchy, events[0].owner)
    title = f"聚合历史 history of {aggregate_id} · 所属 owner {owner} · 读自 read at {node.name} · 北京时间 UTC+8"
    table = Table(title=title, expand=True)
    columns = (("版本 v", 1), ("事件 event", 3), ("发生 occurred", 2), ("记录 recorded", 2), ("知悉 known", 2))
    for column, ratio in (*columns, ("记录人 actor", 2)):
        table.add_column(column, overflow="fold", ratio=ratio)
    table.add_column("内容 payload", overflow="fold", ratio=7)
    for event, known_at in zip(events, known, strict=True):
        payload = {k: v for k, v in event_dict(event).items() if k not in _ENVELOPE_FIELDS and k not in ("type", "label")}
        table.add_row(
            str(event.originator_version),
            f"{getattr(event, 'label', '')} {type(event).__qualname__}",
            event.occurred_at.astimezone(CST).strftime("%Y-%m-%d %H:%M"),
            event.timestamp.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S"),
            known_at.astimezone(CST).strftime("%Y-%m-%d %H:%M:%S") if known_at else "未知 unknown",
            f"{event.actor} ({event.role})" + (f" 令牌 {event.token}" if event.token else ""),
            "; ".join(f"{k}={_short(v)}" for k, v in payload.items()),
        )
    return table


def _owner_label(hierarchy: Hierarchy, owner: UUID) -> str:
    try:
        return node_label(hierarchy.ref(hierarchy.get(owner)))
    except Exception:  # noqa: BLE001 - an owner unknown to this hierarchy is still shown, by id
        return str(owner)


def _short(value: Any) -> str:
    text = "[" + ", ".join(map(str, value)) + "]" if isinstance(value, list) else str(value)
    return text if len(text) <= 80 else text[:77] + "…"
