"""The migrations build exactly the schema the table classes describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

import guardstream.audit.blocklist_tables
import guardstream.audit.review_tables
from guardstream.audit.tables import Base


def test_migrations_and_tables_agree(audit_engine: Engine) -> None:
    assert guardstream.audit.blocklist_tables.BlocklistRow.__table__.metadata is Base.metadata
    with audit_engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
