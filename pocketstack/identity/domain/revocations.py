"""Revocation events: what makes an otherwise valid token invalid before it expires.

Tokens are not stored. A token is revoked when an event names one of its audit ids, or names its
user (optionally with its project) and was recorded after the token was issued. Role, project and
user state are re-read at every validation, so most changes need no event at all.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.identity import tables as t
from pocketstack.identity.domain.common import bump_revision, utcnow


def add_event(conn: Connection, *, audit_id: str | None = None,
              audit_chain_id: str | None = None, user_id: str | None = None,
              project_id: str | None = None, domain_id: str | None = None,
              role_id: str | None = None, application_credential_id: str | None = None) -> None:
    now = utcnow()
    conn.execute(sa.insert(t.revocation_events).values(
        audit_id=audit_id, audit_chain_id=audit_chain_id, user_id=user_id,
        project_id=project_id, domain_id=domain_id, role_id=role_id,
        application_credential_id=application_credential_id,
        issued_before=now, revoked_at=now))
    bump_revision(conn)


def revoke_user(conn: Connection, user_id: str) -> None:
    add_event(conn, user_id=user_id)


def is_revoked(conn: Connection, *, user_id: str, project_id: str | None,
               audit_ids: list[str], issued_at: dt.datetime) -> bool:
    e = t.revocation_events
    conditions: list[sa.ColumnElement[bool]] = [
        e.c.audit_id.in_(audit_ids), e.c.audit_chain_id.in_(audit_ids)]
    user_match = sa.and_(e.c.user_id == user_id, e.c.issued_before >= issued_at)
    if project_id:
        user_match = sa.and_(user_match, sa.or_(e.c.project_id.is_(None),
                                                e.c.project_id == project_id))
    else:
        user_match = sa.and_(user_match, e.c.project_id.is_(None))
    conditions.append(user_match)
    row = conn.execute(sa.select(e.c.id).where(sa.or_(*conditions)).limit(1)).first()
    return row is not None


def prune(conn: Connection, older_than: dt.datetime) -> int:
    """Drop events no token they could match is still valid for (run at every start)."""
    result = conn.execute(sa.delete(t.revocation_events)
                          .where(t.revocation_events.c.revoked_at < older_than))
    return int(result.rowcount or 0)
