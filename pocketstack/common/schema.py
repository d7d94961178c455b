"""The one SQLAlchemy MetaData every service's tables register on (Alembic reads it)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

import sqlalchemy as sa

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def load_tables(modules: Iterable[str]) -> sa.MetaData:
    """Import the given table modules (each service's ``tables``) so the MetaData is complete;
    the caller names them (``pocketstack.services``), so this module imports no service."""
    for name in modules:
        importlib.import_module(name)
    return metadata
