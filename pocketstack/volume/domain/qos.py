"""QoS specs (``/qos-specs``): named sets of key/value limits for a ``consumer`` (``front-end``:
the hypervisor applies them, ``back-end``: the storage driver, ``both``), associated with volume
types, one spec per type at most.

They are records: the file backend does not throttle (it reports ``QoS_support: false``), and
front-end specs are handed to compute in a volume's connection info, as Cinder hands them to
Nova."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.volume import errors
from pocketstack.volume import tables as t
from pocketstack.volume.domain import types
from pocketstack.volume.domain.common import now, row_dict

CONSUMERS = ("front-end", "back-end", "both")
SORT_KEYS = {"id", "name", "consumer", "created_at"}


class QoSNotFound(exceptions.NotFound):
    def __init__(self, ident: str) -> None:
        super().__init__(f"QoS Specs {ident} could not be found.")


def get(conn: Connection, ident: str) -> dict[str, Any]:
    row = conn.execute(sa.select(t.qos_specs).where(t.qos_specs.c.id == ident)).first()
    if row is None:
        raise QoSNotFound(ident)
    return row_dict(row)


def list_specs(conn: Connection, sort: list[tuple[str, str]]) -> list[dict[str, Any]]:
    q = t.qos_specs
    order = [q.c[k].asc() if d == "asc" else q.c[k].desc() for k, d in sort]
    return [row_dict(r) for r in conn.execute(sa.select(q).order_by(*order, q.c.id))]


def create(conn: Connection, name: str, consumer: str, specs: dict[str, str]) -> dict[str, Any]:
    q = t.qos_specs
    if conn.execute(sa.select(q.c.id).where(q.c.name == name)).first() is not None:
        raise exceptions.Conflict(f"QoS Specs {name} already exists.")
    ident = str(uuid.uuid4())
    conn.execute(sa.insert(q).values(id=ident, name=name, consumer=consumer, specs=specs,
                                     created_at=now()))
    return get(conn, ident)


def set_keys(conn: Connection, ident: str, specs: dict[str, str]) -> None:
    """Add or change keys; ``consumer`` among them changes the consumer (as Cinder's does)."""
    row = get(conn, ident)
    values: dict[str, Any] = {"updated_at": now()}
    rest = dict(specs)
    if "consumer" in rest:
        consumer = rest.pop("consumer")
        if consumer not in CONSUMERS:
            raise errors.bad(f"Valid consumer of QoS specs are: {list(CONSUMERS)}")
        values["consumer"] = consumer
    values["specs"] = {**row["specs"], **rest}
    conn.execute(sa.update(t.qos_specs).where(t.qos_specs.c.id == ident).values(**values))


def unset_keys(conn: Connection, ident: str, keys: list[str]) -> None:
    row = get(conn, ident)
    specs = dict(row["specs"])
    for key in keys:
        if key not in specs:
            raise exceptions.NotFound(f"QoS spec {key} could not be found in QoS Specs "
                                      f"{ident}.")
        specs.pop(key)
    conn.execute(sa.update(t.qos_specs).where(t.qos_specs.c.id == ident)
                 .values(specs=specs, updated_at=now()))


def associations(conn: Connection, ident: str) -> list[dict[str, str]]:
    get(conn, ident)
    a, vt = t.qos_associations, t.volume_types
    rows = conn.execute(sa.select(vt.c.id, vt.c.name).join(a, a.c.volume_type_id == vt.c.id)
                        .where(a.c.qos_specs_id == ident).order_by(vt.c.name))
    return [{"association_type": "volume_type", "name": r.name, "id": r.id} for r in rows]


def spec_of_type(conn: Connection, type_id: str | None) -> str | None:
    if type_id is None:
        return None
    a = t.qos_associations
    found = conn.execute(sa.select(a.c.qos_specs_id)
                         .where(a.c.volume_type_id == type_id)).scalar()
    return None if found is None else str(found)


def associate(conn: Connection, ident: str, type_id: str) -> None:
    get(conn, ident)
    vtype = types.get(conn, type_id)
    current = spec_of_type(conn, vtype["id"])
    if current == ident:
        return
    if current is not None:
        raise errors.bad(f"Type {vtype['id']} is already associated with another qos specs: "
                         f"{current}")
    conn.execute(sa.insert(t.qos_associations).values(volume_type_id=vtype["id"],
                                                      qos_specs_id=ident))


def disassociate(conn: Connection, ident: str, type_id: str) -> None:
    get(conn, ident)
    vtype = types.get(conn, type_id)
    a = t.qos_associations
    conn.execute(sa.delete(a).where(a.c.qos_specs_id == ident,
                                    a.c.volume_type_id == vtype["id"]))


def disassociate_all(conn: Connection, ident: str) -> None:
    get(conn, ident)
    conn.execute(sa.delete(t.qos_associations).where(t.qos_associations.c.qos_specs_id == ident))


def delete(conn: Connection, ident: str, force: bool) -> None:
    get(conn, ident)
    if associations(conn, ident):
        if not force:
            raise errors.bad(f"QoS Specs {ident} is still associated with entities.")
        disassociate_all(conn, ident)
    conn.execute(sa.delete(t.qos_specs).where(t.qos_specs.c.id == ident))


def front_end_specs(conn: Connection, type_id: str | None) -> dict[str, str] | None:
    """What a volume of this type hands the hypervisor (Cinder's ``qos_specs`` in the
    connection info): the type's spec when its consumer is front-end or both."""
    ident = spec_of_type(conn, type_id)
    if ident is None:
        return None
    row = get(conn, ident)
    return dict(row["specs"]) if row["consumer"] in ("front-end", "both") else None


def type_map(conn: Connection) -> dict[str, str]:
    """Every associated volume type's QoS spec id (for the types' ``qos_specs_id``)."""
    a = t.qos_associations
    return {r.volume_type_id: r.qos_specs_id for r in conn.execute(sa.select(a))}
