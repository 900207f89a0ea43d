"""Policies for many teams: stored blocklists, shadow decisions, verdict revisions, and what decided each verdict.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("verdicts") as verdicts:
        verdicts.add_column(sa.Column("policy_id", sa.String(64), nullable=True))
        verdicts.add_column(sa.Column("decided_by", sa.String(16), nullable=True))
        verdicts.add_column(sa.Column("blocklist_hits", sa.JSON(), nullable=True))
    op.create_table(
        "blocklists",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effect", sa.String(16), nullable=False),
        sa.Column("raise_to", sa.Float(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "blocklist_terms",
        sa.Column("list_name", sa.String(64), sa.ForeignKey("blocklists.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("term", sa.String(200), primary_key=True),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("match", sa.String(16), nullable=False),
    )
    op.create_table(
        "blocklist_changes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("list_name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("changed_at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_blocklist_changes_list_name", "blocklist_changes", ["list_name"])
    op.create_table(
        "shadow_decisions",
        sa.Column("event_id", sa.String(256), primary_key=True),
        sa.Column("policy_id", sa.String(64), primary_key=True),
        sa.Column("policy_version", sa.String(64), primary_key=True),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("p_unsafe", sa.Float(), nullable=False),
        sa.Column("decided_by", sa.String(16), nullable=False),
        sa.Column("blocklist_hits", sa.JSON(), nullable=False),
        sa.Column("acting_policy_id", sa.String(64), nullable=False),
        sa.Column("acting_label", sa.String(16), nullable=False),
        sa.Column("decided_at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_shadow_decisions_decided_at_ms", "shadow_decisions", ["decided_at_ms"])
    op.create_table(
        "verdict_revisions",
        sa.Column("event_id", sa.String(256), primary_key=True),
        sa.Column("revision", sa.Integer(), primary_key=True),
        sa.Column("label", sa.String(16), nullable=False),
        sa.Column("p_unsafe", sa.Float(), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("model_name", sa.String(200), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("policy_id", sa.String(64), nullable=True),
        sa.Column("policy_version", sa.String(64), nullable=False),
        sa.Column("decided_by", sa.String(16), nullable=True),
        sa.Column("blocklist_hits", sa.JSON(), nullable=False),
        sa.Column("verdict_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("source_topic", sa.String(249), nullable=False),
        sa.Column("source_partition", sa.Integer(), nullable=False),
        sa.Column("source_offset", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_verdict_revisions_label", "verdict_revisions", ["label"])


def downgrade() -> None:
    op.drop_index("ix_verdict_revisions_label", table_name="verdict_revisions")
    op.drop_table("verdict_revisions")
    op.drop_index("ix_shadow_decisions_decided_at_ms", table_name="shadow_decisions")
    op.drop_table("shadow_decisions")
    op.drop_index("ix_blocklist_changes_list_name", table_name="blocklist_changes")
    op.drop_table("blocklist_changes")
    op.drop_table("blocklist_terms")
    op.drop_table("blocklists")
    with op.batch_alter_table("verdicts") as verdicts:
        verdicts.drop_column("blocklist_hits")
        verdicts.drop_column("decided_by")
        verdicts.drop_column("policy_id")
