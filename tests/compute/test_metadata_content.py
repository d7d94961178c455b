"""The metadata trees without a cloud: two ports with IPv4 and IPv6 in network_data.json,
the EC2 listings' shape, version gating and user data that is not base64."""

from __future__ import annotations

from typing import Any

from pocketstack.compute.api import metadata_content as content
from pocketstack.network.interface import FixedIP, Vif


def _row(**extra: Any) -> dict[str, Any]:
    row = {"id": 42, "uuid": "u-1", "display_name": "web 1", "hostname": "web-1",
           "project_id": "p", "launch_index": 0, "availability_zone": "nova",
           "key_name": None, "key_data": None, "key_type": None, "user_data": None,
           "metadata": {}, "image_ref": "3c0ffee0-aaaa-4bbb-8ccc-000000000000",
           "reservation_id": "r-1", "flavor": {"name": "m1.tiny"}}
    row.update(extra)
    return row


def _vif(port: str, net: str, *ips: FixedIP) -> Vif:
    return Vif(port_id=port, network_id=net, network_name="n", mac_address="fa:16:3e:00:00:01",
               vif_type="bridge", vif_details={}, mtu=1450, network_type="vxlan",
               physical_network=None, segmentation_id=7, fixed_ips=ips)


def test_network_data_two_ports_and_ipv6() -> None:
    facts = content.InstanceFacts(_row(), ports=[
        _vif("aaaaaaaaaaaa-1", "net-a", FixedIP("10.0.0.5", 4, "s1", "10.0.0.0/26", "10.0.0.1"),
             FixedIP("fd00::5", 6, "s2", "fd00::/64", None)),
        _vif("bbbbbbbbbbbb-2", "net-b", FixedIP("192.168.1.9", 4, "s3", "192.168.1.0/24",
                                                None))])
    data = content.network_data(facts)
    assert [link["id"] for link in data["links"]] == ["tapaaaaaaaaaaa", "tapbbbbbbbbbbb"]
    nets = data["networks"]
    assert [n["id"] for n in nets] == ["network0", "network1", "network2"]
    assert nets[0]["netmask"] == "255.255.255.192" and nets[0]["routes"][0]["gateway"] == \
        "10.0.0.1"
    assert nets[1]["type"] == "ipv6" and nets[1]["netmask"] == "ffff:ffff:ffff:ffff::"
    assert nets[1]["routes"] == [] and nets[2]["link"] == "tapbbbbbbbbbbb"
    assert facts.fixed_ipv4() == "10.0.0.5"


def test_network_data_dhcp_subnets_and_dns_services() -> None:
    """As Nova: a DHCP-enabled subnet is ``ipv4_dhcp`` (the guest asks its DHCP server), an
    IPv6 address mode is ``ipv6_<mode>`` with the address, a static subnet carries its
    routes (default and host routes) and DNS; every DNS server is a service, once."""
    facts = content.InstanceFacts(_row(), ports=[
        _vif("aaaaaaaaaaaa-1", "net-a",
             FixedIP("10.0.0.5", 4, "s1", "10.0.0.0/26", "10.0.0.1", enable_dhcp=True,
                     dns_nameservers=("10.0.0.53",)),
             FixedIP("fd00::5", 6, "s2", "fd00::/64", "fd00::1", enable_dhcp=True,
                     ipv6_address_mode="slaac", dns_nameservers=("fd00::53",))),
        _vif("bbbbbbbbbbbb-2", "net-b",
             FixedIP("192.168.1.9", 4, "s3", "192.168.1.0/24", "192.168.1.1",
                     dns_nameservers=("10.0.0.53", "192.168.1.53"),
                     host_routes=(("10.5.0.0/16", "192.168.1.254"),)))])
    data = content.network_data(facts)
    nets = data["networks"]
    assert nets[0] == {"id": "network0", "type": "ipv4_dhcp", "link": "tapaaaaaaaaaaa",
                       "network_id": "net-a"}
    assert nets[1]["type"] == "ipv6_slaac" and nets[1]["ip_address"] == "fd00::5"
    assert nets[1]["routes"] == [{"network": "::", "netmask": "::", "gateway": "fd00::1"}]
    assert nets[2]["type"] == "ipv4" and nets[2]["routes"] == [
        {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "192.168.1.1"},
        {"network": "10.5.0.0", "netmask": "255.255.0.0", "gateway": "192.168.1.254"}]
    assert nets[2]["services"] == [{"type": "dns", "address": "10.0.0.53"},
                                   {"type": "dns", "address": "192.168.1.53"}]
    assert data["services"] == [{"type": "dns", "address": "10.0.0.53"},
                                {"type": "dns", "address": "fd00::53"},
                                {"type": "dns", "address": "192.168.1.53"}]


def test_ec2_tree_listings_and_versions() -> None:
    facts = content.InstanceFacts(_row(key_name="k", key_data="ssh-rsa AAA k"),
                                  floating_ips=["172.24.4.10"],
                                  security_groups=["default", "web"])
    tree = content.ec2_tree(facts, "latest")
    md = tree["meta-data"]
    assert md["instance-id"] == "i-0000002a" and md["ami-id"] == "ami-3c0ffee0"
    assert md["public-ipv4"] == "172.24.4.10" and md["hostname"] == "web-1.novalocal"
    assert content.ec2_listing(md["public-keys"]) == "0=k"
    assert content.ec2_listing(md["public-keys"]["0"]) == "openssh-key"
    assert content.render(md["security-groups"], json_file=False) == b"default\nweb"
    assert content.ec2_listing(tree) == "meta-data/"  # no user data
    listing = content.ec2_listing(md).split("\n")
    assert "placement/" in listing and "public-keys/" in listing and "instance-id" in listing
    old = content.ec2_tree(facts, "1.0")["meta-data"]
    assert "instance-type" not in old and "placement" not in old


def test_openstack_versions_and_user_data() -> None:
    facts = content.InstanceFacts(_row(user_data="not base64!"))
    assert facts.user_data == b"not base64!"
    assert content.openstack_listing(facts, "2012-08-10") == ["meta_data.json", "user_data"]
    assert content.openstack_listing(facts, "latest") == [
        "meta_data.json", "user_data", "password", "vendor_data.json", "network_data.json",
        "vendor_data2.json"]
    md = content.meta_data(facts, "2012-08-10")
    assert "random_seed" not in md and "public_keys" not in md and md["meta"] == {}
    assert len(content.meta_data(facts, "latest")["random_seed"]) > 600
