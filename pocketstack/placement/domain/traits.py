"""Traits (standard from code, CUSTOM_* in a table) and provider traits."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.common.db import is_duplicate_error
from pocketstack.placement import standard
from pocketstack.placement import tables as t
from pocketstack.placement.domain import providers, revision
from pocketstack.placement.domain.providers import now

T = t.traits
PT = t.provider_traits


def list_all(conn: Connection, names: set[str] | None = None, prefix: str | None = None,
             associated: bool | None = None) -> list[str]:
    out = set(standard.TRAITS) | {r[0] for r in conn.execute(sa.select(T.c.name))}
    if names is not None:
        out &= names
    if prefix is not None:
        out = {n for n in out if n.startswith(prefix)}
    if associated is not None:
        used = {r[0] for r in conn.execute(sa.select(PT.c.trait).distinct())}
        out = out & used if associated else out - used
    return sorted(out)


def exists(conn: Connection, name: str) -> bool:
    if name in standard.TRAIT_SET:
        return True
    return conn.execute(sa.select(T.c.name).where(T.c.name == name)).first() is not None


def check_known(conn: Connection, names: Iterable[str]) -> None:
    unknown = {n for n in names if n not in standard.TRAIT_SET}
    if unknown:
        found = {r[0] for r in conn.execute(sa.select(T.c.name).where(T.c.name.in_(unknown)))}
        missing = sorted(unknown - found)
        if missing:
            raise exceptions.BadRequest(f"No such trait(s): {', '.join(missing)}")


def ensure(conn: Connection, name: str) -> bool:
    """Create a custom trait unless it exists; True when created now."""
    if exists(conn, name):
        return False
    if not standard.is_custom(name) or len(name) > 255:
        raise exceptions.BadRequest(
            f"The trait {name!r} is invalid: custom traits start with CUSTOM_ and use only "
            "A-Z, 0-9 and _.")
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(T).values(name=name, created_at=now()))
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            return False
        raise
    revision.touch(conn, structure=True)
    return True


def delete(conn: Connection, name: str) -> None:
    if name in standard.TRAIT_SET:
        raise exceptions.BadRequest(f"Cannot delete standard trait {name}.")
    if not exists(conn, name):
        raise exceptions.NotFound(f"No such trait(s): {name}")
    if conn.execute(sa.select(PT.c.provider_id).where(PT.c.trait == name).limit(1)).first():
        raise exceptions.Conflict(f"The trait {name} is in use by a resource provider.")
    conn.execute(sa.delete(T).where(T.c.name == name))
    revision.touch(conn, structure=True)


def of_provider(conn: Connection, provider_id: int) -> list[str]:
    return sorted(r[0] for r in conn.execute(
        sa.select(PT.c.trait).where(PT.c.provider_id == provider_id)))


def by_provider(conn: Connection, ids: Iterable[int] | None = None) -> dict[int, set[str]]:
    q = sa.select(PT.c.provider_id, PT.c.trait)
    if ids is not None:
        q = q.where(PT.c.provider_id.in_(list(ids)))
    out: dict[int, set[str]] = {}
    for pid, trait in conn.execute(q):
        out.setdefault(pid, set()).add(trait)
    return out


def set_for_provider(conn: Connection, uuid: str, names: list[str],
                     generation: int | None = None) -> tuple[list[str], int]:
    """Replace a provider's traits; returns (traits, new generation)."""
    provider = providers.lock_one(conn, uuid)
    providers.check_generation(provider, generation)
    wanted = set(names)
    check_known(conn, wanted)
    current = set(of_provider(conn, provider["id"]))
    if wanted - current:
        conn.execute(sa.insert(PT), [{"provider_id": provider["id"], "trait": n}
                                     for n in sorted(wanted - current)])
    if current - wanted:
        conn.execute(sa.delete(PT).where(PT.c.provider_id == provider["id"],
                                         PT.c.trait.in_(current - wanted)))
    gen = providers.bump(conn, provider["id"], provider["generation"])
    return sorted(wanted), gen
