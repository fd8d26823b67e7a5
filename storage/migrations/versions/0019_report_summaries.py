"""reports: summaries kept by triggers (day, month, campaign counts; speed histograms)

The reports read these instead of grouping a million fact rows. Triggers on report_lead_facts
keep them in the same statement as any write to a fact row; this migration fills them from the
facts already there, and gives each fact its speed buckets.

Revision ID: 0019
Revises: 0009
Create Date: 2026-12-02 01:50:00
"""

import math
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0019"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The advisory lock that serializes the transactions writing facts on PostgreSQL.
ADVISORY_LOCK = 170019
COUNTERS = ("leads", "mqls", "sqls", "converted", "convert_seconds", "amount", "worked",
            "sla_misses", "open", "open_untouched")  # fmt: skip
# Each summary: its table, its key columns and the fact expression of each (ROW is NEW/OLD).
SUMMARIES = (
    ("report_day_counts", (("day", "ROW.day"), ("source", "ROW.source"),
                           ("utm_source", "ROW.utm_source")), (("week", "ROW.week"),)),
    ("report_month_counts", (("month", "ROW.month"), ("source", "ROW.source"),
                             ("utm_source", "ROW.utm_source"),
                             ("owner", "COALESCE(ROW.owner_id, 0)")), ()),
    ("report_campaign_counts", (("month", "ROW.month"), ("source", "ROW.source"),
                                ("utm_source", "ROW.utm_source"),
                                ("utm_campaign", "ROW.utm_campaign")), ()),
)  # fmt: skip
HISTOGRAMS = (
    ("wall", "all", "''", "touch_bucket"),
    ("wall", "rep", "COALESCE(CAST(ROW.owner_id AS TEXT), '')", "touch_bucket"),
    ("wall", "source", "ROW.source", "touch_bucket"),
    ("work", "all", "''", "work_bucket"),
    ("work", "rep", "COALESCE(CAST(ROW.owner_id AS TEXT), '')", "work_bucket"),
    ("work", "source", "ROW.source", "work_bucket"),
)


def counter_values(sign: str) -> list[str]:
    """What one fact row adds to each counter (sign "" or "-")."""

    def ones(condition: str) -> str:
        return f"{sign}(CASE WHEN {condition} THEN 1 ELSE 0 END)"

    return [
        f"{sign}1",
        ones("ROW.reached_mql"),
        ones("ROW.reached_sql"),
        ones("ROW.converted"),
        f"{sign}COALESCE(ROW.convert_seconds, 0)",
        f"{sign}COALESCE(ROW.amount, 0)",
        ones("ROW.worked"),
        f"{sign}ROW.sla_misses",
        ones("ROW.is_open"),
        ones("ROW.is_open AND ROW.touched_at IS NULL"),
    ]


def statements(row: str, sign: str) -> list[str]:
    """The statements folding fact row `row` (NEW or OLD) into every summary, added (sign "")
    or taken away (sign "-"); rows whose count falls to zero are deleted."""
    out = []
    for table, keys, extra in SUMMARIES:
        columns = [name for name, _ in keys + extra] + list(COUNTERS)
        values = [value for _, value in keys + extra] + counter_values(sign)
        updates = ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in COUNTERS)
        out.append(
            f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(values)} WHERE true "
            f"ON CONFLICT ({', '.join(name for name, _ in keys)}) DO UPDATE SET {updates}"
        )
        if sign:
            match = " AND ".join(f"{name} = {value}" for name, value in keys)
            out.append(f"DELETE FROM {table} WHERE {match} AND leads = 0")
    for metric, dim, key, bucket in HISTOGRAMS:
        out.append(
            "INSERT INTO report_touch_histogram (metric, month, dim, key, bucket, n) "
            f"SELECT '{metric}', ROW.month, '{dim}', {key}, ROW.{bucket}, {sign}1 "
            f"WHERE ROW.{bucket} IS NOT NULL ON CONFLICT (metric, dim, key, bucket, month) "
            "DO UPDATE SET n = report_touch_histogram.n + excluded.n"
        )
        if sign:
            out.append(
                "DELETE FROM report_touch_histogram WHERE "
                f"metric = '{metric}' AND month = ROW.month AND dim = '{dim}' AND key = {key} "
                f"AND bucket = ROW.{bucket} AND n = 0"
            )
    return [s.replace("ROW.", f"{row}.") for s in out]


def create_triggers(dialect: str) -> None:
    if dialect == "postgresql":
        old = ";\n    ".join(statements("OLD", "-"))
        new = ";\n    ".join(statements("NEW", ""))
        # One transaction at a time writes facts (an advisory lock held to its commit): two
        # writers updating the same summary rows in different orders would deadlock.
        op.execute(
            "CREATE FUNCTION report_facts_summaries() RETURNS trigger AS $$\nBEGIN\n"
            f"  PERFORM pg_advisory_xact_lock({ADVISORY_LOCK});\n"
            f"  IF TG_OP IN ('DELETE', 'UPDATE') THEN\n    {old};\n  END IF;\n"
            f"  IF TG_OP IN ('INSERT', 'UPDATE') THEN\n    {new};\n  END IF;\n"
            "  RETURN NULL;\nEND\n$$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER report_facts_summaries AFTER INSERT OR UPDATE OR DELETE ON "
            "report_lead_facts FOR EACH ROW EXECUTE FUNCTION report_facts_summaries()"
        )
        return
    bodies = {
        "insert": statements("NEW", ""),
        "delete": statements("OLD", "-"),
        "update": statements("OLD", "-") + statements("NEW", ""),
    }
    for event, body in bodies.items():
        op.execute(
            f"CREATE TRIGGER report_facts_{event} AFTER {event.upper()} ON report_lead_facts "
            f"FOR EACH ROW BEGIN {'; '.join(body)}; END"
        )


def counter_columns() -> list[sa.Column]:
    return [
        sa.Column("leads", sa.Integer(), nullable=False),
        sa.Column("mqls", sa.Integer(), nullable=False),
        sa.Column("sqls", sa.Integer(), nullable=False),
        sa.Column("converted", sa.Integer(), nullable=False),
        sa.Column("convert_seconds", sa.Float(), nullable=False),
        sa.Column("amount", sa.Float(), nullable=False),
        sa.Column("worked", sa.Integer(), nullable=False),
        sa.Column("sla_misses", sa.Integer(), nullable=False),
        sa.Column("open", sa.Integer(), nullable=False),
        sa.Column("open_untouched", sa.Integer(), nullable=False),
    ]


def text() -> sa.types.TypeEngine:
    return sqlmodel.sql.sqltypes.AutoString()


def speed_bucket(seconds: float) -> int:
    """bot/reports' storage.report_tables.speed_bucket, as it was when this was written."""
    return 0 if seconds <= 0 else int(4 * math.log2(1 + seconds))


INDEXES = (
    ("ix_report_facts_touch_all", ["touch_bucket", "touch_seconds", "arrived_at"]),
    ("ix_report_facts_touch_rep", ["owner_id", "touch_bucket", "touch_seconds", "arrived_at"]),
    ("ix_report_facts_touch_source", ["source", "touch_bucket", "touch_seconds", "arrived_at"]),
    ("ix_report_facts_work_all", ["work_bucket", "touch_work_seconds", "arrived_at"]),
    ("ix_report_facts_work_rep", ["owner_id", "work_bucket", "touch_work_seconds", "arrived_at"]),
    ("ix_report_facts_work_source",
     ["source", "work_bucket", "touch_work_seconds", "arrived_at"]),
    ("ix_report_facts_converted",
     ["converted", "arrived_at", "convert_seconds", "source", "utm_source", "utm_campaign"]),
)  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "report_day_counts",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("source", text(), nullable=False),
        sa.Column("utm_source", text(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        *counter_columns(),
        sa.PrimaryKeyConstraint("day", "source", "utm_source"),
    )
    op.create_table(
        "report_month_counts",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("source", text(), nullable=False),
        sa.Column("utm_source", text(), nullable=False),
        sa.Column("owner", sa.Integer(), nullable=False),
        *counter_columns(),
        sa.PrimaryKeyConstraint("month", "source", "utm_source", "owner"),
    )
    op.create_table(
        "report_campaign_counts",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("source", text(), nullable=False),
        sa.Column("utm_source", text(), nullable=False),
        sa.Column("utm_campaign", text(), nullable=False),
        *counter_columns(),
        sa.PrimaryKeyConstraint("month", "source", "utm_source", "utm_campaign"),
    )
    op.create_table(
        "report_touch_histogram",
        sa.Column("metric", text(), nullable=False),
        sa.Column("dim", text(), nullable=False),
        sa.Column("key", text(), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        # a group's buckets over months in key order; clustered on SQLite
        sa.PrimaryKeyConstraint("metric", "dim", "key", "bucket", "month"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("report_lead_facts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("touch_bucket", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("work_bucket", sa.Integer(), nullable=True))
        for name, columns in INDEXES:
            batch_op.create_index(name, columns, unique=False)
    bind = op.get_bind()
    facts = sa.table("report_lead_facts", sa.column("lead_id"), sa.column("touch_seconds"),
                     sa.column("touch_work_seconds"), sa.column("touch_bucket"),
                     sa.column("work_bucket"))  # fmt: skip
    rows = bind.execute(
        sa.select(facts.c.lead_id, facts.c.touch_seconds, facts.c.touch_work_seconds).where(
            facts.c.touch_seconds.is_not(None)
        )
    ).all()
    for lead_id, wall, work in rows:
        work = wall if work is None else work
        bind.execute(
            facts.update()
            .where(facts.c.lead_id == lead_id)
            .values(touch_bucket=speed_bucket(wall), work_bucket=speed_bucket(work),
                    touch_work_seconds=work)
        )  # fmt: skip
    # The summaries from the facts already there: insert each fact again through the triggers.
    create_triggers(bind.dialect.name)
    op.execute("CREATE TEMPORARY TABLE report_facts_0019 AS SELECT * FROM report_lead_facts")
    op.execute("DELETE FROM report_lead_facts")
    op.execute("INSERT INTO report_lead_facts SELECT * FROM report_facts_0019")
    op.execute("DROP TABLE report_facts_0019")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER report_facts_summaries ON report_lead_facts")
        op.execute("DROP FUNCTION report_facts_summaries()")
    else:
        for event in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER report_facts_{event}")
    with op.batch_alter_table("report_lead_facts", schema=None) as batch_op:
        for name, _ in INDEXES:
            batch_op.drop_index(name)
        batch_op.drop_column("work_bucket")
        batch_op.drop_column("touch_bucket")
    for table in ("report_touch_histogram", "report_campaign_counts", "report_month_counts",
                  "report_day_counts"):  # fmt: skip
        op.drop_table(table)
