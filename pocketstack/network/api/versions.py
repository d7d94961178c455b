"""Version documents and the extension list (exactly what this service implements)."""

from __future__ import annotations

from starlette.responses import Response

from pocketstack.common.api.app import ApiRequest, json_response
from pocketstack.network import errors

UPDATED = "2013-01-01T00:00:00-00:00"

#: alias -> (name, description); every entry is implemented and tested here
EXTENSIONS: dict[str, tuple[str, str]] = {
    "agent": ("agent", "The agent management extension."),
    "allowed-address-pairs": ("Allowed Address Pairs", "Provides allowed address pairs"),
    "binding": ("Port Binding", "Expose port bindings of a virtual port to external "
                                "application"),
    "default-subnetpools": ("Default Subnetpools", "Provides ability to mark and use a "
                                                   "subnetpool as the default."),
    "extra_dhcp_opt": ("Neutron Extra DHCP options", "Extra options configuration for DHCP. "
                       "For example PXE boot options to DHCP clients can be specified (e.g. "
                       "tftp-server, server-ip-address, bootfile-name)"),
    "external-net": ("Neutron external network", "Adds external network attribute to network "
                                                 "resource."),
    "ext-gw-mode": ("Neutron L3 Configurable external gateway mode", "Extension of the router "
                    "abstraction for specifying whether SNAT should occur on the external "
                    "gateway"),
    "extraroute": ("Neutron Extra Route", "Extra routes configuration for L3 router"),
    "ip-substring-filtering": ("IP address substring filtering", "Provides IP address "
                               "substring filtering when listing ports"),
    "multi-provider": ("Multi Provider Network", "Expose mapping of virtual networks to "
                       "multiple physical networks"),
    "net-mtu": ("Network MTU", "Provides MTU attribute for a network resource."),
    "net-mtu-writable": ("Network MTU (writable)", "Provides a writable MTU attribute for a "
                         "network resource."),
    "pagination": ("Pagination support", "Extension that indicates that pagination is "
                   "enabled."),
    "port-security": ("Port Security", "Provides port security"),
    "project-id": ("project_id field enabled", "Extension that indicates that project_id "
                   "field is enabled."),
    "provider": ("Provider Network", "Expose mapping of virtual networks to physical "
                 "networks"),
    "quotas": ("Quota management support", "Expose functions for quotas management per "
               "tenant"),
    "quota-check-limit": ("Quota engine limit check", "Support for checking the resource "
                          "usage before applying a new quota limit"),
    "quota_details": ("Quota details management support", "Expose functions for quotas "
                      "usage statistics per project"),
    "rbac-policies": ("RBAC Policies", "Allows creation and modification of policies that "
                      "control tenant access to resources."),
    "revision-if-match": ("If-Match constraints based on revision_number", "Extension "
                          "indicating that If-Match based on revision_number is supported."),
    "router": ("Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 "
               "Neutron networks and access to external networks via a NAT gateway."),
    "security-group": ("security-group", "The security groups extension."),
    "sorting": ("Sorting support", "Extension that indicates that sorting is enabled."),
    "standard-attr-description": ("standard-attr-description", "Extension to add "
                                  "descriptions to standard attributes"),
    "standard-attr-revisions": ("Resource revision numbers", "This extension will display "
                                "the revision number of neutron resources."),
    "standard-attr-tag": ("Tag support for resources with standard attribute: subnet, trunk, "
                          "network_segment_range, router, network, policy, subnetpool, port, "
                          "security_group, floatingip", "Enables to set tag on resources with "
                          "standard attribute."),
    "standard-attr-timestamp": ("Resource timestamps", "Adds created_at and updated_at "
                                "fields to all Neutron resources that have Neutron standard "
                                "attributes."),
    "stateful-security-group": ("Stateful security group", "Indicates if the security group "
                                "is stateful or not"),
    "tag": ("Tag support", "Enables to set tag on resources."),
    "tag-ext": ("Tag support for resources: subnet, subnetpool, port, router",
                "Extends tag support to more L2 and L3 resources."),
    "subnet_allocation": ("Subnet Allocation", "Enables allocation of subnets from a subnet "
                          "pool"),
}

RESOURCES = (("network", "networks"), ("subnet", "subnets"), ("port", "ports"),
             ("subnetpool", "subnetpools"), ("router", "routers"),
             ("floatingip", "floatingips"), ("security_group", "security-groups"),
             ("security_group_rule", "security-group-rules"), ("agent", "agents"),
             ("rbac_policy", "rbac-policies"), ("quota", "quotas"))


def root(req: ApiRequest) -> Response:
    return json_response({"versions": [{
        "id": "v2.0", "status": "CURRENT",
        "links": [{"href": req.url_for("/v2.0/"), "rel": "self"}]}]})


def v2(req: ApiRequest) -> Response:
    return json_response({"resources": [
        {"name": name, "collection": coll,
         "links": [{"href": req.url_for(f"/v2.0/{coll}"), "rel": "self"}]}
        for name, coll in RESOURCES]})


def _extension(alias: str) -> dict[str, object]:
    name, description = EXTENSIONS[alias]
    return {"alias": alias, "name": name, "description": description, "updated": UPDATED,
            "links": []}


def list_extensions(req: ApiRequest) -> Response:
    return json_response({"extensions": [_extension(a) for a in sorted(EXTENSIONS)]})


def show_extension(req: ApiRequest) -> Response:
    alias = req.path_params["alias"]
    if alias not in EXTENSIONS:
        raise errors.HTTPNotFound(f"Extension with alias {alias} does not exist")
    return json_response({"extension": _extension(alias)})
