"""Request attribute maps, as Neutron's API layer declares them: per attribute, its type,
whether it may be set on create (POST) or update (PUT), and whether only an admin may set it.
:func:`check_body` refuses unknown and mistyped attributes with Neutron's 400."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pocketstack.network import errors

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                     r"[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Attr:
    kind: str  # string, string_or_none, bool, int, int_or_none, list, list_or_none, dict, any, uuid
    post: bool = True
    put: bool = True
    admin: bool = False
    max_len: int = 255


S = Attr("string")
DESC = Attr("string", max_len=1024)
BOOL = Attr("bool")
PROJECT = Attr("string", put=False)

STANDARD = {"name": S, "description": DESC, "tenant_id": PROJECT, "project_id": PROJECT}

NETWORK = {
    **STANDARD, "admin_state_up": BOOL, "shared": Attr("bool", admin=True),
    "router:external": Attr("bool", admin=True), "is_default": Attr("bool", admin=True),
    "mtu": Attr("int"), "port_security_enabled": BOOL,
    "availability_zone_hints": Attr("list", put=False),
    "provider:network_type": Attr("string", put=False, admin=True),
    "provider:physical_network": Attr("string_or_none", put=False, admin=True),
    "provider:segmentation_id": Attr("int_or_none", put=False, admin=True),
    "segments": Attr("list", put=False, admin=True),
    "tags": Attr("list", put=False),
}
SUBNET = {
    **STANDARD, "network_id": Attr("uuid", put=False), "ip_version": Attr("int", put=False),
    "cidr": Attr("string_or_none", put=False), "prefixlen": Attr("int", put=False),
    "subnetpool_id": Attr("string_or_none", put=False),
    "use_default_subnetpool": Attr("bool", put=False),
    "gateway_ip": Attr("string_or_none"), "enable_dhcp": BOOL,
    "ipv6_ra_mode": Attr("string_or_none", put=False),
    "ipv6_address_mode": Attr("string_or_none", put=False),
    "allocation_pools": Attr("list_or_none"), "dns_nameservers": Attr("list_or_none"),
    "host_routes": Attr("list_or_none"), "service_types": Attr("list", put=False),
    "segment_id": Attr("string_or_none", put=False), "tags": Attr("list", put=False),
}
PORT = {
    **STANDARD, "network_id": Attr("uuid", put=False), "admin_state_up": BOOL,
    "mac_address": Attr("string"), "fixed_ips": Attr("list_or_none"),
    "device_id": S, "device_owner": S, "security_groups": Attr("list_or_none"),
    "allowed_address_pairs": Attr("list_or_none"), "port_security_enabled": BOOL,
    "binding:host_id": Attr("string_or_none", admin=True),
    "binding:vnic_type": Attr("string"), "binding:profile": Attr("dict", admin=True),
    "extra_dhcp_opts": Attr("list_or_none"), "tags": Attr("list", put=False),
}
SECURITY_GROUP = {**STANDARD, "stateful": BOOL, "tags": Attr("list", put=False)}
SECURITY_GROUP_RULE = {
    "description": Attr("string", put=False, max_len=1024), "tenant_id": PROJECT,
    "project_id": PROJECT, "security_group_id": Attr("uuid", put=False),
    "direction": Attr("string", put=False), "ethertype": Attr("string", put=False),
    "protocol": Attr("any", put=False), "port_range_min": Attr("int_or_none", put=False),
    "port_range_max": Attr("int_or_none", put=False),
    "remote_ip_prefix": Attr("string_or_none", put=False),
    "remote_group_id": Attr("string_or_none", put=False),
    "remote_address_group_id": Attr("string_or_none", put=False),
}
ROUTER = {
    **STANDARD, "admin_state_up": BOOL, "external_gateway_info": Attr("dict_or_none"),
    "routes": Attr("list_or_none", post=False),
    "availability_zone_hints": Attr("list", put=False),
    "distributed": Attr("bool", admin=True), "ha": Attr("bool", admin=True),
    "tags": Attr("list", put=False),
}
FLOATINGIP = {
    "description": DESC, "tenant_id": PROJECT, "project_id": PROJECT,
    "floating_network_id": Attr("uuid", put=False), "floating_ip_address":
    Attr("string_or_none", put=False), "subnet_id": Attr("string_or_none", put=False),
    "port_id": Attr("string_or_none"), "fixed_ip_address": Attr("string_or_none"),
    "dns_name": Attr("string", put=False), "dns_domain": Attr("string", put=False),
    "tags": Attr("list", put=False),
}
SUBNETPOOL = {
    **STANDARD, "prefixes": Attr("list"), "default_prefixlen": Attr("int"),
    "min_prefixlen": Attr("int"), "max_prefixlen": Attr("int"),
    "shared": Attr("bool", put=False, admin=True), "is_default": Attr("bool", admin=True),
    "default_quota": Attr("int_or_none"), "address_scope_id": Attr("string_or_none"),
    "tags": Attr("list", put=False),
}
RBAC_POLICY = {
    "tenant_id": PROJECT, "project_id": PROJECT, "object_type": Attr("string", put=False),
    "object_id": Attr("uuid", put=False), "action": Attr("string", put=False),
    "target_tenant": Attr("string"), "target_project": Attr("string"),
}
AGENT = {"admin_state_up": Attr("bool", post=False), "description":
         Attr("string_or_none", post=False, max_len=1024)}

_BOOL_STRINGS = {"true": True, "false": False, "1": True, "0": False}


def _coerce(name: str, attr: Attr, value: Any) -> Any:
    kind = attr.kind
    if value is None:
        if kind.endswith("_or_none") or kind == "any":
            return None
        raise errors.HTTPBadRequest(f"Invalid input for {name}. Reason: None is not a valid "
                                    "value.")
    base = kind.removesuffix("_or_none")
    if base in ("string", "uuid"):
        if not isinstance(value, str):
            raise errors.HTTPBadRequest(f"Invalid input for {name}. Reason: '{value}' is not "
                                        "a valid string.")
        if len(value) > attr.max_len:
            raise errors.HTTPBadRequest(f"Invalid input for {name}. Reason: '{value}' exceeds "
                                        f"maximum length of {attr.max_len}.")
        if base == "uuid" and not UUID_RE.match(value):
            raise errors.HTTPBadRequest(f"Invalid input for {name}. Reason: '{value}' is not "
                                        "a valid UUID.")
        return value
    if base == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _BOOL_STRINGS:
            return _BOOL_STRINGS[value.lower()]
        raise errors.HTTPBadRequest(f"Invalid input for {name}. Reason: '{value}' cannot be "
                                    "converted to boolean.")
    if base == "int":
        if isinstance(value, bool):
            raise errors.HTTPBadRequest(f"Invalid input for {name}. Reason: '{value}' is not "
                                        "an integer.")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise errors.HTTPBadRequest(f"Invalid input for {name}. Reason: '{value}' is not an "
                                    "integer.")
    if base == "list":
        if not isinstance(value, list):
            raise errors.HTTPBadRequest(f"Invalid input for {name}. Reason: '{value}' is not "
                                        "a list.")
        return value
    if base == "dict":
        if not isinstance(value, dict):
            raise errors.HTTPBadRequest(f"Invalid input for {name}. Reason: '{value}' is not "
                                        "a dictionary.")
        return value
    return value


def check_body(attrs: dict[str, Attr], body: Any, member: str, creating: bool,
               is_admin: bool) -> dict[str, Any]:
    """The member's attributes from a request body, type-checked (400) and admin-checked
    (403 for admin-only attributes)."""
    if not isinstance(body, dict) or not isinstance(body.get(member), dict):
        raise errors.HTTPBadRequest("Resource body required" if not isinstance(body, dict)
                                    else f"Unable to find '{member}' in request body")
    values = body[member]
    unknown = sorted(k for k in values if k not in attrs)
    if unknown:
        raise errors.HTTPBadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    out: dict[str, Any] = {}
    for key, value in values.items():
        attr = attrs[key]
        if creating and not attr.post:
            raise errors.HTTPBadRequest(f"Attribute '{key}' not allowed in POST")
        if not creating and not attr.put:
            raise errors.HTTPBadRequest(f"Cannot update read-only attribute {key}")
        out[key] = _coerce(key, attr, value)
        if attr.admin and not is_admin:
            raise errors.PolicyNotAuthorized(
                f"(rule:{'create' if creating else 'update'}_{member} and "
                f"rule:{'create' if creating else 'update'}_{member}:{key}) is disallowed by "
                "policy")
    tenant, project = out.get("tenant_id"), out.get("project_id")
    if tenant is not None and project is not None and tenant != project:
        raise errors.HTTPBadRequest("'project_id' and 'tenant_id' do not match")
    return out
