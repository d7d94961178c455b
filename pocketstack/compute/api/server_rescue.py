"""``rescue`` / ``unrescue``: boot a server into rescue mode and back (a hypervisor task).

The conductor asks the host's driver to boot the guest from the rescue image (the one given
as ``rescue_image_ref``, else the server's own image); the server shows ``RESCUE`` until it is
unrescued. ``rescue`` answers 200 with the rescue password (Nova's
``enable_instance_password``), ``unrescue`` 202.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, empty_response, json_response
from pocketstack.common.api.validation import validate
from pocketstack.compute.api.common import svc

RESCUE = {"type": ["object", "null"], "properties": {
    "adminPass": {"type": "string"},
    "rescue_image_ref": {"type": "string", "format": "uuid"}},
    "additionalProperties": False}


def rescue(req: ApiRequest, arg: Any) -> Response:
    from pocketstack.compute.api.server_actions import _task

    data = validate(RESCUE, arg) or {}
    if data.get("rescue_image_ref"):
        try:
            svc(req).images.get_image_for_boot(req.ctx, data["rescue_image_ref"])
        except exceptions.NotFound:
            raise exceptions.BadRequest(
                f"Image {data['rescue_image_ref']} could not be found.") from None
    def extra(conn: Any, row: dict[str, Any]) -> dict[str, Any]:
        hints = dict(row["scheduler_hints"])  # the conductor hands the image to the driver
        hints["_rescue_image"] = data.get("rescue_image_ref")
        return {"scheduler_hints": hints}

    _task(req, "rescue", "os_compute_api:os-rescue", "rescue", extra)
    return json_response({"adminPass": data.get("adminPass") or secrets.token_urlsafe(9)})


def unrescue(req: ApiRequest, arg: Any) -> Response:
    from pocketstack.compute.api.server_actions import _task

    _task(req, "unrescue", "os_compute_api:os-unrescue", "unrescue")
    return empty_response(202)
