"""Remote console tokens (Nova's ``console_auth_tokens``): the URL a client is given carries a
random token; only its SHA-256 is stored, with the instance, the console type, the compute
host whose proxy serves it, where that proxy reaches the guest and when it expires
(``token_ttl``). A token is valid until it expires or its instance is deleted."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.compute import tables as t
from pocketstack.compute.domain.common import utcnow

T = t.console_auth_tokens


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def authorize(conn: Connection, instance_uuid: str, console_type: str, host: str,
              port: int | None, internal_access_path: str | None, ttl: int) -> str:
    """A new token for the console (its hash stored); expired tokens are purged on the way."""
    now = utcnow()
    conn.execute(sa.delete(T).where(T.c.expires <= now))
    token = secrets.token_urlsafe(24)
    conn.execute(sa.insert(T).values(
        token_hash=token_hash(token), console_type=console_type, host=host, port=port,
        internal_access_path=internal_access_path, instance_uuid=instance_uuid,
        expires=now + dt.timedelta(seconds=ttl), created_at=now))
    return token


def validate(conn: Connection, token: str) -> dict[str, Any] | None:
    """The token's row when it is known and not expired, else None."""
    if not token or len(token) > 255:
        return None
    row = conn.execute(sa.select(T).where(T.c.token_hash == token_hash(token),
                                          T.c.expires > utcnow())).mappings().first()
    return dict(row) if row is not None else None


def clean_for_instance(conn: Connection, instance_uuid: str) -> None:
    """Forget every token of an instance (it was deleted, or moved to another host)."""
    conn.execute(sa.delete(T).where(T.c.instance_uuid == instance_uuid))
