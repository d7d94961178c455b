"""Pins Placement's route table (``pocketstack/placement/routes.py``): every (method, path)
template, one per line; a route added or lost by accident fails here."""

from __future__ import annotations

from pocketstack.placement import routes
from tests.route_pins import assert_pinned

ROUTES = """
GET    /
GET    /resource_providers
POST   /resource_providers
GET    /resource_providers/{uuid}
PUT    /resource_providers/{uuid}
DELETE /resource_providers/{uuid}
GET    /resource_providers/{uuid}/inventories
POST   /resource_providers/{uuid}/inventories
PUT    /resource_providers/{uuid}/inventories
DELETE /resource_providers/{uuid}/inventories
GET    /resource_providers/{uuid}/inventories/{resource_class}
PUT    /resource_providers/{uuid}/inventories/{resource_class}
DELETE /resource_providers/{uuid}/inventories/{resource_class}
GET    /resource_providers/{uuid}/aggregates
PUT    /resource_providers/{uuid}/aggregates
GET    /resource_providers/{uuid}/traits
PUT    /resource_providers/{uuid}/traits
DELETE /resource_providers/{uuid}/traits
GET    /resource_providers/{uuid}/allocations
GET    /resource_providers/{uuid}/usages
GET    /resource_classes
POST   /resource_classes
GET    /resource_classes/{name}
PUT    /resource_classes/{name}
DELETE /resource_classes/{name}
GET    /traits
GET    /traits/{name}
PUT    /traits/{name}
DELETE /traits/{name}
POST   /allocations
GET    /allocations/{consumer_uuid}
PUT    /allocations/{consumer_uuid}
DELETE /allocations/{consumer_uuid}
GET    /allocation_candidates
GET    /usages
POST   /reshaper
"""


def test_route_table_is_pinned() -> None:
    assert_pinned(routes.ROUTES, ROUTES)
