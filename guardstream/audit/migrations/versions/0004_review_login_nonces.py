"""Review web app: login form nonces already used, so each login form is good for one attempt.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_login_nonces",
        sa.Column("nonce_hash", sa.String(64), primary_key=True),
        sa.Column("used_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_review_login_nonces_expires_at_ms", "review_login_nonces", ["expires_at_ms"])


def downgrade() -> None:
    op.drop_table("review_login_nonces")
