"""Schema migrations with Alembic: ``pocketstack db upgrade`` and the check at start-up."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from pocketstack.common.db import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
_REVISION_RE = re.compile(r"^(down_)?revision\s*=\s*['\"]?([\w-]+|None)['\"]?", re.M)


def alembic_config() -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def current_revision(db: Database) -> str | None:
    """The schema's revision, read directly (None for an empty database)."""
    if not sa.inspect(db.engine).has_table("alembic_version"):
        return None
    with db.engine.connect() as conn:
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def head_revision() -> str | None:
    """The newest revision, read from the version files without importing Alembic (start-up
    checks this on every ``pocketstack up``; Alembic itself costs ~0.3 s to import)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for down, value in _REVISION_RE.findall(path.read_text()):
            (parents if down else revisions).add(value)
    heads = revisions - parents
    if len(heads) != 1:
        raise RuntimeError(f"migrations must have exactly one head, found {sorted(heads)}")
    return heads.pop()


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (no-op when already there)."""
    if revision == "head" and current_revision(db) == head_revision():
        return
    from alembic import command

    cfg = alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def autogenerate(db: Database, message: str) -> None:
    """Developer helper: write a new revision from the difference between tables and DB."""
    from alembic import command

    cfg = alembic_config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)
