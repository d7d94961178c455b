"""How Cinder shows volumes, snapshots, types and services (fields per microversion)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pocketstack.common.api.app import ApiRequest
from pocketstack.volume.api.common import version_at_least
from pocketstack.volume.domain.volumes import SHARED_TARGETS


def when(value: dt.datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%f")


def links(req: ApiRequest, collection: str, ident: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": req.url_for(f"/v3/{collection}/{ident}")},
            {"rel": "bookmark", "href": req.url_for(f"/{collection}/{ident}")}]


def volume_summary(req: ApiRequest, row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "name": row["name"], "links": links(req, "volumes", row["id"])}


def volume(req: ApiRequest, row: dict[str, Any], type_names: dict[str, str],
           admin: bool) -> dict[str, Any]:
    attachments = [{"id": row["id"], "attachment_id": a.get("attachment_id") or a.get("id"),
                    "volume_id": row["id"], "server_id": a.get("server_id"),
                    "host_name": a.get("host_name"), "device": a.get("device"),
                    "attached_at": a.get("attached_at")} for a in row["attachments"]
                   if (a.get("attach_status") or "attached") == "attached"]
    out: dict[str, Any] = {
        "id": row["id"], "name": row["name"], "description": row["description"],
        "size": row["size"], "status": row["status"],
        "availability_zone": row["availability_zone"],
        "created_at": when(row["created_at"]), "updated_at": when(row["updated_at"]),
        "attachments": attachments, "bootable": "true" if row["bootable"] else "false",
        "encrypted": bool(row["encrypted"]), "multiattach": bool(row["multiattach"]),
        # Cinder shows the admin metadata's readonly/attached_mode among the metadata
        "metadata": {**row["metadata"], **{k: row["admin_metadata"][k]
                                           for k in ("readonly", "attached_mode")
                                           if k in row["admin_metadata"]}},
        "snapshot_id": row["snapshot_id"],
        "source_volid": row["source_volid"], "user_id": row["user_id"],
        "volume_type": type_names.get(row["volume_type_id"] or "", None),
        "consistencygroup_id": None, "replication_status": None,
        "links": links(req, "volumes", row["id"]),
        "os-vol-tenant-attr:tenant_id": row["project_id"],
        "os-vol-mig-status-attr:migstat": None, "os-vol-mig-status-attr:name_id": None,
    }
    if admin:  # no migrations here: always None
        out["migration_status"] = None
        out["os-vol-host-attr:host"] = None if row["host"] is None else \
            f"{row['host']}#{row['host'].partition('@')[2] or 'file'}"
    if row["image_metadata"]:
        out["volume_image_metadata"] = dict(row["image_metadata"])
    if version_at_least(req, "3.13"):
        out["group_id"] = row.get("group_id")
    if version_at_least(req, "3.21"):
        out["provider_id"] = None
    if version_at_least(req, "3.48"):
        # recorded at create from the backend (False for the file backend); None (forced
        # locking, NVMe-oF) is shown from 3.69 only, as True before
        shared = row["admin_metadata"].get(SHARED_TARGETS, False)
        if shared is None and not version_at_least(req, "3.69"):
            shared = True
        out["shared_targets"] = shared
        out["service_uuid"] = None
    if version_at_least(req, "3.61"):
        out["volume_type_id"] = row["volume_type_id"]
        if admin:
            out["cluster_name"] = None
    if version_at_least(req, "3.64"):
        out["encryption_key_id"] = None
    if version_at_least(req, "3.65"):
        out["consumes_quota"] = True
    return out


def created(view: dict[str, Any]) -> dict[str, Any]:
    """The answer to a create or an update: Cinder leaves out the extension attributes
    (tenant, host, migration status, snapshot progress) and the image metadata there."""
    return {k: v for k, v in view.items()
            if not k.startswith(("os-vol-", "os-extended-snapshot-attributes:"))
            and k != "volume_image_metadata"}


def snapshot(req: ApiRequest, row: dict[str, Any], admin: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": row["id"], "name": row["name"], "description": row["description"],
        "volume_id": row["volume_id"], "size": row["size"], "status": row["status"],
        "created_at": when(row["created_at"]), "updated_at": when(row["updated_at"]),
        "metadata": dict(row["metadata"]),
        "os-extended-snapshot-attributes:project_id": row["project_id"],
        "os-extended-snapshot-attributes:progress": row["progress"],
    }
    if version_at_least(req, "3.14"):
        out["group_snapshot_id"] = row.get("group_snapshot_id")
    if version_at_least(req, "3.41"):
        out["user_id"] = row["user_id"]
    if version_at_least(req, "3.65"):
        out["consumes_quota"] = True
    return out


def volume_type(row: dict[str, Any], admin: bool) -> dict[str, Any]:
    out = {"id": row["id"], "name": row["name"], "description": row["description"],
           "is_public": bool(row["is_public"]),
           "os-volume-type-access:is_public": bool(row["is_public"]),
           "extra_specs": {k: v for k, v in row["extra_specs"].items()
                           if admin or k in _USER_SPECS}}
    return out


#: extra specs non-admins may see (Cinder's user-visible ones)
_USER_SPECS = frozenset({"multiattach", "RESKEY:availability_zones", "replication_enabled"})
