"""Placement's tables.

Resource classes and traits are referred to by name: the standard ones live in code
(:mod:`pocketstack.placement.standard`), custom ones in their own tables. Each inventory row
carries ``used`` (the sum of that provider's allocations of that class), kept in the same
transaction as the allocations, so capacity checks and candidate searches read one row per
(provider, class) instead of summing allocations.
"""

from __future__ import annotations

import sqlalchemy as sa

from pocketstack.common.schema import metadata

UUID = sa.String(36)
NAME = sa.String(255)

providers = sa.Table(
    "placement_providers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uuid", UUID, nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
    sa.Column("parent_id", sa.Integer, sa.ForeignKey("placement_providers.id"), nullable=True,
              index=True),
    sa.Column("root_id", sa.Integer, nullable=True, index=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

inventories = sa.Table(
    "placement_inventories",
    metadata,
    sa.Column("provider_id", sa.Integer,
              sa.ForeignKey("placement_providers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("resource_class", NAME, primary_key=True),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("reserved", sa.BigInteger, nullable=False, default=0),
    sa.Column("min_unit", sa.BigInteger, nullable=False, default=1),
    sa.Column("max_unit", sa.BigInteger, nullable=False),
    sa.Column("step_size", sa.BigInteger, nullable=False, default=1),
    sa.Column("allocation_ratio", sa.Float, nullable=False, default=1.0),
    sa.Column("used", sa.BigInteger, nullable=False, default=0),
    sa.Index("ix_placement_inventories_resource_class", "resource_class"),
)

consumers = sa.Table(
    "placement_consumers",
    metadata,
    sa.Column("uuid", UUID, primary_key=True),
    sa.Column("project_id", NAME, nullable=False, index=True),
    sa.Column("user_id", NAME, nullable=False, index=True),
    sa.Column("consumer_type", NAME, nullable=True),
    sa.Column("generation", sa.Integer, nullable=False, default=0),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

allocations = sa.Table(
    "placement_allocations",
    metadata,
    sa.Column("consumer_uuid", UUID, primary_key=True),
    sa.Column("provider_id", sa.Integer,
              sa.ForeignKey("placement_providers.id"), primary_key=True),
    sa.Column("resource_class", NAME, primary_key=True),
    sa.Column("used", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Index("ix_placement_allocations_provider_id_resource_class", "provider_id",
             "resource_class"),
)

resource_classes = sa.Table(
    "placement_resource_classes",
    metadata,
    sa.Column("name", NAME, primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

traits = sa.Table(
    "placement_traits",
    metadata,
    sa.Column("name", NAME, primary_key=True),
    sa.Column("created_at", sa.DateTime, nullable=False),
)

provider_traits = sa.Table(
    "placement_provider_traits",
    metadata,
    sa.Column("provider_id", sa.Integer,
              sa.ForeignKey("placement_providers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("trait", NAME, primary_key=True),
    sa.Index("ix_placement_provider_traits_trait", "trait"),
)

provider_aggregates = sa.Table(
    "placement_provider_aggregates",
    metadata,
    sa.Column("provider_id", sa.Integer,
              sa.ForeignKey("placement_providers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("aggregate", UUID, primary_key=True),
    sa.Index("ix_placement_provider_aggregates_aggregate", "aggregate"),
)

# Counters bumped in the writing transaction: row 1 by every placement write (providers,
# inventories, usage, traits, aggregates, resource classes), row 2 only by writes a provider
# generation does not show. Per-process caches of what allocation candidates read
# (:mod:`pocketstack.placement.domain.snapshot`) tell with one cheap read whether they are still
# current -- in this process and in any other (:mod:`pocketstack.placement.domain.revision`).
revision = sa.Table(
    "placement_revision",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("revision", sa.BigInteger, nullable=False, default=0),
)
