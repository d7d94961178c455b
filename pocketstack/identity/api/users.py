"""``/v3/users``: accounts, self-service password change, a user's projects and groups."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.identity import schemas
from pocketstack.identity.api.common import (
    body,
    bool_param,
    collection,
    enforce,
    one,
    string_filters,
    svc,
)
from pocketstack.identity.api.serializers import group_view, project_view, user_view
from pocketstack.identity.domain import assignments, domains, federation, groups, projects, users
from pocketstack.identity.domain.common import isotime


def _target(req: ApiRequest, user_id: str) -> dict[str, Any]:
    row = svc(req).db.read(users.get, user_id)
    return {"target.user_id": user_id, "target.domain_id": row["domain_id"]}


def list_users(req: ApiRequest) -> Response:
    domain_id = req.query.get("domain_id")
    enforce(req, "identity:list_users", {"target.domain_id": domain_id or req.ctx.domain_id})
    filters = {"name": req.query.get("name"), "domain_id": domain_id,
               "enabled": bool_param(req, "enabled")}
    rows = svc(req).db.read(users.list_, filters)
    items = string_filters(req, [user_view(req, r) for r in rows], ("name",))
    if "password_expires_at" in req.query:
        items = [i for i in items if i["password_expires_at"]]
    return collection(req, "users", items)


def get_user(req: ApiRequest) -> Response:
    user_id = req.path_params["user_id"]
    enforce(req, "identity:get_user", _target(req, user_id))
    view = user_view(req, svc(req).db.read(users.get, user_id))
    federated = svc(req).db.read(federation.federation_of, user_id)
    if federated:  # a shadow user shows the identities it stands for, as Keystone does
        view["federated"] = federated
    return one("user", view)


def create_user(req: ApiRequest) -> Response:
    values = body(req, schemas.USER_CREATE, "user")
    if not values.get("domain_id"):
        values["domain_id"] = (req.ctx.domain_id or req.ctx.project_domain_id
                               or domains.DEFAULT_DOMAIN_ID)
    enforce(req, "identity:create_user", {"target.domain_id": values["domain_id"]})
    service = svc(req)
    hashed = users.prehash(values, service.rules)
    row = service.db.write(users.create, values, service.rules, hashed)
    return one("user", user_view(req, row), 201)


def update_user(req: ApiRequest) -> Response:
    user_id = req.path_params["user_id"]
    enforce(req, "identity:update_user", _target(req, user_id))
    values = body(req, schemas.USER_UPDATE, "user")
    service = svc(req)
    row = service.db.write(users.update, user_id, values, service.rules)
    return one("user", user_view(req, row))


def delete_user(req: ApiRequest) -> Response:
    user_id = req.path_params["user_id"]
    enforce(req, "identity:delete_user", _target(req, user_id))
    svc(req).db.write(users.delete, user_id)
    return empty_response()


def change_password(req: ApiRequest) -> Response:
    """Self-service; authenticated by the original password, as Keystone does."""
    user_id = req.path_params["user_id"]
    values = body(req, schemas.PASSWORD_CHANGE, "user")
    service = svc(req)
    try:
        service.db.write(users.change_own_password, user_id, values["original_password"],
                         values["password"], service.rules)
    except exceptions.NotFound:
        raise exceptions.Unauthorized("The request you have made requires authentication.") \
            from None
    return empty_response()


def list_user_projects(req: ApiRequest) -> Response:
    user_id = req.path_params["user_id"]
    enforce(req, "identity:list_user_projects", _target(req, user_id))

    def read(conn):  # type: ignore[no-untyped-def]
        ids = assignments.project_ids_for_user(conn, user_id)
        filters = {"domain_id": req.query.get("domain_id"), "name": req.query.get("name"),
                   "enabled": bool_param(req, "enabled")}
        return projects.list_(conn, filters, ids=ids)

    return collection(req, "projects", (project_view(req, p) for p in svc(req).db.read(read)))


def list_user_groups(req: ApiRequest) -> Response:
    user_id = req.path_params["user_id"]
    enforce(req, "identity:list_groups_for_user", _target(req, user_id))
    rows = svc(req).db.read(groups.groups_of, user_id)
    views = []
    for row in rows:
        view = group_view(req, row)
        if "membership_expires_at" in row:  # given by a federated login, as Keystone shows
            view["membership_expires_at"] = isotime(row["membership_expires_at"])
        views.append(view)
    return collection(req, "groups", views)
