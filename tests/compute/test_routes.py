"""Pins Nova v2.1's route table (``pocketstack/compute/routes.py``): every (method, path)
template, one per line; a route added or lost by accident fails here."""

from __future__ import annotations

from pocketstack.compute import routes
from tests.route_pins import assert_pinned

ROUTES = """
GET    /
GET    /servers
POST   /servers
GET    /servers/detail
GET    /servers/{server_id}
PUT    /servers/{server_id}
DELETE /servers/{server_id}
POST   /servers/{server_id}/action
GET    /flavors
POST   /flavors
GET    /flavors/detail
GET    /flavors/{flavor_id}
PUT    /flavors/{flavor_id}
DELETE /flavors/{flavor_id}
GET    /flavors/{flavor_id}/os-extra_specs
POST   /flavors/{flavor_id}/os-extra_specs
GET    /flavors/{flavor_id}/os-extra_specs/{key}
PUT    /flavors/{flavor_id}/os-extra_specs/{key}
DELETE /flavors/{flavor_id}/os-extra_specs/{key}
GET    /flavors/{flavor_id}/os-flavor-access
POST   /flavors/{flavor_id}/action
GET    /os-keypairs
POST   /os-keypairs
GET    /os-keypairs/{name}
DELETE /os-keypairs/{name}
GET    /os-services
PUT    /os-services/{service_id}
DELETE /os-services/{service_id}
GET    /os-hypervisors
GET    /os-hypervisors/detail
GET    /os-hypervisors/statistics
GET    /os-hypervisors/{hypervisor_id}
GET    /os-hypervisors/{hypervisor_id}/uptime
GET    /os-hypervisors/{pattern}/search
GET    /os-hypervisors/{pattern}/servers
GET    /os-availability-zone
GET    /os-availability-zone/detail
GET    /os-aggregates
POST   /os-aggregates
GET    /os-aggregates/{aggregate_id}
PUT    /os-aggregates/{aggregate_id}
DELETE /os-aggregates/{aggregate_id}
POST   /os-aggregates/{aggregate_id}/action
GET    /os-quota-sets/{project_id}
PUT    /os-quota-sets/{project_id}
DELETE /os-quota-sets/{project_id}
GET    /os-quota-sets/{project_id}/detail
GET    /os-quota-sets/{project_id}/defaults
GET    /limits
GET    /os-server-groups
POST   /os-server-groups
GET    /os-server-groups/{group_id}
DELETE /os-server-groups/{group_id}
GET    /os-simple-tenant-usage
GET    /os-simple-tenant-usage/{tenant_id}
GET    /servers/{server_id}/os-instance-actions
GET    /servers/{server_id}/os-instance-actions/{request_id}
GET    /servers/{server_id}/metadata
POST   /servers/{server_id}/metadata
PUT    /servers/{server_id}/metadata
GET    /servers/{server_id}/metadata/{key}
PUT    /servers/{server_id}/metadata/{key}
DELETE /servers/{server_id}/metadata/{key}
GET    /os-hosts
GET    /os-hosts/{host}
PUT    /os-hosts/{host}
GET    /os-hosts/{host}/startup
GET    /os-hosts/{host}/shutdown
GET    /os-hosts/{host}/reboot
GET    /images
GET    /images/detail
GET    /images/{image_id}
DELETE /images/{image_id}
GET    /images/{image_id}/metadata
POST   /images/{image_id}/metadata
PUT    /images/{image_id}/metadata
GET    /images/{image_id}/metadata/{key}
PUT    /images/{image_id}/metadata/{key}
DELETE /images/{image_id}/metadata/{key}
GET    /servers/{server_id}/tags
PUT    /servers/{server_id}/tags
DELETE /servers/{server_id}/tags
GET    /servers/{server_id}/tags/{tag}
PUT    /servers/{server_id}/tags/{tag}
DELETE /servers/{server_id}/tags/{tag}
GET    /os-quota-class-sets/{class_name}
PUT    /os-quota-class-sets/{class_name}
POST   /os-server-external-events
GET    /os-instance_usage_audit_log
GET    /os-instance_usage_audit_log/{before}
GET    /extensions
GET    /extensions/{alias}
GET    /os-migrations
GET    /servers/{server_id}/migrations
GET    /servers/{server_id}/diagnostics
POST   /servers/{server_id}/remote-consoles
GET    /os-console-auth-tokens/{console_token}
GET    /servers/{server_id}/ips
GET    /servers/{server_id}/ips/{network_label}
GET    /servers/{server_id}/os-server-password
DELETE /servers/{server_id}/os-server-password
GET    /servers/{server_id}/migrations/{migration_id}
DELETE /servers/{server_id}/migrations/{migration_id}
POST   /servers/{server_id}/migrations/{migration_id}/action
GET    /servers/{server_id}/os-security-groups
GET    /os-security-groups
POST   /os-security-groups
GET    /os-security-groups/{security_group_id}
PUT    /os-security-groups/{security_group_id}
DELETE /os-security-groups/{security_group_id}
POST   /os-security-group-rules
DELETE /os-security-group-rules/{security_group_rule_id}
GET    /os-networks
GET    /os-networks/{network_id}
GET    /os-tenant-networks
GET    /os-tenant-networks/{network_id}
GET    /os-floating-ip-pools
GET    /os-floating-ips
POST   /os-floating-ips
GET    /os-floating-ips/{floating_ip_id}
DELETE /os-floating-ips/{floating_ip_id}
GET    /os-volumes
GET    /os-volumes/detail
POST   /os-volumes
GET    /os-volumes/{volume_id}
DELETE /os-volumes/{volume_id}
GET    /os-snapshots
GET    /os-snapshots/detail
POST   /os-snapshots
GET    /os-snapshots/{snapshot_id}
DELETE /os-snapshots/{snapshot_id}
POST   /os-assisted-volume-snapshots
DELETE /os-assisted-volume-snapshots/{snapshot_id}
GET    /servers/{server_id}/os-interface
POST   /servers/{server_id}/os-interface
GET    /servers/{server_id}/os-interface/{port_id}
DELETE /servers/{server_id}/os-interface/{port_id}
GET    /servers/{server_id}/os-volume_attachments
POST   /servers/{server_id}/os-volume_attachments
GET    /servers/{server_id}/os-volume_attachments/{volume_id}
PUT    /servers/{server_id}/os-volume_attachments/{volume_id}
DELETE /servers/{server_id}/os-volume_attachments/{volume_id}
"""

ROOT_ROUTES = """
GET    /
GET    /v2
"""


def test_route_table_is_pinned() -> None:
    assert_pinned(routes.ROUTES, ROUTES)


def test_root_route_table_is_pinned() -> None:
    assert_pinned(routes.ROOT_ROUTES, ROOT_ROUTES)


# ``POST /servers/{server_id}/action``: the body keys it answers (an action added or lost by
# accident fails here, as a route does above)
SERVER_ACTIONS = """
addFloatingIp addSecurityGroup changePassword confirmResize createBackup createImage
forceDelete injectNetworkInfo lock migrate os-getConsoleOutput os-getSPICEConsole
os-getSerialConsole os-getVNCConsole os-migrateLive os-resetState os-start os-stop
pause reboot
rebuild removeFloatingIp removeSecurityGroup rescue resize restore resume revertResize shelve
shelveOffload suspend unlock unpause unrescue unshelve
"""


def test_server_actions_are_pinned() -> None:
    from pocketstack.compute.api import server_actions

    assert sorted(server_actions.ACTIONS) == sorted(SERVER_ACTIONS.split())
