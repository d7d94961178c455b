"""Role assignments: who (user or group) has which role where (project, domain or system).

Effective roles of a user on a project are the union of direct grants, grants to the user's
groups, grants inherited from the project's domain and ancestors, all expanded through role
implications. Domain-specific roles never appear in tokens (only what they imply). A federated
token adds the groups its mapping gave (``extra_groups``) to the user's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from pocketstack.common import exceptions
from pocketstack.common.db import is_duplicate_error
from pocketstack.identity import tables as t
from pocketstack.identity.domain import projects, roles
from pocketstack.identity.domain.common import bump_revision, utcnow

USER_PROJECT = "UserProject"
GROUP_PROJECT = "GroupProject"
USER_DOMAIN = "UserDomain"
GROUP_DOMAIN = "GroupDomain"
USER_SYSTEM = "UserSystem"
GROUP_SYSTEM = "GroupSystem"
SYSTEM_TARGET = "system"


@dataclass(frozen=True)
class Assignment:
    type: str
    actor_id: str
    target_id: str
    role_id: str
    inherited: bool = False
    # when expanded for `effective`: the group membership it came through and the grant
    # it was derived from
    via_group: str | None = None
    origin: Assignment | None = None

    @property
    def actor_kind(self) -> str:
        return "user" if self.type.startswith("User") else "group"

    @property
    def target_kind(self) -> str:
        return self.type.removeprefix("User").removeprefix("Group").lower()


def assignment_type(actor_kind: str, target_kind: str) -> str:
    return f"{actor_kind.capitalize()}{target_kind.capitalize()}"


def grant(conn: Connection, a_type: str, actor_id: str, target_id: str, role_id: str,
          inherited: bool = False) -> None:
    role = roles.get(conn, role_id)
    if role["domain_id"] != t.NULL_DOMAIN and a_type.endswith("Project"):
        project = projects.get(conn, target_id)
        if project["domain_id"] != role["domain_id"]:
            raise exceptions.Forbidden(
                "Domain-specific roles may only be assigned within their domain."
            )
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.assignments).values(
                type=a_type, actor_id=actor_id, target_id=target_id, role_id=role_id,
                inherited=inherited))
    except IntegrityError as exc:
        if not is_duplicate_error(exc):
            raise
    bump_revision(conn)


def exists(conn: Connection, a_type: str, actor_id: str, target_id: str, role_id: str,
           inherited: bool = False) -> bool:
    row = conn.execute(sa.select(t.assignments.c.role_id).where(
        t.assignments.c.type == a_type, t.assignments.c.actor_id == actor_id,
        t.assignments.c.target_id == target_id, t.assignments.c.role_id == role_id,
        t.assignments.c.inherited == inherited)).first()
    return row is not None


def revoke(conn: Connection, a_type: str, actor_id: str, target_id: str, role_id: str,
           inherited: bool = False) -> None:
    result = conn.execute(sa.delete(t.assignments).where(
        t.assignments.c.type == a_type, t.assignments.c.actor_id == actor_id,
        t.assignments.c.target_id == target_id, t.assignments.c.role_id == role_id,
        t.assignments.c.inherited == inherited))
    if result.rowcount == 0:
        raise exceptions.NotFound(
            f"Could not find role assignment with role: {role_id}, actor: {actor_id}, "
            f"target: {target_id}."
        )
    from pocketstack.identity.domain import revocations

    if a_type.startswith("User"):
        revocations.add_event(conn, user_id=actor_id,
                              project_id=target_id if a_type == USER_PROJECT else None)
    bump_revision(conn)


def role_ids_for(conn: Connection, a_type: str, actor_id: str, target_id: str,
                 inherited: bool = False) -> list[str]:
    return [r[0] for r in conn.execute(sa.select(t.assignments.c.role_id).where(
        t.assignments.c.type == a_type, t.assignments.c.actor_id == actor_id,
        t.assignments.c.target_id == target_id, t.assignments.c.inherited == inherited))]


def group_ids_of(conn: Connection, user_id: str) -> list[str]:
    """The user's groups: memberships, and federated ones not yet expired."""
    f = t.federated_group_members
    q = sa.union(
        sa.select(t.group_members.c.group_id).where(t.group_members.c.user_id == user_id),
        sa.select(f.c.group_id).where(f.c.user_id == user_id, f.c.expires_at > utcnow()))
    return [r[0] for r in conn.execute(q)]


def _visible(role_ids: set[str], conn: Connection,
             catalog: roles.RoleCatalog | None = None) -> set[str]:
    """Expand implications and drop domain-specific roles (they never reach a token)."""
    if not role_ids:
        return set()
    if catalog is not None:
        return catalog.visible(role_ids)
    expanded = roles.expand(role_ids, roles.implication_map(conn))
    rows = roles.by_ids(conn, expanded)
    return {rid for rid, row in rows.items() if row["domain_id"] == t.NULL_DOMAIN}


def effective_project_role_ids(conn: Connection, user_id: str, project: dict[str, Any],
                               catalog: roles.RoleCatalog | None = None,
                               extra_groups: tuple[str, ...] = ()) -> set[str]:
    actors = [user_id, *group_ids_of(conn, user_id), *extra_groups]
    ancestors = [p["id"] for p in projects.parents(conn, project)]
    a = t.assignments
    q = sa.select(a.c.role_id).where(
        a.c.actor_id.in_(actors),
        sa.or_(
            sa.and_(a.c.type.in_((USER_PROJECT, GROUP_PROJECT)),
                    a.c.target_id == project["id"], a.c.inherited.is_(False)),
            sa.and_(a.c.type.in_((USER_PROJECT, GROUP_PROJECT)),
                    a.c.target_id.in_(ancestors), a.c.inherited.is_(True)),
            sa.and_(a.c.type.in_((USER_DOMAIN, GROUP_DOMAIN)),
                    a.c.target_id == project["domain_id"], a.c.inherited.is_(True)),
        ),
    )
    return _visible({r[0] for r in conn.execute(q)}, conn, catalog)


def effective_domain_role_ids(conn: Connection, user_id: str, domain_id: str,
                              catalog: roles.RoleCatalog | None = None,
                              extra_groups: tuple[str, ...] = ()) -> set[str]:
    actors = [user_id, *group_ids_of(conn, user_id), *extra_groups]
    a = t.assignments
    q = sa.select(a.c.role_id).where(
        a.c.actor_id.in_(actors), a.c.type.in_((USER_DOMAIN, GROUP_DOMAIN)),
        a.c.target_id == domain_id, a.c.inherited.is_(False))
    return _visible({r[0] for r in conn.execute(q)}, conn, catalog)


def effective_system_role_ids(conn: Connection, user_id: str,
                              catalog: roles.RoleCatalog | None = None,
                              extra_groups: tuple[str, ...] = ()) -> set[str]:
    actors = [user_id, *group_ids_of(conn, user_id), *extra_groups]
    a = t.assignments
    q = sa.select(a.c.role_id).where(
        a.c.actor_id.in_(actors), a.c.type.in_((USER_SYSTEM, GROUP_SYSTEM)),
        a.c.target_id == SYSTEM_TARGET)
    return _visible({r[0] for r in conn.execute(q)}, conn, catalog)


def project_ids_for_user(conn: Connection, user_id: str) -> set[str]:
    """Projects on which the user has at least one effective role."""
    out = set()
    for assignment in list_assignments(conn, user_id=user_id, effective=True):
        if assignment.target_kind == "project":
            out.add(assignment.target_id)
    return out


def domain_ids_for_user(conn: Connection, user_id: str) -> set[str]:
    out = set()
    for assignment in list_assignments(conn, user_id=user_id, effective=True):
        if assignment.target_kind == "domain" and not assignment.inherited:
            out.add(assignment.target_id)
    return out


def _raw(conn: Connection) -> list[Assignment]:
    return [Assignment(r.type, r.actor_id, r.target_id, r.role_id, bool(r.inherited))
            for r in conn.execute(sa.select(t.assignments))]


def list_assignments(
    conn: Connection,
    user_id: str | None = None,
    group_id: str | None = None,
    role_id: str | None = None,
    project_id: str | None = None,
    domain_id: str | None = None,
    system: bool = False,
    inherited: bool | None = None,
    effective: bool = False,
    include_subtree: bool = False,
) -> list[Assignment]:
    """The `GET /v3/role_assignments` query, with Keystone's `effective` expansion."""
    rows = _raw(conn)
    if effective:
        rows = _expand_effective(conn, rows)
    out = []
    subtree: set[str] = set()
    if project_id and include_subtree:
        subtree = {p["id"] for p in projects.subtree(conn, project_id)}
    for a in rows:
        if user_id and not (a.actor_kind == "user" and a.actor_id == user_id):
            continue
        if group_id and not (a.actor_kind == "group" and a.actor_id == group_id):
            if not (effective and a.via_group == group_id):
                continue
        if role_id and a.role_id != role_id:
            continue
        if project_id and not (a.target_kind == "project"
                               and (a.target_id == project_id or a.target_id in subtree)):
            continue
        if domain_id and not (a.target_kind == "domain" and a.target_id == domain_id):
            continue
        if system and a.target_kind != "system":
            continue
        if inherited is not None and a.inherited != inherited:
            continue
        out.append(a)
    return out


def _expand_effective(conn: Connection, rows: list[Assignment]) -> list[Assignment]:
    """Groups → their members, inherited grants → the projects below, roles → implied roles."""
    members: dict[str, list[str]] = {}
    for gid, uid in conn.execute(sa.select(t.group_members.c.group_id,
                                           t.group_members.c.user_id)):
        members.setdefault(gid, []).append(uid)
    all_projects = [dict(r) for r in conn.execute(
        sa.select(t.projects.c.id, t.projects.c.domain_id, t.projects.c.parent_id)).mappings()]
    by_domain: dict[str, list[str]] = {}
    by_parent: dict[str, list[str]] = {}
    for p in all_projects:
        by_domain.setdefault(p["domain_id"], []).append(p["id"])
        if p["parent_id"]:
            by_parent.setdefault(p["parent_id"], []).append(p["id"])

    def below(pid: str) -> list[str]:
        out, frontier = [], [pid]
        while frontier:
            kids = by_parent.get(frontier.pop(), [])
            out.extend(kids)
            frontier.extend(kids)
        return out

    # 1. users instead of groups
    step1: list[Assignment] = []
    for a in rows:
        if a.actor_kind == "group":
            kind = a.type.removeprefix("Group")
            for uid in members.get(a.actor_id, []):
                step1.append(Assignment(f"User{kind}", uid, a.target_id, a.role_id, a.inherited,
                                        via_group=a.actor_id, origin=a))
        else:
            step1.append(a)
    # 2. inherited grants land on the projects they apply to
    step2: list[Assignment] = []
    for a in step1:
        if not a.inherited:
            step2.append(a)
            continue
        if a.target_kind == "domain":
            targets = by_domain.get(a.target_id, [])
        else:
            targets = below(a.target_id)
        for pid in targets:
            step2.append(Assignment(USER_PROJECT, a.actor_id, pid, a.role_id, False,
                                    via_group=a.via_group, origin=a.origin or a))
    # 3. implied roles; domain-specific roles themselves drop out (only what they imply stays)
    implications = roles.implication_map(conn)
    domain_specific = {r[0] for r in conn.execute(
        sa.select(t.roles.c.id).where(t.roles.c.domain_id != t.NULL_DOMAIN))}
    out: list[Assignment] = []
    seen: set[tuple[str, str, str, str, bool, str | None]] = set()
    for a in step2:
        for rid in roles.expand({a.role_id}, implications):
            if rid in domain_specific:
                continue
            key = (a.type, a.actor_id, a.target_id, rid, a.inherited, a.via_group)
            if key in seen:
                continue
            seen.add(key)
            origin = a.origin or a
            if rid != a.role_id:
                origin = Assignment(origin.type, origin.actor_id, origin.target_id, a.role_id,
                                    origin.inherited)
            out.append(Assignment(a.type, a.actor_id, a.target_id, rid, a.inherited,
                                  a.via_group, origin if origin is not a else None))
    return out
