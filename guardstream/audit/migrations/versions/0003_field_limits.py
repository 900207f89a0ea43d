"""Columns as wide as ingestion's limits (guardstream.limits): ids hold 256 characters.

Ingestion accepted ids of up to 256 characters while these columns held 200, so on PostgreSQL
one event with a longer id failed its whole batch's write. Widening a varchar rewrites no table
there; SQLite, which never enforced the width, copies each table once. The widths are written out,
not imported: a migration keeps meaning what it meant when it ran.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID_COLUMNS = {
    "verdicts": ("event_id", "conversation_id", "user_id"),
    "dead_letters": ("event_id",),
    "review_leases": ("event_id",),
    "review_labels": ("event_id",),
    "review_explanations": ("event_id",),
    "review_actions": ("event_id",),
}


def _resize(old: int, new: int) -> None:
    for table, columns in _ID_COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.alter_column(column, existing_type=sa.String(old), type_=sa.String(new))


def upgrade() -> None:
    _resize(200, 256)


def downgrade() -> None:
    _resize(256, 200)  # refused by PostgreSQL while a longer id is stored, as it should be
