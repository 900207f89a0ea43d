"""Alembic environment: migrates the connection handed over by guardstream.audit.migrate."""

from __future__ import annotations

from alembic import context

from guardstream.audit.tables import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
