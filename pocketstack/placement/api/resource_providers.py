"""``/resource_providers`` and ``/resource_providers/{uuid}``."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.placement import errors, schemas
from pocketstack.placement.api.common import (
    at_least,
    body,
    check_params,
    check_uuid,
    enforce,
    link,
    parse_member_of,
    parse_required,
    parse_resources,
    respond,
    single,
    svc,
)
from pocketstack.placement.domain import provider_filter, providers


def view(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    base = f"/resource_providers/{row['uuid']}"
    links = [link(req, "self", base), link(req, "inventories", base + "/inventories"),
             link(req, "usages", base + "/usages")]
    if at_least(req, "1.1"):
        links.append(link(req, "aggregates", base + "/aggregates"))
    if at_least(req, "1.6"):
        links.append(link(req, "traits", base + "/traits"))
    if at_least(req, "1.11"):
        links.append(link(req, "allocations", base + "/allocations"))
    out: dict[str, Any] = {"uuid": row["uuid"], "name": row["name"],
                           "generation": row["generation"], "links": links}
    if at_least(req, "1.14"):
        out["parent_provider_uuid"] = row["parent_uuid"]
        out["root_provider_uuid"] = row["root_uuid"]
    return out


_LIST_PARAMS = [("1.0", {"name", "uuid"}), ("1.3", {"member_of"}), ("1.4", {"resources"}),
                ("1.14", {"in_tree"}), ("1.18", {"required"})]


def list_providers(req: ApiRequest) -> Response:
    enforce(req, "resource_providers:list")
    allowed = {p for v, names in _LIST_PARAMS if at_least(req, v) for p in names}
    check_params(req, allowed)
    name = single(req, "name")
    uuid = single(req, "uuid")
    if uuid is not None:
        check_uuid(uuid, "uuid")
    in_tree = single(req, "in_tree")
    if in_tree is not None:
        check_uuid(in_tree, "in_tree")
    member_values = req.query.getlist("member_of")
    if len(member_values) > 1 and not at_least(req, "1.24"):
        member_values = member_values[-1:]
    member_of, not_member_of = parse_member_of(member_values, at_least(req, "1.32"))
    resources = parse_resources(r) if (r := single(req, "resources")) is not None else {}
    required, forbidden = parse_required(req, req.query.getlist("required"),
                                         at_least(req, "1.22"), at_least(req, "1.39"))
    if "required" in req.query and not req.query.get("required"):
        raise errors.bad_query("Invalid query string parameters: 'required' is empty.")

    rows = svc(req).db.read(provider_filter.matching, provider_filter.ProviderFilter(
        uuid=uuid, name=name, in_tree=in_tree, member_of=member_of,
        not_member_of=not_member_of, required=required, forbidden=forbidden,
        resources=resources))
    return respond(req, {"resource_providers": [view(req, r) for r in rows]},
                   last_modified=max((r["updated_at"] for r in rows), default=None))


def create_provider(req: ApiRequest) -> Response:
    enforce(req, "resource_providers:create")
    data = body(req, schemas.POST_PROVIDER_V1_14 if at_least(req, "1.14")
                else schemas.POST_PROVIDER_V1_0)
    row = svc(req).db.write(providers.create, data["name"], data.get("uuid"),
                            data.get("parent_provider_uuid"))
    location = req.url_for(f"/resource_providers/{row['uuid']}")
    if at_least(req, "1.20"):
        return respond(req, view(req, row), headers={"Location": location})
    return empty_response(201, {"Location": location})


def show_provider(req: ApiRequest) -> Response:
    enforce(req, "resource_providers:show")
    row = svc(req).db.read(providers.get, req.path_params["uuid"])
    return respond(req, view(req, row), last_modified=row["updated_at"])


def update_provider(req: ApiRequest) -> Response:
    enforce(req, "resource_providers:update")
    data = body(req, schemas.PUT_PROVIDER_V1_14 if at_least(req, "1.14")
                else schemas.PUT_PROVIDER_V1_0)
    parent: Any = data["parent_provider_uuid"] if "parent_provider_uuid" in data \
        else providers.UNSET
    if parent is None and not at_least(req, "1.37"):
        current = svc(req).db.read(providers.get, req.path_params["uuid"])
        if current["parent_uuid"] is not None:
            raise exceptions.BadRequest("un-parenting a provider is not currently allowed.")
    row = svc(req).db.write(providers.update, req.path_params["uuid"], data["name"], parent,
                            at_least(req, "1.37"))
    return respond(req, view(req, row), last_modified=row["updated_at"])


def delete_provider(req: ApiRequest) -> Response:
    enforce(req, "resource_providers:delete")
    svc(req).db.write(providers.delete, req.path_params["uuid"])
    return empty_response(204)

