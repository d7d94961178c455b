"""Consoles: the API asks the conductor (a bus ``call``), the conductor checks the instance can
show one and asks its host's agent. Not tasks: they do not wait behind the instance's work
queue.

* console output: the tail of the guest's console log (Nova allows it in any task state);
* remote consoles (serial, VNC): the host's agent says where the guest's console is and the
  base URL of its console proxy; the conductor stores a token for it (only its hash, with
  ``console_token_ttl``) and answers the URL with the token. The proxy, on the guest's host,
  asks :meth:`Console.check_token` before it relays anything.
"""

from __future__ import annotations

import time
import urllib.parse
from typing import TYPE_CHECKING, Any

from pocketstack.common import exceptions
from pocketstack.compute.domain import console_tokens, instances, states

if TYPE_CHECKING:
    from pocketstack.compute.conductor.conductor import Conductor

TIMEOUT = 10.0


def _conflict(message: str) -> dict[str, Any]:
    return {"error": {"code": 409, "message": message}}


class Console:
    """See the module docstring."""

    def __init__(self, conductor: Conductor) -> None:
        self.conductor = conductor

    async def output(self, uuid: str) -> dict[str, Any]:
        """``{"output": text}``, or ``{"error": {"code", "message"}}`` as the API answers it."""
        conductor = self.conductor
        try:
            row = await conductor.in_thread(conductor.db.read, instances.get, uuid)
        except exceptions.NotFound as exc:
            return {"error": {"code": 404, "message": exc.message}}
        if not row["host"] or row["vm_state"] in (states.BUILDING, states.ERROR):
            return _conflict(f"Cannot 'get_console_output' instance {uuid} while it is in "
                             f"vm_state {row['vm_state']}")
        if not await conductor.in_thread(conductor.host_is_up, row["host"]):
            return _conflict(f"Compute service of {row['host']} is unavailable at this time.")
        try:
            reply = await conductor.bus.call(f"compute.{row['host']}",
                                             {"op": "console_output", "uuid": uuid}, TIMEOUT)
        except Exception:  # noqa: BLE001 - timeouts and transport errors alike
            reply = None
        if not isinstance(reply, dict) or "output" not in reply:
            return _conflict("The guest's console is not available.")
        return {"output": str(reply["output"])}

    async def connect(self, uuid: str, kind: str, console_type: str) -> dict[str, Any]:
        """``{"url"}`` of a new console of ``kind`` (serial, vnc) shown as ``console_type``
        (serial, novnc), or ``{"error": {"code", "message"}}`` as the API answers it: 409 for
        an instance without a host, one being deleted or migrated, a guest that does not run
        or a host that is down; 400 when the host has no such console."""
        conductor = self.conductor
        try:
            row = await conductor.in_thread(conductor.db.read, instances.get, uuid)
        except exceptions.NotFound as exc:
            return {"error": {"code": 404, "message": exc.message}}
        not_ready = _conflict(f"Instance {uuid} is not ready")
        if not row["host"]:
            return not_ready
        if row["task_state"] in (states.DELETING, states.MIGRATING):
            return _conflict(f"Cannot 'get_{kind}_console' instance {uuid} while it is in "
                             f"task_state {row['task_state']}")
        host = str(row["host"])
        if not await conductor.in_thread(conductor.host_is_up, host):
            return _conflict(f"Compute service of {host} is unavailable at this time.")
        try:
            reply = await conductor.bus.call(f"compute.{host}", {
                "op": "console_connect", "uuid": uuid, "kind": kind}, TIMEOUT)
        except Exception:  # noqa: BLE001 - timeouts and transport errors alike
            reply = None
        if not isinstance(reply, dict):
            return _conflict(f"Compute service of {host} is unavailable at this time.")
        if reply.get("not_implemented"):  # Nova: the driver raised NotImplementedError
            return {"error": {"code": 501, "message": "The requested functionality is not "
                              "supported."}}
        if reply.get("unavailable"):
            return {"error": {"code": 400,
                              "message": f"Unavailable console type {console_type}."}}
        if reply.get("not_found") or reply.get("not_ready"):
            return not_ready
        if "error" in reply or not isinstance(reply.get("target"), dict):
            return _conflict(f"The guest's console is not available: {reply.get('error')}")
        target = reply["target"]
        port = target.get("port")
        token = await conductor.in_thread(
            conductor.db.write, console_tokens.authorize, uuid, console_type, host,
            int(port) if port else None, target.get("path"), conductor.settings.console_token_ttl)
        return {"url": access_url(str(reply.get("base_url") or ""), console_type, token)}

    async def check_token(self, token: str, host: str) -> dict[str, Any]:
        """What the console proxy of ``host`` needs to relay a token's console, or
        ``{"error"}``: an unknown or expired token, one for another host, or one whose
        instance is gone or no longer on that host."""
        conductor = self.conductor

        def read(conn: Any) -> dict[str, Any]:
            found = console_tokens.validate(conn, token)
            if found is None:
                return {"error": "the token is unknown or expired"}
            if found["host"] != host:
                return {"error": f"the token is for host {found['host']}, not {host}"}
            try:
                row = instances.get(conn, found["instance_uuid"])
            except exceptions.NotFound:
                return {"error": f"instance {found['instance_uuid']} is gone"}
            if row["host"] != host:
                return {"error": f"instance {row['uuid']} is no longer on {host}"}
            if row["task_state"] in (states.DELETING, states.SOFT_DELETING) or \
                    row["vm_state"] in (states.DELETED, states.SOFT_DELETED):
                return {"error": f"instance {row['uuid']} is being deleted"}
            return {"instance_uuid": row["uuid"], "console_type": found["console_type"],
                    "port": found["port"],
                    "internal_access_path": found["internal_access_path"],
                    "expires_at": time.time() + max(0.0, (
                        found["expires"] - console_tokens.utcnow()).total_seconds())}

        return await conductor.in_thread(conductor.db.read, read)


def access_url(base: str, console_type: str, token: str) -> str:
    """The URL a client is given, as Nova's: ``ws://proxy/?token=T`` for a serial console,
    the noVNC page over http(s) with the websocket path as its ``path`` for novnc."""
    scheme, _, rest = base.rstrip("/").rpartition("://")
    secure = scheme in ("wss", "https")
    if console_type == "novnc":
        path = urllib.parse.quote("?token=" + token, safe="")
        return f"{'https' if secure else 'http'}://{rest}/vnc_lite.html?path={path}"
    return f"{'wss' if secure else 'ws'}://{rest}/?token={token}"
