"""The whole Neutron v2.0 surface, one route table (collections come from
:mod:`pocketstack.network.api.collections`)."""

from __future__ import annotations

from pocketstack.common.api.app import Route
from pocketstack.network.api import agents, quotas, router_actions, versions
from pocketstack.network.api.collections import ALL
from pocketstack.network.api.resources import handlers

ROUTES: list[Route] = [
    Route("GET", "/", versions.root, public=True),
    Route("GET", "/v2.0", versions.v2, public=True),
    Route("GET", "/v2.0/extensions", versions.list_extensions),
    Route("GET", "/v2.0/extensions/{alias}", versions.show_extension),
    Route("PUT", "/v2.0/routers/{id}/add_router_interface", router_actions.add_interface),
    Route("PUT", "/v2.0/routers/{id}/remove_router_interface", router_actions.remove_interface),
    Route("GET", "/v2.0/quotas", quotas.list_quotas),
    Route("GET", "/v2.0/quotas/tenant", quotas.show_tenant),
    Route("GET", "/v2.0/quotas/project", quotas.show_tenant),
    Route("GET", "/v2.0/quotas/{project_id}", quotas.show_quota),
    Route("PUT", "/v2.0/quotas/{project_id}", quotas.update_quota),
    Route("DELETE", "/v2.0/quotas/{project_id}", quotas.reset_quota),
    Route("GET", "/v2.0/quotas/{project_id}/default", quotas.show_defaults),
    Route("GET", "/v2.0/quotas/{project_id}/details", quotas.show_details),
    Route("GET", "/v2.0/agents", agents.list_agents),
    Route("GET", "/v2.0/agents/{id}", agents.show_agent),
    Route("PUT", "/v2.0/agents/{id}", agents.update_agent),
    Route("DELETE", "/v2.0/agents/{id}", agents.delete_agent),
]
for _resource in ALL:
    ROUTES += handlers(_resource)
