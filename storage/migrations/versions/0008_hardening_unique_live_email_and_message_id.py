"""hardening: one live lead per address, one first arrival per Message-ID, Slack replays

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 22:50:00

Stores written before this revision may hold the duplicates the missing constraints let in
(two workers creating the same sender's lead, one Message-ID processed twice). They are folded
before the indexes are built: a later live lead with an address already taken becomes an alias
of the oldest one (merged_into_id, as a merge leaves it; `by_email` already returned the oldest;
rows without an address are left alone, as the index leaves them),
and a later arrival of a Message-ID is marked a duplicate of the first.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As storage.models.LIVE_ADDRESS when this revision was written (a migration keeps its own copy).
LIVE_ADDRESS = "merged_into_id IS NULL AND email LIKE '%@%'"


def upgrade() -> None:
    op.execute(
        """
        UPDATE leads SET merged_into_id = (
            SELECT min(first.id) FROM leads AS first
            WHERE first.email = leads.email AND first.merged_into_id IS NULL
        )
        WHERE merged_into_id IS NULL AND email LIKE '%@%' AND id > (
            SELECT min(first.id) FROM leads AS first
            WHERE first.email = leads.email AND first.merged_into_id IS NULL
        )
        """
    )
    op.execute(
        """
        UPDATE inbound_messages SET duplicate_of = (
            SELECT min(first.id) FROM inbound_messages AS first
            WHERE first.message_id = inbound_messages.message_id
        )
        WHERE duplicate_of IS NULL AND message_id IS NOT NULL AND id > (
            SELECT min(first.id) FROM inbound_messages AS first
            WHERE first.message_id = inbound_messages.message_id
        )
        """
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index(
            "ux_leads_live_email",
            ["email"],
            unique=True,
            sqlite_where=sa.text(LIVE_ADDRESS),
            postgresql_where=sa.text(LIVE_ADDRESS),
        )
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.create_index(
            "ux_inbound_first_message_id",
            ["message_id"],
            unique=True,
            sqlite_where=sa.text("duplicate_of IS NULL"),
            postgresql_where=sa.text("duplicate_of IS NULL"),
        )
    op.create_table(
        "slack_requests_seen",
        sa.Column("signature", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("signature"),
    )
    with op.batch_alter_table("slack_requests_seen", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slack_requests_seen_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("slack_requests_seen", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slack_requests_seen_at"))
    op.drop_table("slack_requests_seen")
    with op.batch_alter_table("inbound_messages", schema=None) as batch_op:
        batch_op.drop_index("ux_inbound_first_message_id")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index("ux_leads_live_email")
