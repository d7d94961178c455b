"""Volume transfers: a request puts an ``available`` volume in ``awaiting-transfer`` and keeps
only a salted hash of its auth key (the key itself is shown once, at create); accepting with
the key moves the volume (and, unless ``no_snapshots``, its snapshots) to the accepting
project after checking that project's quotas under its lock; deleting the request puts the
volume back to ``available``."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.volume import errors
from pocketstack.volume import tables as t
from pocketstack.volume.domain import quotas
from pocketstack.volume.domain.common import now, row_dict
from pocketstack.volume.domain.volumes import get as get_volume

KEY_LENGTH = 16


class TransferNotFound(exceptions.NotFound):
    def __init__(self, transfer_id: str) -> None:
        super().__init__(f"Transfer {transfer_id} could not be found.")


def _hash(salt: str, key: str) -> str:
    return hashlib.sha256((salt + key).encode()).hexdigest()


def get(conn: Connection, ident: str, project_id: str | None, admin: bool) -> dict[str, Any]:
    x = t.transfers
    q = sa.select(x).where(x.c.id == ident)
    if not admin:
        q = q.where(x.c.project_id == (project_id or ""))
    row = conn.execute(q).first()
    if row is None:
        raise TransferNotFound(ident)
    return row_dict(row)


def list_transfers(conn: Connection, project_id: str | None,
                   filters: dict[str, str]) -> list[dict[str, Any]]:
    x = t.transfers
    q = sa.select(x).order_by(x.c.created_at.desc(), x.c.id)
    if project_id is not None:
        q = q.where(x.c.project_id == project_id)
    for key in ("name", "volume_id", "id"):
        if key in filters:
            q = q.where(x.c[key] == filters[key])
    return [row_dict(r) for r in conn.execute(q)]


def create(conn: Connection, *, volume_id: str, project_id: str, admin: bool, name: str | None,
           no_snapshots: bool, allow_encrypted: bool = False) -> dict[str, Any]:
    """The new request with its one-time ``auth_key``. An encrypted volume moves only from
    3.70 (``allow_encrypted``) and only with its snapshots, as Cinder's transfer API has it
    (no volume is encrypted here yet: encryption types are recorded, not applied)."""
    volume = get_volume(conn, volume_id, project_id, admin)
    if volume["status"] != "available":
        raise errors.InvalidState(f"Invalid volume: Status of volume must be available, but "
                                  f"current status is: {volume['status']}.")
    if volume["encrypted"]:
        if not allow_encrypted:
            raise errors.InvalidState("Invalid volume: transferring encrypted volume is not "
                                      "supported")
        if no_snapshots:
            raise errors.InvalidState("Invalid volume: transferring an encrypted volume "
                                      "without its snapshots is not supported")
    if volume["attachments"]:
        raise errors.InvalidState("Invalid volume: Volume is attached.")
    if not no_snapshots:
        bad = conn.execute(sa.select(t.snapshots.c.id).where(
            t.snapshots.c.volume_id == volume_id,
            t.snapshots.c.status != "available")).first()
        if bad is not None:
            raise errors.InvalidState(f"Invalid snapshot: snapshot {bad[0]} status must be "
                                      "available to transfer.")
    key = secrets.token_hex(KEY_LENGTH // 2)
    salt = secrets.token_hex(8)
    ident = str(uuid.uuid4())
    conn.execute(sa.insert(t.transfers).values(
        id=ident, volume_id=volume_id, project_id=volume["project_id"], name=name, salt=salt,
        crypt_hash=_hash(salt, key), no_snapshots=no_snapshots, created_at=now()))
    conn.execute(sa.update(t.volumes).where(t.volumes.c.id == volume_id).values(
        status="awaiting-transfer", updated_at=now()))
    return {**get(conn, ident, None, True), "auth_key": key}


def delete(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(sa.delete(t.transfers).where(t.transfers.c.id == row["id"]))
    conn.execute(sa.update(t.volumes).where(
        t.volumes.c.id == row["volume_id"], t.volumes.c.status == "awaiting-transfer")
        .values(status="available", updated_at=now()))


def accept(conn: Connection, ident: str, auth_key: str, *, project_id: str,
           user_id: str | None, quota_defaults: dict[str, int]) -> dict[str, Any]:
    row = get(conn, ident, None, True)
    if not hmac.compare_digest(_hash(row["salt"], auth_key), row["crypt_hash"]):
        raise errors.bad(f"Invalid auth key: Attempt to transfer {ident} with invalid auth "
                         "key.")
    volume = get_volume(conn, row["volume_id"], None, True)
    if volume["status"] != "awaiting-transfer":
        raise errors.InvalidState(f"Invalid volume: Transfer {ident} failed: Volume "
                                  f"{volume['id']} is in {volume['status']}.")
    s = t.snapshots
    snaps = [] if row["no_snapshots"] else [
        (r.id, int(r.size)) for r in conn.execute(sa.select(s.c.id, s.c.size).where(
            s.c.volume_id == volume["id"]))]
    size = int(volume["size"])
    quotas.check(conn, project_id, quota_defaults, volumes=1, snapshots=len(snaps),
                 gigabytes=size + sum(gb for _, gb in snaps), volume_size=size)
    stamp = now()
    conn.execute(sa.update(t.volumes).where(t.volumes.c.id == volume["id"]).values(
        project_id=project_id, user_id=user_id, status="available", updated_at=stamp))
    if snaps:
        conn.execute(sa.update(s).where(s.c.id.in_([i for i, _ in snaps])).values(
            project_id=project_id, user_id=user_id, updated_at=stamp))
    conn.execute(sa.delete(t.transfers).where(t.transfers.c.id == ident))
    return row
