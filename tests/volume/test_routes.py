"""Pins Cinder v3's route table (``pocketstack/volume/routes.py``): every (method, path)
template, one per line (paths without the optional project id segment)."""

from __future__ import annotations

from pocketstack.volume import routes
from tests.route_pins import assert_pinned

ROUTES = """
GET    /
GET    /v3
GET    /v3/volumes
POST   /v3/volumes
GET    /v3/volumes/detail
GET    /v3/volumes/summary
GET    /v3/volumes/{volume_id}
PUT    /v3/volumes/{volume_id}
DELETE /v3/volumes/{volume_id}
POST   /v3/volumes/{volume_id}/action
GET    /v3/volumes/{volume_id}/metadata
POST   /v3/volumes/{volume_id}/metadata
PUT    /v3/volumes/{volume_id}/metadata
GET    /v3/volumes/{volume_id}/metadata/{key}
PUT    /v3/volumes/{volume_id}/metadata/{key}
DELETE /v3/volumes/{volume_id}/metadata/{key}
GET    /v3/snapshots
POST   /v3/snapshots
GET    /v3/snapshots/detail
GET    /v3/snapshots/{snapshot_id}
PUT    /v3/snapshots/{snapshot_id}
DELETE /v3/snapshots/{snapshot_id}
POST   /v3/snapshots/{snapshot_id}/action
GET    /v3/snapshots/{snapshot_id}/metadata
POST   /v3/snapshots/{snapshot_id}/metadata
PUT    /v3/snapshots/{snapshot_id}/metadata
GET    /v3/snapshots/{snapshot_id}/metadata/{key}
PUT    /v3/snapshots/{snapshot_id}/metadata/{key}
DELETE /v3/snapshots/{snapshot_id}/metadata/{key}
GET    /v3/types
POST   /v3/types
GET    /v3/types/{type_id}
PUT    /v3/types/{type_id}
DELETE /v3/types/{type_id}
POST   /v3/types/{type_id}/action
GET    /v3/types/{type_id}/os-volume-type-access
GET    /v3/types/{type_id}/extra_specs
POST   /v3/types/{type_id}/extra_specs
GET    /v3/types/{type_id}/extra_specs/{key}
PUT    /v3/types/{type_id}/extra_specs/{key}
DELETE /v3/types/{type_id}/extra_specs/{key}
GET    /v3/os-quota-sets/{project_id}
PUT    /v3/os-quota-sets/{project_id}
DELETE /v3/os-quota-sets/{project_id}
GET    /v3/os-quota-sets/{project_id}/defaults
GET    /v3/limits
GET    /v3/os-availability-zone
GET    /v3/os-services
PUT    /v3/os-services/{action}
GET    /v3/extensions
GET    /v3/attachments
POST   /v3/attachments
GET    /v3/attachments/detail
GET    /v3/attachments/{attachment_id}
PUT    /v3/attachments/{attachment_id}
DELETE /v3/attachments/{attachment_id}
POST   /v3/attachments/{attachment_id}/action
GET    /v3/backups
POST   /v3/backups
GET    /v3/backups/detail
GET    /v3/backups/{backup_id}
PUT    /v3/backups/{backup_id}
DELETE /v3/backups/{backup_id}
POST   /v3/backups/{backup_id}/restore
POST   /v3/backups/{backup_id}/action
GET    /v3/os-volume-transfer
POST   /v3/os-volume-transfer
GET    /v3/os-volume-transfer/detail
GET    /v3/os-volume-transfer/{transfer_id}
DELETE /v3/os-volume-transfer/{transfer_id}
POST   /v3/os-volume-transfer/{transfer_id}/accept
GET    /v3/volume-transfers
POST   /v3/volume-transfers
GET    /v3/volume-transfers/detail
GET    /v3/volume-transfers/{transfer_id}
DELETE /v3/volume-transfers/{transfer_id}
POST   /v3/volume-transfers/{transfer_id}/accept
GET    /v3/qos-specs
POST   /v3/qos-specs
GET    /v3/qos-specs/{qos_id}
PUT    /v3/qos-specs/{qos_id}
DELETE /v3/qos-specs/{qos_id}
PUT    /v3/qos-specs/{qos_id}/delete_keys
GET    /v3/qos-specs/{qos_id}/associations
GET    /v3/qos-specs/{qos_id}/associate
GET    /v3/qos-specs/{qos_id}/disassociate
GET    /v3/qos-specs/{qos_id}/disassociate_all
GET    /v3/messages
GET    /v3/messages/{message_id}
DELETE /v3/messages/{message_id}
GET    /v3/capabilities/{host}
GET    /v3/scheduler-stats/get_pools
GET    /v3/os-hosts
GET    /v3/os-hosts/{host_name}
GET    /v3/os-quota-class-sets/{class_name}
PUT    /v3/os-quota-class-sets/{class_name}
GET    /v3/types/{type_id}/encryption
POST   /v3/types/{type_id}/encryption
GET    /v3/types/{type_id}/encryption/{key}
PUT    /v3/types/{type_id}/encryption/{encryption_id}
DELETE /v3/types/{type_id}/encryption/{encryption_id}
GET    /v3/backups/{backup_id}/export_record
POST   /v3/backups/import_record
"""


def test_route_table_is_pinned() -> None:
    assert_pinned(routes.ROUTES, ROUTES)
