"""Initial audit store: verdicts and dead letters.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verdicts",
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("conversation_id", sa.String(200), nullable=False),
        sa.Column("user_id", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("question", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("p_unsafe", sa.Float(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("analysis", sa.Text(), nullable=True),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("event_created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("verdict_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("queue_ms", sa.Float(), nullable=False),
        sa.Column("inference_ms", sa.Float(), nullable=False),
        sa.Column("end_to_end_ms", sa.Float(), nullable=False),
        sa.Column("trace_id", sa.String(64), nullable=True),
        sa.Column("source_topic", sa.String(249), nullable=False),
        sa.Column("source_partition", sa.Integer(), nullable=False),
        sa.Column("source_offset", sa.BigInteger(), nullable=False),
    )
    for column in ("conversation_id", "user_id", "label", "model_version", "verdict_at_ms"):
        op.create_index(f"ix_verdicts_{column}", "verdicts", [column])
    op.create_table(
        "dead_letters",
        sa.Column("source_topic", sa.String(249), primary_key=True),
        sa.Column("source_partition", sa.Integer(), primary_key=True),
        sa.Column("source_offset", sa.BigInteger(), primary_key=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=True),
        sa.Column("payload_size", sa.BigInteger(), nullable=False),
        sa.Column("failed_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("worker_id", sa.String(200), nullable=False),
    )
    op.create_index("ix_dead_letters_kind", "dead_letters", ["kind"])


def downgrade() -> None:
    op.drop_table("dead_letters")
    op.drop_table("verdicts")
