"""Cinder policy defaults (the names Cinder uses): members act on their project's volumes,
admins on all; admin actions, types, quotas updates and services are admin-only. Visibility
is applied by the domain queries (another project's volume is a 404, not a 403)."""

from __future__ import annotations

from pocketstack.common.policy import Rule

ADMIN = "role:admin"
OWNER = "role:admin or project_id:%(project_id)s"

RULES: list[Rule] = [
    Rule("volume:create", OWNER, "Create a volume."),
    Rule("volume:get", OWNER, "Show a volume."),
    Rule("volume:get_all", "", "List volumes."),
    Rule("volume:update", OWNER, "Update a volume."),
    Rule("volume:delete", OWNER, "Delete a volume."),
    Rule("volume:extend", OWNER, "Extend a volume."),
    Rule("volume:force_delete", ADMIN, "Force-delete a volume."),
    Rule("volume:update_readonly_flag", OWNER, "Set the read-only flag."),
    Rule("volume:copy_volume_to_image", OWNER, "Upload a volume to an image."),
    Rule("volume:retype", OWNER, "Change a volume's type."),
    Rule("volume_extension:volume_admin_actions:reset_status", ADMIN, "Reset a status."),
    Rule("volume_extension:volume_admin_actions:force_delete", ADMIN, "Force-delete."),
    Rule("volume_extension:volume_actions:set_bootable", OWNER, "Set bootable."),
    Rule("volume:get_all_snapshots", "", "List snapshots."),
    Rule("volume:create_snapshot", OWNER, "Create a snapshot."),
    Rule("volume:update_snapshot", OWNER, "Update a snapshot."),
    Rule("volume:delete_snapshot", OWNER, "Delete a snapshot."),
    Rule("volume_extension:types_manage", ADMIN, "Create, update and delete volume types."),
    Rule("volume_extension:volume_type_access", ADMIN, "Manage private type access."),
    Rule("volume_extension:quotas:show", OWNER, "Show a project's quotas."),
    Rule("volume_extension:quotas:update", ADMIN, "Set a project's quotas."),
    Rule("volume_extension:quotas:delete", ADMIN, "Reset a project's quotas."),
    Rule("volume_extension:services:index", ADMIN, "List volume services."),
    Rule("volume_extension:services:update", ADMIN, "Enable or disable a volume service."),
    Rule("backup:create", OWNER, "Create a backup."),
    Rule("backup:get", OWNER, "Show a backup."),
    Rule("backup:get_all", "", "List backups."),
    Rule("backup:update", OWNER, "Update a backup."),
    Rule("backup:delete", OWNER, "Delete a backup."),
    Rule("backup:restore", OWNER, "Restore a backup."),
    Rule("volume_extension:backup_admin_actions:reset_status", ADMIN, "Reset a backup status."),
    Rule("volume_extension:backup_admin_actions:force_delete", ADMIN, "Force-delete a backup."),
    Rule("volume_extension:volume_image_metadata:set", OWNER, "Set volume image metadata."),
    Rule("volume_extension:volume_image_metadata:remove", OWNER,
         "Remove volume image metadata."),
    Rule("volume_extension:volume_image_metadata:show", OWNER, "Show volume image metadata."),
    Rule("snapshot_extension:snapshot_actions:update_snapshot_status", OWNER,
         "Update a snapshot's status (the volume driver's progress report)."),
    Rule("volume:create_transfer", OWNER, "Create a volume transfer request."),
    Rule("volume:get_transfer", OWNER, "Show a volume transfer request."),
    Rule("volume:get_all_transfers", "", "List volume transfer requests."),
    Rule("volume:accept_transfer", "", "Accept a volume transfer (with its auth key)."),
    Rule("volume:delete_transfer", OWNER, "Delete a volume transfer request."),
    Rule("volume:get_all_tenants", ADMIN, "List every project's volumes (all_tenants)."),
    Rule("volume:attachment_create", OWNER, "Create an attachment."),
    Rule("volume:attachment_update", OWNER, "Update an attachment (its connector)."),
    Rule("volume:attachment_complete", OWNER, "Mark an attachment complete."),
    Rule("volume:attachment_delete", OWNER, "Delete an attachment."),
]
