"""What the metadata API says about one instance, as Nova lays it out: the OpenStack tree
(``/openstack/<version>/meta_data.json``, ``network_data.json``, ...) and the EC2 tree
(``/<version>/meta-data/...``). Pure functions from the instance's row and ports; the HTTP
side is :mod:`pocketstack.compute.api.metadata`.

A tree is nested dicts: a dict is a directory, anything else a file. In the EC2 tree a
directory may carry ``_name``, the line its parent's listing shows for it (``0=<keyname>``).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
from dataclasses import dataclass, field
from typing import Any

from pocketstack.network.interface import FixedIP, Vif

#: Nova's OpenStack metadata versions, oldest first (``latest`` is the newest)
OPENSTACK_VERSIONS = ("2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30",
                      "2016-10-06", "2017-02-22", "2018-08-27", "2020-10-14")
GRIZZLY, HAVANA, LIBERTY = "2013-04-04", "2013-10-17", "2015-10-15"
NEWTON_ONE, NEWTON_TWO = "2016-06-30", "2016-10-06"
#: the EC2 versions Nova answers, oldest first
EC2_VERSIONS = ("1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15",
                "2008-02-01", "2008-09-01", "2009-04-04")
DHCP_DOMAIN = "novalocal"  # Nova's [api] dhcp_domain


@dataclass
class InstanceFacts:
    """Everything the trees are built from."""

    row: dict[str, Any]  # the instance row, with ``key_type`` (compute.domain.metadata)
    ports: list[Vif] = field(default_factory=list)
    floating_ips: list[str] = field(default_factory=list)
    security_groups: list[str] = field(default_factory=list)

    @property
    def user_data(self) -> bytes | None:
        raw = self.row.get("user_data")
        if raw is None:
            return None
        try:
            return base64.b64decode(raw)
        except (binascii.Error, ValueError):
            return str(raw).encode()

    @property
    def hostname(self) -> str:
        host = self.row.get("hostname") or self.row["display_name"]
        return f"{host}.{DHCP_DOMAIN}" if DHCP_DOMAIN else str(host)

    def fixed_ipv4(self) -> str:
        for vif in self.ports:
            for ip in vif.fixed_ips:
                if ip.version == 4:
                    return ip.address
        return ""


def _since(version: str, first: str) -> bool:
    """``version`` (a dated version, or ``latest``) has what ``first`` introduced."""
    return version == "latest" or version >= first


def openstack_files(facts: InstanceFacts, version: str) -> dict[str, Any]:
    """The files of ``/openstack/<version>/`` (values are rendered by the caller)."""
    files: dict[str, Any] = {"meta_data.json": meta_data(facts, version)}
    if facts.user_data is not None:
        files["user_data"] = facts.user_data
    if has_password(version):
        files["password"] = facts.row.get("admin_pass") or ""
    if _since(version, HAVANA):
        files["vendor_data.json"] = {}
    if _since(version, LIBERTY):
        files["network_data.json"] = network_data(facts)
    if _since(version, NEWTON_TWO):
        files["vendor_data2.json"] = {}
    return files


def has_password(version: str) -> bool:
    """Whether ``/openstack/<version>/`` has the ``password`` file (Grizzly on)."""
    return _since(version, GRIZZLY)


def openstack_listing(facts: InstanceFacts, version: str) -> list[str]:
    """Nova's order of the files (not alphabetical)."""
    order = ("meta_data.json", "user_data", "password", "vendor_data.json",
             "network_data.json", "vendor_data2.json")
    present = openstack_files(facts, version)
    return [name for name in order if name in present]


def meta_data(facts: InstanceFacts, version: str) -> dict[str, Any]:
    row = facts.row
    out: dict[str, Any] = {"uuid": row["uuid"], "meta": dict(row.get("metadata") or {})}
    if row.get("key_name"):
        out["public_keys"] = {row["key_name"]: row.get("key_data") or ""}
        if _since(version, LIBERTY):
            out["keys"] = [{"name": row["key_name"], "type": row.get("key_type") or "ssh",
                            "data": row.get("key_data") or ""}]
    out["hostname"] = facts.hostname
    out["name"] = row["display_name"]
    out["launch_index"] = row.get("launch_index") or 0
    out["availability_zone"] = row.get("availability_zone")
    if _since(version, GRIZZLY):
        out["random_seed"] = base64.b64encode(os.urandom(512)).decode()
    if _since(version, LIBERTY):
        out["project_id"] = row["project_id"]
    if _since(version, NEWTON_ONE):
        out["devices"] = []
    return out


def network_data(facts: InstanceFacts) -> dict[str, Any]:
    """Nova's network_data.json: one link per port, one network per fixed IP (``ipv4_dhcp``
    / ``ipv6_dhcp`` on a DHCP-enabled subnet, as Nova gives it when Neutron serves DHCP
    there: the guest asks; ``ipv6_<mode>`` for SLAAC and DHCPv6 address modes; else the
    static address, netmask, default and host routes and DNS), and every subnet's DNS servers
    as ``services``."""
    links: list[dict[str, Any]] = []
    networks: list[dict[str, Any]] = []
    services: list[dict[str, str]] = []
    for vif in facts.ports:
        link_id = f"tap{vif.port_id[:11]}"
        links.append({"id": link_id, "vif_id": vif.port_id,
                      "type": vif.vif_type if vif.vif_type != "binding_failed" else "other",
                      "mtu": vif.mtu, "ethernet_mac_address": vif.mac_address})
        for ip in vif.fixed_ips:
            dns = [{"type": "dns", "address": a} for a in ip.dns_nameservers]
            services += [d for d in dns if d not in services]
            number = f"network{len(networks)}"
            if ip.enable_dhcp and not ip.ipv6_address_mode:
                networks.append({"id": number, "type": f"ipv{ip.version}_dhcp",
                                 "link": link_id, "network_id": vif.network_id})
                continue
            networks.append(_static_network(number, link_id, vif.network_id, ip, dns))
    return {"links": links, "networks": networks, "services": services}


def _static_network(number: str, link_id: str, network_id: str, ip: FixedIP,
                    dns: list[dict[str, str]]) -> dict[str, Any]:
    net = ipaddress.ip_network(ip.cidr, strict=False)
    kind = f"ipv6_{ip.ipv6_address_mode}" if ip.version == 6 and ip.ipv6_address_mode \
        else f"ipv{ip.version}"
    entry: dict[str, Any] = {
        "id": number, "type": kind, "link": link_id, "ip_address": ip.address,
        "netmask": str(net.netmask), "routes": [], "network_id": network_id,
        "services": dns}
    if ip.gateway:
        default = "0.0.0.0" if ip.version == 4 else "::"
        entry["routes"].append({"network": default, "netmask": default,
                                "gateway": ip.gateway})
    for destination, nexthop in ip.host_routes:
        route = ipaddress.ip_network(destination, strict=False)
        if route.version == ip.version:
            entry["routes"].append({"network": str(route.network_address),
                                    "netmask": str(route.netmask), "gateway": nexthop})
    return entry


def ec2_tree(facts: InstanceFacts, version: str) -> dict[str, Any]:
    """``/<version>/``: ``meta-data/`` and (when the instance has some) ``user-data``."""
    row = facts.row
    image = str(row.get("image_ref") or "")
    digits = image.replace("-", "")[:8]
    ami = f"ami-{int(digits, 16):08x}" if _is_hex(digits) else "ami-00000000"
    md: dict[str, Any] = {
        "ami-id": ami,
        "ami-launch-index": row.get("launch_index") or 0,
        "ami-manifest-path": "FIXME",
        "instance-id": f"i-{int(row['id']):08x}",
        "hostname": facts.hostname,
        "local-ipv4": facts.fixed_ipv4(),
        "reservation-id": row.get("reservation_id") or "",
        "security-groups": list(facts.security_groups),
    }
    if row.get("key_name"):
        md["public-keys"] = {"0": {"_name": f"0={row['key_name']}",
                                   "openssh-key": row.get("key_data") or ""}}
    if _since(version, "2007-01-19"):
        md["local-hostname"] = facts.hostname
        md["public-hostname"] = facts.hostname
        md["public-ipv4"] = facts.floating_ips[0] if facts.floating_ips else ""
    if _since(version, "2007-03-01"):
        md["product-codes"] = []
    if _since(version, "2007-08-29"):
        md["instance-type"] = (row.get("flavor") or {}).get("name", "")
    if _since(version, "2007-12-15"):
        md["block-device-mapping"] = {"ami": "vda", "root": "/dev/vda"}
    if _since(version, "2008-02-01"):
        md["placement"] = {"availability-zone": row.get("availability_zone") or ""}
    if _since(version, "2008-09-01"):
        md["instance-action"] = "none"
    tree: dict[str, Any] = {"meta-data": md}
    if facts.user_data is not None:
        tree["user-data"] = facts.user_data
    return tree


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return bool(text)


def ec2_listing(tree: dict[str, Any]) -> str:
    """A directory as Nova lists it: sorted, subdirectories with ``/`` (or their ``_name``)."""
    lines = []
    for key in sorted(tree):
        if key == "_name":
            continue
        value = tree[key]
        if isinstance(value, dict):
            lines.append(str(value["_name"]) if "_name" in value else key + "/")
        else:
            lines.append(key)
    return "\n".join(lines)


def render(value: Any, json_file: bool) -> bytes:
    """A file's body: JSON for ``*.json``, lists one item a line, bytes as they are."""
    if isinstance(value, bytes):
        return value
    if json_file:
        return json.dumps(value).encode()
    if isinstance(value, list):
        return "\n".join(str(v) for v in value).encode()
    return str(value).encode()
