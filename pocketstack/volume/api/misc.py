"""``os-availability-zone``, ``os-services`` (state from heartbeats) and ``extensions``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.volume import errors
from pocketstack.volume.api.common import ctx, svc, text, version_at_least
from pocketstack.volume.api.views import when
from pocketstack.volume.domain import services
from pocketstack.volume.domain.common import now


def availability_zones(req: ApiRequest) -> Response:
    ctx(req)
    zone = svc(req).options.volume_availability_zone
    return json_response({"availabilityZoneInfo": [
        {"zoneName": zone, "zoneState": {"available": True}}]})


def list_services(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    s.enforce(c, "volume_extension:services:index", {})
    rows = s.db.read(services.list_services, req.query.get("binary"), req.query.get("host"))
    limit = dt.timedelta(seconds=s.options.volume_service_down_time)
    stamp = now()
    out = []
    for r in rows:
        item = {"binary": r["binary"], "host": r["host"], "zone": r["availability_zone"],
                "status": "disabled" if r["disabled"] else "enabled",
                "state": "up" if stamp - r["heartbeat_at"] <= limit else "down",
                "updated_at": when(r["heartbeat_at"]), "disabled_reason": r["disabled_reason"]}
        if version_at_least(req, "3.7"):
            item["cluster"] = None
        if version_at_least(req, "3.49") and r["binary"] == "cinder-volume":
            item["backend_state"] = "up" if item["state"] == "up" else "down"
        out.append(item)
    return json_response({"services": out})


def update_service(req: ApiRequest) -> Response:
    c = ctx(req)
    s = svc(req)
    s.enforce(c, "volume_extension:services:update", {})
    action = req.path_params["action"]
    if action not in ("enable", "disable", "disable-log-reason"):
        raise errors.InvalidInput(f"Unknown action {action}")
    data = req.json()
    if not isinstance(data, dict):
        raise errors.bad("The body must be an object.")
    host = text(data.get("host"), "host")
    binary = text(data.get("binary", "cinder-volume"), "binary")
    if not host or not binary:
        raise errors.bad("Missing required element 'host' in request body.")
    reason = None
    if action == "disable-log-reason":
        reason = text(data.get("disabled_reason"), "disabled_reason")
        if reason is None or not reason.strip():
            raise errors.bad("Disabled reason contains invalid characters or is too long")
    disabled = action != "enable"
    if not s.db.write(services.set_disabled, binary, host, disabled, reason):
        raise _not_found(host)
    # Cinder's answer: ``service`` repeats the binary; the reason only where one can be given
    out: dict[str, Any] = {"host": host, "service": binary, "binary": binary,
                           "status": "disabled" if disabled else "enabled",
                           "disabled": disabled}
    if action != "disable":
        out["disabled_reason"] = reason
    return json_response(out)


def _not_found(host: str) -> Exception:
    from pocketstack.common import exceptions

    return exceptions.NotFound(f"Host {host} could not be found.")


_EXTENSIONS = (
    ("os-availability-zone", "AvailabilityZones", "Describe Availability Zones."),
    ("os-extended-snapshot-attributes", "ExtendedSnapshotAttributes",
     "Extended SnapshotAttributes support."),
    ("os-quota-sets", "Quotas", "Quota management support."),
    ("os-services", "Services", "Services support."),
    ("os-types-manage", "TypesManage", "Types manage support."),
    ("os-types-extra-specs", "TypesExtraSpecs", "Type extra specs support."),
    ("os-volume-type-access", "VolumeTypeAccess", "Volume type access support."),
    ("os-admin-actions", "AdminActions", "Enable admin actions."),
    ("os-volume-actions", "VolumeActions", "Enable volume actions."),
    ("os-vol-host-attr", "VolumeHostAttribute", "Expose host as an attribute of a volume."),
    ("os-vol-tenant-attr", "VolumeTenantAttribute",
     "Expose the internal project_id as an attribute of a volume."),
    ("os-vol-mig-status-attr", "VolumeMigStatusAttribute",
     "Expose migration_status as an attribute of a volume."),
    ("os-vol-image-meta", "VolumeImageMetadata", "Show image metadata associated with the "
     "volume."),
    ("os-used-limits", "UsedLimits", "Provide data on limited resources that are being used."),
    ("backups", "Backups", "Backups support."),
    ("os-backup-project-attr", "BackupProjectAttribute", "Expose backup project_id as an "
     "attribute of a backup."),
    ("os-volume-transfer", "VolumeTransfer", "Volume transfer management support."),
    ("qos-specs", "Qos_specs_manage", "QoS specs support."),
    ("os-hosts", "Hosts", "Admin-only host administration."),
    ("capabilities", "Capabilities", "Capabilities support."),
    ("scheduler-stats", "Scheduler_stats", "Scheduler stats support."),
    ("os-quota-class-sets", "Quota_classes", "Quota classes management support."),
    ("encryption", "VolumeTypeEncryption", "Encryption support for volume types."),
)


def extensions(req: ApiRequest) -> Response:
    ctx(req)
    return json_response({"extensions": [
        {"alias": alias, "name": name, "namespace": "https://docs.openstack.org/",
         "updated": "2013-01-01T00:00:00+00:00", "description": description, "links": []}
        for alias, name, description in _EXTENSIONS]})


