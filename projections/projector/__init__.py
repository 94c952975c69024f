"""The projector: a node's log, in order, into its read models, exactly once.

It reads the notification log from the position its database holds, in pages (``batch`` events); skips the events
no view needs by their topic string, before decoding them; decodes the rest into lean events
(``projections.decode``: the read models' forms straight from the stored JSON, or through the store's own mapper
whenever the fast path is not sure of the mapper's reading); folds them into rows; and writes
the rows **and the new position in the same transaction**. A crash anywhere loses the whole page's work and nothing
else, and the page is projected again from the same position: exactly once.

Unknown topics (an event type a newer version of the code records), undecodable events and events whose handler
fails are skipped, counted per topic in ``projection_skips`` and logged as warnings (structlog), never a crash.

Handlers are plain Python over one event; the only state they need across events (a suggestion's current state, the
number of the next opinion of a contact, which station a visit is at) is loaded in bulk per page from the database
itself, so the database is the projector's only memory and several processes may project one node in turn.

One module per event family, as in ``domain``: :mod:`~projections.projector.deputies` (with standing committees
and the person summaries), :mod:`~projections.projector.stations` (with visits), :mod:`~projections.projector.contacts`,
:mod:`~projections.projector.suggestions` and :mod:`~projections.projector.livelihood` (sharing
:mod:`~projections.projector.lifecycle`); :mod:`~projections.projector.page` is one page's working memory and
writing, :mod:`~projections.projector.run` the runs, :mod:`~projections.projector.statements` the SQL.
"""

from projections.projector.page import Page
from projections.projector.run import DEFAULT_BATCH, ConcurrentProjection, Projector, RunStats

__all__ = ["DEFAULT_BATCH", "ConcurrentProjection", "Page", "Projector", "RunStats"]
