"""Grants (``/v3/projects/{p}/users/{u}/roles/{r}`` and friends) and ``/v3/role_assignments``."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.identity.api.common import collection, enforce, flag, svc
from pocketstack.identity.api.serializers import role_view
from pocketstack.identity.domain import assignments, domains, groups, projects, roles, users
from pocketstack.identity.domain.assignments import SYSTEM_TARGET, Assignment


def _parse(req: ApiRequest) -> tuple[str, str, str, str, str | None, bool]:
    """(type, actor_kind, actor_id, target_kind, target_id, inherited) from the route."""
    p = req.path_params
    inherited = "/OS-INHERIT/" in req.path
    actor_kind = "user" if "user_id" in p else "group"
    actor_id = p.get("user_id") or p.get("group_id") or ""
    if "project_id" in p:
        target_kind, target_id = "project", p["project_id"]
    elif "domain_id" in p:
        target_kind, target_id = "domain", p["domain_id"]
    else:
        target_kind, target_id = "system", SYSTEM_TARGET
    return (assignments.assignment_type(actor_kind, target_kind), actor_kind, actor_id,
            target_kind, target_id, inherited)


def _check_refs(conn: Any, actor_kind: str, actor_id: str, target_kind: str,
                target_id: str, role_id: str | None) -> str | None:
    """Raise NotFound for a missing actor/target/role; return the target's domain id."""
    (users.get if actor_kind == "user" else groups.get)(conn, actor_id)
    if role_id is not None:
        roles.get(conn, role_id)
    if target_kind == "project":
        return str(projects.get(conn, target_id)["domain_id"])
    if target_kind == "domain":
        domains.get(conn, target_id)
        return target_id
    return None


def _rule(target_kind: str, action: str) -> str:
    """Keystone's rule names: ``identity:list_grants`` is plural, the others singular."""
    suffix = "grants" if action == "list" else "grant"
    return f"identity:{action}_system_{suffix}" if target_kind == "system" \
        else f"identity:{action}_{suffix}"


def create_grant(req: ApiRequest) -> Response:
    a_type, akind, aid, tkind, tid, inherited = _parse(req)
    role_id = req.path_params["role_id"]
    service = svc(req)

    def write(conn):  # type: ignore[no-untyped-def]
        domain_id = _check_refs(conn, akind, aid, tkind, tid or "", role_id)
        enforce(req, _rule(tkind, "create"), {"target.domain_id": domain_id})
        assignments.grant(conn, a_type, aid, tid or "", role_id, inherited)

    service.db.write(write)
    return empty_response()


def check_grant(req: ApiRequest) -> Response:
    a_type, akind, aid, tkind, tid, inherited = _parse(req)
    role_id = req.path_params["role_id"]

    def read(conn):  # type: ignore[no-untyped-def]
        domain_id = _check_refs(conn, akind, aid, tkind, tid or "", role_id)
        enforce(req, _rule(tkind, "check"), {"target.domain_id": domain_id})
        return assignments.exists(conn, a_type, aid, tid or "", role_id, inherited)

    if not svc(req).db.read(read):
        raise exceptions.NotFound(f"Could not find role assignment with role: {role_id}.")
    return empty_response()


def revoke_grant(req: ApiRequest) -> Response:
    a_type, akind, aid, tkind, tid, inherited = _parse(req)
    role_id = req.path_params["role_id"]

    def write(conn):  # type: ignore[no-untyped-def]
        domain_id = _check_refs(conn, akind, aid, tkind, tid or "", role_id)
        enforce(req, _rule(tkind, "revoke"), {"target.domain_id": domain_id})
        assignments.revoke(conn, a_type, aid, tid or "", role_id, inherited)

    svc(req).db.write(write)
    return empty_response()


def list_grants(req: ApiRequest) -> Response:
    a_type, akind, aid, tkind, tid, inherited = _parse(req)

    def read(conn):  # type: ignore[no-untyped-def]
        domain_id = _check_refs(conn, akind, aid, tkind, tid or "", None)
        enforce(req, _rule(tkind, "list"), {"target.domain_id": domain_id})
        ids = assignments.role_ids_for(conn, a_type, aid, tid or "", inherited)
        return list(roles.by_ids(conn, set(ids)).values())

    rows = sorted(svc(req).db.read(read), key=lambda r: r["name"])
    return collection(req, "roles", (role_view(req, r) for r in rows))


# -- /v3/role_assignments ---------------------------------------------------------------------
def _grant_path(a: Assignment) -> str:
    actor = f"{a.actor_kind}s/{a.actor_id}"
    if a.target_kind == "system":
        return f"/v3/system/{actor}/roles/{a.role_id}"
    base = f"/v3/{a.target_kind}s/{a.target_id}/{actor}/roles/{a.role_id}"
    if a.inherited:
        return f"/v3/OS-INHERIT{base.removeprefix('/v3')}/inherited_to_projects"
    return base


def list_role_assignments(req: ApiRequest) -> Response:
    q = req.query
    effective = flag(req, "effective")
    include_names = flag(req, "include_names")
    include_subtree = flag(req, "include_subtree")
    if effective and q.get("group.id"):
        raise exceptions.ValidationError(
            "Combining effective and group filter will always result in an empty list.")
    inherited = None
    if q.get("scope.OS-INHERIT:inherited_to"):
        inherited = True
    project_id = q.get("scope.project.id")
    domain_id = q.get("scope.domain.id")
    if include_subtree and not project_id:
        raise exceptions.ValidationError("scope.project.id must be specified if "
                                         "include_subtree is also specified.")
    target_domain = domain_id or req.ctx.domain_id

    def read(conn):  # type: ignore[no-untyped-def]
        if project_id:
            try:
                dom = projects.get(conn, project_id)["domain_id"]
            except exceptions.NotFound:
                dom = target_domain
        else:
            dom = target_domain
        enforce(req, "identity:list_role_assignments_for_tree" if include_subtree
                else "identity:list_role_assignments", {"target.domain_id": dom})
        found = assignments.list_assignments(
            conn, user_id=q.get("user.id"), group_id=q.get("group.id"),
            role_id=q.get("role.id"), project_id=project_id, domain_id=domain_id,
            system="scope.system" in q, inherited=inherited, effective=effective,
            include_subtree=include_subtree)
        names = _names(conn, found) if include_names else None
        return [_view(req, a, names, effective) for a in found]

    return json_response({"role_assignments": svc(req).db.read(read),
                          "links": {"self": req.url_for(req.path), "previous": None,
                                    "next": None}})


def _names(conn: Any, found: list[Assignment]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    doms = {d["id"]: d for d in domains.list_(conn)}

    def dom(domain_id: str) -> dict[str, Any]:
        d = doms.get(domain_id)
        return {"id": domain_id, "name": d["name"] if d else None}

    for r in roles.by_ids(conn, {a.role_id for a in found}).values():
        entry: dict[str, Any] = {"id": r["id"], "name": r["name"]}
        if r["domain_id"] != "<<null>>":
            entry["domain"] = dom(r["domain_id"])
        out[r["id"]] = entry
    for u in users.list_(conn, ids={a.actor_id for a in found if a.actor_kind == "user"}):
        out[u["id"]] = {"id": u["id"], "name": u["name"], "domain": dom(u["domain_id"])}
    for g in groups.list_(conn, ids={a.actor_id for a in found if a.actor_kind == "group"}):
        out[g["id"]] = {"id": g["id"], "name": g["name"], "domain": dom(g["domain_id"])}
    for p in projects.list_(conn, ids={a.target_id for a in found
                                       if a.target_kind == "project"}):
        out[p["id"]] = {"id": p["id"], "name": p["name"], "domain": dom(p["domain_id"])}
    for d in doms.values():
        out.setdefault(d["id"], {"id": d["id"], "name": d["name"]})
    return out


def _view(req: ApiRequest, a: Assignment, names: dict[str, dict[str, Any]] | None,
          effective: bool) -> dict[str, Any]:
    def ref(i: str) -> dict[str, Any]:
        return dict(names.get(i, {"id": i})) if names is not None else {"id": i}

    scope: dict[str, Any]
    if a.target_kind == "system":
        scope = {"system": {"all": True}}
    else:
        scope = {a.target_kind: ref(a.target_id)}
    if a.inherited:
        scope["OS-INHERIT:inherited_to"] = "projects"
    out: dict[str, Any] = {"role": ref(a.role_id), "scope": scope,
                           a.actor_kind: ref(a.actor_id)}
    if a.origin is not None:
        links = {"assignment": req.url_for(_grant_path(a.origin))}
        if a.via_group:
            links["membership"] = req.url_for(f"/v3/groups/{a.via_group}/users/{a.actor_id}")
        out["links"] = links
    else:
        out["links"] = {"assignment": req.url_for(_grant_path(a))}
    return out
