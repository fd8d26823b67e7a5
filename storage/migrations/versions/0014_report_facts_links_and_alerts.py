"""reports: one roll-up row per live lead, revocable dashboard links, hot-lead alert times

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 22:40:02.157040
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "report_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("expires_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("revoked_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "lead_alerts",
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("last_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("alerts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
        ),
        sa.PrimaryKeyConstraint("lead_id"),
    )
    op.create_table(
        "report_lead_facts",
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("arrived_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("utm_source", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("utm_campaign", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("stage", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("reached_mql", sa.Boolean(), nullable=False),
        sa.Column("reached_sql", sa.Boolean(), nullable=False),
        sa.Column("converted", sa.Boolean(), nullable=False),
        sa.Column("converted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("convert_seconds", sa.Float(), nullable=True),
        sa.Column("amount", sa.Float(), nullable=True),
        sa.Column("worked", sa.Boolean(), nullable=False),
        sa.Column("sla_misses", sa.Integer(), nullable=False),
        sa.Column("touch_from", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("touched_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("touch_seconds", sa.Float(), nullable=True),
        sa.Column("touch_work_seconds", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
        ),
        sa.PrimaryKeyConstraint("lead_id"),
    )
    with op.batch_alter_table("report_lead_facts", schema=None) as batch_op:
        batch_op.create_index("ix_report_facts_arrived", ["arrived_at"], unique=False)
        batch_op.create_index(
            "ix_report_facts_open_arrived", ["is_open", "arrived_at"], unique=False
        )
        batch_op.create_index(
            "ix_report_facts_owner_arrived", ["owner_id", "arrived_at"], unique=False
        )
        batch_op.create_index(
            "ix_report_facts_source_arrived", ["source", "arrived_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("report_lead_facts", schema=None) as batch_op:
        batch_op.drop_index("ix_report_facts_source_arrived")
        batch_op.drop_index("ix_report_facts_owner_arrived")
        batch_op.drop_index("ix_report_facts_open_arrived")
        batch_op.drop_index("ix_report_facts_arrived")

    op.drop_table("report_lead_facts")
    op.drop_table("lead_alerts")
    op.drop_table("report_links")
