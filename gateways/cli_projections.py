"""``yipanqi report …``, ``yipanqi projections …`` and ``yipanqi bench projections``: the read models from the CLI."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.console import Console

from domain.base import DomainError
from domain.hierarchy import Hierarchy
from domain.personal import mask
from domain.store import NodeStore, StoreSettings
from gateways.bench import print_result
from projections import queries, report
from projections.db import ProjectionDB
from projections.rebuild import rebuild, update

projections_app = typer.Typer(help="读模型 / read models (projections) of a node", no_args_is_help=True)
console = Console(width=max(120, Console().width))
err = Console(stderr=True, width=max(120, Console().width))

VIEWS = ("coverage", "stations", "suggestions", "livelihood", "duty", "regions")
PROVINCE = "430000"


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]错误 error:[/] {message}")
    return typer.Exit(code=2)


def open_store(hierarchy: Hierarchy, code: str, settings: StoreSettings) -> NodeStore:
    try:
        division = hierarchy.resolve(code)
    except DomainError as e:
        raise _fail(str(e)) from None
    if settings.backend(division.level) == "sqlite" and not settings.sqlite_path(division.id).exists():
        raise _fail(
            f"{division.name}({division.code}) has no store at {settings.sqlite_path(division.id)}: "
            "run `yipanqi demo`, `yipanqi simulate` or sync first, or set YIPANQI_DATA_DIR"
        )
    return NodeStore(hierarchy.ref(division), settings)


def _each_store(codes: list[str]) -> Iterator[tuple[NodeStore, StoreSettings, Hierarchy]]:
    """The named nodes' stores (default the province), one at a time, each closed before the next opens."""
    hierarchy = Hierarchy.load()
    settings = StoreSettings()
    for code in codes or [PROVINCE]:
        store = open_store(hierarchy, code, settings)
        try:
            yield store, settings, hierarchy
        finally:
            store.close()


def report_command(
    view: Annotated[str, typer.Argument(help=f"视图 view: {', '.join(VIEWS)}")],
    node: Annotated[str, typer.Option(help="whose projection (区划代码; default the province)")] = PROVINCE,
    region: Annotated[str | None, typer.Option(help="region within the node's subtree (default: the node itself)")] = None,
    year: Annotated[int | None, typer.Option(help="year (default: the as-of year, else the latest year with activity)")] = None,
    term: Annotated[int | None, typer.Option(help="term (届) of the region's congress, as its calendar years")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="the view as it stood then: YYYY-MM-DD[THH:MM[:SS]][+08:00]")
    ] = None,
    by: Annotated[
        str,
        typer.Option(
            help="as-of clock: recorded (what its office had recorded), occurred (what had happened) or known (what this "
            "node held then: at a parent, behind its children by the sync's lag)"
        ),
    ] = "recorded",
    output: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="rows per list (missing names, overdue...)")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="skip this many rows of each list (paging)")] = 0,
    deputy: Annotated[str | None, typer.Option(help="duty: one deputy's record (name, person id or deputy id)")] = None,
    target: Annotated[list[str], typer.Option(help="coverage: only these targets (repeatable)")] = [],  # noqa: B006
    idle_days: Annotated[int, typer.Option(min=1, help="stations: idle after this many days without a visit")] = 30,
    most_active: Annotated[bool, typer.Option(help="duty ranking: most active first (default: least)")] = False,
    catch_up: Annotated[bool, typer.Option("--update/--no-update", help="catch the projection up with the log first")] = True,
) -> None:
    """报表 / a view of a node's read models (一盘棋 coverage, stations, suggestions, livelihood, duty records)."""
    if view not in VIEWS:
        raise _fail(f"unknown view {view!r}; choose one of: {', '.join(VIEWS)}")
    if output not in ("table", "json", "csv"):
        raise _fail(f"--format must be table, json or csv (got {output!r})")
    hierarchy = Hierarchy.load()
    settings = StoreSettings()
    store = open_store(hierarchy, node, settings)
    try:
        db = ProjectionDB(store.node, settings, hierarchy=hierarchy)
        if catch_up or not db.exists():
            db.open()
            stats = update(store, settings, hierarchy=hierarchy, db=db)
            if stats.read:
                err.print(f"[dim]已更新读模型 projected {stats.read:,} new events ({stats.seconds:.1f} s)[/]")
        try:
            scope = queries.make_scope(db, region=region, year=year, term=term, as_of=as_of, by=by, hierarchy=hierarchy)
            data = mask(
                _run_view(  # the one masking rule: the command line has no role that sees personal data
                    db,
                    scope,
                    view,
                    limit=limit,
                    offset=offset,
                    deputy=deputy,
                    targets=tuple(target),
                    idle_days=idle_days,
                    least=not most_active,
                )
            )
        except queries.QueryError as e:
            raise _fail(str(e)) from None
        db.dispose()
    finally:
        store.close()
    if output == "json":
        typer.echo(json.dumps(data, ensure_ascii=False, default=str))
    elif output == "csv":
        sys.stdout.write(report.to_csv(data))
    else:
        for renderable in report.render(data):
            console.print(renderable)


def _run_view(db: ProjectionDB, scope: queries.Scope, view: str, **opts: Any) -> dict[str, Any]:
    if view == "coverage":
        return queries.coverage(
            db, scope, targets=opts["targets"] or None, missing_offset=opts["offset"], missing_limit=opts["limit"]
        )
    if view == "stations":
        return queries.stations(db, scope, idle_days=opts["idle_days"], offset=opts["offset"], limit=opts["limit"])
    if view == "suggestions":
        return queries.suggestions(db, scope, offset=opts["offset"], limit=opts["limit"])
    if view == "livelihood":
        return queries.livelihood(db, scope, offset=opts["offset"], limit=opts["limit"])
    if view == "duty":
        if opts["deputy"]:
            return queries.duty_record(db, scope, opts["deputy"], limit=opts["limit"])
        return queries.duty_ranking(db, scope, offset=opts["offset"], limit=opts["limit"], least=opts["least"])
    data = queries.regions(db, scope)
    data.update(view="regions", title="下级地区", scope=scope.describe())
    return data


@projections_app.command("update")
def projections_update(
    node: Annotated[list[str], typer.Option("--node", help="node code (repeatable; default the province)")] = [],  # noqa: B006
) -> None:
    """增量更新 / catch a node's read models up with its log."""
    for store, settings, hierarchy in _each_store(node):
        stats = update(store, settings, hierarchy=hierarchy)
        console.print(f"{store.node.name}({store.node.code}): {json.dumps(stats.as_dict(), ensure_ascii=False)}")


@projections_app.command("rebuild")
def projections_rebuild(
    node: Annotated[list[str], typer.Option("--node", help="node code (repeatable; default the province)")] = [],  # noqa: B006
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per node")] = False,
) -> None:
    """重建 / rebuild a node's read models from its whole log, aside, then swap them in (writes may go on)."""
    for store, settings, hierarchy in _each_store(node):
        result = rebuild(store, settings, hierarchy=hierarchy, log=None if as_json else console.print)
        if as_json:
            typer.echo(json.dumps({"node": store.node.code, **result}, ensure_ascii=False))
        else:
            console.print(
                f"已重建 rebuilt {store.node.name}({store.node.code}): {result['events']:,} events, "
                f"{result['seconds']} s ({result['events_per_s']:,}/s), swapped in {result['where']}"
            )


@projections_app.command("status")
def projections_status(
    node: Annotated[list[str], typer.Option("--node", help="node code (repeatable; default the province)")] = [],  # noqa: B006
) -> None:
    """状态 / position of a node's read models against its log, and skipped events."""
    for store, settings, hierarchy in _each_store(node):
        db = ProjectionDB(store.node, settings, hierarchy=hierarchy)
        state: dict[str, Any] = db.state() if db.exists() else {"position": 0, "skips": []}
        head = store.max_position()
        db.dispose()
        console.print(
            f"{store.node.name}({store.node.code}) {db.where}: position {state['position']:,} of {head:,} "
            f"(behind {head - state['position']:,}); skipped {len(state['skips'])} kinds: "
            + "; ".join(f"{s['reason']} {s['topic']} ×{s['count']}" for s in state["skips"])
        )


def bench_projections_command(
    events: Annotated[int, typer.Option(min=10_000, help="events in the store (≥ 1,000,000 for the goal)")] = 1_000_000,
    region: Annotated[str, typer.Option(help="simulated region under the province")] = "430500",
    scale: Annotated[float, typer.Option(min=0.1, max=10)] = 1.2,
    days: Annotated[int, typer.Option(min=30, max=3660)] = 1460,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as one JSON line last")] = False,
) -> None:
    """读模型基准 / full rebuild of every view vs bare decoding; province rollup query latency."""
    from gateways.bench.projections import run_projections_benchmark

    result = run_projections_benchmark(events=events, region=region, scale=scale, days=days, log=err.print)
    print_result(result, as_json=as_json, console=console)
