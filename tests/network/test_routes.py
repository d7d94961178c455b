"""Pins Neutron v2.0's route table (``pocketstack/network/routes.py``): every (method, path)
template, one per line; a route added or lost by accident fails here."""

from __future__ import annotations

from pocketstack.network import routes
from tests.route_pins import assert_pinned

ROUTES = """
GET    /
GET    /v2.0
GET    /v2.0/extensions
GET    /v2.0/extensions/{alias}
PUT    /v2.0/routers/{id}/add_router_interface
PUT    /v2.0/routers/{id}/remove_router_interface
GET    /v2.0/quotas
GET    /v2.0/quotas/tenant
GET    /v2.0/quotas/project
GET    /v2.0/quotas/{project_id}
PUT    /v2.0/quotas/{project_id}
DELETE /v2.0/quotas/{project_id}
GET    /v2.0/quotas/{project_id}/default
GET    /v2.0/quotas/{project_id}/details
GET    /v2.0/agents
GET    /v2.0/agents/{id}
PUT    /v2.0/agents/{id}
DELETE /v2.0/agents/{id}
GET    /v2.0/networks
POST   /v2.0/networks
GET    /v2.0/networks/{id}
DELETE /v2.0/networks/{id}
PUT    /v2.0/networks/{id}
GET    /v2.0/networks/{id}/tags
PUT    /v2.0/networks/{id}/tags
DELETE /v2.0/networks/{id}/tags
GET    /v2.0/networks/{id}/tags/{tag}
PUT    /v2.0/networks/{id}/tags/{tag}
DELETE /v2.0/networks/{id}/tags/{tag}
GET    /v2.0/subnets
POST   /v2.0/subnets
GET    /v2.0/subnets/{id}
DELETE /v2.0/subnets/{id}
PUT    /v2.0/subnets/{id}
GET    /v2.0/subnets/{id}/tags
PUT    /v2.0/subnets/{id}/tags
DELETE /v2.0/subnets/{id}/tags
GET    /v2.0/subnets/{id}/tags/{tag}
PUT    /v2.0/subnets/{id}/tags/{tag}
DELETE /v2.0/subnets/{id}/tags/{tag}
GET    /v2.0/ports
POST   /v2.0/ports
GET    /v2.0/ports/{id}
DELETE /v2.0/ports/{id}
PUT    /v2.0/ports/{id}
GET    /v2.0/ports/{id}/tags
PUT    /v2.0/ports/{id}/tags
DELETE /v2.0/ports/{id}/tags
GET    /v2.0/ports/{id}/tags/{tag}
PUT    /v2.0/ports/{id}/tags/{tag}
DELETE /v2.0/ports/{id}/tags/{tag}
GET    /v2.0/security-groups
POST   /v2.0/security-groups
GET    /v2.0/security-groups/{id}
DELETE /v2.0/security-groups/{id}
PUT    /v2.0/security-groups/{id}
GET    /v2.0/security-groups/{id}/tags
PUT    /v2.0/security-groups/{id}/tags
DELETE /v2.0/security-groups/{id}/tags
GET    /v2.0/security-groups/{id}/tags/{tag}
PUT    /v2.0/security-groups/{id}/tags/{tag}
DELETE /v2.0/security-groups/{id}/tags/{tag}
GET    /v2.0/security-group-rules
POST   /v2.0/security-group-rules
GET    /v2.0/security-group-rules/{id}
DELETE /v2.0/security-group-rules/{id}
GET    /v2.0/routers
POST   /v2.0/routers
GET    /v2.0/routers/{id}
DELETE /v2.0/routers/{id}
PUT    /v2.0/routers/{id}
GET    /v2.0/routers/{id}/tags
PUT    /v2.0/routers/{id}/tags
DELETE /v2.0/routers/{id}/tags
GET    /v2.0/routers/{id}/tags/{tag}
PUT    /v2.0/routers/{id}/tags/{tag}
DELETE /v2.0/routers/{id}/tags/{tag}
GET    /v2.0/floatingips
POST   /v2.0/floatingips
GET    /v2.0/floatingips/{id}
DELETE /v2.0/floatingips/{id}
PUT    /v2.0/floatingips/{id}
GET    /v2.0/floatingips/{id}/tags
PUT    /v2.0/floatingips/{id}/tags
DELETE /v2.0/floatingips/{id}/tags
GET    /v2.0/floatingips/{id}/tags/{tag}
PUT    /v2.0/floatingips/{id}/tags/{tag}
DELETE /v2.0/floatingips/{id}/tags/{tag}
GET    /v2.0/subnetpools
POST   /v2.0/subnetpools
GET    /v2.0/subnetpools/{id}
DELETE /v2.0/subnetpools/{id}
PUT    /v2.0/subnetpools/{id}
GET    /v2.0/subnetpools/{id}/tags
PUT    /v2.0/subnetpools/{id}/tags
DELETE /v2.0/subnetpools/{id}/tags
GET    /v2.0/subnetpools/{id}/tags/{tag}
PUT    /v2.0/subnetpools/{id}/tags/{tag}
DELETE /v2.0/subnetpools/{id}/tags/{tag}
GET    /v2.0/rbac-policies
POST   /v2.0/rbac-policies
GET    /v2.0/rbac-policies/{id}
DELETE /v2.0/rbac-policies/{id}
PUT    /v2.0/rbac-policies/{id}
"""


def test_route_table_is_pinned() -> None:
    assert_pinned(routes.ROUTES, ROUTES)
