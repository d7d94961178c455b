"""The one SQLAlchemy MetaData every service's tables register on (Alembic reads it)."""

from __future__ import annotations

import sqlalchemy as sa

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def load_all_tables() -> sa.MetaData:
    """Import every service's table module so the MetaData is complete."""
    from pocketstack.compute import tables as _compute  # noqa: F401
    from pocketstack.identity import tables as _identity  # noqa: F401
    from pocketstack.image import tables as _image  # noqa: F401
    from pocketstack.placement import tables as _placement  # noqa: F401

    return metadata
