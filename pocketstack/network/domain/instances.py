"""Ports of compute instances: allocate and bind them on a host (all or none, in one
transaction), release them, and the addresses Nova shows (fixed and floating)."""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pocketstack.common.context import RequestContext
from pocketstack.network import errors
from pocketstack.network import tables as t
from pocketstack.network.domain import agents, common, floatingips, networks, ports, segments
from pocketstack.network.domain import security_groups as sgs

OWNER = "compute:nova"
#: in ``binding:profile`` while a live migration moves the port's guest away from that host
MIGRATING_FROM = "migrating_from"


def _vif(conn: Connection, port: dict[str, Any], created: bool,
         binding: ports.BindingConfig | None = None) -> dict[str, Any]:
    network = conn.execute(sa.select(t.networks).where(t.networks.c.id == port["network_id"])
                           ).mappings().one()
    segs = segments.of_networks(conn, [network["id"]])[network["id"]]
    seg = segs[0] if segs else {"network_type": None, "physical_network": None,
                                "segmentation_id": None}
    subnets = {r["id"]: dict(r) for r in conn.execute(
        sa.select(t.subnets).where(t.subnets.c.network_id == network["id"])).mappings()}
    fixed = []
    for ip in port["fixed_ips"]:
        subnet = subnets[ip["subnet_id"]]
        fixed.append({"address": ip["ip_address"], "version": subnet["ip_version"],
                      "subnet_id": subnet["id"], "cidr": subnet["cidr"],
                      "gateway": subnet["gateway_ip"], "enable_dhcp": bool(subnet["enable_dhcp"]),
                      "dns_nameservers": tuple(subnet["dns_nameservers"] or ()),
                      "host_routes": tuple((r["destination"], r["nexthop"])
                                           for r in subnet["host_routes"] or ()),
                      "ipv6_address_mode": subnet["ipv6_address_mode"]})
    return {"port_id": port["id"], "network_id": network["id"], "network_name": network["name"],
            "mac_address": port["mac_address"], "vif_type": port["binding_vif_type"],
            "vif_details": dict(port["binding_vif_details"] or {}), "mtu": network["mtu"],
            "network_type": seg["network_type"], "physical_network": seg["physical_network"],
            "segmentation_id": seg["segmentation_id"], "fixed_ips": fixed, "created": created,
            "status": port.get("status") or "DOWN",
            "binding_failure": agents.binding_failure(
                conn, port.get("binding_host_id") or "", segs, binding.agent_down_time)
            if binding is not None and port["binding_vif_type"] == "binding_failed" else ""}


def validate(conn: Connection, ctx: RequestContext, requests: list[dict[str, Any]]) -> None:
    for request in requests:
        if request.get("port_id"):
            port = ports.get_visible(conn, ctx, request["port_id"])
            if port["device_id"]:
                raise errors.conflict("PortInUse", f"Port {port['id']} is still in use.")
        elif request.get("network_id"):
            networks.get_visible(conn, ctx, request["network_id"])


def allocate(conn: Connection, ctx: RequestContext, instance_id: str, host: str,
             requests: list[dict[str, Any]], security_groups: list[str] | None,
             quota_defaults: dict[str, int], binding: ports.BindingConfig,
             migrating_from: str | None = None) -> list[dict[str, Any]]:
    out = []
    for request in requests:
        if request.get("port_id"):
            port = ports.get_visible(conn, ctx, request["port_id"])
            if port["device_id"] and port["device_id"] != instance_id:
                raise errors.conflict("PortInUse", f"Port {port['id']} is still in use.")
            update: dict[str, Any] = {"device_id": instance_id, "device_owner": OWNER,
                                      "binding:host_id": host}
            profile = dict(port.get("binding_profile") or {})
            before = dict(profile)
            profile.pop(MIGRATING_FROM, None)
            if migrating_from and migrating_from != host:
                profile[MIGRATING_FROM] = migrating_from
            if profile != before:
                update["binding:profile"] = profile
            port = ports.update(conn, ctx, port["id"], update, binding, None)
            out.append(_vif(conn, port, created=False, binding=binding))
            continue
        values: dict[str, Any] = {
            "network_id": request["network_id"], "project_id": ctx.project_id or "",
            "device_id": instance_id, "device_owner": OWNER, "binding:host_id": host}
        if request.get("fixed_ip"):
            values["fixed_ips"] = [{"ip_address": request["fixed_ip"]}]
        if security_groups is not None:
            values["security_groups"] = _group_ids(conn, ctx, security_groups)
        port = ports.create(conn, ctx, values, quota_defaults, binding)
        out.append(_vif(conn, port, created=True, binding=binding))
    return out


def set_security_group(conn: Connection, ctx: RequestContext, instance_id: str, group: str,
                       add: bool, binding: ports.BindingConfig) -> tuple[str, list[str]]:
    project = ctx.project_id or ""
    row = conn.execute(sa.select(t.security_groups.c.id, t.security_groups.c.name).where(
        t.security_groups.c.project_id == project,
        sa.or_(t.security_groups.c.id == group, t.security_groups.c.name == group))
        .order_by(t.security_groups.c.created_at)).first()
    if row is None:
        raise errors.not_found("SecurityGroup", group,
                               f"Security group {group} not found for project {project}.")
    rows = [dict(r) for r in conn.execute(sa.select(t.ports).where(
        t.ports.c.device_id == instance_id, t.ports.c.device_owner.like("compute:%"))
        .order_by(t.ports.c.created_at, t.ports.c.id)).mappings()]
    if not rows:
        raise errors.BadRequest(f"instance {instance_id} has no ports")
    found = ports.decorate(conn, rows)
    changed = []
    for port in found:
        groups = list(port["security_groups"])
        if add and row.id not in groups:
            groups.append(row.id)
        elif not add and row.id in groups:
            groups.remove(row.id)
        else:
            continue
        ports.update(conn, ctx, port["id"], {"security_groups": groups}, binding, None)
        changed.append(port["id"])
    if not changed:
        raise errors.BadRequest(
            f"Security group {row.name} is already associated with the instance {instance_id}"
            if add else f"Security group {row.name} not associated with the instance "
            f"{instance_id}")
    return str(row.name), changed


def _group_ids(conn: Connection, ctx: RequestContext, names: list[str]) -> list[str]:
    ids = []
    for name in names:
        row = conn.execute(sa.select(t.security_groups.c.id).where(
            t.security_groups.c.project_id == (ctx.project_id or ""),
            sa.or_(t.security_groups.c.id == name, t.security_groups.c.name == name))).first()
        if row is None:
            raise errors.not_found("SecurityGroup", name, f"Security group {name} not found.")
        ids.append(str(row[0]))
    return ids


def deallocate(conn: Connection, ctx: RequestContext, instance_id: str,
               keep: tuple[str, ...], binding: ports.BindingConfig,
               only: tuple[str, ...] | None = None) -> None:
    for row in conn.execute(sa.select(t.ports.c.id).where(
            t.ports.c.device_id == instance_id, t.ports.c.device_owner == OWNER)).all():
        if only is not None and row.id not in only:
            continue
        if row.id in keep:
            conn.execute(sa.update(t.ports).where(t.ports.c.id == row.id).values(
                device_id="", device_owner="", binding_host_id="", binding_vif_type="unbound",
                binding_vif_details={}, status="DOWN"))
            common.bump(conn, t.ports, row.id)
        else:
            ports.delete(conn, ctx, row.id, internal=True)


def ports_of(conn: Connection, instance_id: str) -> list[dict[str, Any]]:
    rows = [dict(r) for r in conn.execute(sa.select(t.ports).where(
        t.ports.c.device_id == instance_id, t.ports.c.device_owner.like("compute:%"))
        .order_by(t.ports.c.created_at, t.ports.c.id)).mappings()]
    return [_vif(conn, p, created=True) for p in ports.decorate(conn, rows)]


def addresses(conn: Connection, instance_ids: list[str]) -> dict[str, dict[str, list[Any]]]:
    out: dict[str, dict[str, list[Any]]] = {i: {} for i in instance_ids}
    if not instance_ids:
        return out
    rows = [dict(r) for r in conn.execute(sa.select(t.ports).where(
        t.ports.c.device_id.in_(instance_ids), t.ports.c.device_owner.like("compute:%"))
        .order_by(t.ports.c.created_at, t.ports.c.id)).mappings()]
    decorated = ports.decorate(conn, rows)
    names = dict(conn.execute(sa.select(t.networks.c.id, t.networks.c.name).where(
        t.networks.c.id.in_({p["network_id"] for p in decorated}))).all()) if decorated else {}
    floating: dict[tuple[str, str], str] = {}
    if decorated:
        for fip in conn.execute(sa.select(t.floatingips).where(
                t.floatingips.c.fixed_port_id.in_([p["id"] for p in decorated]))):
            floating[(fip.fixed_port_id, fip.fixed_ip_address)] = fip.floating_ip_address
    for port in decorated:
        entries = out[port["device_id"]].setdefault(names.get(port["network_id"], ""), [])
        for ip in port["fixed_ips"]:
            version = ipaddress.ip_address(ip["ip_address"]).version
            entries.append({"addr": ip["ip_address"], "version": version,
                            "OS-EXT-IPS:type": "fixed",
                            "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
            fip_address = floating.get((port["id"], ip["ip_address"]))
            if fip_address:
                entries.append({"addr": fip_address, "version": 4,
                                "OS-EXT-IPS:type": "floating",
                                "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]})
    return out


def security_groups(conn: Connection, instance_ids: list[str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {i: [] for i in instance_ids}
    if not instance_ids:
        return out
    pairs = conn.execute(
        sa.select(t.ports.c.device_id, t.port_security_groups.c.security_group_id)
        .join(t.port_security_groups, t.port_security_groups.c.port_id == t.ports.c.id)
        .where(t.ports.c.device_id.in_(instance_ids),
               t.ports.c.device_owner.like("compute:%"))).all()
    ids = sorted({group_id for _, group_id in pairs})
    groups = {g["id"]: g for g in sgs.decorate(conn, [dict(r) for r in conn.execute(
        sa.select(t.security_groups).where(t.security_groups.c.id.in_(ids))).mappings()])}
    for instance_id, group_id in pairs:
        if group_id in groups and groups[group_id] not in out[instance_id]:
            out[instance_id].append(groups[group_id])
    return out


def auto_networks(conn: Connection, ctx: RequestContext) -> list[str]:
    """The networks ``networks: auto`` could mean for the caller, oldest first: its own
    internal networks, or (when it has none) the shared ones. One is an answer; more are
    ambiguous; none means there is nothing to boot on."""
    clause = networks.visible_clause(ctx)
    query = sa.select(t.networks.c.id, t.networks.c.project_id, t.networks.c.shared).where(
        t.networks.c.external.is_(False))
    if clause is not None:
        query = query.where(clause)
    rows = conn.execute(query.order_by(t.networks.c.created_at, t.networks.c.id)).all()
    own = [str(r.id) for r in rows if r.project_id == ctx.project_id]
    return own or [str(r.id) for r in rows if r.shared]


def visible_networks(conn: Connection, ctx: RequestContext) -> list[dict[str, Any]]:
    """The networks the caller sees (id, name, external), oldest first (Nova's os-networks)."""
    clause = networks.visible_clause(ctx)
    query = sa.select(t.networks.c.id, t.networks.c.name, t.networks.c.external)
    if clause is not None:
        query = query.where(clause)
    return [dict(r) for r in conn.execute(query.order_by(t.networks.c.created_at,
                                                         t.networks.c.id)).mappings()]


def _nova_fip(conn: Connection, fip: dict[str, Any]) -> dict[str, Any]:
    pool = conn.execute(sa.select(t.networks.c.name).where(
        t.networks.c.id == fip["floating_network_id"])).scalar()
    instance = None
    if fip["fixed_port_id"]:
        port = conn.execute(sa.select(t.ports.c.device_id, t.ports.c.device_owner).where(
            t.ports.c.id == fip["fixed_port_id"])).first()
        if port is not None and str(port.device_owner).startswith("compute:"):
            instance = port.device_id
    return {"id": fip["id"], "ip": fip["floating_ip_address"],
            "fixed_ip": fip["fixed_ip_address"], "instance_id": instance, "pool": pool}


def floating_ips(conn: Connection, ctx: RequestContext) -> list[dict[str, Any]]:
    """The caller's floating IPs as Nova's os-floating-ips shows them."""
    clause = floatingips.visible_clause(ctx)
    query = sa.select(t.floatingips)
    if clause is not None:
        query = query.where(clause)
    rows = conn.execute(query.order_by(t.floatingips.c.created_at, t.floatingips.c.id))
    return [_nova_fip(conn, dict(r)) for r in rows.mappings()]


def floating_ip(conn: Connection, ctx: RequestContext, fip_id: str) -> dict[str, Any]:
    return _nova_fip(conn, floatingips.get_visible(conn, ctx, fip_id))


def create_floating_ip(conn: Connection, ctx: RequestContext, pool: str,
                       quota_defaults: dict[str, int], binding: ports.BindingConfig
                       ) -> dict[str, Any]:
    """A floating IP from the external network named (or with the id) ``pool``."""
    clause = networks.visible_clause(ctx)
    query = sa.select(t.networks.c.id).where(
        t.networks.c.external.is_(True),
        sa.or_(t.networks.c.name == pool, t.networks.c.id == pool))
    if clause is not None:
        query = query.where(clause)
    network_id = conn.execute(query.order_by(t.networks.c.created_at)).scalar()
    if network_id is None:
        raise errors.not_found("Network", pool, "Floating IP pool not found.")
    fip = floatingips.create(conn, ctx, {"floating_network_id": network_id,
                                         "project_id": ctx.project_id or ""},
                             quota_defaults, binding)
    return _nova_fip(conn, fip)


def delete_floating_ip(conn: Connection, ctx: RequestContext, fip_id: str) -> None:
    floatingips.delete(conn, ctx, fip_id)


def groups_of_caller(conn: Connection, ctx: RequestContext) -> list[dict[str, Any]]:
    """The caller's security groups (its project's ``default`` made first, as Neutron does on
    first use), rules included, oldest first (Nova's os-security-groups)."""
    if ctx.project_id:
        sgs.ensure_default(conn, ctx.project_id)
    clause = sgs.visible_clause(ctx)
    query = sa.select(t.security_groups)
    if clause is not None:
        query = query.where(clause)
    rows = [dict(r) for r in conn.execute(query.order_by(
        t.security_groups.c.created_at, t.security_groups.c.id)).mappings()]
    return sgs.decorate(conn, rows)


def associate_floating_ip(conn: Connection, ctx: RequestContext, instance_id: str,
                          address: str, fixed_address: str | None, add: bool) -> str:
    """Nova's addFloatingIp/removeFloatingIp: (dis)associate the caller's floating IP
    ``address`` with a port of the instance (the one holding ``fixed_address``, else its
    first port with an IPv4 address). Answers the floating IP's id."""
    clause = floatingips.visible_clause(ctx)
    query = sa.select(t.floatingips).where(t.floatingips.c.floating_ip_address == address)
    if clause is not None:
        query = query.where(clause)
    fip = conn.execute(query).mappings().first()
    if fip is None:
        raise errors.not_found("FloatingIP", address,
                               f"floating IP not found for address {address}.")
    rows = [dict(r) for r in conn.execute(sa.select(t.ports).where(
        t.ports.c.device_id == instance_id, t.ports.c.device_owner.like("compute:%"))
        .order_by(t.ports.c.created_at, t.ports.c.id)).mappings()]
    found = ports.decorate(conn, rows)
    if not add:
        if fip["fixed_port_id"] not in {p["id"] for p in found}:
            raise errors.conflict("FloatingIPNotAssociated",
                                  f"Floating IP {address} is not associated with instance "
                                  f"{instance_id}.")
        floatingips.update(conn, ctx, fip["id"], {"port_id": None}, None)
        return str(fip["id"])
    for port in found:
        for ip in port["fixed_ips"]:
            v4 = ipaddress.ip_address(ip["ip_address"]).version == 4
            if (fixed_address and ip["ip_address"] == fixed_address) or \
                    (not fixed_address and v4):
                floatingips.update(conn, ctx, fip["id"], {
                    "port_id": port["id"], "fixed_ip_address": ip["ip_address"]}, None)
                return str(fip["id"])
    if fixed_address:
        raise errors.BadRequest(f"Specified fixed address {fixed_address} not assigned to "
                                "instance")
    raise errors.BadRequest(f"Instance {instance_id} has no fixed IPv4 address to associate "
                            "a floating IP with")
