"""``GET /servers/{id}/diagnostics``: what the server's hypervisor says about it.

The API asks the server's compute agent (``diagnostics`` over the bus, answered with the
driver's ``info`` of the guest) and shapes the answer: the standard form from 2.48, a flat
driver-style dictionary before. An agent that does not know the operation answers nothing, which
is a 501 as in Nova when the driver does not implement diagnostics.
"""

from __future__ import annotations

from typing import Any

import anyio.from_thread
from starlette.responses import Response

from pocketstack.common import exceptions
from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.compute.api.common import enforce, svc, version_at_least
from pocketstack.compute.api.servers import load
from pocketstack.compute.domain import nodes

# Nova's power_state codes -> the diagnostics ``state`` names
_STATES = {0: "pending", 1: "running", 3: "paused", 4: "shutdown", 6: "crashed",
           7: "suspended"}
# Nova's API only admits its own driver names; like Nova's fake driver, report ``libvirt``.
_DRIVER = "libvirt"


def _standard(row: dict[str, Any], info: dict[str, Any], hypervisor: str | None
              ) -> dict[str, Any]:
    vcpus = int(info.get("vcpus") or 0)
    nics = list(info.get("vifs") or [])
    disks = 1 + len(info.get("volumes") or {})  # the root disk and each attached volume
    uptime = info.get("uptime")
    return {
        "state": _STATES.get(int(info.get("power_state") or 0), "pending"),
        "driver": _DRIVER, "hypervisor": hypervisor, "hypervisor_os": None,
        "uptime": None if uptime is None else int(uptime),
        "config_drive": bool(row["config_drive"]),
        "num_cpus": vcpus, "num_nics": len(nics), "num_disks": disks,
        "cpu_details": [{"id": i, "time": None, "utilisation": None} for i in range(vcpus)],
        "nic_details": [dict.fromkeys((
            "mac_address", "rx_octets", "rx_errors", "rx_drop", "rx_packets", "rx_rate",
            "tx_octets", "tx_errors", "tx_drop", "tx_packets", "tx_rate")) for _ in nics],
        "disk_details": [dict.fromkeys((
            "read_bytes", "read_requests", "write_bytes", "write_requests", "errors_count"))
            for _ in range(disks)],
        "memory_details": {"maximum": info.get("memory_mb"), "used": None},
    }


def _legacy(info: dict[str, Any]) -> dict[str, Any]:
    """Before 2.48 the body was the driver's own dictionary: memory in KiB, as libvirt's."""
    out: dict[str, Any] = {}
    if info.get("memory_mb") is not None:
        out["memory"] = int(info["memory_mb"]) * 1024
    if info.get("uptime") is not None:
        out["uptime"] = int(info["uptime"])
    return out


def show(req: ApiRequest) -> Response:
    service = svc(req)

    def read(conn: Any) -> tuple[dict[str, Any], str | None]:
        row = load(req, conn)
        found = nodes.list_(conn, row["host"]) if row["host"] else []
        return row, found[0]["hypervisor_type"] if found else None

    row, hypervisor = service.db.read(read)
    enforce(req, "os_compute_api:os-server-diagnostics", {"project_id": row["project_id"]})
    if not row["host"]:
        raise exceptions.Conflict(f"Instance {row['uuid']} is not ready")
    if service.bus_call is None:
        raise exceptions.NotImplementedYet("The requested functionality is not supported.")
    try:
        reply = anyio.from_thread.run(service.bus_call, f"compute.{row['host']}",
                                      {"op": "diagnostics", "uuid": row["uuid"]}, 10.0)
    except Exception:
        raise exceptions.Conflict(f"Instance {row['uuid']} is not ready") from None
    if not isinstance(reply, dict) or ("info" not in reply and "error" not in reply):
        raise exceptions.NotImplementedYet("The requested functionality is not supported.")
    if "error" in reply:
        raise exceptions.Conflict(f"Instance {row['uuid']} is not ready")
    info = dict(reply["info"] or {})
    if version_at_least(req, "2.48"):
        return json_response(_standard(row, info, (hypervisor or "").lower() or None))
    return json_response(_legacy(info))
