"""match models and enrichment answers: the fitted Fellegi-Sunter model of de-duplication
(bot/dedupe/model.py), and the enrichment provider's answers per company domain

Revision ID: 0010
Revises: 0018
Create Date: 2026-12-01 23:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0010"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "match_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trained_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("trained_by", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("leads", sa.Integer(), nullable=False),
        sa.Column("pairs", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "enrichment_answers",
        sa.Column("domain", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("fetched_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("domain"),
    )


def downgrade() -> None:
    op.drop_table("enrichment_answers")
    op.drop_table("match_models")
