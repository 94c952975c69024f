"""Read models (projections): what the offices act on, built from each node's log.

Every node projects its log — its own events and, after sync, its whole subtree's — into SQLAlchemy read models beside
the log: a SQLite file ``<data_dir>/nodes/<node id>.views.sqlite`` or a PostgreSQL schema ``v_<node hex>``, migrated
by the Alembic scripts in ``projections/migrations``. The province's projection is the 一盘棋 view of all of Hunan.

- :mod:`projections.schema` — the fact and transition tables (times as UTC microseconds, days in Hunan's time zone);
- :mod:`projections.db` — :class:`~projections.db.ProjectionDB`: where a node's read models live, migrations, writer lock;
- :mod:`projections.projector` — :class:`~projections.projector.Projector`: the log into the tables, rows and position
  in one transaction (exactly once), unknown or poison events counted and skipped;
- :mod:`projections.rebuild` — ``update`` (catch up), ``rebuild`` (aside, then swap, while writes go on), ``build_cut``
  (a copy of the views as they were at a time: the audit replay as-of views agree with);
- :mod:`projections.queries` — the query API, one function per view (``coverage``, ``stations``, ``suggestions``,
  ``livelihood``, ``duty_record`` / ``duty_ranking``, ``regions``) over a :class:`~projections.queries.Scope`
  (region, year or term, as-of time by the recorded, occurred or known clock), returning JSON-friendly dicts;
- :mod:`projections.report` / :mod:`projections.summary` — tables with Chinese labels, CSV, the 一盘棋 report.

CLI: ``yipanqi report <view>``, ``yipanqi projections update|rebuild|status``, ``yipanqi bench projections``.
"""
