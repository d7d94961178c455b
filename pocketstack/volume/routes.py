"""The whole Cinder v3 surface, one line per route (paths without the project id: see
``api/urls.py``). ``api/attachments.py`` (3.27) is reserved for the attachments API."""

from __future__ import annotations

from pocketstack.common.api.app import Route
from pocketstack.volume.api import (
    backups,
    misc,
    quotas,
    snapshots,
    transfers,
    types,
    versions,
    volume_actions,
    volumes,
)

V = "/v3/volumes/{volume_id}"
S = "/v3/snapshots/{snapshot_id}"
T = "/v3/types/{type_id}"
Q = "/v3/os-quota-sets/{project_id}"
B = "/v3/backups/{backup_id}"
OT = "/v3/os-volume-transfer"
VT = "/v3/volume-transfers"

ROUTES: list[Route] = [
    Route("GET", "/", versions.versions, public=True),
    Route("GET", "/v3", versions.version_v3, public=True),
    Route("GET", "/v3/volumes", volumes.list_volumes),
    Route("POST", "/v3/volumes", volumes.create),
    Route("GET", "/v3/volumes/detail", volumes.list_detail),
    Route("GET", "/v3/volumes/summary", volumes.summary),
    Route("GET", V, volumes.show),
    Route("PUT", V, volumes.update),
    Route("DELETE", V, volumes.delete),
    Route("POST", f"{V}/action", volume_actions.action),
    Route("GET", f"{V}/metadata", volumes.show_metadata),
    Route("POST", f"{V}/metadata", volumes.create_metadata),
    Route("PUT", f"{V}/metadata", volumes.replace_metadata),
    Route("GET", f"{V}/metadata/{{key}}", volumes.show_metadata_item),
    Route("PUT", f"{V}/metadata/{{key}}", volumes.update_metadata_item),
    Route("DELETE", f"{V}/metadata/{{key}}", volumes.delete_metadata_item),
    Route("GET", "/v3/snapshots", snapshots.list_snapshots),
    Route("POST", "/v3/snapshots", snapshots.create),
    Route("GET", "/v3/snapshots/detail", snapshots.list_detail),
    Route("GET", S, snapshots.show),
    Route("PUT", S, snapshots.update),
    Route("DELETE", S, snapshots.delete),
    Route("POST", f"{S}/action", snapshots.action),
    Route("GET", f"{S}/metadata", snapshots.show_metadata),
    Route("POST", f"{S}/metadata", snapshots.create_metadata),
    Route("PUT", f"{S}/metadata", snapshots.replace_metadata),
    Route("GET", f"{S}/metadata/{{key}}", snapshots.show_metadata_item),
    Route("PUT", f"{S}/metadata/{{key}}", snapshots.update_metadata_item),
    Route("DELETE", f"{S}/metadata/{{key}}", snapshots.delete_metadata_item),
    Route("GET", "/v3/types", types.list_types),
    Route("POST", "/v3/types", types.create),
    Route("GET", T, types.show),
    Route("PUT", T, types.update),
    Route("DELETE", T, types.delete),
    Route("POST", f"{T}/action", types.action),
    Route("GET", f"{T}/os-volume-type-access", types.list_access),
    Route("GET", f"{T}/extra_specs", types.list_specs),
    Route("POST", f"{T}/extra_specs", types.create_specs),
    Route("GET", f"{T}/extra_specs/{{key}}", types.show_spec),
    Route("PUT", f"{T}/extra_specs/{{key}}", types.update_spec),
    Route("DELETE", f"{T}/extra_specs/{{key}}", types.delete_spec),
    Route("GET", Q, quotas.show),
    Route("PUT", Q, quotas.update),
    Route("DELETE", Q, quotas.delete),
    Route("GET", f"{Q}/defaults", quotas.defaults),
    Route("GET", "/v3/limits", quotas.limits),
    Route("GET", "/v3/os-availability-zone", misc.availability_zones),
    Route("GET", "/v3/os-services", misc.list_services),
    Route("PUT", "/v3/os-services/{action}", misc.update_service),
    Route("GET", "/v3/extensions", misc.extensions),
    Route("GET", "/v3/backups", backups.list_backups),
    Route("POST", "/v3/backups", backups.create),
    Route("GET", "/v3/backups/detail", backups.list_detail),
    Route("GET", B, backups.show),
    Route("PUT", B, backups.update),
    Route("DELETE", B, backups.delete),
    Route("POST", f"{B}/restore", backups.restore),
    Route("POST", f"{B}/action", backups.action),
    Route("GET", OT, transfers.list_transfers),
    Route("POST", OT, transfers.create),
    Route("GET", f"{OT}/detail", transfers.list_detail),
    Route("GET", f"{OT}/{{transfer_id}}", transfers.show),
    Route("DELETE", f"{OT}/{{transfer_id}}", transfers.delete),
    Route("POST", f"{OT}/{{transfer_id}}/accept", transfers.accept),
    Route("GET", VT, transfers.list_transfers),
    Route("POST", VT, transfers.create),
    Route("GET", f"{VT}/detail", transfers.list_detail),
    Route("GET", f"{VT}/{{transfer_id}}", transfers.show),
    Route("DELETE", f"{VT}/{{transfer_id}}", transfers.delete),
    Route("POST", f"{VT}/{{transfer_id}}/accept", transfers.accept),
]
