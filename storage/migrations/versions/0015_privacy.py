"""privacy: tombstones and stale marks on leads, the suppression list, the append-only privacy
log, the self-service requests

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The privacy log is append-only: the store itself refuses to change or remove an entry.
SQLITE_GUARDS = [
    f"CREATE TRIGGER privacy_log_no_{verb} BEFORE {verb.upper()} ON privacy_log "
    "BEGIN SELECT RAISE(ABORT, 'the privacy log is append-only'); END"
    for verb in ("update", "delete")
]
POSTGRES_GUARDS = [
    "CREATE FUNCTION privacy_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN RAISE EXCEPTION 'the privacy log is append-only'; END $$",
    "CREATE TRIGGER privacy_log_append_only BEFORE UPDATE OR DELETE ON privacy_log "
    "FOR EACH ROW EXECUTE FUNCTION privacy_log_append_only()",
]


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("erased_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("stale_since", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
    op.create_table(
        "suppressed_addresses",
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("log_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_table(
        "privacy_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("records", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "privacy_requests",
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("digest"),
    )
    guards = SQLITE_GUARDS if op.get_bind().dialect.name == "sqlite" else POSTGRES_GUARDS
    for statement in guards:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS privacy_log_append_only ON privacy_log")
        op.execute("DROP FUNCTION IF EXISTS privacy_log_append_only()")
    op.drop_table("privacy_requests")
    op.drop_table("privacy_log")
    op.drop_table("suppressed_addresses")
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("stale_since")
        batch.drop_column("erased_at")
