"""``/servers/{id}/os-server-password``: the password a guest posted to the metadata service.

A guest (cloud-init, cloudbase-init) ``POST``\\ s its password, usually encrypted with the
key pair's public key, to ``/openstack/<version>/password``
(:mod:`pocketstack.compute.api.metadata`); the owner reads it here and clears it (after which
the guest may post a new one). Nova keeps it in the instance's system metadata; Pocketstack
keeps it in the instance row's ``admin_pass`` column, which holds nothing else.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.compute.api.admin_common import is_admin
from pocketstack.compute.api.common import enforce, svc
from pocketstack.compute.domain import instances
from pocketstack.compute.domain.instance_access import load_instance


def show(req: ApiRequest) -> Response:
    def read(conn: Any) -> str:
        inst = load_instance(conn, req.ctx.project_id, is_admin(req),
                             req.path_params["server_id"])
        enforce(req, "os_compute_api:os-server-password:show",
                {"project_id": inst["project_id"]})
        return str(inst.get("admin_pass") or "")

    return json_response({"password": svc(req).db.read(read)})


def clear(req: ApiRequest) -> Response:
    def write(conn: Any) -> None:
        inst = load_instance(conn, req.ctx.project_id, is_admin(req),
                             req.path_params["server_id"])
        enforce(req, "os_compute_api:os-server-password:clear",
                {"project_id": inst["project_id"]})
        if inst.get("admin_pass"):
            instances.update(conn, inst, {"admin_pass": None})

    svc(req).db.write(write)
    return empty_response(204)
