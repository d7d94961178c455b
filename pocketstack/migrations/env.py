"""Alembic environment: runs migrations on the connection Pocketstack hands it."""

from __future__ import annotations

from alembic import context

from pocketstack.common.schema import load_tables
from pocketstack.services import SERVICES

target_metadata = load_tables(spec.tables for spec in SERVICES)


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `pocketstack db upgrade`")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported")
run_migrations_online()
