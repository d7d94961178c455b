"""``GET /servers/{id}/ips`` and ``/ips/{network_label}``: a server's addresses by network,
as networking has them (the same ``addresses`` a server shows, without the extended fields)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.compute.api.common import enforce, svc
from pocketstack.compute.api.servers import load, with_addresses


def _addresses(req: ApiRequest, rule: str) -> dict[str, list[dict[str, Any]]]:
    row = svc(req).db.read(lambda conn: load(req, conn))
    enforce(req, rule, {"project_id": row["project_id"]})
    addresses = with_addresses(req, [row])[0]["addresses"]
    return {net: [{"version": a["version"], "addr": a["addr"]} for a in addrs]
            for net, addrs in addresses.items()}


def index(req: ApiRequest) -> Response:
    return json_response({"addresses": _addresses(req, "os_compute_api:ips:index")})


def show(req: ApiRequest) -> Response:
    label = req.path_params["network_label"]
    addresses = _addresses(req, "os_compute_api:ips:show")
    if label not in addresses:
        raise exceptions.NotFound("Instance is not a member of specified network")
    return json_response({label: addresses[label]})
