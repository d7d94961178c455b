"""First-start bootstrap, as ``keystone-manage bootstrap`` plus devstack's accounts.

Idempotent: a second run changes nothing except what it is told to (catalog URLs follow the
current public URL; an explicitly given admin password is applied, as keystone-manage does).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from pocketstack.common import exceptions
from pocketstack.common.service import CatalogEntry
from pocketstack.identity import passwords
from pocketstack.identity.domain import (
    assignments,
    catalog,
    domains,
    projects,
    roles,
    users,
)

ROLE_NAMES = ("admin", "manager", "member", "reader", "service")
IMPLICATIONS = (("admin", "manager"), ("manager", "member"), ("member", "reader"))


@dataclass(frozen=True)
class Account:
    user: str
    project: str | None
    role: str
    password: str
    system_role: str | None = None
    password_hash: str | None = None  # computed ahead (bcrypt is slow) when known to be new


def _role_id(conn: Connection, name: str) -> str:
    try:
        return str(roles.get_by_name(conn, name)["id"])
    except exceptions.NotFound:
        return str(roles.create(conn, {"name": name})["id"])


def _project_id(conn: Connection, name: str) -> str:
    try:
        return str(projects.get_by_name(conn, name, domains.DEFAULT_DOMAIN_ID)["id"])
    except exceptions.NotFound:
        return str(projects.create(conn, {
            "name": name, "domain_id": domains.DEFAULT_DOMAIN_ID,
            "description": f"Bootstrap project {name}"})["id"])


def bootstrap(conn: Connection, accounts: list[Account], region: str, public_url: str,
              services: list[CatalogEntry], rules: users.PasswordRules,
              reset_passwords_for: tuple[str, ...] = ()) -> dict[str, Any]:
    """Make sure the base identity data exists; returns ids of what it ensured."""
    try:
        domains.get(conn, domains.DEFAULT_DOMAIN_ID)
    except exceptions.NotFound:
        domains.create(conn, {"name": "Default", "description": "The default domain"},
                       domain_id=domains.DEFAULT_DOMAIN_ID)
    role_ids = {name: _role_id(conn, name) for name in ROLE_NAMES}
    existing = set(roles.all_implications(conn))
    for prior, implied in IMPLICATIONS:
        if (role_ids[prior], role_ids[implied]) not in existing:
            roles.create_implication(conn, role_ids[prior], role_ids[implied])
    project_ids: dict[str, str] = {}
    user_ids: dict[str, str] = {}
    for account in accounts:
        project_id = _project_id(conn, account.project) if account.project else None
        if project_id:
            project_ids[account.project or ""] = project_id
        try:
            user = users.get_by_name(conn, account.user, domains.DEFAULT_DOMAIN_ID)
            if account.user in reset_passwords_for and not passwords.check_password(
                    account.password, user["password_hash"]):
                users.update(conn, user["id"], {"password": account.password}, rules)
        except exceptions.NotFound:
            user = users.create(conn, {
                "name": account.user, "domain_id": domains.DEFAULT_DOMAIN_ID,
                "password": account.password, "default_project_id": project_id,
                "options": {"ignore_lockout_failure_attempts": True},
            }, rules, account.password_hash)
        user_ids[account.user] = user["id"]
        if project_id and not assignments.exists(
                conn, assignments.USER_PROJECT, user["id"], project_id, role_ids[account.role]):
            assignments.grant(conn, assignments.USER_PROJECT, user["id"], project_id,
                              role_ids[account.role])
        if account.system_role and not assignments.exists(
                conn, assignments.USER_SYSTEM, user["id"], assignments.SYSTEM_TARGET,
                role_ids[account.system_role]):
            assignments.grant(conn, assignments.USER_SYSTEM, user["id"],
                              assignments.SYSTEM_TARGET, role_ids[account.system_role])
    try:
        catalog.get_region(conn, region)
    except exceptions.NotFound:
        catalog.create_region(conn, {"id": region, "description": ""})
    for entry in services:
        _ensure_service(conn, entry, region, public_url)
    return {"roles": role_ids, "projects": project_ids, "users": user_ids}


def _ensure_service(conn: Connection, entry: CatalogEntry, region: str, public_url: str) -> None:
    url = public_url.rstrip("/") + entry.path
    found = catalog.list_services(conn, name=entry.name, type_=entry.type)
    if found:
        service_id = found[0]["id"]
    else:
        service_id = catalog.create_service(conn, {
            "type": entry.type, "name": entry.name, "description": entry.description,
            "enabled": True})["id"]
    endpoints = catalog.list_endpoints(conn, service_id=service_id, interface="public")
    if not endpoints:
        catalog.create_endpoint(conn, {"service_id": service_id, "interface": "public",
                                       "region_id": region, "url": url})
        return
    for ep in endpoints:
        if ep["url"] != url and ep["extra"].get("managed_by") != "operator":
            catalog.update_endpoint(conn, ep["id"], {"url": url})
