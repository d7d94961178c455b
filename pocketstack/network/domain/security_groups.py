"""Security groups and rules: the per-project ``default`` group made on first use (with
Neutron's four default rules), rule validation and normalisation, duplicate refusal."""

from __future__ import annotations

import ipaddress
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.elements import ColumnElement

from pocketstack.common.context import RequestContext
from pocketstack.network import errors
from pocketstack.network import tables as t
from pocketstack.network.domain import common, quotas
from pocketstack.network.domain.common import ListQuery

RESOURCE = "security-groups"
RULE_RESOURCE = "security-group-rules"
PROTOCOLS = {"ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0, "icmp": 1,
             "igmp": 2, "ip": 0, "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44,
             "ipv6-icmp": 58, "icmpv6": 58, "ipv6-nonxt": 59, "ipv6-opts": 60,
             "ipv6-route": 43, "ospf": 89, "pgm": 113, "rsvp": 46, "sctp": 132, "tcp": 6,
             "udp": 17, "udplite": 136, "vrrp": 112}
PORT_PROTOCOLS = ("tcp", "udp", "udplite", "sctp", "dccp", "6", "17", "136", "132", "33")
ICMP_PROTOCOLS = ("icmp", "icmpv6", "ipv6-icmp", "1", "58")


def group_not_found(group_id: str) -> Exception:
    return errors.not_found("SecurityGroup", group_id, f"Security group {group_id} does not "
                            "exist")


def visible_clause(ctx: RequestContext) -> ColumnElement[bool] | None:
    if ctx.is_admin:
        return None
    return t.security_groups.c.project_id == (ctx.project_id or "")


def default_of(conn: Connection, project_id: str) -> str | None:
    d = t.default_security_groups
    found = conn.execute(sa.select(d.c.security_group_id).where(d.c.project_id == project_id)
                         ).first()
    return None if found is None else str(found[0])


def ensure_default(conn: Connection, project_id: str) -> str:
    """The project's ``default`` group, made now if it has none (at most one, whatever the
    concurrency: the project's row in the defaults table is unique)."""
    d = t.default_security_groups
    found = conn.execute(sa.select(d.c.security_group_id).where(d.c.project_id == project_id)
                         ).first()
    if found is not None:
        return str(found[0])
    group_id = common.new_id()
    try:
        with conn.begin_nested():
            conn.execute(sa.insert(t.security_groups).values(
                id=group_id, project_id=project_id, name="default", stateful=True,
                **common.standard("Default security group")))
            conn.execute(sa.insert(d).values(project_id=project_id, security_group_id=group_id))
            for ethertype in ("IPv4", "IPv6"):
                for direction, remote in (("egress", None), ("ingress", group_id)):
                    conn.execute(sa.insert(t.security_group_rules).values(
                        id=common.new_id(), project_id=project_id, security_group_id=group_id,
                        direction=direction, ethertype=ethertype, protocol=None,
                        port_range_min=None, port_range_max=None, remote_ip_prefix=None,
                        remote_group_id=remote, **common.standard()))
    except IntegrityError:
        found = conn.execute(sa.select(d.c.security_group_id)
                             .where(d.c.project_id == project_id)).first()
        assert found is not None
        return str(found[0])
    return group_id


def get_visible(conn: Connection, ctx: RequestContext, group_id: str) -> dict[str, Any]:
    query = sa.select(t.security_groups).where(t.security_groups.c.id == group_id)
    clause = visible_clause(ctx)
    if clause is not None:
        query = query.where(clause)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise group_not_found(group_id)
    return decorate(conn, [dict(row)])[0]


def decorate(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [r["id"] for r in rows]
    rules: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for rule in conn.execute(sa.select(t.security_group_rules).where(
                t.security_group_rules.c.security_group_id.in_(chunk))
                .order_by(t.security_group_rules.c.created_at,
                          t.security_group_rules.c.id)).mappings():
            rules[rule["security_group_id"]].append(dict(rule))
    defaults = {r[0] for r in conn.execute(
        sa.select(t.default_security_groups.c.security_group_id)
        .where(t.default_security_groups.c.security_group_id.in_(ids)))} if ids else set()
    tags = common.tags_of(conn, RESOURCE, ids)
    rule_tags = common.tags_of(conn, RULE_RESOURCE,
                               [r["id"] for group in rules.values() for r in group])
    for group in rules.values():
        for item in group:
            item["tags"] = rule_tags[item["id"]]
            item["belongs_to_default_sg"] = item["security_group_id"] in defaults
    return [dict(r, security_group_rules=rules[r["id"]], tags=tags[r["id"]],
                 is_default=r["id"] in defaults) for r in rows]


def list_groups(conn: Connection, ctx: RequestContext,
                q: ListQuery) -> tuple[list[dict[str, Any]], bool]:
    clause = visible_clause(ctx)
    rows, more = common.list_rows(conn, t.security_groups, RESOURCE, q,
                                  [] if clause is None else [clause], "SecurityGroup")
    return decorate(conn, rows), more


def create(conn: Connection, ctx: RequestContext, values: dict[str, Any],
           quota_defaults: dict[str, int], tags: list[str] | None = None) -> dict[str, Any]:
    project_id = values["project_id"]
    ensure_default(conn, project_id)
    quotas.check(conn, project_id, "security_group", quota_defaults)
    if values.get("name") == "default":
        raise errors.conflict("SecurityGroupDefaultAlreadyExists",
                              "Default security group already exists.")
    group_id = common.new_id()
    conn.execute(sa.insert(t.security_groups).values(
        id=group_id, project_id=project_id, name=values.get("name") or "",
        stateful=values.get("stateful", True), **common.standard(values.get("description"))))
    for ethertype in ("IPv4", "IPv6"):
        conn.execute(sa.insert(t.security_group_rules).values(
            id=common.new_id(), project_id=project_id, security_group_id=group_id,
            direction="egress", ethertype=ethertype, protocol=None, port_range_min=None,
            port_range_max=None, remote_ip_prefix=None, remote_group_id=None,
            **common.standard()))
    if tags:
        common.replace_tags(conn, RESOURCE, group_id, tags)
    return get_visible(conn, ctx, group_id)


def update(conn: Connection, ctx: RequestContext, group_id: str, values: dict[str, Any],
           if_match: int | None) -> dict[str, Any]:
    group = get_visible(conn, ctx, group_id)
    if group["is_default"] and "name" in values and values["name"] != "default":
        raise errors.conflict("SecurityGroupCannotUpdateDefault",
                              "Updating default security group not allowed.")
    if not group["is_default"] and values.get("name") == "default":
        raise errors.conflict("SecurityGroupDefaultAlreadyExists",
                              "Default security group already exists.")
    columns: dict[str, Any] = {k: values[k] for k in ("name", "description", "stateful")
                               if k in values}
    common.update_row(conn, t.security_groups, group_id, columns, "SecurityGroup", if_match)
    return get_visible(conn, ctx, group_id)


def delete(conn: Connection, ctx: RequestContext, group_id: str) -> None:
    group = get_visible(conn, ctx, group_id)
    if group["is_default"] and not ctx.is_admin:
        raise errors.conflict("SecurityGroupCannotRemoveDefault",
                              "Removing default security group not allowed.")
    used = conn.execute(sa.select(t.port_security_groups.c.port_id).where(
        t.port_security_groups.c.security_group_id == group_id)).first()
    if used is not None:
        raise errors.conflict("SecurityGroupInUse", f"Security Group {group_id} in use.")
    rule_ids = [r["id"] for r in group["security_group_rules"]]
    for rule_id in rule_ids:
        common.drop_tags(conn, RULE_RESOURCE, rule_id)
    conn.execute(sa.delete(t.security_group_rules).where(
        sa.or_(t.security_group_rules.c.security_group_id == group_id,
               t.security_group_rules.c.remote_group_id == group_id)))
    conn.execute(sa.delete(t.default_security_groups).where(
        t.default_security_groups.c.security_group_id == group_id))
    common.drop_tags(conn, RESOURCE, group_id)
    conn.execute(sa.delete(t.security_groups).where(t.security_groups.c.id == group_id))


# -- rules -------------------------------------------------------------------------------------
def rule_visible_clause(ctx: RequestContext) -> ColumnElement[bool] | None:
    if ctx.is_admin:
        return None
    r = t.security_group_rules
    return sa.or_(r.c.project_id == (ctx.project_id or ""), r.c.security_group_id.in_(
        sa.select(t.security_groups.c.id).where(
            t.security_groups.c.project_id == (ctx.project_id or ""))))


def get_rule(conn: Connection, ctx: RequestContext, rule_id: str) -> dict[str, Any]:
    query = sa.select(t.security_group_rules).where(t.security_group_rules.c.id == rule_id)
    clause = rule_visible_clause(ctx)
    if clause is not None:
        query = query.where(clause)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise errors.not_found("SecurityGroupRule", rule_id,
                               f"Security group rule {rule_id} does not exist")
    return decorate_rules(conn, [dict(row)])[0]


def decorate_rules(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    ids = [r["id"] for r in rows]
    tags = common.tags_of(conn, RULE_RESOURCE, ids)
    group_ids = list({r["security_group_id"] for r in rows})
    defaults = {r[0] for r in conn.execute(
        sa.select(t.default_security_groups.c.security_group_id)
        .where(t.default_security_groups.c.security_group_id.in_(group_ids)))} \
        if group_ids else set()
    return [dict(r, tags=tags[r["id"]],
                 belongs_to_default_sg=r["security_group_id"] in defaults) for r in rows]


def list_rules(conn: Connection, ctx: RequestContext,
               q: ListQuery) -> tuple[list[dict[str, Any]], bool]:
    clause = rule_visible_clause(ctx)
    rows, more = common.list_rows(conn, t.security_group_rules, RULE_RESOURCE, q,
                                  [] if clause is None else [clause], "SecurityGroupRule")
    return decorate_rules(conn, rows), more


def _normalise_rule(values: dict[str, Any]) -> dict[str, Any]:
    direction = values.get("direction")
    if direction not in ("ingress", "egress"):
        raise errors.InvalidInput(f"'{direction}' is not in ['ingress', 'egress']")
    ethertype = values.get("ethertype") or "IPv4"
    if ethertype not in ("IPv4", "IPv6"):
        raise errors.bad_request("SecurityGroupRuleInvalidEtherType",
                                 f"Security group rule for ethertype '{ethertype}' not "
                                 "supported. Allowed values are ['IPv4', 'IPv6'].")
    protocol = values.get("protocol")
    if protocol is not None:
        protocol = str(protocol).lower()
        if protocol in ("any", ""):
            protocol = None
        elif protocol.isdigit():
            if not 0 <= int(protocol) <= 255:
                raise errors.bad_request("SecurityGroupRuleInvalidProtocol",
                                         f"Security group rule protocol {protocol} not "
                                         "supported. Only protocol values [None, tcp, udp, "
                                         "icmp, ...] and integer representations [0 to 255] "
                                         "are supported.")
        elif protocol not in PROTOCOLS:
            raise errors.bad_request("SecurityGroupRuleInvalidProtocol",
                                     f"Security group rule protocol {protocol} not supported. "
                                     "Only protocol values [None, tcp, udp, icmp, ...] and "
                                     "integer representations [0 to 255] are supported.")
    if protocol in ("icmp", "1") and ethertype == "IPv6":
        protocol = "ipv6-icmp" if protocol == "icmp" else "58"
    low, high = values.get("port_range_min"), values.get("port_range_max")
    for value in (low, high):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise errors.InvalidInput(f"'{value}' is not an integer")
    if (low is not None or high is not None) and protocol is None:
        raise errors.bad_request("SecurityGroupProtocolRequiredWithPorts",
                                 "Must also specify protocol if port range is given.")
    if protocol in PORT_PROTOCOLS:
        if low is not None and high is None:
            high = low
        if low is None and high is not None:
            raise errors.bad_request("SecurityGroupInvalidPortRange",
                                     "For TCP/UDP protocols, port_range_min must be <= "
                                     "port_range_max")
        if low is not None and high is not None:
            for value in (low, high):
                if not 0 <= value <= 65535:
                    raise errors.bad_request("SecurityGroupInvalidPortValue",
                                             f"Invalid value for port {value}.")
            if low > high:
                raise errors.bad_request("SecurityGroupInvalidPortRange",
                                         "For TCP/UDP protocols, port_range_min must be <= "
                                         "port_range_max")
            if low == 0 and high == 0:
                raise errors.bad_request("SecurityGroupInvalidPortValue",
                                         "Invalid value for port 0.")
    elif protocol in ICMP_PROTOCOLS or protocol in ("ipv6-icmp", "icmpv6"):
        for field_name, value in (("type", low), ("code", high)):
            if value is not None and not 0 <= value <= 255:
                raise errors.bad_request("SecurityGroupInvalidIcmpValue",
                                         f"Invalid value for ICMP {field_name} "
                                         f"(port_range_min): {value}")
        if high is not None and low is None:
            raise errors.bad_request("SecurityGroupMissingIcmpType",
                                     f"ICMP code (port-range-max) {high} is provided but ICMP "
                                     "type (port-range-min) is missing.")
    elif low is not None or high is not None:
        raise errors.bad_request("SecurityGroupInvalidProtocolForPort",
                                 f"Ports cannot be specified for protocol {protocol}.")
    prefix = values.get("remote_ip_prefix")
    remote_group = values.get("remote_group_id")
    if values.get("remote_address_group_id"):
        raise errors.InvalidInput("remote_address_group_id is not supported")
    if prefix is not None and remote_group is not None:
        raise errors.bad_request("SecurityGroupRemoteGroupAndRemoteIpPrefix",
                                 "Only remote_ip_prefix or remote_group_id may be provided.")
    if prefix is not None:
        try:
            net = ipaddress.ip_network(str(prefix), strict=False)
        except ValueError:
            raise errors.InvalidInput(f"'{prefix}' is not a valid IP subnet") from None
        if f"IPv{net.version}" != ethertype:
            raise errors.bad_request("SecurityGroupRuleParameterConflict",
                                     f"Conflicting value ethertype {ethertype} for CIDR "
                                     f"{prefix}")
        # as Neutron (netaddr's str): the mask is added, host bits stay (normalized_cidr drops
        # them)
        prefix = str(ipaddress.ip_interface(str(prefix)))
    return {"direction": direction, "ethertype": ethertype, "protocol": protocol,
            "port_range_min": low, "port_range_max": high, "remote_ip_prefix": prefix,
            "remote_group_id": remote_group}


def normalized_cidr(prefix: str | None) -> str | None:
    """Neutron's ``normalized_cidr`` of a rule: its ``remote_ip_prefix`` without host bits."""
    if prefix is None:
        return None
    try:
        return str(ipaddress.ip_network(prefix, strict=False))
    except ValueError:
        return prefix


_SAME_PROTOCOL = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp", "icmpv6": "ipv6-icmp"}


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def norm(rule: dict[str, Any]) -> tuple[Any, ...]:
        proto = rule["protocol"]
        proto = _SAME_PROTOCOL.get(str(proto), proto) if proto is not None else None
        prefix = normalized_cidr(rule["remote_ip_prefix"])
        if prefix in ("0.0.0.0/0", "::/0"):
            prefix = None
        return (rule["direction"], rule["ethertype"], proto, rule["port_range_min"],
                rule["port_range_max"], prefix, rule["remote_group_id"])
    return norm(a) == norm(b)


def create_rule(conn: Connection, ctx: RequestContext, values: dict[str, Any],
                quota_defaults: dict[str, int]) -> dict[str, Any]:
    rule = _normalise_rule(values)
    group_id = values.get("security_group_id")
    if not group_id:
        raise errors.InvalidInput("security_group_id is required")
    group = get_visible(conn, ctx, group_id)
    if rule["remote_group_id"] is not None:
        get_visible(conn, ctx, rule["remote_group_id"])
    project_id = values.get("project_id") or group["project_id"]
    quotas.check(conn, project_id, "security_group_rule", quota_defaults)
    for existing in group["security_group_rules"]:
        if _same(existing, rule):
            raise errors.conflict("SecurityGroupRuleExists", "Security group rule already "
                                  f"exists. Rule id is {existing['id']}.")
    rule_id = common.new_id()
    conn.execute(sa.insert(t.security_group_rules).values(
        id=rule_id, project_id=project_id, security_group_id=group_id, **rule,
        **common.standard(values.get("description"))))
    common.bump(conn, t.security_groups, group_id)
    return get_rule(conn, ctx, rule_id)


def delete_rule(conn: Connection, ctx: RequestContext, rule_id: str) -> None:
    rule = get_rule(conn, ctx, rule_id)
    common.drop_tags(conn, RULE_RESOURCE, rule_id)
    conn.execute(sa.delete(t.security_group_rules).where(t.security_group_rules.c.id == rule_id))
    common.bump(conn, t.security_groups, rule["security_group_id"])
