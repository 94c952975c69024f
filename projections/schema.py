"""The read models: fact and transition tables, and the summaries the current views read; schema-less (PostgreSQL
puts them in the node's schema through ``schema_translate_map``; SQLite has one file per node).

Conventions:

- ids are 32-character hex strings (UUIDs without dashes); ``node_id`` is the *owner* node of the fact (stable,
  whatever its code becomes), joined to ``nodes`` for the rollup province → prefecture → county → township;
- three clocks, integer UTC microseconds since 1970: ``recorded_at`` is the event's store timestamp at its owner node
  (when its office recorded it), ``occurred_at`` when it happened, ``known_at`` when *this* node came to hold it (its
  own events: when recorded here; a child's: when the ingest stored it; from the store's known spans, see
  ``domain.persistence.KnownSpan``). An event stored before stores kept known spans has an unknown known time: it
  counts as known when it was recorded (``recorded_at``), and so do the rows projected before revision 0005.
  ``*_rec`` / ``*_occ`` / ``*_known`` are the same three clocks for a later transition of the same row (a mandate
  reviewed, an enrolment ended, an opinion fed back);
- ``day`` is the domain date (visit date, contact date, submission day...) as ``YYYY-MM-DD`` in Hunan's time
  zone, ``year`` its year: periods (year, term) filter on these, as-of filters on the clocks;
- money is integer 元 (amounts are recorded in 万元 with two decimals, so 元 are exact).

Lifecycle aggregates with many states (suggestions, livelihood projects) have a current table and a snapshot
table (one row per event: what changes, after it, and of what never changes only what the as-of views count by;
the rest, such as titles, stays in the current row). A snapshot also
holds when it stopped being the latest (``next_rec`` / ``next_occ`` / ``next_known``: the earliest clock of a later
snapshot), so the
state at a cut is the one snapshot per aggregate with ``clock <= cut < next`` — a filter, not a search per
aggregate. A snapshot whose ``next`` equals its clock on one clock is not seen on that clock: a correction (更正) or a
void (作废) of a livelihood project adds a snapshot seen on the recorded and known clocks only (what was believed from
when it was recorded, what this node held from when it came to hold it) and, on the occurred clock, ends the snapshots
it changes where they start and copies the corrected ones (seen on the occurred clock only: the corrected world); a
voided state counts nowhere.

``marks`` holds derived first-occurrence facts (the first time a deputy, SC member or body did a kind of thing in a
year, by each clock), which the coverage targets check the populations against. ``occurred_at`` is effective: see
``aggregate_clock`` (a deputy's corrected category is not: it holds from its ``effective_from``).

Facts are clustered by the key their views read them by (SQLite ``WITHOUT ROWID``: the table is its primary key's
b-tree, so the key needs no second copy in an index): a deputy's activity by ``(year, deputy_id, …)``, a snapshot
by ``(aggregate, version)``.

**Summaries** (the second half of this module) are what the current-time views read instead of the facts: counters
per region (node), year and whatever the view counts by, kept by the projector in the transaction of the facts they
count. A summary's key is its primary key; every other column is a counter the projector adds to (``combine``
"max" in a column's ``info`` keeps the greatest value instead). As-of views never read them: they filter the facts by
a clock, and a test requires both paths to agree.

Change these tables only together with a new migration in ``projections/migrations/versions`` (a test compares
the migrated database with this metadata).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, MetaData, String, Table, false, text
from sqlalchemy.schema import SchemaItem

metadata = MetaData()

ID = String(32)
DAY = String(10)
CLUSTERED = {"sqlite_with_rowid": False}  # the table is its primary key's b-tree (SQLite; PostgreSQL ignores it)


def _t(name: str, *columns: SchemaItem, **dialect: Any) -> Table:
    return Table(name, metadata, *columns, **{**CLUSTERED, **dialect})


#: The clocks a view may be asked by (``Scope.by``), and their columns: a fact's own, and a transition's suffix.
CLOCK_COLUMNS = {"recorded": "recorded_at", "occurred": "occurred_at", "known": "known_at"}
CLOCK_SUFFIXES = {"recorded": "rec", "occurred": "occ", "known": "known"}


def _clocks(prefix: str = "", nullable: bool = False) -> list[Column]:
    if prefix:
        return [Column(f"{prefix}_{suffix}", BigInteger, nullable=True) for suffix in CLOCK_SUFFIXES.values()]
    return [Column(name, BigInteger, nullable=nullable) for name in CLOCK_COLUMNS.values()]


def _counters(*names: str) -> list[Column]:
    return [Column(name, BigInteger if name.endswith("_yuan") else Integer, nullable=False) for name in names]


projection_state = _t(
    "projection_state",
    Column("name", String(40), primary_key=True),
    Column("node_id", ID, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("events", BigInteger, nullable=False),  # events projected (handled) so far
    Column("skipped", BigInteger, nullable=False),  # known events no view needs
    Column("unknown", BigInteger, nullable=False),  # unknown or undecodable events (see projection_skips)
    Column("updated_at", BigInteger, nullable=False),
    sqlite_with_rowid=True,
)

projection_meta = _t(
    "projection_meta",
    Column("key", String(40), primary_key=True),
    Column("value", String(200), nullable=False),
    sqlite_with_rowid=True,
)

projection_skips = _t(
    "projection_skips",
    Column("topic", String(300), primary_key=True),
    Column("reason", String(20), primary_key=True),  # unknown | undecodable | failed | orphan | not_followed
    Column("count", BigInteger, nullable=False),
    Column("last_position", BigInteger, nullable=False),
    Column("detail", String(500), nullable=False),
    sqlite_with_rowid=True,
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
    sqlite_with_rowid=True,  # the node dimension outlives rebuilds and migrations (see migration 0003)
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

#: A deputy's grassroots / leading-cadre flags after each event that set them (registration is version 1).
deputy_flags = _t(
    "deputy_flags",
    Column("deputy_id", ID, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("grassroots", Boolean, nullable=False),
    Column("leading_cadre", Boolean, nullable=False),
    *_clocks(),
    # the deputies whose flags ever changed: the only ones an as-of view must look further than ``deputies`` for
    Index(
        "ix_deputy_flags_changed",
        "deputy_id",
        sqlite_where=text("version > 1"),
        postgresql_where=text("version > 1"),
    ),
)

mandates = _t(
    "mandates",
    Column("deputy_id", ID, primary_key=True),
    Column("congress", String(12), primary_key=True),
    Column("term", Integer, primary_key=True),
    Column("node_id", ID, nullable=False),
    Column("elected_by", String(200), nullable=False),
    Column("via", String(12), nullable=False),
    Column("version", Integer),  # of the grant: what a correction names (none on rows projected before 0011)
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
    Column("enrolled", Integer, nullable=False),  # deputies enrolled now (summary: open rows of station_enrolments)
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

#: A station visit as recorded (version 1) and as each correction of it left it (the correction's version). A row
#: stops holding at its ``voided`` clocks: a correction's or a void's recorded and known times, and on the occurred
#: clock its own occurred time (an empty interval: by occurred time the corrected visit held from the start, and a
#: voided one never did). Every read of visits, their deputies and their issues takes the rows not voided by its cut.
visits = _t(
    "visits",
    Column("visit_id", ID, primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("node_id", ID, nullable=False),
    Column("station_id", ID, nullable=False),
    Column("day", DAY, nullable=False),
    Column("year", Integer, nullable=False),
    Column("people", Integer, nullable=False),
    Column("deputies_n", Integer, nullable=False),
    *_clocks(),
    *_clocks("voided"),
    Index("ix_visits_station_day", "station_id", "day"),  # each station's latest visit before a day
)

visit_deputies = _t(
    "visit_deputies",
    Column("year", Integer, primary_key=True),
    Column("deputy_id", ID, primary_key=True),
    Column("visit_id", ID, primary_key=True),
    Column("node_id", ID, nullable=False),
    Column("station_id", ID, nullable=False),
    Column("day", DAY, nullable=False),
    *_clocks(),
    *_clocks("voided"),  # the visit's void (see ``visits``)
    # the few deputies on duty at visits voided since: active at a cut by the recorded or known clock, with no mark
    Index(
        "ix_visit_deputies_voided",
        "year",
        sqlite_where=text("voided_rec IS NOT NULL"),
        postgresql_where=text("voided_rec IS NOT NULL"),
    ),
)

#: Issues the public raised at a visit, with their outcome (resolved on the spot or transferred) once there is one.
visit_issues = _t(
    "visit_issues",
    Column("visit_id", ID, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("node_id", ID, nullable=False),
    Column("station_id", ID, nullable=False),
    Column("category", String(50), nullable=False),
    Column("day", DAY, nullable=False),
    Column("year", Integer, nullable=False),
    *_clocks(),
    *_clocks("voided"),  # the visit's void (see ``visits``)
    Column("outcome", String(12)),  # resolved | transferred
    Column("to_unit", String(100)),
    Column("outcome_day", DAY),
    *_clocks("outcome"),
)

# ------------------------------------------------------------------------------------------------ contacts

contacts = _t(
    "contacts",
    Column("contact_id", ID, primary_key=True),
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
    *_clocks("voided"),  # the contact's void (as a visit's rows, see ``visits``)
    # the few contacts voided since: an SC member's or a body's target met at a cut by the recorded or known clock
    Index(
        "ix_contacts_voided",
        "year",
        sqlite_where=text("voided_rec IS NOT NULL"),
        postgresql_where=text("voided_rec IS NOT NULL"),
    ),
)

contact_deputies = _t(
    "contact_deputies",
    Column("year", Integer, primary_key=True),
    Column("deputy_id", ID, primary_key=True),
    Column("contact_id", ID, primary_key=True),
    Column("node_id", ID, nullable=False),
    *_clocks(),
    *_clocks("voided"),  # the contact's void
    # the few deputies at contacts voided since: active, or covered by a target, at a cut by the recorded or known clock
    Index(
        "ix_contact_deputies_voided",
        "year",
        sqlite_where=text("voided_rec IS NOT NULL"),
        postgresql_where=text("voided_rec IS NOT NULL"),
    ),
)

#: Opinions deputies raised at contacts, with how they were handled and when they were fed back; by year (the views
#: read a year's), their text apart (read for a page only).
opinions = _t(
    "opinions",
    Column("year", Integer, primary_key=True, autoincrement=False),
    Column("contact_id", ID, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("day", DAY, nullable=False),
    Column("node_id", ID, nullable=False),
    Column("deputy_id", ID),
    Column("kind", String(20), nullable=False),  # the contact's kind
    *_clocks(),
    Column("handling", String(12)),
    Column("unit", String(100)),
    *_clocks("handled"),
    *_clocks("fed"),
    *_clocks("voided"),  # its contact's void
    # an opinion by its contact's number for it: how the projector finds it (kept during bulk builds too)
    Index("ux_opinions", "contact_id", "number", unique=True, info={"projector": True}),
    Index("ix_opinions_year", "year", "deputy_id"),
    # the opinions still waiting for feedback, in the order the coverage view lists them (current views)
    Index(
        "ix_opinions_open",
        "year",
        "day",
        "contact_id",
        "number",
        sqlite_where=text("fed_rec IS NULL"),
        postgresql_where=text("fed_rec IS NULL"),
    ),
)

opinion_texts = _t(
    "opinion_texts",
    Column("contact_id", ID, primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("text", String(1000), nullable=False),
)

marks = _t(
    "marks",
    Column("mark", String(10), primary_key=True),  # deed | group | organ | report (deputies); f2f (SC members); research (bodies)
    Column("year", Integer, primary_key=True),
    Column("subject_id", String(100), primary_key=True),  # deputy id; "<node id>:<member id>"; body node id
    Column("node_id", ID, nullable=False),  # where the first such fact was recorded
    Column("first_rec", BigInteger, nullable=False),
    Column("first_occ", BigInteger, nullable=False),
    Column("first_known", BigInteger, nullable=False),
)

ACTIVITY_COUNTERS = ["contacts", "visits", "suggestions", "opinions", "deeds", "group_activities", "organ_contacts", "reports"]

#: What a deputy did in a year, counted: the rows they appear in (contacts, station visits, suggestions signed,
#: opinions raised) and the contacts behind the deputy coverage targets (``marks`` has their first times).
deputy_years = _t(
    "deputy_years",
    Column("deputy_id", ID, primary_key=True),
    Column("year", Integer, primary_key=True),
    *_counters(*ACTIVITY_COUNTERS),
)

#: ``deputy_years`` summed over a person's deputy records known here (a record counts once it is registered).
person_years = _t(
    "person_years",
    Column("person_id", String(64), primary_key=True),
    Column("year", Integer, primary_key=True),
    *_counters(*ACTIVITY_COUNTERS),
    Column("total", Integer, nullable=False),  # contacts + visits + suggestions: what the duty ranking orders by
    Index("ix_person_years_total", "year", "total"),
)

#: The marks behind the coverage targets whose populations are deputies (``person_marks``).
PERSON_MARKS = ("organ", "group", "deed", "report")

#: When each person first had each of those marks in a year, by each clock, through any of their deputy records known
#: here: per record the later of the mark's first time and the record's registration (a record counts once it is
#: registered), the earliest over the records (None: not that year). What the coverage view counts as of a cut: joining
#: every deputy's marks to the deputies and grouping them by person cost most of that view at a province.
person_marks = _t(
    "person_marks",
    Column("person_id", String(64), primary_key=True),
    Column("year", Integer, primary_key=True),
    *[column for mark in PERSON_MARKS for column in _clocks(mark)],
)

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
        # of them entered by the office from a signed form (代录); the rest are the deputy's own
        Column("office_evaluations", Integer, nullable=False, server_default="0"),
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
#: What the submission fixes once and for all: snapshots hold the rest, and of this what the as-of views count by.
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
    "created_known",
]
SUGGESTION_DYNAMIC = [c for c in SUGGESTION_COLUMNS if c not in SUGGESTION_STATIC]
#: What a snapshot keeps of those: all but the co-handling units (long text no view reads as of a cut) and how many
#: evaluations the office entered (counted now only).
SUGGESTION_SNAPSHOT = [c for c in SUGGESTION_DYNAMIC if c not in ("co_units", "office_evaluations")]
SUGGESTION_KEPT = ["year", "node_id", "congress", "day", "created_rec", "created_occ", "created_known"]

suggestions = _t(
    "suggestions",
    Column("suggestion_id", ID, primary_key=True),
    *_suggestion_columns(),
    # the pages of the suggestions view's lists, along the order they are listed in
    Index("ix_suggestions_due", "year", "state", "due_on"),
    Index("ix_suggestions_replied", "year", "state", "last_reply_day"),
    Index("ix_suggestions_priority", "year", "priority", "day"),
)


def _snapshots(
    name: str, key: str, columns: list[Column], kept: list[str], dynamic: list[str], event: int, *, corrected: bool = False
) -> Table:
    """A snapshot: the aggregate, what the as-of views count by of its static columns (``kept``), the dynamic ones,
    the event, and when it stopped being the latest. Appended (as-of views scan them; a bulk build writes an
    aggregate's at once, complete), found by aggregate and version through their index (a later page lowering the
    end of earlier ones). ``corrected``: the aggregate's facts may be corrected, so a version may have several
    snapshots, each seen on one clock only (an empty interval ``next = clock`` on the other; see
    ``projections.projector.lifecycle``)."""
    by_name = {c.name: c for c in columns}
    return _t(
        name,
        Column(key, ID, nullable=False),
        *[Column(c, by_name[c].type, nullable=by_name[c].nullable) for c in kept],
        *[Column(c.name, c.type, nullable=c.nullable) for c in columns if c.name in dynamic],
        Column("event", String(event), nullable=False),
        *_clocks("next"),  # the earliest clock of a later snapshot of the aggregate (none: the latest one)
        Index(f"ix_{name}", key, "version") if corrected else Index(f"ux_{name}", key, "version", unique=True),
        sqlite_with_rowid=True,
    )


suggestion_snapshots = _snapshots(
    "suggestion_snapshots",
    "suggestion_id",
    _suggestion_columns(),
    SUGGESTION_KEPT,
    SUGGESTION_SNAPSHOT,
    20,
    corrected=True,
)

suggestion_signers = _t(
    "suggestion_signers",
    Column("year", Integer, primary_key=True),
    Column("deputy_id", ID, primary_key=True),
    Column("suggestion_id", ID, primary_key=True),
    Column("role", String(4), nullable=False),  # lead | co
    Column("node_id", ID, nullable=False),
    Column("day", DAY, nullable=False),
    *_clocks(),
    *_clocks("voided"),  # the suggestion's void (as a visit's rows, see ``visits``)
    # the few signers of suggestions voided since: active at a cut by the recorded or known clock, with no mark
    Index(
        "ix_suggestion_signers_voided",
        "year",
        sqlite_where=text("voided_rec IS NOT NULL"),
        postgresql_where=text("voided_rec IS NOT NULL"),
    ),
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
PROJECT_STATIC = ["node_id", "year", "title", "category", "proposed_by", "day", "created_rec", "created_occ", "created_known"]
PROJECT_DYNAMIC = [c for c in PROJECT_COLUMNS if c not in PROJECT_STATIC]
PROJECT_KEPT = ["year", "node_id", "created_rec", "created_occ", "created_known"]

projects = _t(
    "projects",
    Column("project_id", ID, primary_key=True),
    *_project_columns(),
    Index("ix_projects_year", "year", "state"),
)

project_snapshots = _snapshots(
    "project_snapshots", "project_id", _project_columns(), PROJECT_KEPT, PROJECT_DYNAMIC, 24, corrected=True
)

# =============================================================================================== summaries


def _keys(*columns: tuple[str, object]) -> list[Column]:
    return [Column(name, kind, primary_key=True, autoincrement=False) for name, kind in columns]  # type: ignore[arg-type]


#: Per visit node, station and year (of the visit; of the issue for its outcome): what the stations view adds up.
station_years = _t(
    "station_years",
    *_keys(("year", Integer), ("node_id", ID), ("station_id", ID)),
    *_counters("visits", "people", "duty_slots", "issues_raised", "issues_resolved", "issues_transferred"),
    Column("last_day", DAY, nullable=False, info={"combine": "max"}),  # the latest visit's day in that year
    # distinct deputies on duty: counted again from station_deputies once the page's are in (additions are zeros)
    Column("deputies", Integer, nullable=False),
)

#: The deputies on duty at each station in a year (a set: counted per station and, distinct, per region).
station_deputies = _t("station_deputies", *_keys(("year", Integer), ("node_id", ID), ("station_id", ID), ("deputy_id", ID)))

#: Opinions raised per node and year, and how many of them were handled and fed back (filed under the opinion's year).
opinion_years = _t("opinion_years", *_keys(("year", Integer), ("node_id", ID)), *_counters("raised", "handled", "fed_back"))

#: Suggestions counted by everything the suggestions view and the follow-up target count them by; ``due_on`` only for
#: those waiting for a reply (overdue is "due before the reference day"), else ''. Empty strings stand for none.
suggestion_cells = _t(
    "suggestion_cells",
    *_keys(
        ("year", Integer),
        ("node_id", ID),
        ("state", String(12)),
        ("category", String(1)),
        ("evaluation", String(20)),
        ("congress", String(12)),
        ("priority", Boolean),
        ("evaluated", Boolean),
        ("replied", Boolean),
        ("late", Boolean),  # first replied after the due day
        ("follow", Boolean),  # under the follow-up target: dissatisfied once, solved, or in follow-up now
        ("due_on", DAY),
    ),
    *_counters("n"),
)

#: Suggestions per lead handling unit (by node: units are per office), for the view's busiest units.
suggestion_units = _t(
    "suggestion_units",
    *_keys(("year", Integer), ("node_id", ID), ("lead_unit", String(100)), ("due_on", DAY)),
    *_counters("total", "replied", "waiting", "open_follow_up", "satisfied", "evaluated"),
)

#: Per node and year (of the suggestion): the evaluations the lead deputies made with their own credentials and those
#: their offices entered from signed forms (代录), of the suggestions that stand (the current views count them).
suggestion_entries = _t(
    "suggestion_entries",
    *_keys(("year", Integer), ("node_id", ID)),
    *_counters("evaluations_self", "evaluations_office"),
)

#: Livelihood projects per node, year and state, with the sums the livelihood view shows.
project_cells = _t(
    "project_cells",
    *_keys(("year", Integer), ("node_id", ID), ("state", String(12))),
    *_counters(
        "proposed",
        "voted",
        "passed",
        "invested_yuan",
        "implementing",
        "completed",
        "progress_sum",
        "satisfied",
        "basically_satisfied",
        "dissatisfied",
        "estimate_yuan",
    ),
)

#: Serving deputy records per area (where they live) in each coverage target's population (``deed``: all serving;
#: ``organ``: grassroots provincial; ``group``: leading cadres; ``report``: county and township deputies).
coverage_population = _t("coverage_population", *_keys(("target", String(10)), ("area_node_id", ID)), *_counters("n"))

#: Of those, the records whose person did the target's thing in the year (``report``: in the county term that starts
#: in ``year``).
coverage_covered = _t(
    "coverage_covered", *_keys(("target", String(10)), ("year", Integer), ("area_node_id", ID)), *_counters("n")
)

#: Every person with a serving record, as the duty ranking lists them (their first serving record).
people = _t(
    "people",
    Column("person_id", String(64), primary_key=True),
    Column("deputy_id", ID, nullable=False),
    Column("name", String(50), nullable=False),
    Column("area_node_id", ID, nullable=False),
    Column("node_id", ID, nullable=False),
    Index("ix_people_name", "name", "person_id"),
)

#: Serving people with any contact, visit or suggestion in the year (the rest of ``people`` were inactive then).
duty_years = _t("duty_years", *_keys(("year", Integer)), *_counters("active"))

#: Deputies (records, at any node of the subtree) on duty at a station in the year: the whole projection's count of
#: distinct deputies on duty (the province's stations view), without reading every deputy's counters.
visitor_years = _t("visitor_years", *_keys(("year", Integer)), *_counters("deputies"))

SUMMARIES = [
    station_years,
    station_deputies,
    opinion_years,
    suggestion_cells,
    suggestion_units,
    suggestion_entries,
    project_cells,
    coverage_population,
    coverage_covered,
    duty_years,
    visitor_years,
]

#: Tables rebuilt from the log (everything but the node dimension, which comes from the hierarchy).
FACT_TABLES = [t for t in metadata.sorted_tables if t.name not in ("nodes", "projection_meta")]


def value_columns(table: Table) -> list[Column]:
    """A summary's counters (every column outside its key)."""
    return [c for c in table.columns if not c.primary_key]
