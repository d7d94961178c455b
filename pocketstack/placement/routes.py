"""The whole Placement API surface, one line per route (microversion floors in handlers)."""

from __future__ import annotations

from pocketstack.common.api.app import Route
from pocketstack.placement.api import (
    aggregates,
    allocation_candidates,
    allocations,
    inventories,
    resource_classes,
    resource_providers,
    traits,
    versions,
)

RP = "/resource_providers/{uuid}"

ROUTES: list[Route] = [
    Route("GET", "/", versions.root, public=True),
    # resource providers
    Route("GET", "/resource_providers", resource_providers.list_providers),
    Route("POST", "/resource_providers", resource_providers.create_provider),
    Route("GET", RP, resource_providers.show_provider),
    Route("PUT", RP, resource_providers.update_provider),
    Route("DELETE", RP, resource_providers.delete_provider),
    # inventories
    Route("GET", RP + "/inventories", inventories.list_inventories),
    Route("POST", RP + "/inventories", inventories.create_inventory),
    Route("PUT", RP + "/inventories", inventories.replace_inventories),
    Route("DELETE", RP + "/inventories", inventories.delete_inventories),
    Route("GET", RP + "/inventories/{resource_class}", inventories.show_inventory),
    Route("PUT", RP + "/inventories/{resource_class}", inventories.update_inventory),
    Route("DELETE", RP + "/inventories/{resource_class}", inventories.delete_inventory),
    # provider aggregates, traits, allocations, usages
    Route("GET", RP + "/aggregates", aggregates.list_aggregates),
    Route("PUT", RP + "/aggregates", aggregates.put_aggregates),
    Route("GET", RP + "/traits", traits.list_provider_traits),
    Route("PUT", RP + "/traits", traits.put_provider_traits),
    Route("DELETE", RP + "/traits", traits.delete_provider_traits),
    Route("GET", RP + "/allocations", allocations.provider_allocations),
    Route("GET", RP + "/usages", allocations.provider_usages),
    # resource classes
    Route("GET", "/resource_classes", resource_classes.list_classes),
    Route("POST", "/resource_classes", resource_classes.create_class),
    Route("GET", "/resource_classes/{name}", resource_classes.show_class),
    Route("PUT", "/resource_classes/{name}", resource_classes.update_class),
    Route("DELETE", "/resource_classes/{name}", resource_classes.delete_class),
    # traits
    Route("GET", "/traits", traits.list_traits),
    Route("GET", "/traits/{name}", traits.show_trait),
    Route("PUT", "/traits/{name}", traits.put_trait),
    Route("DELETE", "/traits/{name}", traits.delete_trait),
    # allocations
    Route("POST", "/allocations", allocations.post_allocations),
    Route("GET", "/allocations/{consumer_uuid}", allocations.get_allocations),
    Route("PUT", "/allocations/{consumer_uuid}", allocations.put_allocations),
    Route("DELETE", "/allocations/{consumer_uuid}", allocations.delete_allocations),
    Route("GET", "/allocation_candidates", allocation_candidates.list_candidates),
    Route("GET", "/usages", allocations.project_usages),
    Route("POST", "/reshaper", allocations.reshape),
]
