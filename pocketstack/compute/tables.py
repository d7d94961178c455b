"""Nova's tables: flavors, keypairs, instances and their actions, services, compute nodes,
aggregates, server groups, quotas, scheduling records and tasks with deadlines."""

from __future__ import annotations

import sqlalchemy as sa

from pocketstack.common.schema import metadata

UUID = sa.String(36)
ID = sa.String(64)
NAME = sa.String(255)

flavors = sa.Table(
    "compute_flavors",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("flavorid", NAME, nullable=False, unique=True),
    sa.Column("name", NAME, nullable=False, unique=True),
    sa.Column("memory_mb", sa.Integer, nullable=False),
    sa.Column("vcpus", sa.Integer, nullable=False),
    sa.Column("root_gb", sa.Integer, nullable=False, default=0),
    sa.Column("ephemeral_gb", sa.Integer, nullable=False, default=0),
    sa.Column("swap", sa.Integer, nullable=False, default=0),
    sa.Column("rxtx_factor", sa.Float, nullable=False, default=1.0),
    sa.Column("is_public", sa.Boolean, nullable=False, default=True),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("extra_specs", sa.JSON, nullable=False, default=dict),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=True),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
)

flavor_access = sa.Table(
    "compute_flavor_access",
    metadata,
    sa.Column("flavor_id", sa.Integer, sa.ForeignKey("compute_flavors.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("project_id", ID, primary_key=True),
)

keypairs = sa.Table(
    "compute_keypairs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", NAME, nullable=False),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("public_key", sa.Text, nullable=False),
    sa.Column("fingerprint", NAME, nullable=False),
    sa.Column("type", sa.String(16), nullable=False, default="ssh"),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("user_id", "name"),
)

instances = sa.Table(
    "compute_instances",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),  # instance-%08x
    sa.Column("uuid", UUID, nullable=False, unique=True),
    sa.Column("display_name", NAME, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("project_id", ID, nullable=False, index=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("image_ref", ID, nullable=True),
    sa.Column("flavor", sa.JSON, nullable=False),  # snapshot: id, name, vcpus, ram, disk, ...
    sa.Column("vm_state", sa.String(32), nullable=False),
    sa.Column("task_state", sa.String(64), nullable=True),
    sa.Column("power_state", sa.Integer, nullable=False, default=0),
    sa.Column("host", NAME, nullable=True, index=True),
    sa.Column("node", NAME, nullable=True),
    sa.Column("availability_zone", NAME, nullable=True),
    sa.Column("requested_az", NAME, nullable=True),
    sa.Column("key_name", NAME, nullable=True),
    sa.Column("key_data", sa.Text, nullable=True),
    sa.Column("user_data", sa.Text, nullable=True),
    sa.Column("metadata", sa.JSON, nullable=False, default=dict),
    sa.Column("tags", sa.JSON, nullable=False, default=list),
    sa.Column("locked", sa.Boolean, nullable=False, default=False),
    sa.Column("locked_by", sa.String(16), nullable=True),
    sa.Column("locked_reason", sa.Text, nullable=True),
    sa.Column("config_drive", sa.String(16), nullable=False, default=""),
    sa.Column("access_ip_v4", sa.String(64), nullable=True),
    sa.Column("access_ip_v6", sa.String(64), nullable=True),
    sa.Column("hostname", NAME, nullable=True),
    sa.Column("reservation_id", sa.String(32), nullable=False),
    sa.Column("launch_index", sa.Integer, nullable=False, default=0),
    sa.Column("disk_config", sa.String(16), nullable=False, default="MANUAL"),
    sa.Column("security_groups", sa.JSON, nullable=False, default=list),
    sa.Column("networks", sa.JSON, nullable=False, default=list),  # requested networks
    sa.Column("addresses", sa.JSON, nullable=False, default=dict),
    sa.Column("block_devices", sa.JSON, nullable=False, default=list),
    sa.Column("scheduler_hints", sa.JSON, nullable=False, default=dict),
    sa.Column("server_group", UUID, nullable=True),
    sa.Column("fault", sa.JSON, nullable=True),
    sa.Column("progress", sa.Integer, nullable=False, default=0),
    sa.Column("admin_pass", sa.String(255), nullable=True),
    sa.Column("old_flavor", sa.JSON, nullable=True),  # during resize
    sa.Column("new_flavor", sa.JSON, nullable=True),  # requested by resize/migrate
    sa.Column("migration_source", NAME, nullable=True),  # during resize/migrate
    sa.Column("launched_at", sa.DateTime, nullable=True),
    sa.Column("terminated_at", sa.DateTime, nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=True),
    sa.Column("deleted_at", sa.DateTime, nullable=True),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False, index=True),
    sa.Column("task_deadline", sa.DateTime, nullable=True, index=True),
    sa.Column("task_attempts", sa.Integer, nullable=False, default=0),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
)

instance_actions = sa.Table(
    "compute_instance_actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("instance_uuid", UUID, nullable=False, index=True),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("project_id", ID, nullable=False),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("start_time", sa.DateTime, nullable=False),
    sa.Column("finish_time", sa.DateTime, nullable=True),
    sa.Column("message", sa.Text, nullable=True),
    sa.Column("updated_at", sa.DateTime, nullable=True),
)

instance_action_events = sa.Table(
    "compute_instance_action_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("action_id", sa.Integer,
              sa.ForeignKey("compute_instance_actions.id", ondelete="CASCADE"),
              nullable=False, index=True),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("start_time", sa.DateTime, nullable=False),
    sa.Column("finish_time", sa.DateTime, nullable=True),
    sa.Column("result", sa.String(16), nullable=True),
    sa.Column("traceback", sa.Text, nullable=True),
    sa.Column("host", NAME, nullable=True),
    sa.Column("details", sa.Text, nullable=True),
)

services = sa.Table(
    "compute_services",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uuid", UUID, nullable=False, unique=True),
    sa.Column("host", NAME, nullable=False),
    sa.Column("binary", NAME, nullable=False),
    sa.Column("topic", NAME, nullable=True),
    sa.Column("availability_zone", NAME, nullable=True),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("disabled_reason", sa.Text, nullable=True),
    sa.Column("forced_down", sa.Boolean, nullable=False, default=False),
    sa.Column("last_seen_up", sa.DateTime, nullable=True),
    sa.Column("report_count", sa.Integer, nullable=False, default=0),
    sa.Column("version", sa.Integer, nullable=False, default=1),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=True),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
    sa.UniqueConstraint("host", "binary"),
)

compute_nodes = sa.Table(
    "compute_nodes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uuid", UUID, nullable=False, unique=True),
    sa.Column("host", NAME, nullable=False, index=True),
    sa.Column("hypervisor_hostname", NAME, nullable=False, unique=True),
    sa.Column("hypervisor_type", sa.String(32), nullable=False),
    sa.Column("hypervisor_version", sa.Integer, nullable=False, default=1),
    sa.Column("vcpus", sa.Integer, nullable=False),
    sa.Column("memory_mb", sa.Integer, nullable=False),
    sa.Column("local_gb", sa.Integer, nullable=False),
    sa.Column("cpu_allocation_ratio", sa.Float, nullable=False, default=16.0),
    sa.Column("ram_allocation_ratio", sa.Float, nullable=False, default=1.5),
    sa.Column("disk_allocation_ratio", sa.Float, nullable=False, default=1.0),
    sa.Column("cpu_info", sa.JSON, nullable=False, default=dict),
    sa.Column("host_ip", sa.String(64), nullable=True),
    sa.Column("capabilities", sa.JSON, nullable=False, default=dict),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=True),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
)

aggregates = sa.Table(
    "compute_aggregates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uuid", UUID, nullable=False, unique=True),
    sa.Column("name", NAME, nullable=False, unique=True),
    sa.Column("metadata", sa.JSON, nullable=False, default=dict),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=True),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
)

aggregate_hosts = sa.Table(
    "compute_aggregate_hosts",
    metadata,
    sa.Column("aggregate_id", sa.Integer,
              sa.ForeignKey("compute_aggregates.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("host", NAME, primary_key=True),
)

server_groups = sa.Table(
    "compute_server_groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uuid", UUID, nullable=False, unique=True),
    sa.Column("name", NAME, nullable=False),
    sa.Column("project_id", ID, nullable=False, index=True),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("policy", sa.String(32), nullable=False),
    sa.Column("rules", sa.JSON, nullable=False, default=dict),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

server_group_members = sa.Table(
    "compute_server_group_members",
    metadata,
    sa.Column("group_uuid", UUID,
              sa.ForeignKey("compute_server_groups.uuid", ondelete="CASCADE"), primary_key=True),
    sa.Column("instance_uuid", UUID, primary_key=True),
)

quotas = sa.Table(
    "compute_quotas",
    metadata,
    sa.Column("project_id", ID, primary_key=True),
    sa.Column("user_id", ID, primary_key=True, default=""),  # "" = the project's limit
    sa.Column("resource", sa.String(64), primary_key=True),
    sa.Column("hard_limit", sa.Integer, nullable=False),
)

# Quota classes (only ``default`` is used): limits a project without its own rows gets.
quota_classes = sa.Table(
    "compute_quota_classes",
    metadata,
    sa.Column("class_name", NAME, primary_key=True),
    sa.Column("resource", sa.String(64), primary_key=True),
    sa.Column("hard_limit", sa.Integer, nullable=False),
)

# One row per project, bumped (generation-checked) by every create/delete/resize that changes
# usage: concurrent boots of one project serialise on it, so quota checks are race-free.
project_usage = sa.Table(
    "compute_project_usage",
    metadata,
    sa.Column("project_id", ID, primary_key=True),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
)

scheduling_records = sa.Table(
    "compute_scheduling_records",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("instance_uuid", UUID, nullable=False, index=True),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("chosen_host", NAME, nullable=True),
    sa.Column("record", sa.JSON, nullable=False),
)

# One row per cold migration or resize, written by the API with the action that starts it.
# What happened next (destination, status) is read from the move's instance action, its
# scheduling record (the first one after ``sched_mark``) and the confirm/revert that follows.
migrations = sa.Table(
    "compute_migrations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uuid", UUID, nullable=False, unique=True),
    sa.Column("instance_uuid", UUID, nullable=False, index=True),
    sa.Column("action_id", sa.Integer,
              sa.ForeignKey("compute_instance_actions.id", ondelete="CASCADE"), nullable=False),
    sa.Column("migration_type", sa.String(16), nullable=False),  # resize | migration
    sa.Column("source_compute", NAME, nullable=True),
    sa.Column("source_node", NAME, nullable=True),
    sa.Column("old_instance_type_id", sa.Integer, nullable=True),
    sa.Column("new_instance_type_id", sa.Integer, nullable=True),
    sa.Column("sched_mark", sa.Integer, nullable=False, default=0),
    sa.Column("project_id", ID, nullable=False),
    sa.Column("user_id", ID, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

# Remote console tokens (Nova's console_auth_tokens): only the token's SHA-256 is kept; the
# conductor writes a row when a console URL is handed out, the compute host's console proxy
# asks the conductor to check a token before it relays anything.
console_auth_tokens = sa.Table(
    "compute_console_auth_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("console_type", sa.String(32), nullable=False),
    sa.Column("host", NAME, nullable=False),  # the compute host whose proxy serves it
    sa.Column("port", sa.Integer, nullable=True),
    sa.Column("internal_access_path", NAME, nullable=True),
    sa.Column("instance_uuid", UUID, nullable=False, index=True),
    sa.Column("expires", sa.DateTime, nullable=False, index=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)
