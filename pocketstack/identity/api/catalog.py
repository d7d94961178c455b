"""``/v3/services``, ``/v3/endpoints`` and ``/v3/regions``."""

from __future__ import annotations

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.identity import schemas
from pocketstack.identity.api.common import body, collection, enforce, one, svc
from pocketstack.identity.api.serializers import endpoint_view, region_view, service_view
from pocketstack.identity.domain import catalog


def list_services(req: ApiRequest) -> Response:
    enforce(req, "identity:list_services")
    rows = svc(req).db.read(catalog.list_services, name=req.query.get("name"),
                            type_=req.query.get("type"))
    return collection(req, "services", (service_view(req, r) for r in rows))


def get_service(req: ApiRequest) -> Response:
    enforce(req, "identity:get_service")
    row = svc(req).db.read(catalog.get_service, req.path_params["service_id"])
    return one("service", service_view(req, row))


def create_service(req: ApiRequest) -> Response:
    enforce(req, "identity:create_service")
    values = body(req, schemas.SERVICE_CREATE, "service")
    return one("service", service_view(req, svc(req).db.write(catalog.create_service, values)),
               201)


def update_service(req: ApiRequest) -> Response:
    enforce(req, "identity:update_service")
    values = body(req, schemas.SERVICE_UPDATE, "service")
    row = svc(req).db.write(catalog.update_service, req.path_params["service_id"], values)
    return one("service", service_view(req, row))


def delete_service(req: ApiRequest) -> Response:
    enforce(req, "identity:delete_service")
    svc(req).db.write(catalog.delete_service, req.path_params["service_id"])
    return empty_response()


def _endpoint_values(req: ApiRequest, schema: dict) -> dict:
    values = body(req, schema, "endpoint")
    values["managed_by"] = "operator"
    return values


def list_endpoints(req: ApiRequest) -> Response:
    enforce(req, "identity:list_endpoints")
    interface = req.query.get("interface")
    if interface is not None and interface not in catalog.INTERFACES:
        raise exceptions.ValidationError(f"Invalid interface: {interface}.")
    rows = svc(req).db.read(catalog.list_endpoints, service_id=req.query.get("service_id"),
                            interface=interface, region_id=req.query.get("region_id"))
    return collection(req, "endpoints", (endpoint_view(req, r) for r in rows))


def get_endpoint(req: ApiRequest) -> Response:
    enforce(req, "identity:get_endpoint")
    row = svc(req).db.read(catalog.get_endpoint, req.path_params["endpoint_id"])
    return one("endpoint", endpoint_view(req, row))


def create_endpoint(req: ApiRequest) -> Response:
    enforce(req, "identity:create_endpoint")
    values = _endpoint_values(req, schemas.ENDPOINT_CREATE)
    row = svc(req).db.write(catalog.create_endpoint, values)
    return one("endpoint", endpoint_view(req, row), 201)


def update_endpoint(req: ApiRequest) -> Response:
    enforce(req, "identity:update_endpoint")
    values = _endpoint_values(req, schemas.ENDPOINT_UPDATE)
    row = svc(req).db.write(catalog.update_endpoint, req.path_params["endpoint_id"], values)
    return one("endpoint", endpoint_view(req, row))


def delete_endpoint(req: ApiRequest) -> Response:
    enforce(req, "identity:delete_endpoint")
    svc(req).db.write(catalog.delete_endpoint, req.path_params["endpoint_id"])
    return empty_response()


def list_regions(req: ApiRequest) -> Response:
    enforce(req, "identity:list_regions")
    rows = svc(req).db.read(catalog.list_regions, req.query.get("parent_region_id"))
    return collection(req, "regions", (region_view(req, r) for r in rows))


def get_region(req: ApiRequest) -> Response:
    enforce(req, "identity:get_region")
    row = svc(req).db.read(catalog.get_region, req.path_params["region_id"])
    return one("region", region_view(req, row))


def create_region(req: ApiRequest) -> Response:
    enforce(req, "identity:create_region")
    values = body(req, schemas.REGION_CREATE, "region")
    return one("region", region_view(req, svc(req).db.write(catalog.create_region, values)), 201)


def create_region_with_id(req: ApiRequest) -> Response:
    enforce(req, "identity:create_region")
    values = body(req, schemas.REGION_CREATE, "region")
    region_id = req.path_params["region_id"]
    if values.get("id", region_id) != region_id:
        raise exceptions.ValidationError("The region id in the body does not match the URL.")
    values["id"] = region_id
    return one("region", region_view(req, svc(req).db.write(catalog.create_region, values)), 201)


def update_region(req: ApiRequest) -> Response:
    enforce(req, "identity:update_region")
    values = body(req, schemas.REGION_UPDATE, "region")
    row = svc(req).db.write(catalog.update_region, req.path_params["region_id"], values)
    return one("region", region_view(req, row))


def delete_region(req: ApiRequest) -> Response:
    enforce(req, "identity:delete_region")
    svc(req).db.write(catalog.delete_region, req.path_params["region_id"])
    return empty_response()
