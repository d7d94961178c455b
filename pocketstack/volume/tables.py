"""Cinder's tables.

Volumes and snapshots carry their metadata as JSON columns (small, always read with the row).
A volume's in-flight task (create, delete, extend, …) is its ``task`` and ``task_deadline``: the
conductor's reconciler moves a volume whose deadline passed to ``error``/``error_deleting``
with the reason in ``status_reason``. Quota checks run under the project's row in
``cinder_project_locks`` so concurrent creates cannot both take the last unit.
"""

from __future__ import annotations

import sqlalchemy as sa

from pocketstack.common.schema import metadata

UUID = sa.String(36)
NAME = sa.String(255)
PROJECT = sa.String(64)

volume_types = sa.Table(
    "cinder_volume_types", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("name", NAME, nullable=False, unique=True),
    sa.Column("description", sa.String(255), nullable=True),
    sa.Column("is_public", sa.Boolean, nullable=False, default=True),
    sa.Column("extra_specs", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=True),
)

type_access = sa.Table(
    "cinder_volume_type_access", metadata,
    sa.Column("volume_type_id", UUID,
              sa.ForeignKey("cinder_volume_types.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("project_id", PROJECT, primary_key=True),
)

volumes = sa.Table(
    "cinder_volumes", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("project_id", PROJECT, nullable=False, index=True),
    sa.Column("user_id", sa.String(64), nullable=True),
    sa.Column("name", NAME, nullable=True),
    sa.Column("description", sa.String(255), nullable=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("status_reason", sa.String(255), nullable=True),
    sa.Column("attach_status", sa.String(32), nullable=False, default="detached"),
    sa.Column("availability_zone", sa.String(255), nullable=False),
    sa.Column("host", sa.String(255), nullable=True),
    sa.Column("volume_type_id", UUID, nullable=True),
    sa.Column("bootable", sa.Boolean, nullable=False, default=False),
    sa.Column("readonly", sa.Boolean, nullable=False, default=False),
    sa.Column("multiattach", sa.Boolean, nullable=False, default=False),
    sa.Column("encrypted", sa.Boolean, nullable=False, default=False),
    sa.Column("snapshot_id", UUID, nullable=True),
    sa.Column("source_volid", UUID, nullable=True),
    sa.Column("image_id", sa.String(64), nullable=True),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("image_metadata", sa.JSON, nullable=False),
    sa.Column("admin_metadata", sa.JSON, nullable=False),
    sa.Column("attachments", sa.JSON, nullable=False),
    sa.Column("task", sa.String(32), nullable=True),
    sa.Column("task_deadline", sa.DateTime, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=True),
)

snapshots = sa.Table(
    "cinder_snapshots", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("project_id", PROJECT, nullable=False, index=True),
    sa.Column("user_id", sa.String(64), nullable=True),
    sa.Column("volume_id", UUID, sa.ForeignKey("cinder_volumes.id"), nullable=False,
              index=True),
    sa.Column("name", NAME, nullable=True),
    sa.Column("description", sa.String(255), nullable=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("status_reason", sa.String(255), nullable=True),
    sa.Column("progress", sa.String(8), nullable=False, default="0%"),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("task", sa.String(32), nullable=True),
    sa.Column("task_deadline", sa.DateTime, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=True),
)

quotas = sa.Table(
    "cinder_quotas", metadata,
    sa.Column("project_id", PROJECT, primary_key=True),
    sa.Column("resource", sa.String(64), primary_key=True),
    sa.Column("hard_limit", sa.BigInteger, nullable=False),
)

project_locks = sa.Table(
    "cinder_project_locks", metadata,
    sa.Column("project_id", PROJECT, primary_key=True),
    sa.Column("counter", sa.Integer, nullable=False, default=0),
)

services = sa.Table(
    "cinder_services", metadata,
    sa.Column("binary", sa.String(64), primary_key=True),
    sa.Column("host", sa.String(255), primary_key=True),
    sa.Column("availability_zone", sa.String(255), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("disabled_reason", sa.String(255), nullable=True),
    sa.Column("capabilities", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("heartbeat_at", sa.DateTime, nullable=False),
)

backups = sa.Table(
    "cinder_backups", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("project_id", PROJECT, nullable=False, index=True),
    sa.Column("user_id", sa.String(64), nullable=True),
    sa.Column("volume_id", UUID, nullable=False, index=True),
    sa.Column("snapshot_id", UUID, nullable=True),
    sa.Column("name", NAME, nullable=True),
    sa.Column("description", sa.String(255), nullable=True),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("fail_reason", sa.String(255), nullable=True),
    sa.Column("availability_zone", sa.String(255), nullable=False),
    sa.Column("host", sa.String(255), nullable=True),
    sa.Column("container", sa.String(255), nullable=True),
    sa.Column("is_incremental", sa.Boolean, nullable=False, default=False),
    sa.Column("parent_id", UUID, nullable=True),
    sa.Column("object_count", sa.Integer, nullable=False, default=0),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("restore_volume_id", UUID, nullable=True),
    sa.Column("volume_meta", sa.JSON, nullable=True),
    sa.Column("task", sa.String(32), nullable=True),
    sa.Column("task_deadline", sa.DateTime, nullable=True),
    sa.Column("data_timestamp", sa.DateTime, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=True),
)

transfers = sa.Table(
    "cinder_transfers", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("volume_id", UUID, nullable=False, unique=True),
    sa.Column("project_id", PROJECT, nullable=False, index=True),
    sa.Column("name", NAME, nullable=True),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("crypt_hash", sa.String(128), nullable=False),
    sa.Column("no_snapshots", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

qos_specs = sa.Table(
    "cinder_qos_specs", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("name", NAME, nullable=False, unique=True),
    sa.Column("consumer", sa.String(16), nullable=False),
    sa.Column("specs", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=True),
)

#: a volume type has at most one QoS spec (Cinder's ``volume_types.qos_specs_id``)
qos_associations = sa.Table(
    "cinder_qos_associations", metadata,
    sa.Column("volume_type_id", UUID,
              sa.ForeignKey("cinder_volume_types.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("qos_specs_id", UUID, sa.ForeignKey("cinder_qos_specs.id"), nullable=False,
              index=True),
)

#: user messages (``/messages``, 3.3): what went wrong with a request, for its project
messages = sa.Table(
    "cinder_messages", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("project_id", PROJECT, nullable=False, index=True),
    sa.Column("request_id", sa.String(255), nullable=False),
    sa.Column("resource_type", sa.String(36), nullable=False),
    sa.Column("resource_uuid", sa.String(36), nullable=True),
    sa.Column("action_id", sa.String(10), nullable=False),
    sa.Column("detail_id", sa.String(10), nullable=False),
    sa.Column("message_level", sa.String(255), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)

#: ``os-quota-class-sets``: the ``default`` class overrides the settings' defaults
quota_classes = sa.Table(
    "cinder_quota_classes", metadata,
    sa.Column("class_name", sa.String(255), primary_key=True),
    sa.Column("resource", sa.String(300), primary_key=True),
    sa.Column("hard_limit", sa.BigInteger, nullable=False),
)

#: a volume type's encryption spec (metadata: the file backend writes plain data)
encryption_types = sa.Table(
    "cinder_encryption_types", metadata,
    sa.Column("volume_type_id", UUID,
              sa.ForeignKey("cinder_volume_types.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("encryption_id", UUID, nullable=False, unique=True),
    sa.Column("provider", sa.String(255), nullable=False),
    sa.Column("cipher", sa.String(255), nullable=True),
    sa.Column("key_size", sa.Integer, nullable=True),
    sa.Column("control_location", sa.String(255), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=True),
)

#: backups whose data another backup holds (an imported record): backup id → data owner id
backup_data = sa.Table(
    "cinder_backup_data", metadata,
    sa.Column("backup_id", UUID, primary_key=True),
    sa.Column("data_id", UUID, nullable=False, index=True),
)

group_types = sa.Table(
    "cinder_group_types", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("name", NAME, nullable=False, unique=True),
    sa.Column("description", sa.String(255), nullable=True),
    sa.Column("is_public", sa.Boolean, nullable=False, default=True),
    sa.Column("group_specs", sa.JSON, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=True),
)

#: generic volume groups: a set of a project's volumes of the group's volume types
groups = sa.Table(
    "cinder_groups", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("project_id", PROJECT, nullable=False, index=True),
    sa.Column("user_id", sa.String(64), nullable=True),
    sa.Column("name", NAME, nullable=True),
    sa.Column("description", sa.String(255), nullable=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("availability_zone", sa.String(255), nullable=False),
    sa.Column("group_type_id", UUID, sa.ForeignKey("cinder_group_types.id"), nullable=False),
    sa.Column("volume_type_ids", sa.JSON, nullable=False),
    sa.Column("group_snapshot_id", UUID, nullable=True),
    sa.Column("source_group_id", UUID, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=True),
)

#: a volume's group (at most one); goes with the volume
group_volumes = sa.Table(
    "cinder_group_volumes", metadata,
    sa.Column("volume_id", UUID, sa.ForeignKey("cinder_volumes.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("group_id", UUID, sa.ForeignKey("cinder_groups.id"), nullable=False, index=True),
)

group_snapshots = sa.Table(
    "cinder_group_snapshots", metadata,
    sa.Column("id", UUID, primary_key=True),
    sa.Column("project_id", PROJECT, nullable=False, index=True),
    sa.Column("user_id", sa.String(64), nullable=True),
    sa.Column("group_id", UUID, sa.ForeignKey("cinder_groups.id"), nullable=False,
              index=True),
    sa.Column("group_type_id", UUID, nullable=False),
    sa.Column("name", NAME, nullable=True),
    sa.Column("description", sa.String(255), nullable=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=True),
)

#: a snapshot taken as part of a group snapshot; goes with the snapshot
gsnap_members = sa.Table(
    "cinder_gsnap_members", metadata,
    sa.Column("snapshot_id", UUID, sa.ForeignKey("cinder_snapshots.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("gsnap_id", UUID, sa.ForeignKey("cinder_group_snapshots.id"),
              nullable=False, index=True),
)
