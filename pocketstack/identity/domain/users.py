"""Users: accounts, passwords and the security-compliance rules around them."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.common.db import is_duplicate_error, update_generation
from pocketstack.identity import passwords
from pocketstack.identity import tables as t
from pocketstack.identity.domain import domains
from pocketstack.identity.domain.common import bump_revision, get_row, new_id, utcnow

FIELDS = ("name", "enabled", "default_project_id", "description", "email", "options",
          "domain_id")


@dataclass(frozen=True)
class PasswordRules:
    """Security compliance settings (Keystone's [security_compliance])."""

    hash_rounds: int = 12
    lockout_failure_attempts: int = 0
    lockout_duration: int = 1800
    unique_last_password_count: int = 0
    minimum_password_age_days: int = 0
    password_expires_days: int = 0
    password_regex: str = ""
    password_regex_description: str = ""


def get(conn: Connection, user_id: str) -> dict[str, Any]:
    return get_row(conn, t.users, user_id, "user")


def get_by_name(conn: Connection, name: str, domain_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(t.users).where(
        t.users.c.name == name, t.users.c.domain_id == domain_id)).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Could not find user: {name}.")
    return dict(row)


def list_(conn: Connection, filters: dict[str, Any] | None = None,
          ids: set[str] | None = None) -> list[dict[str, Any]]:
    q = sa.select(t.users).order_by(t.users.c.name)
    for key, value in (filters or {}).items():
        if value is not None:
            q = q.where(t.users.c[key] == value)
    if ids is not None:
        q = q.where(t.users.c.id.in_(ids))
    return [dict(r) for r in conn.execute(q).mappings()]


def _check_password_format(rules: PasswordRules, password: str) -> None:
    if len(password) > passwords.MAX_PASSWORD_LENGTH:
        raise exceptions.ValidationError("Password is too long.")
    if rules.password_regex and not re.match(rules.password_regex, password):
        detail = rules.password_regex_description or "it does not match the password rules"
        raise exceptions.ValidationError(
            f"Password validation error: The password does not meet the requirements: {detail}."
        )


def _password_expiry(rules: PasswordRules, now: dt.datetime) -> dt.datetime | None:
    if rules.password_expires_days:
        return now + dt.timedelta(days=rules.password_expires_days)
    return None


def prehash(values: dict[str, Any], rules: PasswordRules) -> str | None:
    """Check and hash a new user's password before the write transaction (bcrypt is slow)."""
    password = values.get("password")
    if password is None:
        return None
    _check_password_format(rules, password)
    return passwords.hash_password(password, rules.hash_rounds)


def create(conn: Connection, values: dict[str, Any], rules: PasswordRules,
           password_hash: str | None = None) -> dict[str, Any]:
    domain_id = values.get("domain_id") or domains.DEFAULT_DOMAIN_ID
    domains.get(conn, domain_id)
    now = utcnow()
    password = values.get("password")
    row = {
        "id": values.get("id") or new_id(),
        "name": values["name"],
        "domain_id": domain_id,
        "enabled": values.get("enabled", True),
        "default_project_id": values.get("default_project_id"),
        "description": values.get("description"),
        "email": values.get("email"),
        "password_hash": None,
        "password_created_at": None,
        "password_expires_at": None,
        "failed_auth_count": 0,
        "created_at": now,
        "options": values.get("options", {}),
        "extra": {k: v for k, v in values.items()
                  if k not in FIELDS and k not in ("id", "password")},
        "generation": 0,
    }
    if password is not None:
        row["password_hash"] = password_hash or prehash(values, rules)
        row["password_created_at"] = now
        row["password_expires_at"] = _password_expiry(rules, now)
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.users).values(**row))
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(
                f"Conflict occurred attempting to store user - Duplicate entry found with name "
                f"{values['name']} at domain ID {domain_id}."
            ) from None
        raise
    if row["password_hash"]:
        conn.execute(sa.insert(t.password_history).values(
            user_id=row["id"], password_hash=row["password_hash"], created_at=now))
    return row


def _set_password(conn: Connection, user: dict[str, Any], password: str,
                  rules: PasswordRules, self_service: bool) -> dict[str, Any]:
    _check_password_format(rules, password)
    now = utcnow()
    if self_service and rules.minimum_password_age_days and user["password_created_at"]:
        ready = user["password_created_at"] + dt.timedelta(days=rules.minimum_password_age_days)
        if now < ready:
            raise exceptions.ValidationError(
                "Password validation error: You cannot change your password at this time due "
                f"to the minimum password age. Once you change your password, it must be used "
                f"for {rules.minimum_password_age_days} day(s) before it can be changed."
            )
    # Like keystone, history is checked on self-service change only: an admin reset may
    # set any password (it is still recorded in the history).
    if self_service and rules.unique_last_password_count > 1:
        history = conn.execute(
            sa.select(t.password_history.c.password_hash)
            .where(t.password_history.c.user_id == user["id"])
            .order_by(t.password_history.c.id.desc())
            .limit(rules.unique_last_password_count)
        ).scalars().all()
        for old in history:
            if passwords.check_password(password, old):
                raise exceptions.ValidationError(
                    "Password validation error: The new password cannot be identical to a "
                    f"previous password. The total number which includes the new password must "
                    f"be unique is {rules.unique_last_password_count}."
                )
    hashed = passwords.hash_password(password, rules.hash_rounds)
    conn.execute(sa.insert(t.password_history).values(
        user_id=user["id"], password_hash=hashed, created_at=now))
    return {
        "password_hash": hashed,
        "password_created_at": now,
        "password_expires_at": _password_expiry(rules, now),
        "failed_auth_count": 0,
        "failed_auth_at": None,
    }


def update(conn: Connection, user_id: str, changes: dict[str, Any],
           rules: PasswordRules) -> dict[str, Any]:
    current = get(conn, user_id)
    if "domain_id" in changes and changes["domain_id"] != current["domain_id"]:
        raise exceptions.ValidationError("Update of `domain_id` is not allowed.")
    values = {k: v for k, v in changes.items() if k in FIELDS and k != "domain_id"}
    extra = dict(current["extra"])
    extra.update({k: v for k, v in changes.items()
                  if k not in FIELDS and k not in ("id", "password")})
    values["extra"] = extra
    revoke = False
    if "password" in changes and changes["password"] is not None:
        values.update(_set_password(conn, current, changes["password"], rules, False))
        revoke = True
    if values.get("enabled") is False:
        revoke = True
    try:
        with conn.begin_nested():
            update_generation(conn, t.users, user_id, current["generation"], values)
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(
                f"Conflict occurred attempting to store user - Duplicate entry found with name "
                f"{changes.get('name')} at domain ID {current['domain_id']}."
            ) from None
        raise
    if revoke:
        from pocketstack.identity.domain import revocations

        revocations.revoke_user(conn, user_id)
    bump_revision(conn)  # cached tokens re-read names and enabled state
    return get(conn, user_id)


def change_own_password(conn: Connection, user_id: str, original: str, new: str,
                        rules: PasswordRules) -> None:
    user = get(conn, user_id)
    if not passwords.check_password(original, user["password_hash"]):
        raise exceptions.Unauthorized("The request you have made requires authentication.")
    values = _set_password(conn, user, new, rules, True)
    update_generation(conn, t.users, user_id, user["generation"], values)
    from pocketstack.identity.domain import revocations

    revocations.revoke_user(conn, user_id)


def delete(conn: Connection, user_id: str) -> None:
    get(conn, user_id)
    conn.execute(sa.delete(t.assignments).where(t.assignments.c.actor_id == user_id))
    conn.execute(sa.delete(t.group_members).where(t.group_members.c.user_id == user_id))
    conn.execute(sa.delete(t.application_credentials)
                 .where(t.application_credentials.c.user_id == user_id))
    conn.execute(sa.delete(t.credentials).where(t.credentials.c.user_id == user_id))
    conn.execute(sa.delete(t.password_history).where(t.password_history.c.user_id == user_id))
    conn.execute(sa.delete(t.users).where(t.users.c.id == user_id))
    from pocketstack.identity.domain import revocations

    revocations.revoke_user(conn, user_id)
    bump_revision(conn)


def is_locked(user: dict[str, Any], rules: PasswordRules, now: dt.datetime) -> bool:
    if not rules.lockout_failure_attempts:
        return False
    if user["options"].get("ignore_lockout_failure_attempts"):
        return False
    if user["failed_auth_count"] < rules.lockout_failure_attempts:
        return False
    if user["failed_auth_at"] is None:
        return True
    return now < user["failed_auth_at"] + dt.timedelta(seconds=rules.lockout_duration)


def record_failure(conn: Connection, user_id: str, now: dt.datetime) -> None:
    conn.execute(sa.update(t.users).where(t.users.c.id == user_id).values(
        failed_auth_count=t.users.c.failed_auth_count + 1, failed_auth_at=now))


def record_success(conn: Connection, user: dict[str, Any], now: dt.datetime) -> None:
    if user["failed_auth_count"]:
        conn.execute(sa.update(t.users).where(t.users.c.id == user["id"]).values(
            failed_auth_count=0, failed_auth_at=None))
