"""``GET /servers/{id}/os-security-groups``: the security groups of a server's ports.

Security groups belong to the networking service (Neutron); a cloud without one has no ports,
so every server's list is empty (404 for a server the caller cannot see).
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.compute.api.admin_common import is_admin
from pocketstack.compute.api.common import enforce, svc
from pocketstack.compute.domain.instance_access import load_instance


def index(req: ApiRequest) -> Response:
    def read(conn: Any) -> None:
        inst = load_instance(conn, req.ctx.project_id, is_admin(req),
                             req.path_params["server_id"])
        enforce(req, "os_compute_api:os-security-groups:list",
                {"project_id": inst["project_id"]})

    svc(req).db.read(read)
    return json_response({"security_groups": []})
