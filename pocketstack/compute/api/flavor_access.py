"""``/flavors/{id}/os-flavor-access`` and the add/removeTenantAccess flavor actions."""

from __future__ import annotations

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.compute.api.common import body, enforce, svc
from pocketstack.compute.domain import flavors
from pocketstack.compute.schemas import admin as schemas


def _reply(flavorid: str, projects: list[str]) -> Response:
    return json_response({"flavor_access": [{"flavor_id": flavorid, "tenant_id": p}
                                            for p in projects]})


def list_access(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-flavor-access")
    flavorid = req.path_params["flavor_id"]
    return _reply(flavorid, svc(req).db.read(flavors.access_list, flavorid))


def flavor_action(req: ApiRequest) -> Response:
    flavorid = req.path_params["flavor_id"]
    data = body(req, schemas.FLAVOR_ACTION)
    if "addTenantAccess" in data:
        enforce(req, "os_compute_api:os-flavor-access:add_tenant_access")
        tenant = data["addTenantAccess"]["tenant"]
        return _reply(flavorid, svc(req).db.write(flavors.add_access, flavorid, tenant))
    enforce(req, "os_compute_api:os-flavor-access:remove_tenant_access")
    tenant = data["removeTenantAccess"]["tenant"]
    return _reply(flavorid, svc(req).db.write(flavors.remove_access, flavorid, tenant))
