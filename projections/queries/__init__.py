"""The query API over a node's read models: one function per view, plain JSON-friendly dicts out.

Every view takes a :class:`Scope`: the region (any division in the node's subtree; rolled up by the ``nodes``
dimension's ancestor columns), the period (a year, or a congress term as calendar years), and optionally an as-of
cut — the view *as it stood* at time T, by recorded time (the owner office's store timestamp: what its office had
recorded by then), by occurred time (what had happened by then) or by known time (what this node held by then: at a
province, behind its townships by the sync's lag). As-of views filter the fact and transition tables by
the chosen clock and take each lifecycle aggregate's latest snapshot at or before the cut; they agree with a
projection built from only the events on the right side of the cut (see tests/integration/test_projections_asof.py).

One module per family of views, as in ``domain`` and the gateway's routers: :mod:`~projections.queries.coverage`
(the glossary's targets, each with who is missing; the deputies' targets in :mod:`~projections.queries.deputies`),
:mod:`~projections.queries.stations`, :mod:`~projections.queries.suggestions`, :mod:`~projections.queries.livelihood`,
:mod:`~projections.queries.duty` (履职档案), :mod:`~projections.queries.ranking` (the duty ranking),
:mod:`~projections.queries.regions` (drill-down), :mod:`~projections.queries.rollup` (the dashboard's 一盘棋);
:mod:`~projections.queries.scope` and :mod:`~projections.queries.context` hold what they share.

Now (no as-of), the views read the summaries the projector keeps (``schema``'s second half) and only the rows a page
of a list shows; as of a cut, they read the facts known then. ``tests/unit/test_projections_reference.py`` requires
both to give the same answers.
"""

from projections.queries.coverage import COVERAGE_TARGETS, coverage
from projections.queries.duty import duty_record
from projections.queries.livelihood import livelihood
from projections.queries.ranking import duty_ranking
from projections.queries.regions import rank_regions, regions
from projections.queries.rollup import rollup
from projections.queries.scope import QueryError, Scope, make_scope
from projections.queries.stations import stations
from projections.queries.suggestions import suggestions

__all__ = [
    "COVERAGE_TARGETS",
    "QueryError",
    "Scope",
    "coverage",
    "duty_ranking",
    "duty_record",
    "livelihood",
    "make_scope",
    "rank_regions",
    "regions",
    "rollup",
    "stations",
    "suggestions",
]
