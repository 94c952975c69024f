"""The read models: fact and transition tables, schema-less (PostgreSQL puts them in the node's schema through
``schema_translate_map``; SQLite has one file per node).

Conventions:

- ids are 32-character hex strings (UUIDs without dashes); ``node_id`` is the *owner* node of the fact (stable,
  whatever its code becomes), joined to ``nodes`` for the rollup province → prefecture → county → township;
- ``recorded_at`` is the event's store timestamp at its owner node ("what the system knew"), ``occurred_at`` when it
  happened; both integer UTC microseconds since 1970. ``*_rec`` / ``*_occ`` pairs are the same two clocks for a
  later transition of the same row (a mandate reviewed, an enrolment ended, an SC member who left);
- ``day`` is the domain date (visit date, contact date, submission day...) as ``YYYY-MM-DD`` in Hunan's time
  zone, ``year`` its year: periods (year, term) filter on these, as-of filters on the two clocks;
- money is integer 元 (amounts are recorded in 万元 with two decimals, so 元 are exact).

Lifecycle aggregates with many states (suggestions, livelihood projects) have a current table and a snapshot
table (one row per event: what changes, after it; what never changes stays in the current row); views read the
current table, as-of views the latest snapshot at or before the cut joined to it. Everything else is append-only
facts, or rows whose few later transitions have their own column pairs. ``marks`` holds derived first-occurrence
facts (the first time a deputy, SC member or body did a kind of thing in a year, by each clock), which the coverage
targets check the populations against. ``occurred_at`` is effective: see ``aggregate_clock``.

Append-only fact tables have unique indexes rather than primary keys: a bulk build (rebuild) drops every
secondary index and creates them when it is done, which is much faster than inserting into them row by row.

Change these tables only together with a new migration in ``projections/migrations/versions`` (a test compares
the migrated database with this metadata).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, false, text

metadata = MetaData()

ID = String(32)
DAY = String(10)


def _t(name: str, *columns: object, **dialect: object) -> Table:
    return Table(name, metadata, *columns, **dialect)  # type: ignore[arg-type]


def _clocks(prefix: str = "", nullable: bool = False) -> list[Column]:
    if prefix:
        return [Column(f"{prefix}_rec", BigInteger, nullable=True), Column(f"{prefix}_occ", BigInteger, nullable=True)]
    return [Column("recorded_at", BigInteger, nullable=nullable), Column("occurred_at", BigInteger, nullable=nullable)]


projection_state = _t(
    "projection_state",
    Column("name", String(40), primary_key=True),
    Column("node_id", ID, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("events", BigInteger, nullable=False),  # events projected (handled) so far
    Column("skipped", BigInteger, nullable=False),  # known events no view needs
    Column("unknown", BigInteger, nullable=False),  # unknown or undecodable events (see projection_skips)
    Column("updated_at", BigInteger, nullable=False),
)

projection_meta = _t(
    "projection_meta",
    Column("key", String(40), primary_key=True),
    Column("value", String(200), nullable=False),
)

projection_skips = _t(
    "projection_skips",
    Column("topic", String(300), primary_key=True),
    Column("reason", String(20), primary_key=True),  # unknown | undecodable | failed | orphan
    Column("count", BigInteger, nullable=False),
    Column("last_position", BigInteger, nullable=False),
    Column("detail", String(500), nullable=False),
)

#: Each aggregate's latest *effective* occurred time: an event is taken to have happened no earlier than the events
#: before it in its aggregate (its history is sequential), so every ``occurred_at`` in these tables is the event's own
#: occurred time clamped to that running maximum. As-of by occurred time is then a prefix of every aggregate's history.
aggregate_clock = _t(
    "aggregate_clock",
    Column("aggregate_id", ID, primary_key=True),
    Column("occurred_max", BigInteger, nullable=False),
)

nodes = _t(
    "nodes",
    Column("node_id", ID, primary_key=True),
    Column("code", String(12), nullable=False),
    Column("name", String(100), nullable=False),
    Column("level", String(12), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("has_congress", Boolean, nullable=False),
    Column("parent_id", ID),
    Column("depth", Integer, nullable=False),
    *[
        Column(f"{level}_{what}", String(100) if what == "name" else (ID if what == "id" else String(12)))
        for level in ("province", "prefecture", "county", "township")
        for what in ("id", "code", "name")
    ],
    Index("ix_nodes_code", "code"),
)

# ------------------------------------------------------------------------------------------------ deputies

deputies = _t(
    "deputies",
    Column("deputy_id", ID, primary_key=True),
    Column("node_id", ID, nullable=False),  # the office that records the deputy's mandates
    Column("home_node_id", ID, nullable=False),  # where they live or work (their station's node)
    Column("area_node_id", ID, nullable=False),  # home node if within this projection's subtree, else node_id
    Column("person_id", String(64), nullable=False),
    Column("name", String(50), nullable=False),
    Column("gender", String(2), nullable=False),
    Column("unit", String(200), nullable=False),
    Column("grassroots", Boolean, nullable=False),
    Column("leading_cadre", Boolean, nullable=False),
    *_clocks(),
    # Mandates in force now (passed review, not terminated), kept from ``mandates`` by the projector: the current-time
    # views' population without scanning every mandate (as-of views still read ``mandates``).
    Column("serving", Boolean, nullable=False, server_default=false()),
    Column("serving_provincial", Boolean, nullable=False, server_default=false()),
    Column("serving_local", Boolean, nullable=False, server_default=false()),  # a county or township mandate
    Index("ix_deputies_person", "person_id"),
    Index("ix_deputies_area", "area_node_id"),
    Index("ix_deputies_node", "node_id"),  # which offices record deputies (township presidiums): from the index alone
)

deputy_flags = _t(
    "deputy_flags",
    Column("deputy_id", ID, nullable=False),
    Column("version", Integer, nullable=False),
    Column("grassroots", Boolean, nullable=False),
    Column("leading_cadre", Boolean, nullable=False),
    *_clocks(),
    Index("ix_deputy_flags_deputy", "deputy_id", "version"),
)

mandates = _t(
    "mandates",
    Column("deputy_id", ID, primary_key=True),
    Column("congress", String(12), primary_key=True),
    Column("term", Integer, primary_key=True),
    Column("node_id", ID, nullable=False),
    Column("elected_by", String(200), nullable=False),
    Column("via", String(12), nullable=False),
    *_clocks("granted"),
    *_clocks("reviewed"),
    Column("passed", Boolean),
    *_clocks("terminated"),
    Column("reason", String(200)),
)

standing_committees = _t(
    "standing_committees",
    Column("sc_id", ID, primary_key=True),
    Column("node_id", ID, nullable=False),
    Column("term", Integer, nullable=False),
    Column("level", String(12), nullable=False),
    *_clocks(),
)

sc_members = _t(
    "sc_members",
    Column("sc_id", ID, primary_key=True),
    Column("member_id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),  # of the appointment (a member may be appointed again)
    Column("node_id", ID, nullable=False),
    Column("name", String(50), nullable=False),
    Column("post", String(10), nullable=False),
    *_clocks("appointed"),
    *_clocks("left"),
)

# ------------------------------------------------------------------------------------------------ stations

stations = _t(
    "stations",
    Column("station_id", ID, primary_key=True),
    Column("node_id", ID, nullable=False),
    Column("name", String(100), nullable=False),
    Column("address", String(200), nullable=False),
    Column("day", DAY, nullable=False),
    *_clocks(),
    Column("successor_id", ID),
    *_clocks("merged"),
    *_clocks("closed"),
)

station_enrolments = _t(
    "station_enrolments",
    Column("station_id", ID, primary_key=True),
    Column("deputy_id", ID, primary_key=True),
    Column("version", Integer, primary_key=True),  # of the station event that enrolled them (enrolled / absorbed)
    Column("node_id", ID, nullable=False),
    Column("deputy_name", String(50), nullable=False),
    Column("congress", String(12), nullable=False),
    *_clocks("since"),
    *_clocks("until"),
    Index("ix_enrolments_deputy", "deputy_id"),
)

visits = _t(
    "visits",
    Column("visit_id", ID, nullable=False),
    Column("node_id", ID, nullable=False),
    Column("station_id", ID, nullable=False),
    Column("day", DAY, nullable=False),
    Column("year", Integer, nullable=False),
    Column("people", Integer, nullable=False),
    Column("deputies_n", Integer, nullable=False),
    *_clocks(),
    Index("ux_visits", "visit_id", unique=True),
    # the stations view, from the indexes alone: a year's visits per station, and each station's latest visit
    Index("ix_visits_year", "year", "station_id", "people", "deputies_n"),
    Index("ix_visits_station_day", "station_id", "day"),
)

visit_deputies = _t(
    "visit_deputies",
    Column("visit_id", ID, nullable=False),
    Column("deputy_id", ID, nullable=False),
    Column("node_id", ID, nullable=False),
    Column("station_id", ID, nullable=False),
    Column("day", DAY, nullable=False),
    Column("year", Integer, nullable=False),
    *_clocks(),
    Index("ix_visit_deputies_year", "year", "deputy_id"),
    Index("ix_visit_deputies_station", "year", "station_id", "deputy_id"),
)

visit_issues = _t(
    "visit_issues",
    Column("visit_id", ID, nullable=False),
    Column("number", Integer, nullable=False),
    Column("node_id", ID, nullable=False),
    Column("station_id", ID, nullable=False),
    Column("category", String(50), nullable=False),
    Column("day", DAY, nullable=False),
    Column("year", Integer, nullable=False),
    *_clocks(),
    Index("ux_visit_issues", "visit_id", "number", unique=True),
    Index("ix_visit_issues_year", "year", "station_id"),
)

visit_issue_outcomes = _t(
    "visit_issue_outcomes",
    Column("visit_id", ID, nullable=False),
    Column("number", Integer, nullable=False),
    Column("node_id", ID, nullable=False),
    Column("station_id", ID, nullable=False),
    Column("outcome", String(12), nullable=False),  # resolved | transferred
    Column("to_unit", String(100), nullable=False),
    Column("day", DAY, nullable=False),
    *_clocks(),
    Index("ux_visit_issue_outcomes", "visit_id", "number", unique=True),
)

# ------------------------------------------------------------------------------------------------ contacts

contacts = _t(
    "contacts",
    Column("contact_id", ID, nullable=False),
    Column("node_id", ID, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("face_to_face", Boolean, nullable=False),
    Column("organiser_kind", String(20), nullable=False),
    Column("organiser", String(100), nullable=False),
    Column("organiser_id", String(100), nullable=False),
    Column("title", String(200), nullable=False),
    Column("day", DAY, nullable=False),
    Column("year", Integer, nullable=False),
    Column("public_count", Integer, nullable=False),
    Column("deputies_n", Integer, nullable=False),
    *_clocks(),
    Index("ux_contacts", "contact_id", unique=True),
)

contact_deputies = _t(
    "contact_deputies",
    Column("contact_id", ID, nullable=False),
    Column("deputy_id", ID, nullable=False),
    Column("node_id", ID, nullable=False),
    Column("year", Integer, nullable=False),
    *_clocks(),
    Index("ix_contact_deputies_year", "year", "deputy_id"),
)

opinions = _t(
    "opinions",
    Column("contact_id", ID, nullable=False),
    Column("number", Integer, nullable=False),
    Column("node_id", ID, nullable=False),
    Column("deputy_id", ID),
    Column("kind", String(20), nullable=False),  # the contact's kind
    Column("text", String(1000), nullable=False),
    Column("day", DAY, nullable=False),
    Column("year", Integer, nullable=False),
    *_clocks(),
    Index("ix_opinions_year", "year", "deputy_id"),
    Index("ix_opinions_day", "year", "day"),
    Index("ix_opinions_node", "year", "node_id"),  # opinions raised per node: counted from the index alone
    Index("ux_opinions", "contact_id", "number", unique=True),
)

opinion_steps = _t(
    "opinion_steps",
    Column("contact_id", ID, nullable=False),
    Column("number", Integer, nullable=False),
    Column("step", String(10), nullable=False),  # handled | fed_back
    Column("node_id", ID, nullable=False),
    Column("handling", String(12), nullable=False),
    Column("unit", String(100), nullable=False),
    Column("day", DAY, nullable=False),
    *_clocks(),
    Column("year", Integer, nullable=False, server_default=text("0")),  # the opinion's year (not the step's)
    Index("ux_opinion_steps", "contact_id", "number", "step", unique=True),
    Index("ix_opinion_steps_year", "year", "step", "node_id"),
)

#: Opinions not fed back yet, kept by the projector: the current coverage view's list of who still waits for an
#: answer, without walking the year's opinions that were answered (as-of views check ``opinion_steps``).
open_opinions = _t(
    "open_opinions",
    Column("contact_id", ID, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("node_id", ID, nullable=False),
    Column("day", DAY, nullable=False),
    Column("year", Integer, nullable=False),
    Index("ix_open_opinions_year", "year", "day", "contact_id", "number"),
)

marks = _t(
    "marks",
    Column("mark", String(10), primary_key=True),  # deed | group | organ | report (deputies); f2f (SC members); research (bodies)
    Column("year", Integer, primary_key=True),
    Column("subject_id", String(100), primary_key=True),  # deputy id; "<node id>:<member id>"; body node id
    Column("node_id", ID, nullable=False),  # where the first such fact was recorded
    Column("first_rec", BigInteger, nullable=False),
    Column("first_occ", BigInteger, nullable=False),
)


def _activity_counters() -> list[Column]:
    """What a deputy did in a year, counted: the rows they appear in (contacts, station visits, suggestions signed,
    opinions raised) and the contacts behind the deputy coverage targets (``marks`` has their first times)."""
    names = ["contacts", "visits", "suggestions", "opinions", "deeds", "group_activities", "organ_contacts", "reports"]
    return [Column(name, Integer, nullable=False) for name in names]


#: Summary of the current (not as-of) views, kept by the projector in the transaction of the facts it counts.
#: Without rowid on SQLite: the views look rows up by their key, one b-tree descent each instead of two.
deputy_years = _t(
    "deputy_years",
    Column("deputy_id", ID, primary_key=True),
    Column("year", Integer, primary_key=True),
    *_activity_counters(),
    sqlite_with_rowid=False,
)

#: ``deputy_years`` summed over a person's deputy records known here (a record counts once it is registered).
person_years = _t(
    "person_years",
    Column("person_id", String(64), primary_key=True),
    Column("year", Integer, primary_key=True),
    *_activity_counters(),
    sqlite_with_rowid=False,
)
ACTIVITY_COUNTERS = [c.name for c in _activity_counters()]

# --------------------------------------------------------------------------------------------- suggestions


def _suggestion_columns() -> list[Column]:
    return [
        Column("node_id", ID, nullable=False),
        Column("number", String(32), nullable=False),
        Column("congress", String(12), nullable=False),
        Column("term", Integer, nullable=False),
        Column("session", Integer, nullable=False),
        Column("title", String(200), nullable=False),
        Column("category", String(50), nullable=False),
        Column("lead_deputy_id", ID, nullable=False),
        Column("co_n", Integer, nullable=False),
        Column("day", DAY, nullable=False),
        Column("year", Integer, nullable=False),
        *_clocks("created"),
        Column("state", String(12), nullable=False),
        Column("lead_unit", String(100), nullable=False),
        Column("co_units", String(400), nullable=False),
        Column("due_on", DAY),
        Column("assigned_day", DAY),
        Column("handling_day", DAY),
        Column("replies", Integer, nullable=False),
        Column("first_reply_day", DAY),
        Column("last_reply_day", DAY),
        Column("last_category", String(1)),
        Column("evaluations", Integer, nullable=False),
        Column("last_evaluation", String(20)),
        Column("dissatisfied", Integer, nullable=False),
        Column("priority", Boolean, nullable=False),
        Column("leader", String(50), nullable=False),
        Column("supervisions", Integer, nullable=False),
        Column("solved_day", DAY),
        Column("closed_day", DAY),
        Column("version", Integer, nullable=False),
        *_clocks(),
    ]


SUGGESTION_COLUMNS = [c.name for c in _suggestion_columns()]
#: What the submission fixes once and for all; snapshots hold the rest (they join the current row for these).
SUGGESTION_STATIC = [
    "node_id",
    "number",
    "congress",
    "term",
    "session",
    "title",
    "category",
    "lead_deputy_id",
    "co_n",
    "day",
    "year",
    "created_rec",
    "created_occ",
]
SUGGESTION_DYNAMIC = [c for c in SUGGESTION_COLUMNS if c not in SUGGESTION_STATIC]

suggestions = _t(
    "suggestions",
    Column("suggestion_id", ID, primary_key=True),
    *_suggestion_columns(),
    Index("ix_suggestions_year", "year"),
)

suggestion_snapshots = _t(
    "suggestion_snapshots",
    Column("suggestion_id", ID, nullable=False),
    *[c for c in _suggestion_columns() if c.name in SUGGESTION_DYNAMIC],
    Column("event", String(20), nullable=False),
)

suggestion_signers = _t(
    "suggestion_signers",
    Column("suggestion_id", ID, nullable=False),
    Column("deputy_id", ID, nullable=False),
    Column("role", String(4), nullable=False),  # lead | co
    Column("node_id", ID, nullable=False),
    Column("day", DAY, nullable=False),
    Column("year", Integer, nullable=False),
    *_clocks(),
    Index("ix_signers_year", "year", "deputy_id"),
)

# ---------------------------------------------------------------------------------------------- livelihood


def _project_columns() -> list[Column]:
    return [
        Column("node_id", ID, nullable=False),
        Column("year", Integer, nullable=False),
        Column("title", String(200), nullable=False),
        Column("category", String(50), nullable=False),
        Column("proposed_by", String(12), nullable=False),
        Column("day", DAY, nullable=False),
        *_clocks("created"),
        Column("state", String(12), nullable=False),
        Column("estimate_yuan", BigInteger, nullable=False),
        Column("deliberated_day", DAY),
        Column("session", String(50), nullable=False),
        Column("yes", Integer),
        Column("no", Integer),
        Column("abstain", Integer),
        Column("present", Integer),
        Column("total_deputies", Integer),
        Column("passed", Boolean),
        Column("voted_day", DAY),
        Column("budget_yuan", BigInteger, nullable=False),
        Column("lead_unit", String(100), nullable=False),
        Column("started_day", DAY),
        Column("progress", Integer, nullable=False),
        Column("spent_yuan", BigInteger, nullable=False),
        Column("progress_day", DAY),
        Column("supervisions", Integer, nullable=False),
        Column("satisfied", Integer),
        Column("basically_satisfied", Integer),
        Column("dissatisfied", Integer),
        Column("evaluated_day", DAY),
        Column("closed_day", DAY),
        Column("version", Integer, nullable=False),
        *_clocks(),
    ]


PROJECT_COLUMNS = [c.name for c in _project_columns()]
PROJECT_STATIC = ["node_id", "year", "title", "category", "proposed_by", "day", "created_rec", "created_occ"]
PROJECT_DYNAMIC = [c for c in PROJECT_COLUMNS if c not in PROJECT_STATIC]

projects = _t(
    "projects",
    Column("project_id", ID, primary_key=True),
    *_project_columns(),
    Index("ix_projects_year", "year"),
)

project_snapshots = _t(
    "project_snapshots",
    Column("project_id", ID, nullable=False),
    *[c for c in _project_columns() if c.name in PROJECT_DYNAMIC],
    Column("event", String(24), nullable=False),
)

#: Tables rebuilt from the log (everything but the node dimension, which comes from the hierarchy).
FACT_TABLES = [t for t in metadata.sorted_tables if t.name not in ("nodes", "projection_meta")]
