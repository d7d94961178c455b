"""Ports: MACs unique per network, fixed IPs through IPAM, security groups, allowed address
pairs, and ML2-style binding to a host (``binding_failed`` when no live L2 agent there serves
any of the network's segments)."""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from pocketstack.common.context import RequestContext
from pocketstack.network import errors
from pocketstack.network import tables as t
from pocketstack.network.domain import agents, common, ipam, networks, quotas, segments
from pocketstack.network.domain import security_groups as sgs
from pocketstack.network.domain.common import ListQuery

KIND = "Port"
RESOURCE = "ports"
VIF_DETAILS = {
    "linuxbridge": ("bridge", {"port_filter": True, "connectivity": "l2"}),
    "openvswitch": ("ovs", {"port_filter": True, "connectivity": "l2", "bridge_name": "br-int",
                            "datapath_type": "system", "ovs_hybrid_plug": False}),
}


@dataclass(frozen=True)
class BindingConfig:
    mechanism: str = "linuxbridge"
    agent_down_time: int = 75


def visible_clause(ctx: RequestContext) -> ColumnElement[bool] | None:
    if ctx.is_admin:
        return None
    owned_networks = sa.select(t.networks.c.id).where(
        t.networks.c.project_id == (ctx.project_id or ""))
    return sa.or_(t.ports.c.project_id == (ctx.project_id or ""),
                  t.ports.c.network_id.in_(owned_networks))


def get_visible(conn: Connection, ctx: RequestContext, port_id: str) -> dict[str, Any]:
    query = sa.select(t.ports).where(t.ports.c.id == port_id)
    clause = visible_clause(ctx)
    if clause is not None:
        query = query.where(clause)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise errors.not_found(KIND, port_id)
    return decorate(conn, [dict(row)])[0]


def decorate(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [r["id"] for r in rows]
    fixed: dict[str, list[dict[str, str]]] = {i: [] for i in ids}
    groups: dict[str, list[str]] = {i: [] for i in ids}
    alloc, psg = t.ip_allocations, t.port_security_groups
    if len(ids) > common.BULK:  # a long list: read each table once
        networks_of = list({r["network_id"] for r in rows})
        chunks = [(alloc.c.network_id.in_(networks_of), psg.c.port_id.is_not(None))]
    else:
        chunks = [(alloc.c.port_id.in_(ids[i:i + 500]), psg.c.port_id.in_(ids[i:i + 500]))
                  for i in range(0, len(ids), 500)]
    for alloc_where, group_where in chunks:
        for port_id, subnet_id, address in conn.execute(
                sa.select(alloc.c.port_id, alloc.c.subnet_id, alloc.c.ip_address)
                .where(alloc_where)).all():
            entries = fixed.get(port_id)
            if entries is not None:
                entries.append({"subnet_id": subnet_id, "ip_address": address})
        for port_id, group_id in conn.execute(
                sa.select(psg.c.port_id, psg.c.security_group_id).where(group_where)).all():
            found = groups.get(port_id)
            if found is not None:
                found.append(group_id)
    for entries in fixed.values():
        if len(entries) > 1:
            entries.sort(key=lambda e: (ipaddress.ip_address(e["ip_address"]).version,
                                        int(ipaddress.ip_address(e["ip_address"]))))
    tags = common.tags_of(conn, RESOURCE, ids)
    for row in rows:
        row_id = row["id"]
        row["fixed_ips"] = fixed[row_id]
        row["security_groups"] = sorted(groups[row_id])
        row["tags"] = tags[row_id]
    return rows


def list_ports(conn: Connection, ctx: RequestContext, q: ListQuery,
               fixed_ip_filters: list[dict[str, str]], security_groups: list[str],
               known: Callable[[dict[str, Any]], bool] | None = None
               ) -> tuple[list[dict[str, Any]], bool]:
    """Ports matching the query; rows ``known`` says the caller has already (its view cache,
    keyed by revision) come back undecorated."""
    where: list[ColumnElement[bool]] = []
    clause = visible_clause(ctx)
    if clause is not None:
        where.append(clause)
    alloc = t.ip_allocations
    for wanted in fixed_ip_filters:
        conds = []
        if "ip_address" in wanted:
            conds.append(alloc.c.ip_address == wanted["ip_address"])
        if "subnet_id" in wanted:
            conds.append(alloc.c.subnet_id == wanted["subnet_id"])
        if "ip_address_substr" in wanted:
            conds.append(alloc.c.ip_address.contains(wanted["ip_address_substr"]))
        where.append(t.ports.c.id.in_(sa.select(alloc.c.port_id).where(*conds)))
    if security_groups:
        where.append(t.ports.c.id.in_(sa.select(t.port_security_groups.c.port_id).where(
            t.port_security_groups.c.security_group_id.in_(security_groups))))
    if known is None:
        rows, more = common.list_rows(conn, t.ports, RESOURCE, q, where, KIND)
        return decorate(conn, rows), more
    # ids and revisions first; whole rows only for the ports the caller does not know
    slim, more = common.list_rows(conn, t.ports, RESOURCE, q, where, KIND,
                                  columns=("id", "revision_number"))
    full = common.rows_by_id(conn, t.ports, [r["id"] for r in slim if not known(r)])
    decorate(conn, list(full.values()))
    return [full.get(r["id"], r) for r in slim], more


def by_ids(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The current, decorated rows of these ports (those that still exist)."""
    return decorate(conn, list(common.rows_by_id(conn, t.ports, [r["id"] for r in rows])
                               .values()))


def random_mac() -> str:
    return "fa:16:3e:" + ":".join(f"{random.randint(0, 255):02x}" for _ in range(3))


def _check_mac(mac: Any) -> str:
    text = str(mac).lower()
    parts = text.split(":")
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdef" for c in p)
                                  for p in parts):
        raise errors.InvalidInput(f"'{mac}' is not a valid MAC address")
    if int(parts[0], 16) & 1 or text == "00:00:00:00:00:00":
        raise errors.InvalidInput(f"'{mac}' is not a valid unicast MAC address")
    return text


def _address_pairs(values: list[Any], mac: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for pair in values:
        if not isinstance(pair, dict) or "ip_address" not in pair or \
                set(pair) - {"ip_address", "mac_address"}:
            raise errors.bad_request("AllowedAddressPairsMissingIP",
                                     "AllowedAddressPair must contain ip_address")
        try:
            net = ipaddress.ip_network(str(pair["ip_address"]), strict=False)
        except ValueError:
            raise errors.InvalidInput(f"'{pair['ip_address']}' is not a valid IP address") \
                from None
        ip_text = str(pair["ip_address"]) if "/" in str(pair["ip_address"]) \
            else str(net.network_address)
        entry = {"ip_address": ip_text,
                 "mac_address": _check_mac(pair["mac_address"]) if pair.get("mac_address")
                 else mac}
        if entry in out:
            raise errors.bad_request("DuplicateAddressPairInRequest", "Request contains "
                                     f"duplicate address pair: mac_address {entry['mac_address']}"
                                     f" ip_address {entry['ip_address']}.")
        out.append(entry)
    return out


def merge_dhcp_opts(current: list[dict[str, Any]], changes: list[Any]) -> list[dict[str, Any]]:
    """Neutron's extra DHCP options: an option is keyed by (name, IP version); a change with
    a value sets it, one with ``opt_value`` null removes it."""
    merged = {(o["opt_name"], o["ip_version"]): o for o in current}
    for change in changes:
        if not isinstance(change, dict) or not isinstance(change.get("opt_name"), str) or \
                not change["opt_name"] or "opt_value" not in change or \
                set(change) - {"opt_name", "opt_value", "ip_version"}:
            raise errors.InvalidInput(f"Invalid extra DHCP option {change}")
        version = change.get("ip_version", 4)
        if isinstance(version, str) and version.isdigit():
            version = int(version)
        if version not in (4, 6):
            raise errors.InvalidInput(f"'{version}' is not in [4, 6]")
        key = (change["opt_name"], version)
        value = change["opt_value"]
        if value is None:
            merged.pop(key, None)
        elif not isinstance(value, str) or not value:
            raise errors.InvalidInput(f"Invalid value for extra DHCP option {key[0]}")
        else:
            merged[key] = {"opt_name": key[0], "opt_value": value, "ip_version": version}
    return list(merged.values())


def _subnet_rows(conn: Connection, network_id: str) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(
        sa.select(t.subnets).where(t.subnets.c.network_id == network_id)
        .order_by(t.subnets.c.created_at, t.subnets.c.id)).mappings()]


def _allocate(conn: Connection, network_id: str, port_id: str, mac: str, device_owner: str,
              requested: list[dict[str, Any]] | None) -> None:
    """Give the port its addresses: requested ones, or one from a v4 subnet and one from a
    stateful v6 subnet; every SLAAC subnet adds its EUI-64 address."""
    subnets = _subnet_rows(conn, network_id)
    by_id = {s["id"]: s for s in subnets}
    is_router = device_owner in ipam.ROUTER_OWNERS
    if requested is not None:
        used_subnets: set[str] = set()
        for entry in requested:
            if not isinstance(entry, dict) or set(entry) - {"subnet_id", "ip_address"}:
                raise errors.InvalidInput(f"Invalid fixed_ips entry {entry}")
            subnet_id, address = entry.get("subnet_id"), entry.get("ip_address")
            if subnet_id is None and address is None:
                raise errors.InvalidInput("fixed_ips entry needs subnet_id or ip_address")
            if subnet_id is not None:
                subnet = by_id.get(subnet_id)
                if subnet is None:
                    raise errors.InvalidInput(f"Failed to create port on network {network_id},"
                                              f" because fixed_ips included invalid subnet "
                                              f"{subnet_id}")
            else:
                subnet = _subnet_for(subnets, str(address), network_id)
            used_subnets.add(subnet["id"])
            if ipam.is_auto_address(subnet) and not is_router:
                if address is not None:
                    raise errors.InvalidInput(f"IPv6 address {address} cannot be directly "
                                              f"assigned to a port on subnet {subnet['id']} "
                                              "as the subnet is configured for automatic "
                                              "addresses")
                _auto(conn, subnet, port_id, mac)
            elif address is not None:
                ipam.allocate_specific(conn, subnet, str(address), port_id, device_owner)
            elif ipam.allocate_any(conn, subnet, port_id) is None:
                raise _exhausted(network_id)
        return
    v4 = [s for s in subnets if s["ip_version"] == 4]
    v6_stateful = [s for s in subnets if s["ip_version"] == 6 and not ipam.is_auto_address(s)]
    for family in (v4, v6_stateful):
        if not family:
            continue
        if not any(ipam.allocate_any(conn, s, port_id) for s in family):
            raise _exhausted(network_id)
    if not is_router:
        for subnet in subnets:
            if ipam.is_auto_address(subnet):
                _auto(conn, subnet, port_id, mac)


def _auto(conn: Connection, subnet: dict[str, Any], port_id: str, mac: str) -> None:
    address = ipam.eui64(subnet["cidr"], mac)
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.ip_allocations).values(
                **ipam.allocation(subnet, address, port_id)))
    except IntegrityError:
        raise ipam.already_allocated(address, subnet["id"]) from None


def _subnet_for(subnets: list[dict[str, Any]], address: str, network_id: str) -> dict[str, Any]:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise errors.InvalidInput(f"'{address}' is not a valid IP address") from None
    for subnet in subnets:
        if ip in ipaddress.ip_network(subnet["cidr"]):
            return subnet
    raise errors.InvalidInput(f"IP address {address} is not a valid IP for any of the subnets "
                              f"on the specified network {network_id}.")


def _exhausted(network_id: str) -> Exception:
    return errors.conflict("IpAddressGenerationFailure",
                           f"No more IP addresses available on network {network_id}.")


def _security_groups(conn: Connection, ctx: RequestContext, project_id: str,
                     requested: list[Any] | None, device_owner: str,
                     port_security: bool) -> list[str]:
    if requested is None:
        if device_owner.startswith("network:") or not port_security:
            return []
        return [sgs.ensure_default(conn, project_id)]
    out = []
    for group_id in requested:
        group = conn.execute(sa.select(t.security_groups.c.id, t.security_groups.c.project_id)
                             .where(t.security_groups.c.id == str(group_id))).first()
        if group is None or (not ctx.is_admin and group.project_id != project_id
                             and group.project_id != ctx.project_id):
            raise sgs.group_not_found(str(group_id))
        if group.id not in out:
            out.append(group.id)
    if out and not port_security:
        raise errors.conflict("PortSecurityAndIPRequiredForSecurityGroups",
                              "Port security must be enabled and port must have an IP address "
                              "in order to use security groups.")
    return out


def _bind(conn: Connection, network_id: str, host: str, config: BindingConfig
          ) -> tuple[str, dict[str, Any], str]:
    """(vif_type, vif_details, status) for a port bound to ``host``."""
    if not host:
        return "unbound", {}, "DOWN"
    segs = segments.of_networks(conn, [network_id])[network_id]
    served = agents.l2_agent_serving(conn, host, segs, config.agent_down_time)
    if served is None:
        return "binding_failed", {}, "DOWN"
    vif_type, details = VIF_DETAILS.get(config.mechanism, VIF_DETAILS["linuxbridge"])
    return vif_type, dict(details), "ACTIVE"


def create(conn: Connection, ctx: RequestContext, values: dict[str, Any],
           quota_defaults: dict[str, int] | None, binding: BindingConfig,
           tags: list[str] | None = None) -> dict[str, Any]:
    """A port; ``quota_defaults`` None for ports the service makes for itself."""
    network = networks.get_visible(conn, ctx, values["network_id"])
    project_id = values["project_id"]
    if not ctx.is_admin and network["project_id"] != ctx.project_id and \
            not network["shared"] and quota_defaults is not None:
        raise errors.PolicyNotAuthorized("(rule:create_port) is disallowed by policy")
    if quota_defaults is not None:
        quotas.check(conn, project_id, "port", quota_defaults)
    port_id = values.get("id") or common.new_id()
    device_owner = values.get("device_owner") or ""
    port_security = values.get("port_security_enabled")
    if port_security is None:
        port_security = bool(network["port_security_enabled"])
    mac = values.get("mac_address")
    host = values.get("binding:host_id") or ""
    vif_type, vif_details, status = _bind(conn, network["id"], host, binding)
    if device_owner.startswith("network:router_interface") or \
            device_owner == "network:router_gateway":
        status = "ACTIVE"
    row = {
        "id": port_id, "project_id": project_id, "network_id": network["id"],
        "name": values.get("name") or "", "admin_state_up": values.get("admin_state_up", True),
        "status": status, "device_id": values.get("device_id") or "",
        "device_owner": device_owner, "port_security_enabled": port_security,
        "binding_host_id": host, "binding_vif_type": vif_type,
        "binding_vif_details": vif_details,
        "binding_vnic_type": values.get("binding:vnic_type") or "normal",
        "binding_profile": values.get("binding:profile") or {},
        "allowed_address_pairs": [],
        "extra_dhcp_opts": merge_dhcp_opts([], values.get("extra_dhcp_opts") or []),
        **common.standard(values.get("description")),
    }
    if mac is not None:
        row["mac_address"] = _check_mac(mac)
        try:
            with conn.begin_nested():
                conn.execute(sa.insert(t.ports).values(**row))
        except IntegrityError:
            raise errors.conflict("MacAddressInUse", f"Unable to complete operation for "
                                  f"network {network['id']}. The mac address {mac} is in "
                                  "use.") from None
    else:
        for _attempt in range(16):
            row["mac_address"] = random_mac()
            try:
                with conn.begin_nested():
                    conn.execute(sa.insert(t.ports).values(**row))
                break
            except IntegrityError:
                continue
        else:
            raise errors.conflict("MacAddressGenerationFailure", "Unable to generate unique "
                                  f"mac on network {network['id']}.")
    pairs = _address_pairs(values.get("allowed_address_pairs") or [], row["mac_address"])
    if pairs and not port_security:
        raise errors.conflict("AddressPairAndPortSecurityRequired", "Port Security must be "
                              "enabled in order to have allowed address pairs on a port.")
    if pairs:
        conn.execute(sa.update(t.ports).where(t.ports.c.id == port_id)
                     .values(allowed_address_pairs=pairs))
    _allocate(conn, network["id"], port_id, row["mac_address"], device_owner,
              values.get("fixed_ips"))
    groups = _security_groups(conn, ctx, project_id, values.get("security_groups"),
                              device_owner, port_security)
    if groups:
        conn.execute(sa.insert(t.port_security_groups),
                     [{"port_id": port_id, "security_group_id": g} for g in groups])
    if tags:
        common.replace_tags(conn, RESOURCE, port_id, tags)
    return get_visible(conn, ctx, port_id) if quota_defaults is not None \
        else decorate(conn, [common.get_row(conn, t.ports, port_id, KIND)])[0]


def update(conn: Connection, ctx: RequestContext, port_id: str, values: dict[str, Any],
           binding: BindingConfig, if_match: int | None) -> dict[str, Any]:
    port = get_visible(conn, ctx, port_id)
    columns: dict[str, Any] = {}
    for key in ("name", "description", "admin_state_up", "device_id", "device_owner",
                "port_security_enabled"):
        if key in values:
            columns[key] = values[key] if values[key] is not None else ""
    for api, column in (("binding:vnic_type", "binding_vnic_type"),
                        ("binding:profile", "binding_profile")):
        if api in values:
            columns[column] = values[api] or ({} if column == "binding_profile" else "normal")
    if "mac_address" in values and values["mac_address"] != port["mac_address"]:
        if port["binding_vif_type"] not in ("unbound", "binding_failed"):
            raise errors.conflict("PortBound", f"Unable to complete operation on port "
                                  f"{port_id}, port is already bound, port type: "
                                  f"{port['binding_vif_type']}, old_mac {port['mac_address']}, "
                                  f"new_mac {values['mac_address']}.")
        columns["mac_address"] = _check_mac(values["mac_address"])
    if "binding:host_id" in values:
        host = values["binding:host_id"] or ""
        vif_type, details, status = _bind(conn, port["network_id"], host, binding)
        columns.update(binding_host_id=host, binding_vif_type=vif_type,
                       binding_vif_details=details)
        if not port["device_owner"].startswith("network:"):
            columns["status"] = status
    port_security = columns.get("port_security_enabled", port["port_security_enabled"])
    mac = columns.get("mac_address", port["mac_address"])
    if "extra_dhcp_opts" in values:
        columns["extra_dhcp_opts"] = merge_dhcp_opts(port["extra_dhcp_opts"],
                                                     values["extra_dhcp_opts"] or [])
    if "allowed_address_pairs" in values:
        columns["allowed_address_pairs"] = _address_pairs(values["allowed_address_pairs"] or [],
                                                          mac)
    pairs = columns.get("allowed_address_pairs", port["allowed_address_pairs"])
    if pairs and not port_security:
        raise errors.conflict("AddressPairAndPortSecurityRequired", "Port Security must be "
                              "enabled in order to have allowed address pairs on a port.")
    try:
        with conn.begin_nested():
            common.update_row(conn, t.ports, port_id, columns, KIND, if_match)
    except IntegrityError:
        raise errors.conflict("MacAddressInUse", f"Unable to complete operation for network "
                              f"{port['network_id']}. The mac address {mac} is in use."
                              ) from None
    if "security_groups" in values:
        groups = _security_groups(conn, ctx, port["project_id"],
                                  values["security_groups"] or [], port["device_owner"],
                                  port_security)
        conn.execute(sa.delete(t.port_security_groups)
                     .where(t.port_security_groups.c.port_id == port_id))
        if groups:
            conn.execute(sa.insert(t.port_security_groups),
                         [{"port_id": port_id, "security_group_id": g} for g in groups])
    elif not port_security and port["security_groups"]:
        raise errors.conflict("PortSecurityPortHasSecurityGroup", "Port has security group "
                              "associated. Cannot disable port security or ip address until "
                              "security group is removed")
    if "fixed_ips" in values:
        _reallocate(conn, port, values["fixed_ips"] or [], mac)
    return get_visible(conn, ctx, port_id)


def _reallocate(conn: Connection, port: dict[str, Any], requested: list[dict[str, Any]],
                mac: str) -> None:
    """Replace the port's addresses, keeping the ones asked for again."""
    keep = set()
    for entry in requested:
        if isinstance(entry, dict) and entry.get("ip_address"):
            for current in port["fixed_ips"]:
                if current["ip_address"] == str(entry["ip_address"]) and \
                        entry.get("subnet_id", current["subnet_id"]) == current["subnet_id"]:
                    keep.add(current["ip_address"])
    conn.execute(sa.delete(t.ip_allocations).where(
        t.ip_allocations.c.port_id == port["id"], t.ip_allocations.c.ip_address.not_in(keep)))
    fresh = [e for e in requested if not (isinstance(e, dict)
                                          and str(e.get("ip_address")) in keep)]
    if fresh:
        _allocate(conn, port["network_id"], port["id"], mac, port["device_owner"], fresh)


def delete(conn: Connection, ctx: RequestContext, port_id: str, internal: bool = False) -> None:
    port = get_visible(conn, ctx, port_id) if not internal else \
        decorate(conn, [common.get_row(conn, t.ports, port_id, KIND)])[0]
    owner = port["device_owner"]
    if not internal and owner in ("network:router_interface", "network:router_gateway",
                                  "network:floatingip", "network:router_interface_distributed"):
        raise errors.conflict("ServicePortInUse", f"Port {port_id} cannot be deleted directly "
                              f"via the port API: has device owner {owner}.")
    conn.execute(sa.update(t.floatingips).where(t.floatingips.c.fixed_port_id == port_id)
                 .values(fixed_port_id=None, fixed_ip_address=None, router_id=None,
                         status="DOWN"))
    ipam.release_port(conn, port_id)
    conn.execute(sa.delete(t.port_security_groups)
                 .where(t.port_security_groups.c.port_id == port_id))
    common.drop_tags(conn, RESOURCE, port_id)
    conn.execute(sa.delete(t.ports).where(t.ports.c.id == port_id))
