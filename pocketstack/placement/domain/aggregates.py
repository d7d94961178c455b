"""Provider aggregates (sets of providers named by a UUID)."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.placement import tables as t
from pocketstack.placement.domain import providers, revision

PA = t.provider_aggregates


def of_provider(conn: Connection, provider_id: int) -> list[str]:
    return sorted(r[0] for r in conn.execute(
        sa.select(PA.c.aggregate).where(PA.c.provider_id == provider_id)))


def by_provider(conn: Connection, ids: Iterable[int] | None = None) -> dict[int, set[str]]:
    q = sa.select(PA.c.provider_id, PA.c.aggregate)
    if ids is not None:
        q = q.where(PA.c.provider_id.in_(list(ids)))
    out: dict[int, set[str]] = {}
    for pid, agg in conn.execute(q):
        out.setdefault(pid, set()).add(agg)
    return out


def set_for_provider(conn: Connection, uuid: str, aggregates: list[str],
                     generation: int | None = None, bump: bool = True
                     ) -> tuple[list[str], int]:
    """Replace a provider's aggregates; returns (aggregates, generation)."""
    provider = providers.lock_one(conn, uuid)
    providers.check_generation(provider, generation)
    wanted = set(aggregates)
    current = set(of_provider(conn, provider["id"]))
    if wanted - current:
        conn.execute(sa.insert(PA), [{"provider_id": provider["id"], "aggregate": a}
                                     for a in sorted(wanted - current)])
    if current - wanted:
        conn.execute(sa.delete(PA).where(PA.c.provider_id == provider["id"],
                                         PA.c.aggregate.in_(current - wanted)))
    gen = provider["generation"]
    if bump:
        gen = providers.bump(conn, provider["id"], gen)
    revision.touch(conn, structure=True)
    return sorted(wanted), gen
