"""Views for people: rich tables with Chinese labels, CSV, and the closing 一盘棋 report of the demo."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

Column = tuple[str, str]  # (key, heading)


def _short(text: str, width: int = 18) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


#: Columns whose numbers name something rather than count it: printed as they are (the year 2024, never "2,024").
_NAMING_NUMBERS = frozenset({"year", "term"})


def _cell(key: str, value: Any) -> str:
    if key.endswith("rate") or key in ("satisfaction", "reply_rate", "pass_rate", "resolve_rate"):
        return _pct(value)
    if key in _NAMING_NUMBERS and isinstance(value, int):
        return str(value)
    return _fmt(value)


def table(title: str, rows: Sequence[dict[str, Any]], columns: Sequence[Column], *, caption: str | None = None) -> Table:
    t = Table(title=title, caption=caption, title_justify="left", show_lines=False)
    for key, heading in columns:
        numeric = bool(rows) and isinstance(rows[0].get(key), int | float) and not isinstance(rows[0].get(key), bool)
        t.add_column(heading, justify="right" if numeric or key.endswith("rate") else "left", overflow="fold")
    for row in rows:
        t.add_row(*[_cell(key, row.get(key)) for key, _ in columns])
    return t


def _header(data: dict[str, Any]) -> Text:
    scope = data["scope"]
    text = Text()
    text.append(f"{data['title']} · {scope['region_name']}({scope['region_code']}) · {scope['period']} · ", style="bold")
    text.append(scope["as_of_label"])
    text.append(f" · 参照日 reference day {scope['ref_day']}", style="dim")
    return text


REGION = [("name", "地区 region"), ("code", "代码 code")]


# ================================================================================================ renderers


def render(data: dict[str, Any], *, section: str | None = None) -> list[RenderableType]:
    view = data["view"]
    if view == "coverage":
        return render_coverage(data)
    if view == "stations":
        return render_stations(data)
    if view == "suggestions":
        return render_suggestions(data)
    if view == "livelihood":
        return render_livelihood(data)
    if view == "duty":
        return render_duty(data)
    if view == "regions":
        return [table(f"下级地区 children of {data['region']['name']}", data["children"], REGION)]
    raise ValueError(f"no renderer for view {view!r}")


def coverage_summary_rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for t in data["targets"]:
        worst = "、".join(
            f"{r['name']}({_pct(r['rate'])})" for r in t["worst_regions"][:2] if r["rate"] is not None and r["rate"] < 1
        )
        rows.append(
            {
                "label": t["short"],
                "target": t["label"],
                "period": t["period"],
                "population": t["population"],
                "covered": t["covered"],
                "missing": t["missing"],
                "rate": t["rate"],
                "worst": worst or "—",
            }
        )
    return rows


COVERAGE_COLUMNS = [
    ("label", "指标 target"),
    ("period", "期间"),
    ("population", "应覆盖"),
    ("covered", "已覆盖"),
    ("missing", "未覆盖"),
    ("rate", "覆盖率"),
    ("worst", "最弱地区 worst regions"),
]


def render_coverage(data: dict[str, Any]) -> list[RenderableType]:
    out: list[RenderableType] = [_header(data), table("一盘棋指标 targets", coverage_summary_rows(data), COVERAGE_COLUMNS)]
    for t in data["targets"]:
        regions = [r for r in t["by_region"] if r["population"]]
        if len(regions) > 1:
            out.append(
                table(
                    f"{t['label']} — 分地区 by region",
                    regions,
                    [*REGION, ("population", "应覆盖"), ("covered", "已覆盖"), ("missing", "未覆盖"), ("rate", "覆盖率")],
                )
            )
        missing = t["missing_list"]
        if missing["items"]:
            columns = _missing_columns(t["key"])
            shown = f"{missing['offset'] + 1}–{missing['offset'] + len(missing['items'])} / {missing['total']:,}"
            out.append(table(f"{t['label']} — 未覆盖名单 who is missing ({shown})", missing["items"], columns))
    return out


def _missing_columns(key: str) -> list[Column]:
    if key == "sc_face_to_face":
        return [("name", "姓名"), ("post", "职务"), ("office", "常委会")]
    if key == "body_research":
        return [("body", "机构 body")]
    if key == "follow_up":
        return [
            ("number", "编号"),
            ("title", "建议"),
            ("state", "状态"),
            ("category", "答复类别"),
            ("lead_unit", "承办单位"),
            ("office", "办理机关"),
        ]
    if key == "opinions":
        return [
            ("raised_on", "提出日期"),
            ("opinion", "意见"),
            ("contact", "联系活动"),
            ("status", "状态"),
            ("office", "记录机关"),
        ]
    return [("name", "姓名"), ("unit", "工作单位"), ("office", "所属人大"), ("where", "所在地"), ("person_id", "人员编号")]


STATION_REGION_COLUMNS = [
    *REGION,
    ("stations", "联络站"),
    ("visits", "接待次数"),
    ("duty_slots", "进站代表(人次)"),
    ("people", "接待群众"),
    ("issues_raised", "反映问题"),
    ("issues_resolved", "当场解决"),
    ("issues_transferred", "转办"),
    ("issues_pending", "待处理"),
    ("idle_stations", "闲置站"),
    ("merged", "期内并站"),
    ("closed", "期内撤站"),
]


def render_stations(data: dict[str, Any]) -> list[RenderableType]:
    totals = data["totals"]
    summary = (
        f"联络站 {totals['stations']:,} 个 · 接待 {totals['visits']:,} 次 · 进站代表 {totals['distinct_deputies']:,} 人"
        f"({totals['duty_slots']:,} 人次) · 接待群众 {totals['people']:,} 人次 · 反映问题 {totals['issues_raised']:,} 件,"
        f"当场解决 {totals['issues_resolved']:,}、转办 {totals['issues_transferred']:,}、待处理 {totals['issues_pending']:,} · "
        f"{data['idle_days']} 天以上无接待 {totals['idle_stations']:,} 个 · 期内并站 {totals['merged']:,} 个、撤站 "
        f"{totals['closed']:,} 个"
    )
    out: list[RenderableType] = [_header(data), Text(summary)]
    out.append(table("分地区 by region", data["by_region"], STATION_REGION_COLUMNS))
    station_cols = [
        ("name", "联络站"),
        ("node", "所在地"),
        ("enrolled", "进站代表"),
        ("visits", "接待次数"),
        ("deputies", "履职代表"),
        ("people", "接待群众"),
        ("issues_raised", "反映问题"),
        ("last_visit", "最近接待"),
        ("absorbed", "合并站数"),
    ]
    out.append(table("接待最多的联络站 busiest stations", data["busiest"], station_cols))
    idle = data["idle"]
    if idle["items"]:
        out.append(
            table(
                f"闲置联络站 stations without a visit for {data['idle_days']}+ days ({idle['total']:,})",
                idle["items"],
                [
                    ("name", "联络站"),
                    ("node", "所在地"),
                    ("enrolled", "进站代表"),
                    ("last_visit", "最近接待"),
                    ("idle_days", "闲置天数"),
                ],
            )
        )
    return out


def render_suggestions(data: dict[str, Any]) -> list[RenderableType]:
    t = data["totals"]
    f = data["follow_up"]
    summary = (
        f"建议 {t['total']:,} 件 · 已答复 {t['replied']:,} ({_pct(t['reply_rate'])}) · 满意度 {_pct(t['satisfaction'])}"
        f"(已评价 {t['evaluated']:,}) · 逾期未答复 {t['overdue']:,} · 超期答复 {t['replied_late']:,} · "
        f"跟踪督办中 B类 {f['b_open']:,}、C类 {f['c_open']:,} · 不满意重新办理 {f['rehandling']:,} · 已办结 {t['closed']:,}"
    )
    if t.get("evaluations_self") is not None:  # counted now, not as of a cut
        summary += f" · 评价 代表本人 {t['evaluations_self']:,}、办公室代录 {t['evaluations_office']:,}"
    out: list[RenderableType] = [_header(data), Text(summary)]
    out.append(table("办理状态 pipeline", data["by_state"], [("label", "状态"), ("count", "件数")]))
    out.append(
        table(
            "分地区 by region",
            [r for r in data["by_region"] if r["total"]] or data["by_region"],
            [
                *REGION,
                ("total", "建议"),
                ("replied", "已答复"),
                ("reply_rate", "答复率"),
                ("satisfaction", "满意度"),
                ("overdue", "逾期"),
                ("open_follow_up", "跟踪督办"),
                ("closed", "办结"),
                ("evaluations_self", "本人评价"),
                ("evaluations_office", "代录评价"),
            ],
        )
    )
    out.append(
        table(
            "主要承办单位 handling units",
            data["by_unit"],
            [
                ("unit", "承办单位"),
                ("total", "件数"),
                ("replied", "已答复"),
                ("overdue", "逾期"),
                ("open_follow_up", "跟踪督办"),
                ("satisfaction", "满意度"),
            ],
        )
    )
    out.append(table("答复类别 reply category", data["by_category"], [("label", "类别"), ("count", "件数")]))
    out.append(table("代表评价 evaluation", data["satisfaction"], [("label", "评价"), ("count", "件数")]))
    listing_cols = [
        ("number", "编号"),
        ("title", "建议"),
        ("state_label", "状态"),
        ("lead_unit", "承办单位"),
        ("due_on", "答复期限"),
        ("office", "办理机关"),
    ]
    for key, title in (("overdue", "逾期未答复 overdue replies"), ("follow_ups", "跟踪督办与重新办理 open follow-ups")):
        page = data[key]
        if page["items"]:
            cols = listing_cols + (
                [("days_overdue", "逾期天数")] if key == "overdue" else [("category", "类别"), ("evaluation", "评价")]
            )
            out.append(table(f"{title} ({page['total']:,})", page["items"], cols))
    pri = data["priority"]
    if pri["list"]["items"]:
        out.append(
            table(
                f"重点处理建议 priority suggestions ({pri['list']['total']:,})",
                pri["list"]["items"],
                [
                    ("number", "编号"),
                    ("title", "建议"),
                    ("state_label", "状态"),
                    ("leader", "领办领导"),
                    ("supervisions", "督办次数"),
                    ("lead_unit", "承办单位"),
                ],
            )
        )
    return out


LIVELIHOOD_COLUMNS = [
    ("proposed", "征集项目"),
    ("voted", "票决"),
    ("passed", "通过"),
    ("pass_rate", "通过率"),
    ("investment_wan", "投资(万元)"),
    ("implementing", "实施中/已实施"),
    ("avg_progress", "平均进度%"),
    ("completed", "完工"),
    ("satisfaction", "满意度"),
]


def render_livelihood(data: dict[str, Any]) -> list[RenderableType]:
    t = data["totals"]
    summary = (
        f"民生实事 征集 {t['proposed']:,} 项 · 票决 {t['voted']:,} 项,通过 {t['passed']:,} 项(通过率 {_pct(t['pass_rate'])}) · "
        f"投资 {t['investment_wan']:,.2f} 万元({t['investment_yi']:.2f} 亿元) · 平均进度 {_fmt(t['avg_progress'])}% · "
        f"完工 {t['completed']:,} 项 · 代表测评满意度 {_pct(t['satisfaction'])}"
    )
    out: list[RenderableType] = [_header(data), Text(summary)]
    out.append(
        table(
            "分地区 by region",
            [r for r in data["by_region"] if r["proposed"]] or data["by_region"],
            [*REGION, *LIVELIHOOD_COLUMNS],
        )
    )
    out.append(table("分年度 by year", data["by_year"], [("year", "年度"), *LIVELIHOOD_COLUMNS]))
    out.append(table("项目状态 stages", data["by_state"], [("label", "阶段"), ("count", "项数")]))
    page = data["implementing"]
    if page["items"]:
        out.append(
            table(
                f"实施进度最慢 slowest in implementation ({page['total']:,})",
                page["items"],
                [
                    ("title", "项目"),
                    ("office", "所在地"),
                    ("progress", "进度%"),
                    ("budget_wan", "预算(万元)"),
                    ("spent_wan", "已支出(万元)"),
                    ("lead_unit", "实施单位"),
                    ("supervisions", "人大监督"),
                ],
            )
        )
    return out


def render_duty(data: dict[str, Any]) -> list[RenderableType]:
    out: list[RenderableType] = [_header(data)]
    if "deputies" in data:
        page = data["deputies"]
        out.append(Text(f"在任代表 {data['serving']:,} 名 · 期间无履职记录 {data['inactive']:,} 名 ({data['order']})"))
        out.append(
            table(
                f"代表履职 deputies ({page['offset'] + 1}–{page['offset'] + len(page['items'])} / {page['total']:,})",
                page["items"],
                [
                    ("name", "姓名"),
                    ("office", "所属人大"),
                    ("where", "所在地"),
                    ("contacts", "联系活动"),
                    ("visits", "进站"),
                    ("suggestions", "建议"),
                    ("opinions", "意见"),
                    ("total", "合计"),
                    ("person_id", "人员编号"),
                ],
            )
        )
        return out
    who = data["deputy"]
    flags = "基层代表" if who["grassroots"] else "领导干部代表" if who["leading_cadre"] else ""
    out.append(
        Text(f"履职档案 {who['name']} · {who.get('unit') or ''} · {flags} · 人员编号 {who.get('person_id') or '—'}", style="bold")
    )
    out.append(
        table(
            "代表资格 mandates",
            data["mandates"],
            [
                ("congress_label", "层级"),
                ("term", "届"),
                ("office", "人大"),
                ("elected_by", "选举单位/选区"),
                ("status_label", "状态"),
            ],
        )
    )
    if data["stations"]:
        out.append(
            table(
                "编入联络站 stations",
                data["stations"],
                [("station", "联络站"), ("node", "所在地"), ("since", "进站"), ("until", "出站")],
            )
        )
    summary = data["summary"]
    kinds = "、".join(f"{k} {v}" for k, v in summary["contacts_by_kind"].items()) or "—"
    out.append(
        Text(
            f"联系活动 {summary['contacts']} 次({kinds}) · 进站接待 {summary['visits']} 次,接待群众 "
            f"{summary['people_received']} 人次 · 建议 {summary['suggestions']} 件(领衔 {summary['suggestions_lead']}) · "
            f"意见 {summary['opinions']} 条"
        )
    )
    for key, title, cols in (
        ("contacts", "联系活动 contacts", [("day", "日期"), ("kind_label", "类型"), ("title", "活动"), ("node", "记录机关")]),
        (
            "visits",
            "进站接待 station visits",
            [("day", "日期"), ("station", "联络站"), ("node", "所在地"), ("people", "接待群众")],
        ),
        (
            "suggestions",
            "代表建议 suggestions",
            [
                ("number", "编号"),
                ("title", "建议"),
                ("role", "角色"),
                ("state_label", "状态"),
                ("category", "类别"),
                ("evaluation", "评价"),
                ("office", "办理机关"),
            ],
        ),
        ("opinions", "意见建议 opinions", [("day", "日期"), ("opinion", "意见"), ("contact", "联系活动"), ("node", "记录机关")]),
    ):
        if data[key]:
            out.append(table(title, data[key], cols))
    return out


# ===================================================================================================== CSV


def to_csv(data: dict[str, Any]) -> str:
    """Every table of the view, one after another, each after a ``# title`` line (UTF-8, Excel reads it)."""
    buffer = io.StringIO()
    for renderable in render(data):
        if isinstance(renderable, Table):
            _write_table(buffer, renderable)
    return buffer.getvalue()


def _write_table(buffer: io.StringIO, t: Table) -> None:
    writer = csv.writer(buffer)
    buffer.write(f"# {t.title}\n")
    writer.writerow([str(c.header) for c in t.columns])
    cells = [list(c.cells) for c in t.columns]
    for row in zip(*cells, strict=False):
        writer.writerow([str(x) for x in row])
    buffer.write("\n")


# ==================================================================================================== 一盘棋


def yipanqi(
    coverage: dict[str, Any],
    stations: dict[str, Any],
    suggestions: dict[str, Any],
    livelihood: dict[str, Any],
    *,
    next_steps: Iterable[str] = (),
) -> list[RenderableType]:
    """The province's one-screen report: every target with its worst regions, then stations, the suggestions
    pipeline and livelihood projects, and where to look next."""
    scope = coverage["scope"]
    head = Text(f"一盘棋 · {scope['region_name']} · {scope['period']} · {scope['as_of_label']}", style="bold")
    parts: list[RenderableType] = [
        head,
        table("联系覆盖 targets (worst regions: 最弱地区)", coverage_summary_rows(coverage), COVERAGE_COLUMNS),
    ]
    examples = []
    for t in coverage["targets"]:
        items = t["missing_list"]["items"][:3]
        if items:
            names = "、".join(_short(i.get("name") or i.get("body") or i.get("title") or i.get("opinion", "")) for i in items)
            examples.append(f"{t['short']}: {names}{' 等' if t['missing'] > len(items) else ''}")
    if examples:
        parts.append(Text("未覆盖举例 who is missing, e.g.:\n  " + "\n  ".join(examples)))
    st = stations["totals"]
    parts.append(
        Text(
            f"联络站 stations: {st['stations']:,} 个, 接待 {st['visits']:,} 次, 进站代表 {st['distinct_deputies']:,} 人, "
            f"接待群众 {st['people']:,} 人次; 反映问题 {st['issues_raised']:,} 件 (当场解决 {_pct(st['resolve_rate'])}, 转办 "
            f"{st['issues_transferred']:,}, 待处理 {st['issues_pending']:,}); {stations['idle_days']} 天以上无接待 "
            f"{st['idle_stations']:,} 个; 期内并站 {st['merged']:,} 个, 撤站 {st['closed']:,} 个"
        )
    )
    stage = " → ".join(f"{r['label']} {r['count']:,}" for r in suggestions["by_state"])
    t = suggestions["totals"]
    f = suggestions["follow_up"]
    parts.append(
        Text(
            f"代表建议 suggestions: {t['total']:,} 件 | {stage}\n"
            f"  答复率 {_pct(t['reply_rate'])}, 满意度 {_pct(t['satisfaction'])}, 逾期未答复 {t['overdue']:,}, "
            f"跟踪督办 B类 {f['b_open']:,} / C类 {f['c_open']:,}, 不满意重新办理 {f['rehandling']:,}"
        )
    )
    lt = livelihood["totals"]
    parts.append(
        Text(
            f"民生实事 livelihood: 征集 {lt['proposed']:,} 项, 票决通过 {lt['passed']:,}/{lt['voted']:,} "
            f"(通过率 {_pct(lt['pass_rate'])}), 投资 {lt['investment_wan']:,.2f} 万元 ({lt['investment_yi']:.2f} 亿元), "
            f"实施 {lt['implementing']:,} 项平均进度 {_fmt(lt['avg_progress'])}%, 完工 {lt['completed']:,}, "
            f"满意度 {_pct(lt['satisfaction'])}"
        )
    )
    steps = list(next_steps)
    if steps:
        parts.append(Text("下一步 where to look next:\n  " + "\n  ".join(steps), style="cyan"))
    return [Panel(Group(*parts), title="一盘棋 province-wide view", expand=True)]
