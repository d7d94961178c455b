"""Remote consoles: ``POST /servers/{id}/remote-consoles`` (2.6+), the older actions
``os-getSerialConsole``/``os-getVNCConsole``/``os-getSPICEConsole`` (2.1–2.5) and
``GET /os-console-auth-tokens/{token}`` (admin).

Thin: the conductor checks the instance, asks its host's agent where the console is, stores
the token and answers the URL (``conductor/console.py``); the host's console proxy relays
(``agents/compute/console_proxy.py``). Errors are Nova's: 400 ``Unavailable console type X.``
when the host cannot give that console (SPICE, MKS and RDP never can here), 400 ``Invalid
console type X`` for a protocol/type pair that does not go together, 409 when the instance
is not ready, 501 when its host's driver has no remote consoles at all.
"""

from __future__ import annotations

from typing import Any

import anyio.from_thread
from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.common.api.validation import validate
from pocketstack.compute.api.common import enforce, svc, version_at_least
from pocketstack.compute.api.servers import load
from pocketstack.compute.domain import console_tokens, instances
from pocketstack.compute.schemas import remote_consoles as schemas

RULE = "os_compute_api:os-remote-consoles"
#: protocol -> (the console kind a host gives, the console types it may be shown as)
_PROTOCOLS = {"serial": ("serial", ("serial",)), "vnc": ("vnc", ("novnc",))}


def _connect(req: ApiRequest, protocol: str, console_type: str) -> str:
    """The console's URL (see the module docstring for the errors)."""
    service = svc(req)
    row = service.db.read(lambda conn: load(req, conn))
    enforce(req, RULE, {"project_id": row["project_id"]})
    if protocol not in _PROTOCOLS:  # spice, mks, rdp: no such console on these hosts
        raise exceptions.BadRequest(f"Unavailable console type {console_type}.")
    kind, types = _PROTOCOLS[protocol]
    if console_type not in types:
        raise exceptions.BadRequest(f"Invalid console type {console_type}")
    if service.bus_call is None:
        raise exceptions.ServiceUnavailable("The console is not reachable right now.")
    try:
        reply = anyio.from_thread.run(service.bus_call, "conductor", {
            "op": "console_connect", "uuid": row["uuid"], "kind": kind,
            "console_type": console_type}, 30.0)
    except Exception:
        raise exceptions.Conflict(f"Instance {row['uuid']} is not ready") from None
    reply = reply if isinstance(reply, dict) else {}
    error = reply.get("error")
    if isinstance(error, dict):
        code, message = error.get("code"), str(error.get("message"))
        if code == 404:
            raise exceptions.NotFound(message)
        if code == 400:
            raise exceptions.BadRequest(message)
        if code == 501:
            raise exceptions.NotImplementedYet(message)
        raise exceptions.Conflict(message)
    if not reply.get("url"):
        raise exceptions.Conflict(f"Instance {row['uuid']} is not ready")
    return str(reply["url"])


def create(req: ApiRequest) -> Response:
    """``POST /servers/{id}/remote-consoles`` (2.6+; ``mks``/``webmks`` from 2.8)."""
    if not version_at_least(req, "2.6"):
        raise exceptions.NotFound("The resource could not be found.")
    schema = schemas.CREATE_V28 if version_at_least(req, "2.8") else schemas.CREATE_V26
    data = validate(schema, req.json())["remote_console"]
    protocol, console_type = data["protocol"], data["type"]
    url = _connect(req, protocol, console_type)
    return json_response({"remote_console": {"protocol": protocol, "type": console_type,
                                             "url": url}})


def _legacy(action: str, protocol: str, schema: dict[str, Any]) -> Any:
    def handler(req: ApiRequest, arg: Any) -> Response:
        if version_at_least(req, "2.6"):  # replaced by remote-consoles: gone, as in Nova
            raise exceptions.NotFound("The resource could not be found.")
        console_type = validate(schema, {action: arg})[action]["type"]
        url = _connect(req, protocol, console_type)
        return json_response({"console": {"type": console_type, "url": url}})
    return handler


get_serial_console = _legacy("os-getSerialConsole", "serial", schemas.GET_SERIAL_CONSOLE)
get_vnc_console = _legacy("os-getVNCConsole", "vnc", schemas.GET_VNC_CONSOLE)
get_spice_console = _legacy("os-getSPICEConsole", "spice", schemas.GET_SPICE_CONSOLE)


def show_token(req: ApiRequest) -> Response:
    """``GET /os-console-auth-tokens/{token}``: the console a token opens (admin). Before
    2.31 only RDP tokens could be shown (401 for others, as Nova); there are none here."""
    enforce(req, "os_compute_api:os-console-auth-tokens")
    console_token = str(req.path_params["console_token"])
    if not console_token.strip():
        raise exceptions.BadRequest("token not provided")

    def read(conn: Any) -> dict[str, Any] | None:
        found = console_tokens.validate(conn, console_token)
        if found is None:
            return None
        try:
            instances.get(conn, found["instance_uuid"])
        except exceptions.NotFound:
            return None
        return found

    found = svc(req).db.read(read)
    if found is None:
        raise exceptions.NotFound("Token not found")
    if not version_at_least(req, "2.31") and found["console_type"] != "rdp-html5":
        raise exceptions.Unauthorized("The requested console type details are not accessible")
    return json_response({"console": {
        "instance_uuid": found["instance_uuid"], "host": found["host"], "port": found["port"],
        "internal_access_path": found["internal_access_path"]}})
