"""Analyses: explain mode's analysis of each flagged verdict, made after the verdict.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "analyses",
        sa.Column("event_id", sa.String(256), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("analysis", sa.Text(), nullable=True),
        sa.Column("explain_label", sa.String(16), nullable=True),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("analysed_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("explain_ms", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("analyses")
