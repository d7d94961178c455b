"""``/os-quota-sets``: a project's (or a user's) limits, with usage in ``/detail``.

With ``quota_driver = unified_limits`` the limits shown are keystone's (the defaults are the
registered limits) and, as in Nova, updates and deletes are accepted but change nothing: the
limits are managed in keystone (``openstack registered limit …``, ``openstack limit …``)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response
from pocketstack.common.api.validation import query_bool
from pocketstack.compute.api.admin_common import reply
from pocketstack.compute.api.common import body, enforce, svc, unified_limits, version_at_least
from pocketstack.compute.domain import quotas
from pocketstack.compute.schemas import admin as schemas


def _resources(req: ApiRequest) -> list[str]:
    return quotas.resources_for(lambda v: version_at_least(req, v))


def _target(req: ApiRequest) -> tuple[str, str | None, dict[str, Any]]:
    project_id = req.path_params["project_id"]
    user_id = req.query.get("user_id") or None
    return project_id, user_id, {"project_id": project_id, "user_id": user_id}


def _filtered(req: ApiRequest, values: dict[str, Any]) -> dict[str, Any]:
    return {name: values[name] for name in _resources(req) if name in values}


def show(req: ApiRequest) -> Response:
    project_id, user_id, target = _target(req)
    enforce(req, "os_compute_api:os-quota-sets:show", target)
    limits = svc(req).db.read(quotas.get_limits, project_id, user_id,
                              unified_limits(req, project_id))
    return reply("quota_set", {"id": project_id, **_filtered(req, limits)})


def detail(req: ApiRequest) -> Response:
    project_id, user_id, target = _target(req)
    enforce(req, "os_compute_api:os-quota-sets:detail", target)
    details = svc(req).db.read(quotas.detail, project_id, user_id,
                               unified_limits(req, project_id))
    return reply("quota_set", {"id": project_id, **_filtered(req, details)})


def defaults(req: ApiRequest) -> Response:
    project_id = req.path_params["project_id"]
    enforce(req, "os_compute_api:os-quota-sets:defaults", {"project_id": project_id})
    return reply("quota_set", {"id": project_id, **_filtered(req, _defaults(req))})


def _defaults(req: ApiRequest) -> dict[str, int]:
    registered = unified_limits(req, defaults=True)
    if registered is not None:
        return registered.quota_set()
    return svc(req).db.read(quotas.get_defaults)  # type: ignore[no-any-return]


def update(req: ApiRequest) -> Response:
    project_id, user_id, target = _target(req)
    enforce(req, "os_compute_api:os-quota-sets:update", target)
    data = body(req, schemas.quota_update(_resources(req)))["quota_set"]
    force = query_bool(str(data.pop("force", False)), False)
    values = {name: int(value) for name, value in data.items()}
    for name, value in values.items():
        if value < -1:
            raise exceptions.ValidationError(
                f"Invalid input for field/attribute {name}. Value: {value}. "
                f"{value} is less than the minimum of -1")
    unified = unified_limits(req, project_id)
    if unified is not None:  # Nova: keystone holds the limits; nothing is written
        limits = svc(req).db.read(quotas.get_limits, project_id, None, unified)
    else:
        limits = svc(req).db.write(quotas.set_limits, project_id, user_id, values, bool(force))
    return reply("quota_set", _filtered(req, limits))


# -- os-quota-class-sets ------------------------------------------------------------------------
def _class_view(req: ApiRequest, values: dict[str, int]) -> dict[str, int]:
    return {name: values[name] for name in quotas.class_resources_for(
        lambda v: version_at_least(req, v))}


def _class_name(req: ApiRequest) -> str:
    name = req.path_params["class_name"]
    if not 1 <= len(name) <= 255:
        raise exceptions.BadRequest("quota_class_name has a length of 1 to 255 characters.")
    return name


def show_class(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-quota-class-sets:show")
    name = _class_name(req)
    if svc(req).settings.quota_driver == "unified_limits":
        values = _defaults(req)  # Nova: every class is the registered defaults
    else:
        values = svc(req).db.read(quotas.get_class_limits, name)
    return reply("quota_class_set", {"id": name, **_class_view(req, values)})


def update_class(req: ApiRequest) -> Response:
    enforce(req, "os_compute_api:os-quota-class-sets:update")
    name = _class_name(req)
    resources = quotas.class_resources_for(lambda v: version_at_least(req, v))
    data = body(req, schemas.quota_class_update(resources))["quota_class_set"]
    values = {key: int(value) for key, value in data.items()}
    for key, value in values.items():
        if value < -1:
            raise exceptions.ValidationError(
                f"Invalid input for field/attribute {key}. Value: {value}. "
                f"{value} is less than the minimum of -1")
    if svc(req).settings.quota_driver == "unified_limits":
        limits = _defaults(req)  # Nova: keystone holds the limits; nothing is written
    else:
        limits = svc(req).db.write(quotas.set_class_limits, name, values)
    return reply("quota_class_set", _class_view(req, limits))


def delete(req: ApiRequest) -> Response:
    project_id, user_id, target = _target(req)
    enforce(req, "os_compute_api:os-quota-sets:delete", target)
    if svc(req).settings.quota_driver != "unified_limits":  # Nova: keystone's are kept
        svc(req).db.write(quotas.delete_limits, project_id, user_id)
    return empty_response(202)
