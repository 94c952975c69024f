"""Deputies' duty: one person's record (履职档案) and the ranking of serving deputies by what they did."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from projections import labels as L
from projections import schema as s
from projections.db import ProjectionDB
from projections.queries.context import Ctx, view_answer
from projections.queries.scope import QueryError, Scope
from projections.queries.suggestions import suggestion_states
from projections.timeutil import day_of_us


def _find_deputies(conn: Connection, who: str) -> Sequence[Any]:
    d = s.deputies
    who = who.strip().replace("-", "")
    rows = conn.execute(sa.select(d).where(sa.or_(d.c.deputy_id == who.lower(), d.c.person_id == who))).all()
    if not rows:
        rows = conn.execute(sa.select(d).where(d.c.name == who)).all()
    return rows


def duty_record(db: ProjectionDB, scope: Scope, who: str, *, limit: int = 50) -> dict[str, Any]:
    """Everything one deputy (a person: all their deputy records, at any node of the subtree) did in the period:
    contacts, station visits, suggestions, opinions, and their mandates and stations."""
    with db.connect() as conn:
        ctx = Ctx(db, scope, conn)
        rows = _find_deputies(conn, who)
        people = sorted({r.person_id for r in rows})
        if len(people) > 1:
            choices = "; ".join(f"{r.name} {r.person_id} ({ctx.region_label(r.node_id)['name']})" for r in rows[:10])
            raise QueryError(f"{who!r} names several people: {choices}; give a person id or deputy id")
        d = s.deputies
        if people:
            records = conn.execute(sa.select(d).where(d.c.person_id == people[0], ctx.by_cut(d))).all()
            ids = [r.deputy_id for r in records]
        else:
            # A deputy this node knows only by id (e.g. a provincial deputy on duty at a township's station).
            maybe = who.strip().replace("-", "").lower()
            seen = conn.execute(
                sa.select(s.station_enrolments.c.deputy_name).where(s.station_enrolments.c.deputy_id == maybe).limit(1)
            ).scalar()
            if seen is None:
                raise QueryError(f"no deputy {who!r} in {db.node.name}'s projection (name, person id or deputy id)")
            records, ids = [], [maybe]
        m = s.mandates
        mandates = [
            {
                "deputy_id": r.deputy_id,
                "congress": r.congress,
                "congress_label": L.CONGRESS.get(r.congress, r.congress),
                "term": r.term,
                "elected_by": r.elected_by,
                "office": ctx.region_label(r.node_id)["name"],
                "status": _mandate_status(ctx, r),
            }
            for r in conn.execute(sa.select(m).where(m.c.deputy_id.in_(ids), ctx.by_cut(m, "granted")))
        ]
        mandates = [x for x in mandates if x["status"] is not None]
        for x in mandates:
            x["status_label"] = L.MANDATE_STATUS.get(x["status"], x["status"])
        en, st = s.station_enrolments, s.stations
        enrolled = []
        for r in conn.execute(
            sa.select(st.c.name, en.c.station_id, en.c.node_id, en.c.since_occ, en.c.until_occ, ctx.clock(en, "until"))
            .join_from(en, st, st.c.station_id == en.c.station_id, isouter=True)
            .where(en.c.deputy_id.in_(ids), ctx.by_cut(en, "since"))
            .order_by(en.c.since_occ, en.c.station_id)
        ):
            ended = r[5] is not None and (scope.as_of is None or r[5] <= scope.as_of)
            enrolled.append(
                {
                    "station": r[0] or r[1],
                    "node": ctx.region_label(r[2])["name"],
                    "since": day_of_us(r[3]),
                    "until": day_of_us(r[4]) if ended else None,
                }
            )
        cd, c = s.contact_deputies, s.contacts
        contact_cond = [cd.c.deputy_id.in_(ids), ctx.by_cut(cd), ctx.holds(cd), ctx.years(cd.c.year), ctx.in_region(cd.c.node_id)]
        contacts_total = conn.execute(sa.select(sa.func.count()).where(*contact_cond)).scalar() or 0
        by_kind = {
            k: n
            for k, n in conn.execute(
                sa.select(c.c.kind, sa.func.count())
                .join_from(cd, c, c.c.contact_id == cd.c.contact_id)
                .where(*contact_cond)
                .group_by(c.c.kind)
            )
        }
        contacts_list = [
            {
                "day": r[0],
                "kind": r[1],
                "kind_label": L.CONTACT_KIND.get(r[1], r[1]),
                "title": r[2],
                "organiser": r[3],
                "node": ctx.region_label(r[4])["name"],
            }
            for r in conn.execute(
                sa.select(c.c.day, c.c.kind, c.c.title, c.c.organiser, c.c.node_id)
                .join_from(cd, c, c.c.contact_id == cd.c.contact_id)
                .where(*contact_cond)
                .order_by(c.c.day.desc(), c.c.contact_id)
                .limit(limit)
            )
        ]
        vd, v = s.visit_deputies, s.visits
        visit_cond = [
            vd.c.deputy_id.in_(ids),
            ctx.by_cut(vd),
            ctx.holds(vd),
            ctx.by_cut(v),  # the visit's row that held then (as recorded, or as corrected)
            ctx.holds(v),
            ctx.years(vd.c.year),
            ctx.in_region(vd.c.node_id),
        ]
        visits_total, people_received = conn.execute(
            sa.select(sa.func.count(), sa.func.sum(v.c.people)).join_from(vd, v, v.c.visit_id == vd.c.visit_id).where(*visit_cond)
        ).one()
        visits_list = [
            {"day": r[0], "station": r[1], "node": ctx.region_label(r[2])["name"], "people": r[3]}
            for r in conn.execute(
                sa.select(v.c.day, st.c.name, v.c.node_id, v.c.people)
                .join_from(vd, v, v.c.visit_id == vd.c.visit_id)
                .join(st, st.c.station_id == v.c.station_id, isouter=True)
                .where(*visit_cond)
                .order_by(v.c.day.desc(), v.c.visit_id)
                .limit(limit)
            )
        ]
        sgn = s.suggestion_signers
        sg = suggestion_states(ctx, static=("number", "title"))
        sug_cond = [
            sgn.c.deputy_id.in_(ids),
            ctx.by_cut(sgn),
            ctx.holds(sgn),
            ctx.years(sgn.c.year),
            ctx.in_region(sgn.c.node_id),
        ]
        suggestions_list = [
            {
                "number": r[0],
                "title": r[1],
                "role": "领衔" if r[2] == "lead" else "附议",
                "state": r[3],
                "state_label": L.SUGGESTION_STATE.get(r[3], r[3]),
                "category": r[4],
                "evaluation": L.EVALUATION.get(r[5], r[5]) if r[5] else None,
                "office": ctx.region_label(r[6])["name"],
                "day": r[7],
            }
            for r in conn.execute(
                sa.select(
                    sg.c.number,
                    sg.c.title,
                    sgn.c.role,
                    sg.c.state,
                    sg.c.last_category,
                    sg.c.last_evaluation,
                    sg.c.node_id,
                    sg.c.day,
                )
                .join_from(sgn, sg, sg.c.suggestion_id == sgn.c.suggestion_id)
                .where(*sug_cond)
                .order_by(sg.c.day.desc(), sg.c.suggestion_id)
            )
        ]
        o, ot = s.opinions, s.opinion_texts
        op_cond = [o.c.deputy_id.in_(ids), ctx.by_cut(o), ctx.holds(o), ctx.years(o.c.year), ctx.in_region(o.c.node_id)]
        opinions_list = [
            {"day": r[0], "opinion": r[1], "contact": r[2], "node": ctx.region_label(r[3])["name"]}
            for r in conn.execute(
                sa.select(o.c.day, ot.c.text, c.c.title, o.c.node_id)
                .join_from(o, c, c.c.contact_id == o.c.contact_id, isouter=True)
                .join(ot, sa.and_(ot.c.contact_id == o.c.contact_id, ot.c.number == o.c.number))
                .where(*op_cond)
                .order_by(o.c.day.desc(), o.c.contact_id, o.c.number)
                .limit(limit)
            )
        ]
        opinions_total = conn.execute(sa.select(sa.func.count()).where(*op_cond)).scalar() or 0
        first = records[0] if records else None
        name = (
            first.name if first else conn.execute(sa.select(en.c.deputy_name).where(en.c.deputy_id == ids[0]).limit(1)).scalar()
        )
        identity = {
            "name": name,
            "person_id": first.person_id if first else None,
            "deputy_ids": ids,
            "gender": first.gender if first else None,
            "unit": first.unit if first else None,
            "grassroots": bool(first.grassroots) if first else None,
            "leading_cadre": bool(first.leading_cadre) if first else None,
            "offices": sorted({ctx.region_label(r.node_id)["name"] for r in records}),
        }
        return view_answer(
            "duty",
            scope,
            deputy=identity,
            mandates=mandates,
            stations=enrolled,
            summary={
                "contacts": contacts_total,
                "contacts_by_kind": {L.CONTACT_KIND.get(k, k): n for k, n in sorted(by_kind.items())},
                "visits": visits_total or 0,
                "people_received": int(people_received or 0),
                "suggestions": len(suggestions_list),
                "suggestions_lead": sum(1 for x in suggestions_list if x["role"] == "领衔"),
                "opinions": opinions_total,
            },
            contacts=contacts_list,
            visits=visits_list,
            suggestions=suggestions_list,
            opinions=opinions_list,
        )


def _mandate_status(ctx: Ctx, r: Any) -> str | None:
    cut = ctx.scope.as_of
    suffix = s.CLOCK_SUFFIXES[ctx.scope.by]

    def at(prefix: str) -> int | None:
        return getattr(r, f"{prefix}_{suffix}")

    def happened(prefix: str) -> bool:
        t = at(prefix)
        return t is not None and (cut is None or t <= cut)

    if not happened("granted"):
        return None
    if happened("terminated"):
        return "terminated"
    if happened("reviewed"):
        return "active" if r.passed else "void"
    return "pending_review"
