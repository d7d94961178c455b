"""OS-FEDERATION storage and the mapped login: identity providers (with remote ids and an own
domain), protocols, mappings, service providers; applying a mapping to an assertion and
shadowing the federated user as Keystone does (a user row whose id is derived from the IdP's
domain and the user's unique id, linked to the IdP and protocol, created on first login and
renamed on later ones), auto-provisioning the mapping's projects and grants."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.common.db import is_duplicate_error, update_generation
from pocketstack.identity import tables as t
from pocketstack.identity.domain import (
    assignments,
    domains,
    groups,
    mapping_rules,
    projects,
    roles,
    users,
)
from pocketstack.identity.domain.common import bump_revision, utcnow

DEFAULT_RELAY_STATE_PREFIX = "ss:mem:"


# -- identity providers ---------------------------------------------------------------------
def _remote_ids(conn: Connection, idp_id: str) -> list[str]:
    return sorted(r[0] for r in conn.execute(
        sa.select(t.idp_remote_ids.c.remote_id).where(t.idp_remote_ids.c.idp_id == idp_id)))


def get_idp(conn: Connection, idp_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(t.identity_providers).where(
        t.identity_providers.c.id == idp_id)).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Could not find Identity Provider: {idp_id}.")
    out = dict(row)
    out["remote_ids"] = _remote_ids(conn, idp_id)
    return out


def list_idps(conn: Connection, filters: dict[str, Any]) -> list[dict[str, Any]]:
    q = sa.select(t.identity_providers).order_by(t.identity_providers.c.id)
    for key in ("id", "enabled"):
        if filters.get(key) is not None:
            q = q.where(t.identity_providers.c[key] == filters[key])
    rows = [dict(r) for r in conn.execute(q).mappings()]
    remote: dict[str, list[str]] = {}
    for rid, idp in conn.execute(sa.select(t.idp_remote_ids.c.remote_id,
                                           t.idp_remote_ids.c.idp_id)):
        remote.setdefault(idp, []).append(rid)
    for row in rows:
        row["remote_ids"] = sorted(remote.get(row["id"], []))
    return rows


def _set_remote_ids(conn: Connection, idp_id: str, remote_ids: list[str]) -> None:
    conn.execute(sa.delete(t.idp_remote_ids).where(t.idp_remote_ids.c.idp_id == idp_id))
    for remote_id in remote_ids:
        try:
            with conn.begin_nested():
                conn.execute(sa.insert(t.idp_remote_ids).values(remote_id=remote_id,
                                                                 idp_id=idp_id))
        except IntegrityError as exc:
            if is_duplicate_error(exc):
                raise exceptions.Conflict(
                    f"Conflict occurred attempting to store identity_provider - Duplicate "
                    f"remote ID: {remote_id}.") from None
            raise


def create_idp(conn: Connection, idp_id: str, values: dict[str, Any]) -> dict[str, Any]:
    domain_id = values.get("domain_id")
    if domain_id:
        try:
            domains.get(conn, domain_id)
        except exceptions.NotFound:
            raise exceptions.ValidationError(f"Could not find domain: {domain_id}.") from None
    exists = conn.execute(sa.select(t.identity_providers.c.id).where(
        t.identity_providers.c.id == idp_id)).first()
    if exists is not None:
        raise exceptions.Conflict(
            f"Conflict occurred attempting to store identity_provider - Duplicate ID, "
            f"{idp_id}.")
    if not domain_id:  # Keystone gives every IdP without one a domain of its own
        domain_id = uuid.uuid4().hex
        domains.create(conn, {
            "name": domain_id, "enabled": True,
            "description": f"Auto generated federated domain for Identity Provider: {idp_id}",
        }, domain_id=domain_id)
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.identity_providers).values(
                id=idp_id, enabled=bool(values.get("enabled", False)),
                description=values.get("description"), domain_id=domain_id,
                authorization_ttl=values.get("authorization_ttl"), generation=0))
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(
                f"Conflict occurred attempting to store identity_provider - Duplicate ID, "
                f"{idp_id}.") from None
        raise
    _set_remote_ids(conn, idp_id, list(values.get("remote_ids") or []))
    return get_idp(conn, idp_id)


def update_idp(conn: Connection, idp_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    current = get_idp(conn, idp_id)
    keys = ("enabled", "description", "authorization_ttl")
    values: dict[str, Any] = {k: changes[k] for k in keys if k in changes}
    update_generation(conn, t.identity_providers, idp_id, current["generation"], values)
    if "remote_ids" in changes:
        _set_remote_ids(conn, idp_id, list(changes["remote_ids"] or []))
    bump_revision(conn)
    return get_idp(conn, idp_id)


def delete_idp(conn: Connection, idp_id: str) -> None:
    get_idp(conn, idp_id)
    conn.execute(sa.delete(t.federated_users).where(t.federated_users.c.idp_id == idp_id))
    conn.execute(sa.delete(t.federated_group_members).where(
        t.federated_group_members.c.idp_id == idp_id))
    conn.execute(sa.delete(t.federation_protocols).where(
        t.federation_protocols.c.idp_id == idp_id))
    conn.execute(sa.delete(t.idp_remote_ids).where(t.idp_remote_ids.c.idp_id == idp_id))
    conn.execute(sa.delete(t.identity_providers).where(t.identity_providers.c.id == idp_id))
    bump_revision(conn)  # federated tokens of this IdP stop validating


# -- protocols ------------------------------------------------------------------------------
def get_protocol(conn: Connection, idp_id: str, protocol_id: str) -> dict[str, Any]:
    get_idp(conn, idp_id)
    row = conn.execute(sa.select(t.federation_protocols).where(
        t.federation_protocols.c.idp_id == idp_id,
        t.federation_protocols.c.id == protocol_id)).mappings().first()
    if row is None:
        raise exceptions.NotFound(
            f"Could not find federated protocol {protocol_id} for Identity Provider: "
            f"{idp_id}.")
    return dict(row)


def list_protocols(conn: Connection, idp_id: str) -> list[dict[str, Any]]:
    get_idp(conn, idp_id)
    return [dict(r) for r in conn.execute(sa.select(t.federation_protocols).where(
        t.federation_protocols.c.idp_id == idp_id).order_by(
        t.federation_protocols.c.id)).mappings()]


def _require_mapping(conn: Connection, mapping_id: str) -> None:
    try:
        get_mapping(conn, mapping_id)
    except exceptions.NotFound:
        raise exceptions.ValidationError(f"Invalid mapping id: {mapping_id}") from None


def create_protocol(conn: Connection, idp_id: str, protocol_id: str,
                    values: dict[str, Any]) -> dict[str, Any]:
    get_idp(conn, idp_id)
    _require_mapping(conn, values["mapping_id"])
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.federation_protocols).values(
                id=protocol_id, idp_id=idp_id, mapping_id=values["mapping_id"],
                remote_id_attribute=values.get("remote_id_attribute"), generation=0))
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(
                f"Conflict occurred attempting to store federation_protocol - Duplicate ID, "
                f"{protocol_id}.") from None
        raise
    return get_protocol(conn, idp_id, protocol_id)


def update_protocol(conn: Connection, idp_id: str, protocol_id: str,
                    changes: dict[str, Any]) -> dict[str, Any]:
    current = get_protocol(conn, idp_id, protocol_id)
    _require_mapping(conn, changes["mapping_id"])
    values = {k: changes[k] for k in ("mapping_id", "remote_id_attribute") if k in changes}
    conn.execute(sa.update(t.federation_protocols).where(
        t.federation_protocols.c.idp_id == idp_id,
        t.federation_protocols.c.id == protocol_id).values(
        generation=current["generation"] + 1, **values))
    return get_protocol(conn, idp_id, protocol_id)


def delete_protocol(conn: Connection, idp_id: str, protocol_id: str) -> None:
    get_protocol(conn, idp_id, protocol_id)
    conn.execute(sa.delete(t.federation_protocols).where(
        t.federation_protocols.c.idp_id == idp_id,
        t.federation_protocols.c.id == protocol_id))
    bump_revision(conn)


# -- mappings -------------------------------------------------------------------------------
def get_mapping(conn: Connection, mapping_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(t.mappings).where(
        t.mappings.c.id == mapping_id)).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Could not find Mapping: {mapping_id}.")
    return dict(row)


def list_mappings(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(
        sa.select(t.mappings).order_by(t.mappings.c.id)).mappings()]


def create_mapping(conn: Connection, mapping_id: str, body: dict[str, Any]) -> dict[str, Any]:
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.mappings).values(
                id=mapping_id, rules=body["rules"], schema_version=body["schema_version"],
                generation=0))
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(
                f"Conflict occurred attempting to store mapping - Duplicate ID, "
                f"{mapping_id}.") from None
        raise
    return get_mapping(conn, mapping_id)


def update_mapping(conn: Connection, mapping_id: str, body: dict[str, Any]) -> dict[str, Any]:
    current = get_mapping(conn, mapping_id)
    update_generation(conn, t.mappings, mapping_id, current["generation"],
                      {"rules": body["rules"], "schema_version": body["schema_version"]})
    return get_mapping(conn, mapping_id)


def delete_mapping(conn: Connection, mapping_id: str) -> None:
    get_mapping(conn, mapping_id)
    conn.execute(sa.delete(t.mappings).where(t.mappings.c.id == mapping_id))


# -- service providers ----------------------------------------------------------------------
def get_sp(conn: Connection, sp_id: str) -> dict[str, Any]:
    row = conn.execute(sa.select(t.service_providers).where(
        t.service_providers.c.id == sp_id)).mappings().first()
    if row is None:
        raise exceptions.NotFound(f"Could not find Service Provider: {sp_id}.")
    return dict(row)


def list_sps(conn: Connection, filters: dict[str, Any]) -> list[dict[str, Any]]:
    q = sa.select(t.service_providers).order_by(t.service_providers.c.id)
    for key in ("id", "enabled"):
        if filters.get(key) is not None:
            q = q.where(t.service_providers.c[key] == filters[key])
    return [dict(r) for r in conn.execute(q).mappings()]


def create_sp(conn: Connection, sp_id: str, values: dict[str, Any]) -> dict[str, Any]:
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.service_providers).values(
                id=sp_id, enabled=bool(values.get("enabled", False)),
                description=values.get("description"), auth_url=values["auth_url"],
                sp_url=values["sp_url"],
                relay_state_prefix=values.get("relay_state_prefix")
                or DEFAULT_RELAY_STATE_PREFIX, generation=0))
    except IntegrityError as exc:
        if is_duplicate_error(exc):
            raise exceptions.Conflict(
                f"Conflict occurred attempting to store service_provider - Duplicate ID, "
                f"{sp_id}.") from None
        raise
    bump_revision(conn)  # tokens list the enabled service providers
    return get_sp(conn, sp_id)


def update_sp(conn: Connection, sp_id: str, changes: dict[str, Any]) -> dict[str, Any]:
    current = get_sp(conn, sp_id)
    keys = ("enabled", "description", "auth_url", "sp_url", "relay_state_prefix")
    values: dict[str, Any] = {k: changes[k] for k in keys if k in changes}
    if values.get("relay_state_prefix") is None and "relay_state_prefix" in values:
        values["relay_state_prefix"] = DEFAULT_RELAY_STATE_PREFIX
    update_generation(conn, t.service_providers, sp_id, current["generation"], values)
    bump_revision(conn)
    return get_sp(conn, sp_id)


def delete_sp(conn: Connection, sp_id: str) -> None:
    get_sp(conn, sp_id)
    conn.execute(sa.delete(t.service_providers).where(t.service_providers.c.id == sp_id))
    bump_revision(conn)


def enabled_sps(conn: Connection) -> list[dict[str, Any]]:
    """What a token lists under ``service_providers``."""
    return [{"auth_url": r["auth_url"], "id": r["id"], "sp_url": r["sp_url"]}
            for r in list_sps(conn, {"enabled": True})]


# -- the mapped login -----------------------------------------------------------------------
@dataclass
class Login:
    """Who a federated login maps to."""

    user_id: str
    group_ids: list[str]
    ephemeral: bool


def check_remote_id(idp: dict[str, Any], protocol: dict[str, Any],
                    assertion: dict[str, Any], default_attribute: str) -> None:
    """The assertion must come from one of the IdP's remote ids (when it lists any)."""
    attribute = protocol.get("remote_id_attribute") or default_attribute
    if not attribute or not idp["remote_ids"]:
        return
    if attribute not in assertion:
        raise exceptions.ValidationError(
            "Could not find Identity Provider identifier in environment")
    if assertion[attribute] not in idp["remote_ids"]:
        raise exceptions.Forbidden(
            "Incoming identity provider identifier not included among the accepted "
            "identifiers.")


def _resolve_domain(conn: Connection, spec: dict[str, Any] | None, default: str) -> str:
    if not spec:
        return default
    try:
        if spec.get("id"):
            return str(domains.get(conn, spec["id"])["id"])
        return str(domains.get_by_name(conn, spec.get("name", ""))["id"])
    except exceptions.NotFound as exc:
        raise exceptions.Unauthorized(str(exc)) from None


def _group_ids(conn: Connection, mapped: mapping_rules.Mapped, mapping_id: str) -> list[str]:
    out = []
    for group_id in mapped.group_ids:
        try:
            groups.get(conn, group_id)
        except exceptions.NotFound:
            raise exceptions.Unauthorized(
                f"Group {group_id} returned by mapping {mapping_id} was not found in the "
                "backend.") from None
        out.append(group_id)
    for spec in mapped.group_names:
        try:
            domain_id = _resolve_domain(conn, spec["domain"], "")
        except exceptions.Unauthorized:
            continue
        row = conn.execute(sa.select(t.groups.c.id).where(
            t.groups.c.name == spec["name"], t.groups.c.domain_id == domain_id)).first()
        if row is not None:  # Keystone skips groups that do not exist
            out.append(row[0])
    return list(dict.fromkeys(out))


def public_user_id(domain_id: str, unique_id: str) -> str:
    """Keystone's sha256 id generator over (domain_id, entity_type, local_id)."""
    digest = hashlib.sha256()
    for value in (domain_id, "user", unique_id):  # sorted by key: domain_id, entity, local
        digest.update(value.encode("utf-8"))
    return digest.hexdigest()


def _shadow(conn: Connection, idp: dict[str, Any], protocol_id: str,
            user: dict[str, Any], rules: users.PasswordRules) -> str:
    f = t.federated_users
    found = conn.execute(sa.select(f.c.user_id).where(
        f.c.idp_id == idp["id"], f.c.protocol_id == protocol_id,
        f.c.unique_id == user["id"])).first()
    if found is not None:
        user_id = str(found[0])
        current = users.get(conn, user_id)
        changes: dict[str, Any] = {}
        if current["name"] != user["name"]:
            changes["name"] = user["name"]
        if user.get("email") and current["email"] != user["email"]:
            changes["email"] = user["email"]
        if changes:
            conn.execute(sa.update(f).where(f.c.user_id == user_id, f.c.idp_id == idp["id"])
                         .values(display_name=user["name"]))
            _store_user(conn, lambda: users.update(conn, user_id, changes, rules), user)
        conn.execute(sa.update(t.users).where(t.users.c.id == user_id)
                     .values(last_active_at=utcnow()))
        return user_id
    domain_id = user["domain"]["id"]
    user_id = public_user_id(domain_id, user["id"])
    try:
        users.get(conn, user_id)  # the same identity through another protocol
    except exceptions.NotFound:
        _store_user(conn, lambda: users.create(conn, {
            "id": user_id, "name": user["name"], "domain_id": domain_id, "enabled": True,
            **({"email": user["email"]} if user.get("email") else {})}, rules), user)
    conn.execute(sa.insert(f).values(user_id=user_id, idp_id=idp["id"],
                                     protocol_id=protocol_id, unique_id=user["id"],
                                     display_name=user["name"]))
    conn.execute(sa.update(t.users).where(t.users.c.id == user_id)
                 .values(last_active_at=utcnow()))
    return user_id


def _store_user(conn: Connection, write: Any, user: dict[str, Any]) -> None:
    try:
        write()
    except exceptions.Conflict:
        raise exceptions.Conflict(
            f"Conflict occurred attempting to store federated_user - the name "
            f"{user['name']} is already taken by another user of domain "
            f"{user['domain']['id']}.") from None


def _provision_projects(conn: Connection, mapped: mapping_rules.Mapped, user_id: str,
                        idp: dict[str, Any]) -> None:
    existing = {r["name"]: r for r in roles.list_(conn)}
    for project in mapped.projects:
        for role in project["roles"]:
            if role["name"] not in existing:
                raise exceptions.NotFound(f"Could not find role: {role['name']}.")
            if existing[role["name"]]["domain_id"] not in (t.NULL_DOMAIN, None):
                raise exceptions.Forbidden(
                    f"Role {role['name']} is a domain-specific role and cannot be assigned "
                    f"within identity provider {idp['id']}.")
    touched: set[str] = set()
    for spec in mapped.projects:
        domain_id = _resolve_domain(conn, spec.get("domain"), idp["domain_id"])
        try:
            project = projects.get_by_name(conn, spec["name"], domain_id)
        except exceptions.NotFound:
            project = projects.create(conn, {"name": spec["name"], "domain_id": domain_id})
        touched.add(project["id"])
        wanted = {existing[r["name"]]["id"] for r in spec["roles"]}
        have = set(assignments.role_ids_for(conn, assignments.USER_PROJECT, user_id,
                                            project["id"]))
        for role_id in wanted - have:
            assignments.grant(conn, assignments.USER_PROJECT, user_id, project["id"], role_id)
        if mapped.schema_version == "3.0":
            for role_id in have - wanted:
                assignments.revoke(conn, assignments.USER_PROJECT, user_id, project["id"],
                                   role_id)
    if mapped.schema_version == "3.0":  # the IdP's word is the whole truth
        a = t.assignments
        for target, role_id in conn.execute(sa.select(a.c.target_id, a.c.role_id).where(
                a.c.type == assignments.USER_PROJECT, a.c.actor_id == user_id,
                a.c.inherited.is_(False))).all():
            if target not in touched:
                assignments.revoke(conn, assignments.USER_PROJECT, user_id, target, role_id)


def login(conn: Connection, idp_id: str, protocol_id: str, assertion: dict[str, Any],
          remote_user: str | None, default_remote_id_attribute: str,
          rules: users.PasswordRules) -> Login:
    """Map an assertion through the protocol's mapping; shadow the user (ephemeral) or find
    the local one. Everything refused is a 401/403, never a half-made user."""
    idp = get_idp(conn, idp_id)
    if not idp["enabled"]:
        raise exceptions.Forbidden(f"Identity Provider {idp_id} is disabled")
    protocol = get_protocol(conn, idp_id, protocol_id)
    check_remote_id(idp, protocol, assertion, default_remote_id_attribute)
    mapping = get_mapping(conn, protocol["mapping_id"])
    try:
        mapped = mapping_rules.evaluate(mapping, assertion)
        group_ids = _group_ids(conn, mapped, mapping["id"])
    except exceptions.ValidationError as exc:
        raise exceptions.Unauthorized(str(exc)) from None
    user = mapped.user
    if not mapped.ephemeral:
        return Login(_local_user(conn, user, idp), [], False)
    user_id = user.get("id")
    name = user.get("name") or remote_user
    if not user_id and not name:
        raise exceptions.Unauthorized(
            "Could not map user while setting ephemeral user identity. Either mapping rules "
            "must specify user id/name or REMOTE_USER environment variable must be set.")
    name = str(name or user_id)
    user["name"] = name
    user["id"] = quote(str(user_id or name))
    _check_length(user["name"], 255, "user name")
    _check_length(user["id"], 255, "user id")
    if user.get("email"):
        _check_length(str(user["email"]), 255, "email")
    for spec in mapped.projects:
        _check_length(str(spec.get("name", "")), 64, "project name")
    user["domain"] = {"id": _resolve_domain(conn, user.get("domain"), idp["domain_id"])}
    shadow_id = _shadow(conn, idp, protocol_id, user, rules)
    _remember_groups(conn, shadow_id, idp, group_ids)
    if mapped.projects:
        _provision_projects(conn, mapped, shadow_id, idp)
    row = users.get(conn, shadow_id)
    if not row["enabled"]:
        raise exceptions.Unauthorized("The request you have made requires authentication.")
    return Login(shadow_id, group_ids, True)


def _remember_groups(conn: Connection, user_id: str, idp: dict[str, Any],
                     group_ids: list[str]) -> None:
    """Keep the mapped memberships for the IdP's ``authorization_ttl`` minutes (none when
    unset or 0: then only the token carries them), replacing what the last login gave."""
    f = t.federated_group_members
    now = utcnow()
    before = {r[0] for r in conn.execute(sa.select(f.c.group_id).where(
        f.c.user_id == user_id, f.c.idp_id == idp["id"], f.c.expires_at > now))}
    conn.execute(sa.delete(f).where(f.c.user_id == user_id, f.c.idp_id == idp["id"]))
    ttl = idp["authorization_ttl"] or 0
    kept: set[str] = set()
    if ttl > 0:
        expires = now + dt.timedelta(minutes=ttl)
        for group_id in group_ids:
            taken = conn.execute(sa.select(f.c.idp_id).where(
                f.c.user_id == user_id, f.c.group_id == group_id)).first()
            if taken is None:  # another IdP's login may hold it already
                conn.execute(sa.insert(f).values(user_id=user_id, group_id=group_id,
                                                 idp_id=idp["id"], expires_at=expires))
                kept.add(group_id)
    if kept != before:
        bump_revision(conn)  # roles through groups changed: cached validations are stale


def _check_length(value: str, limit: int, what: str) -> None:
    if not value or len(value) > limit:
        raise exceptions.Unauthorized(
            f"The mapped {what} must be 1 to {limit} characters long.")


def _local_user(conn: Connection, user: dict[str, Any], idp: dict[str, Any]) -> str:
    try:
        if user.get("id"):
            row = users.get(conn, user["id"])
        else:
            domain_id = _resolve_domain(conn, user.get("domain"), idp["domain_id"])
            row = users.get_by_name(conn, user.get("name", ""), domain_id)
    except exceptions.NotFound:
        raise exceptions.Unauthorized(
            "The request you have made requires authentication.") from None
    if not row["enabled"]:
        raise exceptions.Unauthorized("The request you have made requires authentication.")
    return str(row["id"])


def federation_of(conn: Connection, user_id: str) -> list[dict[str, Any]]:
    """The ``federated`` list Keystone shows on a shadow user."""
    f = t.federated_users
    by_idp: dict[str, list[dict[str, str]]] = {}
    for row in conn.execute(sa.select(f.c.idp_id, f.c.protocol_id, f.c.unique_id).where(
            f.c.user_id == user_id).order_by(f.c.idp_id, f.c.protocol_id)).mappings():
        by_idp.setdefault(row["idp_id"], []).append(
            {"protocol_id": row["protocol_id"], "unique_id": row["unique_id"]})
    return [{"idp_id": idp, "protocols": protos} for idp, protos in by_idp.items()]


def project_ids_for_groups(conn: Connection, group_ids: list[str]) -> set[str]:
    """Projects on which any of the groups (carried by a federated token) holds a role."""
    if not group_ids:
        return set()
    a = t.assignments
    out: set[str] = set()
    for a_type, target, inherited in conn.execute(sa.select(
            a.c.type, a.c.target_id, a.c.inherited).where(
            a.c.actor_id.in_(group_ids),
            a.c.type.in_((assignments.GROUP_PROJECT, assignments.GROUP_DOMAIN)))):
        if a_type == assignments.GROUP_PROJECT:
            if inherited:
                out.update(p["id"] for p in projects.subtree(conn, target))
            else:
                out.add(target)
        elif inherited:
            out.update(r[0] for r in conn.execute(sa.select(t.projects.c.id).where(
                t.projects.c.domain_id == target)))
    return out


def domain_ids_for_groups(conn: Connection, group_ids: list[str]) -> set[str]:
    if not group_ids:
        return set()
    a = t.assignments
    return {r[0] for r in conn.execute(sa.select(a.c.target_id).where(
        a.c.actor_id.in_(group_ids), a.c.type == assignments.GROUP_DOMAIN,
        a.c.inherited.is_(False)))}
