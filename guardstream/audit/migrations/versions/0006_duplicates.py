"""Duplicates: events read again at another source position once their event_id had a verdict.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duplicates",
        sa.Column("source_topic", sa.String(249), primary_key=True),
        sa.Column("source_partition", sa.Integer(), primary_key=True),
        sa.Column("source_offset", sa.BigInteger(), primary_key=True),
        sa.Column("event_id", sa.String(256), nullable=False),
        sa.Column("first_topic", sa.String(249), nullable=False),
        sa.Column("first_partition", sa.Integer(), nullable=False),
        sa.Column("first_offset", sa.BigInteger(), nullable=False),
        sa.Column("detected_at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_duplicates_event_id", "duplicates", ["event_id"])


def downgrade() -> None:
    op.drop_index("ix_duplicates_event_id", table_name="duplicates")
    op.drop_table("duplicates")
