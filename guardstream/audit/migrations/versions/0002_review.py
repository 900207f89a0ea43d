"""Review web app: accounts, sessions, leases, labels (the feedback outbox), explanations, trail.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_accounts",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=True),
    )
    op.create_table(
        "review_sessions",
        sa.Column("session_hash", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_review_sessions_username", "review_sessions", ["username"])
    op.create_index("ix_review_sessions_expires_at_ms", "review_sessions", ["expires_at_ms"])
    op.create_table(
        "review_leases",
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_review_leases_expires_at_ms", "review_leases", ["expires_at_ms"])
    op.create_table(
        "review_labels",
        sa.Column("feedback_id", sa.String(64), primary_key=True),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("reviewer", sa.String(64), nullable=False),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("model_label", sa.String(16), nullable=True),
        sa.Column("model_version", sa.String(64), nullable=True),
        sa.Column("labelled_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("retracted_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("claimed_at_ms", sa.BigInteger(), nullable=True),
        sa.Column("published_at_ms", sa.BigInteger(), nullable=True),
        sa.UniqueConstraint("event_id", "revision", name="uq_review_labels_event_revision"),
    )
    for column in ("event_id", "reviewer", "labelled_at_ms", "claimed_at_ms"):
        op.create_index(f"ix_review_labels_{column}", "review_labels", [column])
    op.create_table(
        "review_explanations",
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("analysis", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "review_actions",
        sa.Column("action_id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("ip", sa.String(64), nullable=True),
    )
    for column in ("at_ms", "actor", "action"):
        op.create_index(f"ix_review_actions_{column}", "review_actions", [column])


def downgrade() -> None:
    for table in (
        "review_actions",
        "review_explanations",
        "review_labels",
        "review_leases",
        "review_sessions",
        "review_accounts",
    ):
        op.drop_table(table)
