"""Servers on networks with the stock CLI: ports allocated and bound on the server's host,
addresses (fixed and floating) in ``server show``, ports released on delete, bad requests."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveCloud, own_cloud, unique

IMAGE = "pocketstack-empty-qcow2"
DEMO = "pocketstack"  # a member of project demo, which owns devstack's `private`


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    """A cloud of this module's own: `--nic auto` needs demo to own exactly one network, which
    the session's shared cloud cannot promise whatever ran before on its worker."""
    yield from own_cloud(tmp_path_factory, "netcloud")


def _boot(cloud: LiveCloud, name: str, *nics: str) -> dict:
    return cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE, *nics,
                     "--wait", name, cloud=DEMO)


def _addresses(cloud: LiveCloud, name: str) -> dict:
    r = cloud.osc("server", "show", name, cloud=DEMO)
    return r["addresses"]


def test_server_on_private_gets_a_bound_port_and_an_address(cloud: LiveCloud) -> None:
    name = unique("net")
    server = _boot(cloud, name, "--network", "private")
    addresses = _addresses(cloud, name)
    assert list(addresses) == ["private"]
    v4 = [a for a in addresses["private"] if ipaddress.ip_address(a).version == 4]
    assert len(v4) == 1 and ipaddress.ip_address(v4[0]) in ipaddress.ip_network("10.0.0.0/26")
    ports = cloud.osc("port", "list", "--server", server["id"], "--long", cloud=DEMO)
    assert len(ports) == 1
    port = cloud.osc("port", "show", ports[0]["ID"])  # binding:* is admin-only
    assert port["device_owner"] == "compute:nova" and port["device_id"] == server["id"]
    assert port["binding_host_id"] == cloud.osc("server", "show", server["id"])[
        "OS-EXT-SRV-ATTR:host"]
    assert port["binding_vif_type"] in ("bridge", "ovs")
    # floating IP: shown in addresses as Nova does
    fip = cloud.osc("floating", "ip", "create", "public", cloud=DEMO)
    cloud.osc("server", "add", "floating", "ip", name, fip["floating_ip_address"], cloud=DEMO,
              as_json=False)
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as c:
        shown = c.get(f"/compute/v2.1/servers/{server['id']}").json()["server"]
    entries = shown["addresses"]["private"]
    kinds = {(e["OS-EXT-IPS:type"], e["addr"]) for e in entries}
    assert ("floating", fip["floating_ip_address"]) in kinds
    assert ("fixed", v4[0]) in kinds
    assert {e["OS-EXT-IPS-MAC:mac_addr"] for e in entries} == {port["mac_address"]}
    # list shows the same addresses
    with cloud.client(token) as c:
        listed = c.get("/compute/v2.1/servers/detail", params={"name": name}).json()
    assert listed["servers"][0]["addresses"] == shown["addresses"]
    cloud.osc("server", "delete", "--wait", name, cloud=DEMO, as_json=False)
    assert cloud.osc("port", "list", "--device-id", server["id"], cloud=DEMO) == []
    # the address is free again: a port asking for it gets it
    again = cloud.osc("port", "create", "--network", "private", "--fixed-ip",
                      f"subnet=private-subnet,ip-address={v4[0]}", unique("p"), cloud=DEMO)
    assert again["fixed_ips"][0]["ip_address"] == v4[0]
    cloud.osc("port", "delete", again["id"], cloud=DEMO, as_json=False)
    cloud.osc("floating", "ip", "delete", fip["id"], cloud=DEMO, as_json=False)


def test_two_networks_fixed_ip_and_user_port(cloud: LiveCloud) -> None:
    name = unique("net2")
    port = cloud.osc("port", "create", "--network", "shared", unique("p"), cloud=DEMO)
    private = cloud.osc("network", "show", "private", cloud=DEMO)
    _boot(cloud, name, "--nic", f"net-id={private['id']},v4-fixed-ip=10.0.0.50",
          "--nic", f"port-id={port['id']}")
    addresses = _addresses(cloud, name)
    assert set(addresses) == {"private", "shared"}
    assert "10.0.0.50" in addresses["private"]
    assert port["fixed_ips"][0]["ip_address"] in addresses["shared"]
    cloud.osc("server", "delete", "--wait", name, cloud=DEMO, as_json=False)
    kept = cloud.osc("port", "show", port["id"], cloud=DEMO)  # a user's port outlives it
    assert kept["device_id"] == "" and kept["device_owner"] == ""
    cloud.osc("port", "delete", port["id"], cloud=DEMO, as_json=False)


def test_auto_and_none(cloud: LiveCloud) -> None:
    name = unique("auto")
    _boot(cloud, name, "--nic", "auto")
    assert list(_addresses(cloud, name)) == ["private"]  # demo's own network
    cloud.osc("server", "delete", "--wait", name, cloud=DEMO, as_json=False)
    name = unique("none")
    server = _boot(cloud, name, "--nic", "none")
    assert _addresses(cloud, name) == {}
    assert cloud.osc("port", "list", "--device-id", server["id"], cloud=DEMO) == []
    cloud.osc("server", "delete", "--wait", name, cloud=DEMO, as_json=False)


def test_auto_with_two_own_networks_is_ambiguous(cloud: LiveCloud) -> None:
    """Nova's NetworkAmbiguous (409) when demo owns two networks, naming both; --nic auto
    works again once one is gone, and an interface attach without a network says the same
    with Nova's 400."""
    extra = cloud.osc("network", "create", unique("second"), cloud=DEMO)
    try:
        proc = cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE, "--nic",
                         "auto", unique("amb"), cloud=DEMO, check=False, as_json=False)
        assert proc.returncode == 1
        assert "409" in proc.stderr and "More than one possible network found" in proc.stderr
        assert extra["id"] in proc.stderr
        private = cloud.osc("network", "show", "private", cloud=DEMO)
        assert private["id"] in proc.stderr
        server = _boot(cloud, unique("one"), "--nic", "none")
        token, _ = cloud.token("demo", project="demo")
        with cloud.client(token) as c:
            r = c.post(f"/compute/v2.1/servers/{server['id']}/os-interface",
                       json={"interfaceAttachment": {}})
        assert r.status_code == 400, r.text
        assert "More than one possible network found" in r.json()["badRequest"]["message"]
        cloud.osc("server", "delete", "--wait", server["id"], cloud=DEMO, as_json=False)
    finally:
        cloud.osc("network", "delete", extra["id"], cloud=DEMO, as_json=False)
    name = unique("auto")
    _boot(cloud, name, "--nic", "auto")
    assert list(_addresses(cloud, name)) == ["private"]
    cloud.osc("server", "delete", "--wait", name, cloud=DEMO, as_json=False)


def test_bad_networks_are_refused_as_nova(cloud: LiveCloud) -> None:
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as c:
        image = c.get("/image/v2/images", params={"name": IMAGE}).json()["images"][0]["id"]

        def post(networks: object) -> httpx.Response:
            return c.post("/compute/v2.1/servers", headers={
                "OpenStack-API-Version": "compute 2.90"}, json={"server": {
                    "name": "bad", "imageRef": image, "flavorRef": "1",
                    "networks": networks}})

        missing = "8b1e2a4e-0000-4000-8000-000000000000"
        r = post([{"uuid": missing}])
        assert r.status_code == 400, r.text
        assert r.json()["badRequest"]["message"] == f"Network {missing} could not be found."
        r = post([{"port": missing}])
        assert r.status_code == 400
        assert r.json()["badRequest"]["message"] == f"Port id {missing} could not be found."
        r = c.post("/compute/v2.1/servers", json={"server": {
            "name": "bad", "imageRef": image, "flavorRef": "1",
            "security_groups": [{"name": "no-such-group"}]}})
        assert r.status_code == 400
        assert "Security group no-such-group not found" in r.json()["badRequest"]["message"]
        r = post([{"uuid": "not-a-uuid"}])
        assert r.status_code == 400 and "Bad networks format" in r.text
        # another project's private network is not there for demo
        alt = cloud.osc("network", "create", unique("altnet"), cloud="pocketstack-alt")
        r = post([{"uuid": alt["id"]}])
        assert r.status_code == 400, r.text
        cloud.osc("network", "delete", alt["id"], cloud="pocketstack-alt", as_json=False)
        private = cloud.osc("network", "show", "private", cloud=DEMO)["id"]
        r = c.post("/compute/v2.1/servers", json={"server": {
            "name": "bad", "imageRef": image, "flavorRef": "1", "max_count": 2,
            "networks": [{"uuid": private, "fixed_ip": "10.0.0.40"}]}})
        assert r.status_code == 400 and "fixed_ip" in r.json()["badRequest"]["message"]
        r = post([{"uuid": private, "fixed_ip": "10.0.0.999"}])
        assert r.status_code == 400 and "Invalid fixed IP address" in r.text
        assert c.get("/compute/v2.1/servers", params={"name": "bad"}).json()["servers"] == []


def test_add_and_remove_port_and_network(cloud: LiveCloud) -> None:
    name = unique("ifc")
    server = _boot(cloud, name, "--network", "private")
    port = cloud.osc("port", "create", "--network", "shared", unique("p"), cloud=DEMO)
    cloud.osc("server", "add", "port", name, port["id"], cloud=DEMO, as_json=False)
    shown = cloud.osc("port", "show", port["id"], cloud=DEMO)
    assert shown["device_id"] == server["id"] and shown["device_owner"] == "compute:nova"
    assert set(_addresses(cloud, name)) == {"private", "shared"}
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as c:
        listed = c.get(f"/compute/v2.1/servers/{server['id']}/os-interface").json()
        attachments = {a["port_id"]: a for a in listed["interfaceAttachments"]}
        assert port["id"] in attachments and len(attachments) == 2
        assert attachments[port["id"]]["mac_addr"] == port["mac_address"]
        missing = "8b1e2a4e-0000-4000-8000-000000000000"
        r = c.post(f"/compute/v2.1/servers/{server['id']}/os-interface",
                   json={"interfaceAttachment": {"net_id": missing}})
        assert r.status_code == 404, r.text
        assert r.json()["itemNotFound"]["message"] == f"Network {missing} could not be found."
        r = c.delete(f"/compute/v2.1/servers/{server['id']}/os-interface/{missing}")
        assert r.status_code == 404, r.text
    cloud.osc("server", "remove", "port", name, port["id"], cloud=DEMO, as_json=False)
    kept = cloud.osc("port", "show", port["id"], cloud=DEMO)  # the user's port stays
    assert kept["device_id"] == ""
    assert list(_addresses(cloud, name)) == ["private"]
    # add network: a new port made for the server, deleted when removed
    cloud.osc("server", "add", "network", name, "shared", cloud=DEMO, as_json=False)
    made = [p for p in cloud.osc("port", "list", "--device-id", server["id"], cloud=DEMO)]
    assert len(made) == 2
    cloud.osc("server", "remove", "network", name, "shared", cloud=DEMO, as_json=False)
    assert len(cloud.osc("port", "list", "--device-id", server["id"], cloud=DEMO)) == 1
    cloud.osc("server", "delete", "--wait", name, cloud=DEMO, as_json=False)
    assert cloud.osc("port", "list", "--device-id", server["id"], cloud=DEMO) == []
    cloud.osc("port", "delete", port["id"], cloud=DEMO, as_json=False)


def test_server_security_groups(cloud: LiveCloud) -> None:
    name = unique("sgs")
    server = _boot(cloud, name, "--network", "private")
    token, _ = cloud.token("demo", project="demo")
    url = f"/compute/v2.1/servers/{server['id']}"
    with cloud.client(token) as c:
        groups = c.get(url + "/os-security-groups").json()["security_groups"]
        assert [g["name"] for g in groups] == ["default"]
        assert groups[0]["rules"] and all("ip_protocol" in r for r in groups[0]["rules"])
    group = unique("web")
    cloud.osc("security", "group", "create", group, cloud=DEMO)
    cloud.osc("server", "add", "security", "group", name, group, cloud=DEMO, as_json=False)
    port = cloud.osc("port", "list", "--device-id", server["id"], cloud=DEMO)[0]
    groups_of_port = cloud.osc("port", "show", port["ID"], cloud=DEMO)["security_group_ids"]
    assert len(groups_of_port) == 2
    with cloud.client(token) as c:
        names = {g["name"] for g in c.get(url + "/os-security-groups").json()[
            "security_groups"]}
        assert names == {"default", group}
        r = c.post(url + "/action", json={"addSecurityGroup": {"name": "nope"}})
        assert r.status_code == 404, r.text
    assert {g["name"] for g in cloud.osc("server", "show", name, cloud=DEMO)[
        "security_groups"]} == {"default", group}
    cloud.osc("server", "remove", "security", "group", name, group, cloud=DEMO, as_json=False)
    assert len(cloud.osc("port", "show", port["ID"], cloud=DEMO)["security_group_ids"]) == 1
    cloud.osc("server", "delete", "--wait", name, cloud=DEMO, as_json=False)


def test_binding_failure_reschedules_then_fails_and_releases(cloud: LiveCloud) -> None:
    agents = [a for a in cloud.osc("network", "agent", "list")
              if a["Agent Type"] in ("Linux bridge agent", "Open vSwitch agent")]
    assert agents
    try:
        for agent in agents:
            cloud.osc("network", "agent", "set", "--disable", agent["ID"], as_json=False)
        name = unique("bf")
        proc = cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE,
                         "--network", "private", "--wait", name, cloud=DEMO, check=False)
        assert proc.returncode != 0
        shown = cloud.osc("server", "show", name, cloud=DEMO)
        assert shown["status"] == "ERROR"
        server_id = shown["id"]
        detail = cloud.osc("server", "show", server_id)  # admin sees every host's reason
        assert "Binding failed for port" in detail["fault"]["details"]
        assert cloud.osc("port", "list", "--device-id", server_id, cloud=DEMO) == []
    finally:
        for agent in agents:
            cloud.osc("network", "agent", "set", "--enable", agent["ID"], as_json=False)
    cloud.osc("server", "delete", "--wait", server_id, cloud=DEMO, as_json=False)


def test_shelve_offload_unbinds_and_unshelve_binds_again(cloud: LiveCloud) -> None:
    name = unique("shv")
    server = _boot(cloud, name, "--network", "private")
    port_id = cloud.osc("port", "list", "--device-id", server["id"], cloud=DEMO)[0]["ID"]
    host = cloud.osc("server", "show", server["id"])["OS-EXT-SRV-ATTR:host"]
    cloud.osc("server", "shelve", "--wait", name, cloud=DEMO, as_json=False)
    port = cloud.osc("port", "show", port_id)
    assert port["binding_host_id"] == "" and port["device_id"] == server["id"]
    address = _addresses(cloud, name)["private"]  # a shelved server keeps its addresses
    cloud.osc("server", "unshelve", "--wait", name, cloud=DEMO, as_json=False)
    port = cloud.osc("port", "show", port_id)
    assert port["binding_host_id"] == host and port["binding_vif_type"] != "unbound"
    assert _addresses(cloud, name)["private"] == address
    cloud.osc("server", "delete", "--wait", name, cloud=DEMO, as_json=False)


def test_deprecated_network_proxies(cloud: LiveCloud) -> None:
    token, _ = cloud.token("demo", project="demo")
    old = {"OpenStack-API-Version": "compute 2.35"}
    new = {"OpenStack-API-Version": "compute 2.36"}
    with cloud.client(token) as c:
        nets = c.get("/compute/v2.1/os-networks", headers=old).json()["networks"]
        labels = {n["label"]: n for n in nets}
        assert {"private", "public", "shared"} <= set(labels)
        assert labels["private"]["cidr"] is None and "mtu" not in labels["private"]
        one = c.get(f"/compute/v2.1/os-networks/{labels['private']['id']}", headers=old)
        assert one.json()["network"]["label"] == "private"
        assert c.get("/compute/v2.1/os-networks", headers=new).status_code == 404
        tenant = c.get("/compute/v2.1/os-tenant-networks", headers=old).json()["networks"]
        assert {"id": labels["private"]["id"], "cidr": "None", "label": "private"} in tenant
        assert c.get(f"/compute/v2.1/os-tenant-networks/{labels['private']['id']}",
                     headers=old).json()["network"]["label"] == "private"
        pools = c.get("/compute/v2.1/os-floating-ip-pools", headers=old).json()
        assert pools["floating_ip_pools"] == [{"name": "public"}]
        r = c.post("/compute/v2.1/os-floating-ips", headers=old, json={"pool": "public"})
        assert r.status_code == 200, r.text
        fip = r.json()["floating_ip"]
        assert fip["pool"] == "public" and fip["instance_id"] is None
        assert ipaddress.ip_address(fip["ip"]) in ipaddress.ip_network("172.24.4.0/24")
        listed = c.get("/compute/v2.1/os-floating-ips", headers=old).json()["floating_ips"]
        assert fip in listed
        # the same address through Neutron
        shown = cloud.osc("floating", "ip", "show", fip["id"], cloud=DEMO)
        assert shown["floating_ip_address"] == fip["ip"]
        r = c.post("/compute/v2.1/os-floating-ips", headers=old, json={"pool": "nope"})
        assert r.status_code == 404
        assert r.json()["itemNotFound"]["message"] == "Floating IP pool not found."
        assert c.delete(f"/compute/v2.1/os-floating-ips/{fip['id']}",
                        headers=old).status_code == 202
        r = c.get(f"/compute/v2.1/os-floating-ips/{fip['id']}", headers=old)
        assert r.status_code == 404
        assert c.post("/compute/v2.1/os-floating-ips", headers=new,
                      json={"pool": "public"}).status_code == 404


def test_deprecated_security_group_proxy(cloud: LiveCloud) -> None:
    token, _ = cloud.token("alt_demo", project="alt_demo")
    old = {"OpenStack-API-Version": "compute 2.35"}
    base = "/compute/v2.1/os-security-groups"
    with cloud.client(token) as c:
        groups = c.get(base, headers=old).json()["security_groups"]
        assert "default" in {g["name"] for g in groups}
        name = unique("nsg")
        r = c.post(base, headers=old, json={"security_group": {"name": name,
                                                                "description": "d"}})
        assert r.status_code == 200, r.text
        group = r.json()["security_group"]
        assert group["name"] == name and group["rules"] == []  # egress rules are not shown
        r = c.post("/compute/v2.1/os-security-group-rules", headers=old, json={
            "security_group_rule": {"parent_group_id": group["id"], "ip_protocol": "tcp",
                                    "from_port": 22, "to_port": 22, "cidr": "10.0.0.7/8"}})
        assert r.status_code == 200, r.text
        rule = r.json()["security_group_rule"]
        # the cidr as given (host bits kept, as Nova over Neutron shows it)
        assert rule["from_port"] == 22 and rule["ip_range"] == {"cidr": "10.0.0.7/8"}
        for ids in ({"parent_group_id": "not-a-uuid"},
                    {"parent_group_id": group["id"], "group_id": "not-a-uuid"}):
            r = c.post("/compute/v2.1/os-security-group-rules", headers=old, json={
                "security_group_rule": {**ids, "ip_protocol": "tcp", "from_port": 22,
                                        "to_port": 22}})
            assert r.status_code == 400 and "should be uuid" in r.text, r.text
        # Neutron sees the same rule
        neutron = cloud.osc("security", "group", "rule", "list", group["id"],
                            cloud="pocketstack-alt")
        assert rule["id"] in {x["ID"] for x in neutron}
        r = c.post("/compute/v2.1/os-security-group-rules", headers=old, json={
            "security_group_rule": {"parent_group_id": group["id"], "ip_protocol": "tcp",
                                    "from_port": 0, "to_port": 22}})
        assert r.status_code == 400 and "Invalid port range" in r.text
        r = c.post("/compute/v2.1/os-security-group-rules", headers=old, json={
            "security_group_rule": {"parent_group_id": group["id"], "ip_protocol": "xyz",
                                    "from_port": 1, "to_port": 2}})
        assert r.status_code == 400 and "Invalid IP protocol" in r.text
        shown = c.get(f"{base}/{group['id']}", headers=old).json()["security_group"]
        assert [x["id"] for x in shown["rules"]] == [rule["id"]]
        assert c.delete(f"/compute/v2.1/os-security-group-rules/{rule['id']}",
                        headers=old).status_code == 202
        assert c.delete(f"{base}/{group['id']}", headers=old).status_code == 202
        r = c.get(f"{base}/{group['id']}", headers=old)
        assert r.status_code == 404
        assert r.json()["itemNotFound"]["message"] == f"Security group {group['id']} not found."
        assert c.get(base, headers={"OpenStack-API-Version": "compute 2.36"}).status_code == 404


def test_add_and_remove_floating_ip_actions(cloud: LiveCloud) -> None:
    name = unique("fipa")
    server = _boot(cloud, name, "--network", "private")
    fip = cloud.osc("floating", "ip", "create", "public", cloud=DEMO)
    address = fip["floating_ip_address"]
    second = cloud.osc("floating", "ip", "create", "public", cloud=DEMO)
    token, _ = cloud.token("demo", project="demo")
    url = f"/compute/v2.1/servers/{server['id']}"
    old = {"OpenStack-API-Version": "compute 2.43"}
    with cloud.client(token) as c:
        r = c.post(url + "/action", headers=old,
                   json={"addFloatingIp": {"address": address}})
        assert r.status_code == 202, r.text
        entries = c.get(url).json()["server"]["addresses"]["private"]
        assert {"floating"} == {e["OS-EXT-IPS:type"] for e in entries if e["addr"] == address}
        r = c.post(url + "/action", headers=old,
                   json={"addFloatingIp": {"address": "172.24.4.254"}})
        assert r.status_code == 404
        # the fixed IP has a floating IP already: networking's conflict is Nova's 400
        r = c.post(url + "/action", headers=old,
                   json={"addFloatingIp": {"address": second["floating_ip_address"]}})
        assert r.status_code == 400 and "already has a floating IP" in r.text, r.text
        r = c.post(url + "/action", headers={"OpenStack-API-Version": "compute 2.44"},
                   json={"removeFloatingIp": {"address": address}})
        assert r.status_code == 400
        r = c.post(url + "/action", headers=old,
                   json={"removeFloatingIp": {"address": address}})
        assert r.status_code == 202, r.text
        entries = c.get(url).json()["server"]["addresses"]["private"]
        assert address not in {e["addr"] for e in entries}
        r = c.post(url + "/action", headers=old,
                   json={"removeFloatingIp": {"address": address}})
        assert r.status_code == 409
    cloud.osc("floating", "ip", "delete", fip["id"], second["id"], cloud=DEMO, as_json=False)
    cloud.osc("server", "delete", "--wait", name, cloud=DEMO, as_json=False)


def test_multi_create_gives_each_server_its_own_port(cloud: LiveCloud) -> None:
    name = unique("multi")
    cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE, "--network",
              "private", "--min", "2", "--max", "2", "--wait", name, cloud=DEMO)
    servers = [s for s in cloud.osc("server", "list", "--name", name, cloud=DEMO)]
    assert len(servers) == 2
    addresses = set()
    for server in servers:
        ports = cloud.osc("port", "list", "--device-id", server["ID"], cloud=DEMO)
        assert len(ports) == 1
        addresses.add(str(_addresses(cloud, server["ID"])["private"]))
    assert len(addresses) == 2
    for server in servers:
        cloud.osc("server", "delete", "--wait", server["ID"], cloud=DEMO, as_json=False)


def test_list_filtered_by_ip_and_empty_security_group_id(cloud: LiveCloud) -> None:
    """Nova's ``ip`` filter (a regular expression over fixed addresses, as Tempest's
    test_list_servers_filtered_by_ip uses it), and ``DELETE /os-security-groups/`` is a 404."""
    one, two = unique("ipa"), unique("ipb")
    private = cloud.osc("network", "show", "private", cloud=DEMO)
    _boot(cloud, one, "--nic", f"net-id={private['id']},v4-fixed-ip=10.0.0.41")
    _boot(cloud, two, "--nic", f"net-id={private['id']},v4-fixed-ip=10.0.0.42")
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as c:
        names = [s["name"] for s in c.get("/compute/v2.1/servers",
                                          params={"ip": "10.0.0.41"}).json()["servers"]]
        assert names == [one]
        names = {s["name"] for s in c.get("/compute/v2.1/servers/detail",
                                          params={"ip": r"10\.0\.0\.4[12]$"}).json()["servers"]}
        assert names == {one, two}
        assert c.get("/compute/v2.1/servers", params={"ip": "("}).status_code == 400
        r = c.delete("/compute/v2.1/os-security-groups/")
        assert r.status_code == 404, r.text
    cloud.osc("server", "delete", "--wait", one, two, cloud=DEMO, as_json=False)


def test_port_security_off_network_shows_no_default_group(cloud: LiveCloud) -> None:
    """Tempest's test_boot_into_disabled_port_security_network_without_secgroup: a server
    booted without groups on a network with port security off has ports without groups, and
    shows none (Nova shows its ports' groups), while one on `private` shows `default`."""
    net = unique("nosec")
    cloud.osc("network", "create", "--disable-port-security", net, cloud=DEMO)
    cloud.osc("subnet", "create", "--network", net, "--subnet-range", "10.77.0.0/24",
              unique("nosec-sub"), cloud=DEMO)
    name = unique("open")
    server = _boot(cloud, name, "--network", net)
    try:
        assert "security_groups" not in cloud.osc("server", "show", name, cloud=DEMO) or \
            not cloud.osc("server", "show", name, cloud=DEMO)["security_groups"]
        port = cloud.osc("port", "list", "--device-id", server["id"], cloud=DEMO)[0]
        assert cloud.osc("port", "show", port["ID"], cloud=DEMO)["security_group_ids"] == []
        token, _ = cloud.token("demo", project="demo")
        with cloud.client(token) as c:
            shown = c.get(f"/compute/v2.1/servers/{server['id']}").json()["server"]
            assert "security_groups" not in shown
    finally:
        cloud.osc("server", "delete", "--wait", name, cloud=DEMO, as_json=False)
        cloud.osc("network", "delete", net, cloud=DEMO, as_json=False)


def test_inject_network_info_plugs_the_ports_networking_has(cloud: LiveCloud) -> None:
    """injectNetworkInfo (admin): the host plugs each of the server's ports as networking
    has them — here one made behind compute's back, which the host did not have."""
    server = _boot(cloud, unique("inj"), "--network", "private")
    sid = server["id"]
    token, _ = cloud.token()
    demo_token, _ = cloud.token("demo", project="demo")
    v248 = {"OpenStack-API-Version": "compute 2.48"}
    with cloud.client(token) as admin, cloud.client(demo_token) as demo:
        def nics() -> int:
            r = admin.get(f"/compute/v2.1/servers/{sid}/diagnostics", headers=v248)
            assert r.status_code == 200, r.text
            count: int = r.json()["num_nics"]
            return count

        assert nics() == 1
        r = admin.post("/networking/v2.0/ports", json={"port": {
            "network_id": cloud.osc("network", "show", "private")["id"],
            "device_id": sid, "device_owner": "compute:nova", "name": unique("oob")}})
        assert r.status_code == 201, r.text
        port_id = r.json()["port"]["id"]
        assert nics() == 1  # networking has it, the host does not
        action = f"/compute/v2.1/servers/{sid}/action"
        r = demo.post(action, json={"injectNetworkInfo": None})
        assert r.status_code == 403, r.text  # admin only
        r = admin.post(action, json={"injectNetworkInfo": None})
        assert r.status_code == 202, r.text
        assert nics() == 2
        r = admin.post(action, json={"injectNetworkInfo": None})  # again: nothing changes
        assert r.status_code == 202 and nics() == 2
        missing = "8b1e2a4e-0000-4000-8000-000000000001"
        r = admin.post(f"/compute/v2.1/servers/{missing}/action",
                       json={"injectNetworkInfo": None})
        assert r.status_code == 404, r.text
        assert admin.delete(f"/networking/v2.0/ports/{port_id}").status_code == 204
    cloud.osc("server", "delete", "--wait", sid, cloud=DEMO, as_json=False)
