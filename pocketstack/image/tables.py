"""Glance's tables: images, their custom properties, tags, members and import tasks."""

from __future__ import annotations

import sqlalchemy as sa

from pocketstack.common.schema import metadata

ID = sa.String(64)
NAME = sa.String(255)

images = sa.Table(
    "image_images",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("name", NAME, nullable=True, index=True),
    sa.Column("status", sa.String(30), nullable=False, index=True),
    sa.Column("visibility", sa.String(20), nullable=False, index=True),
    sa.Column("protected", sa.Boolean, nullable=False, default=False),
    sa.Column("os_hidden", sa.Boolean, nullable=False, default=False),
    sa.Column("disk_format", sa.String(20), nullable=True),
    sa.Column("container_format", sa.String(20), nullable=True),
    sa.Column("size", sa.BigInteger, nullable=True),
    sa.Column("virtual_size", sa.BigInteger, nullable=True),
    sa.Column("checksum", sa.String(32), nullable=True),
    sa.Column("os_hash_algo", sa.String(64), nullable=True),
    sa.Column("os_hash_value", sa.String(128), nullable=True, index=True),
    sa.Column("owner", NAME, nullable=True, index=True),
    sa.Column("min_disk", sa.Integer, nullable=False, default=0),
    sa.Column("min_ram", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.DateTime, nullable=False, index=True),
    sa.Column("updated_at", sa.DateTime, nullable=False, index=True),
    # Where the data is (a store location URL); NULL until an upload or import finishes.
    sa.Column("location", sa.Text, nullable=True),
    # The upload or stage in progress (so only its owner may finish or roll it back).
    sa.Column("upload_id", sa.String(36), nullable=True),
    # Staged data waiting for an import: location, size, hashes, inspection result.
    sa.Column("staged", sa.JSON(none_as_null=True), nullable=True),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
    # the default list order (created_at desc, id desc) walks this index
    sa.Index("ix_image_images_created_at_id", "created_at", "id"),
)

properties = sa.Table(
    "image_properties",
    metadata,
    sa.Column("image_id", sa.String(36), sa.ForeignKey("image_images.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("name", NAME, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Index("ix_image_properties_name", "name"),
)

tags = sa.Table(
    "image_tags",
    metadata,
    sa.Column("image_id", sa.String(36), sa.ForeignKey("image_images.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("value", NAME, primary_key=True),
    sa.Index("ix_image_tags_value", "value"),
)

members = sa.Table(
    "image_members",
    metadata,
    sa.Column("image_id", sa.String(36), sa.ForeignKey("image_images.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("member", NAME, primary_key=True),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Index("ix_image_members_member", "member"),
)

tasks = sa.Table(
    "image_tasks",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("image_id", sa.String(36), nullable=False, index=True),
    sa.Column("type", sa.String(30), nullable=False),
    sa.Column("status", sa.String(30), nullable=False),
    sa.Column("owner", NAME, nullable=True),
    sa.Column("user_id", ID, nullable=True),
    sa.Column("request_id", sa.String(64), nullable=True),
    sa.Column("input", sa.JSON, nullable=False),
    sa.Column("result", sa.JSON, nullable=True),
    sa.Column("message", sa.Text, nullable=False, default=""),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=True),
)

# -- metadata definitions (/v2/metadefs): namespaces and what they hold ------------------------
metadef_namespaces = sa.Table(
    "image_metadef_namespaces",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("namespace", sa.String(80), nullable=False, unique=True),
    sa.Column("display_name", sa.String(80), nullable=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("visibility", sa.String(32), nullable=False),
    sa.Column("protected", sa.Boolean, nullable=False, default=False),
    sa.Column("owner", NAME, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=True),
)

metadef_resource_types = sa.Table(
    "image_metadef_resource_types",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(80), nullable=False, unique=True),
    sa.Column("protected", sa.Boolean, nullable=False, default=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=True),
)

metadef_associations = sa.Table(
    "image_metadef_associations",
    metadata,
    sa.Column("namespace_id", sa.Integer,
              sa.ForeignKey("image_metadef_namespaces.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("resource_type_id", sa.Integer,
              sa.ForeignKey("image_metadef_resource_types.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("prefix", sa.String(80), nullable=True),
    sa.Column("properties_target", sa.String(80), nullable=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=True),
)


def _member_table(name: str, *extra: sa.Column[object]) -> sa.Table:
    """Objects, properties and tags: named items of one namespace."""
    return sa.Table(
        f"image_metadef_{name}",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("namespace_id", sa.Integer,
                  sa.ForeignKey("image_metadef_namespaces.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        *extra,
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=True),
        sa.UniqueConstraint("namespace_id", "name"),
    )


metadef_objects = _member_table(
    "objects",
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("required", sa.JSON, nullable=True),
    sa.Column("properties", sa.JSON, nullable=True))
metadef_properties = _member_table("properties", sa.Column("schema", sa.JSON, nullable=False))
metadef_tags = _member_table("tags")
