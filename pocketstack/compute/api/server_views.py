"""Instance rows → Nova's server JSON, per microversion and per caller (admins see more)."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from pocketstack.common.api.app import ApiRequest
from pocketstack.compute.api.common import allowed, link, version_at_least
from pocketstack.compute.domain import instances, services, states
from pocketstack.compute.domain.common import isotime, isotime_us, utcnow

PROGRESS_STATUSES = {"ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING"}


def host_id(project_id: str, host: str | None) -> str:
    if not host:
        return ""
    return hashlib.sha224((project_id + host).encode()).hexdigest()


def _flavor(req: ApiRequest, flavor: dict[str, Any]) -> dict[str, Any]:
    if not version_at_least(req, "2.47"):
        return {"id": flavor["id"], "links": [link(req, "flavors", flavor["id"])[1]]}
    out = {"vcpus": flavor["vcpus"], "ram": flavor["ram"], "disk": flavor["disk"],
           "ephemeral": flavor.get("ephemeral", 0), "swap": flavor.get("swap", 0),
           "original_name": flavor["name"]}
    if allowed(req, "os_compute_api:os-flavor-extra-specs:index"):
        out["extra_specs"] = dict(flavor.get("extra_specs") or {})
    return out


def _ip(value: str | None) -> str:
    """Nova keeps access IPs as addresses and shows them canonically ('::babe:dc0c:1602')."""
    if not value:
        return ""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


def _fault(req: ApiRequest, fault: dict[str, Any], is_admin: bool) -> dict[str, Any]:
    out = {"code": fault.get("code", 500), "created": fault.get("created")}
    if is_admin:
        out["message"] = fault["message"].split("\n")[0]
        out["details"] = fault["message"]
    else:
        out["message"] = fault.get("summary") or fault["message"].split("\n")[0]
    return out


def summary(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["uuid"], "name": row["display_name"],
            "links": link(req, "servers", row["uuid"])}


def detail(req: ApiRequest, row: dict[str, Any], is_admin: bool,
           service: dict[str, Any] | None = None, down_time: int = 60,
           group: str | None = None, view: str = "show") -> dict[str, Any]:
    """A server as Nova shows it. ``view`` is ``show`` (GET one), ``list`` (GET detail) or
    ``update`` / ``rebuild`` (the PUT and rebuild answers, which before 2.75 leave out the
    extension attributes and never carry ``OS-EXT-SRV-ATTR:user_data``)."""
    status = states.status(row["vm_state"], row["task_state"])
    image: Any = ""
    if row["image_ref"]:
        image = {"id": row["image_ref"], "links": [link(req, "images", row["image_ref"])[1]]}
    everything = view in ("show", "list") or version_at_least(req, "2.75")
    out: dict[str, Any] = {
        "id": row["uuid"],
        "name": row["display_name"],
        "status": status,
        "tenant_id": row["project_id"],
        "user_id": row["user_id"],
        "metadata": dict(row["metadata"] or {}),
        "hostId": host_id(row["project_id"], row["host"]),
        "image": image,
        "flavor": _flavor(req, row["flavor"]),
        "created": isotime(row["created_at"]),
        "updated": isotime(row["updated_at"] or row["created_at"]),
        "addresses": dict(row["addresses"] or {}),
        "accessIPv4": _ip(row["access_ip_v4"]),
        "accessIPv6": _ip(row["access_ip_v6"]),
        "links": link(req, "servers", row["uuid"]),
        "OS-DCF:diskConfig": row["disk_config"],
    }
    if status in PROGRESS_STATUSES:
        out["progress"] = row["progress"] or 0
    if row["fault"] and row["vm_state"] in (states.ERROR, states.DELETED):
        out["fault"] = _fault(req, row["fault"], is_admin)
    if everything:
        out.update({
            "OS-EXT-AZ:availability_zone": row["availability_zone"] or "",
            "config_drive": row["config_drive"] or "",
            "key_name": row["key_name"],
            "OS-SRV-USG:launched_at": isotime_us(row["launched_at"]),
            "OS-SRV-USG:terminated_at": isotime_us(row["terminated_at"]),
            "OS-EXT-STS:task_state": row["task_state"],
            "OS-EXT-STS:vm_state": row["vm_state"],
            "OS-EXT-STS:power_state": row["power_state"],
            "os-extended-volumes:volumes_attached": volumes_attached(req, row),
        })
        if row["security_groups"]:
            out["security_groups"] = [{"name": name} for name in row["security_groups"]]
    extended = everything and is_admin
    if extended:
        out["OS-EXT-SRV-ATTR:host"] = row["host"]
        out["OS-EXT-SRV-ATTR:hypervisor_hostname"] = row["node"]
        out["OS-EXT-SRV-ATTR:instance_name"] = instances.instance_name(row)
        if version_at_least(req, "2.3"):
            out.update({
                "OS-EXT-SRV-ATTR:reservation_id": row["reservation_id"],
                "OS-EXT-SRV-ATTR:launch_index": row["launch_index"],
                "OS-EXT-SRV-ATTR:hostname": row["hostname"],
                "OS-EXT-SRV-ATTR:kernel_id": "",
                "OS-EXT-SRV-ATTR:ramdisk_id": "",
                "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
            })
            if view in ("show", "list"):
                out["OS-EXT-SRV-ATTR:user_data"] = row["user_data"]
    elif version_at_least(req, "2.90"):
        out["OS-EXT-SRV-ATTR:hostname"] = row["hostname"]
    if version_at_least(req, "2.9"):
        out["locked"] = bool(row["locked"])
    if version_at_least(req, "2.16") and extended:
        out["host_status"] = _host_status(row, service, down_time)
    if version_at_least(req, "2.19"):
        out["description"] = row["description"]
    if version_at_least(req, "2.26"):
        out["tags"] = list(row["tags"] or [])
    if version_at_least(req, "2.63"):
        out["trusted_image_certificates"] = None
    if version_at_least(req, "2.71") and view != "list":
        out["server_groups"] = [group] if group else []
    if version_at_least(req, "2.73"):
        out["locked_reason"] = row["locked_reason"]
    if version_at_least(req, "2.96"):
        out["pinned_availability_zone"] = row["requested_az"]
    return out


def _host_status(row: dict[str, Any], service: dict[str, Any] | None, down_time: int) -> str:
    if not row["host"]:
        return ""
    if service is None:
        return "UNKNOWN"
    if service["disabled"]:
        return "MAINTENANCE"
    return "UP" if services.is_up(service, utcnow(), down_time) else "DOWN"


def volumes_attached(req: ApiRequest, row: dict[str, Any]) -> list[dict[str, Any]]:
    """``os-extended-volumes:volumes_attached`` (``delete_on_termination`` from 2.3)."""
    out = []
    for bdm in row["block_devices"] or []:
        if bdm.get("volume_id"):
            item: dict[str, Any] = {"id": bdm["volume_id"]}
            if version_at_least(req, "2.3"):
                item["delete_on_termination"] = bool(bdm.get("delete_on_termination"))
            out.append(item)
    return out
