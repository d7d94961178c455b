"""Flavors: the sizes instances come in (and who may use the private ones)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.compute import tables as t
from pocketstack.compute.domain.common import utcnow

# devstack's and Tempest's usual sizes: (flavorid, name, ram MB, vcpus, disk GB)
DEFAULTS = (
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 1, 20),
    ("3", "m1.medium", 4096, 2, 40),
    ("4", "m1.large", 8192, 4, 80),
    ("5", "m1.xlarge", 16384, 8, 160),
    ("42", "m1.nano", 128, 1, 1),
    ("84", "m1.micro", 192, 1, 1),
    ("c1", "cirros256", 256, 1, 1),
    ("d1", "ds512M", 512, 1, 5),
    ("d2", "ds1G", 1024, 1, 10),
    ("d3", "ds2G", 2048, 2, 10),
    ("d4", "ds4G", 4096, 4, 20),
)


def ensure_defaults(conn: Connection) -> None:
    existing = {r[0] for r in conn.execute(sa.select(t.flavors.c.flavorid))}
    names = {r[0] for r in conn.execute(sa.select(t.flavors.c.name))}
    now = utcnow()
    for flavorid, name, ram, vcpus, disk in DEFAULTS:
        if flavorid in existing or name in names:
            continue
        conn.execute(sa.insert(t.flavors).values(
            flavorid=flavorid, name=name, memory_mb=ram, vcpus=vcpus, root_gb=disk,
            ephemeral_gb=0, swap=0, rxtx_factor=1.0, is_public=True, disabled=False,
            description=None, extra_specs={}, created_at=now, generation=0))


def get(conn: Connection, flavorid: str) -> dict[str, Any]:
    row = conn.execute(sa.select(t.flavors).where(t.flavors.c.flavorid == flavorid)
                       ).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Flavor {flavorid} could not be found.")
    return dict(row)


def accessible(conn: Connection, flavor: dict[str, Any], project_id: str | None,
               is_admin: bool) -> bool:
    if flavor["is_public"] or is_admin:
        return True
    return conn.execute(sa.select(t.flavor_access).where(
        t.flavor_access.c.flavor_id == flavor["id"],
        t.flavor_access.c.project_id == project_id)).first() is not None


def snapshot(flavor: dict[str, Any]) -> dict[str, Any]:
    """What an instance keeps of its flavor (it survives the flavor's deletion)."""
    return {
        "id": flavor["flavorid"], "name": flavor["name"], "vcpus": flavor["vcpus"],
        "ram": flavor["memory_mb"], "disk": flavor["root_gb"],
        "ephemeral": flavor["ephemeral_gb"], "swap": flavor["swap"],
        "extra_specs": dict(flavor["extra_specs"]),
    }


# -- management (flavor API) -------------------------------------------------------------------
SORT_KEYS = ("flavorid", "name", "memory_mb", "vcpus", "root_gb", "ephemeral_gb", "swap",
             "rxtx_factor", "is_public", "disabled", "created_at", "updated_at", "description",
             "id")


def list_(conn: Connection, *, project_id: str | None, is_public: bool | None = True,
          include_disabled: bool = False, min_ram: int | None = None,
          min_disk: int | None = None, sort_key: str = "flavorid",
          sort_dir: str = "asc") -> list[dict[str, Any]]:
    """Flavors a caller sees: ``is_public=True`` means the public ones plus the private ones
    ``project_id`` was given access to; ``False`` only private ones; ``None`` all of them."""
    f = t.flavors.c
    q = sa.select(t.flavors)
    if is_public is True:
        if project_id is not None:
            shared = sa.select(t.flavor_access.c.flavor_id).where(
                t.flavor_access.c.project_id == project_id)
            q = q.where(sa.or_(f.is_public.is_(True), f.id.in_(shared)))
        else:
            q = q.where(f.is_public.is_(True))
    elif is_public is False:
        q = q.where(f.is_public.is_(False))
    if not include_disabled:
        q = q.where(f.disabled.is_(False))
    if min_ram is not None:
        q = q.where(f.memory_mb >= min_ram)
    if min_disk is not None:
        q = q.where(f.root_gb >= min_disk)
    col = f[sort_key]
    order = col.desc() if sort_dir == "desc" else col.asc()
    tie = f.flavorid.desc() if sort_dir == "desc" else f.flavorid.asc()
    return [dict(r) for r in conn.execute(q.order_by(order, tie)).mappings()]


def create(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    flavorid = values["flavorid"]
    if conn.execute(sa.select(t.flavors.c.id).where(t.flavors.c.flavorid == flavorid)
                    ).first() is not None:
        raise exceptions.Conflict(f"Flavor with ID {flavorid} already exists.")
    if conn.execute(sa.select(t.flavors.c.id).where(t.flavors.c.name == values["name"])
                    ).first() is not None:
        raise exceptions.Conflict(f"Flavor with name {values['name']} already exists.")
    conn.execute(sa.insert(t.flavors).values(
        created_at=utcnow(), generation=0, disabled=False, extra_specs={}, **values))
    return get(conn, flavorid)


def update_description(conn: Connection, flavorid: str, description: str | None
                       ) -> dict[str, Any]:
    flavor = get(conn, flavorid)
    conn.execute(sa.update(t.flavors).where(t.flavors.c.id == flavor["id"]).values(
        description=description, updated_at=utcnow(), generation=flavor["generation"] + 1))
    return get(conn, flavorid)


def delete(conn: Connection, flavorid: str) -> None:
    flavor = get(conn, flavorid)
    conn.execute(sa.delete(t.flavor_access).where(t.flavor_access.c.flavor_id == flavor["id"]))
    conn.execute(sa.delete(t.flavors).where(t.flavors.c.id == flavor["id"]))


def _write_specs(conn: Connection, flavor: dict[str, Any], specs: dict[str, str]) -> None:
    conn.execute(sa.update(t.flavors).where(t.flavors.c.id == flavor["id"]).values(
        extra_specs=specs, updated_at=utcnow(), generation=flavor["generation"] + 1))


def set_extra_specs(conn: Connection, flavorid: str, specs: dict[str, str]) -> dict[str, str]:
    """Add or replace the given keys; returns what was set."""
    flavor = get(conn, flavorid)
    merged = dict(flavor["extra_specs"] or {})
    merged.update(specs)
    _write_specs(conn, flavor, merged)
    return specs


def delete_extra_spec(conn: Connection, flavorid: str, key: str) -> None:
    flavor = get(conn, flavorid)
    specs = dict(flavor["extra_specs"] or {})
    if key not in specs:
        raise exceptions.NotFound(f"Flavor {flavorid} has no extra specs with key {key}.")
    del specs[key]
    _write_specs(conn, flavor, specs)


def access_list(conn: Connection, flavorid: str) -> list[str]:
    flavor = get(conn, flavorid)
    if flavor["is_public"]:
        raise exceptions.NotFound("Access list not available for public flavors.")
    return _projects(conn, flavor)


def _projects(conn: Connection, flavor: dict[str, Any]) -> list[str]:
    q = sa.select(t.flavor_access.c.project_id).where(
        t.flavor_access.c.flavor_id == flavor["id"]).order_by(t.flavor_access.c.project_id)
    return [r[0] for r in conn.execute(q)]


def add_access(conn: Connection, flavorid: str, project_id: str) -> list[str]:
    flavor = get(conn, flavorid)
    if flavor["is_public"]:
        raise exceptions.Conflict("Can not add access to a public flavor.")
    if project_id in _projects(conn, flavor):
        raise exceptions.Conflict(f"Flavor access already exists for flavor {flavorid} and "
                                  f"project {project_id} combination.")
    conn.execute(sa.insert(t.flavor_access).values(flavor_id=flavor["id"],
                                                   project_id=project_id))
    return _projects(conn, flavor)


def remove_access(conn: Connection, flavorid: str, project_id: str) -> list[str]:
    flavor = get(conn, flavorid)
    if flavor["is_public"]:
        raise exceptions.Conflict("Can not remove access from a public flavor.")
    done = conn.execute(sa.delete(t.flavor_access).where(
        t.flavor_access.c.flavor_id == flavor["id"],
        t.flavor_access.c.project_id == project_id))
    if not done.rowcount:
        raise exceptions.NotFound(f"Flavor access not found for {flavorid} / {project_id} "
                                  f"combination.")
    return _projects(conn, flavor)
