"""The seed's story on the real data plane, with the stock CLI: two compute hosts (each in its
own namespace, VXLAN between them over the cloud's underlay), `private` and a second tenant
network, router1 to `public`; `namespace` driver servers get DHCP addresses, ping each other
across hosts, reach another network only through the router, a security group rule opens and
closes ping and SSH, a floating IP is reachable from `public` and SSH with the key pair works
through it, user data runs; deleting everything leaves no namespace behind."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pocketstack.agents.kernel import run
from tests.compute.test_servers import IMAGE
from tests.conftest import BIN, LiveCloud
from tests.dataplane_kit import address, dataplane_cloud, ns, skip_without_guest_tools, until

pytestmark = pytest.mark.skipif(run.missing() is not None, reason=str(run.missing()))

def _ns(cloud: LiveCloud, *cmd: str, netns: str,
        timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return ns(netns, *cmd, timeout=timeout)


@pytest.fixture(scope="module")
def dp_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    skip_without_guest_tools()
    with dataplane_cloud(tmp_path_factory.mktemp("dpcloud") / "state", {
            "POCKETSTACK_COMPUTE_DRIVER": "namespace", "POCKETSTACK_COMPUTE_HOSTS": "2",
            "POCKETSTACK_DATAPLANE_RESYNC_INTERVAL": "2"}) as live:
        yield live


def _server(cloud: LiveCloud, name: str, network: str, host: str, key: str,
            user_data: Path | None = None) -> dict[str, Any]:
    args = ["server", "create", "--flavor", "m1.tiny", "--image", IMAGE, "--network", network,
            "--key-name", key, "--availability-zone", f"nova:{host}", "--wait", name]
    if user_data is not None:
        args[-1:-1] = ["--user-data", str(user_data)]
    return dict(cloud.osc(*args))


def test_two_hosts_router_security_groups_floating_ip_ssh(dp_cloud: LiveCloud,
                                                          tmp_path: Path) -> None:
    cloud, prefix = dp_cloud, dp_cloud.env["PREFIX"]
    key = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    cloud.osc("keypair", "create", "--public-key", f"{key}.pub", "story")
    user_data = tmp_path / "user-data.sh"
    user_data.write_text("#!/bin/sh\necho user-data-ran-$(hostname)\n")

    cloud.osc("network", "create", "net2")
    cloud.osc("subnet", "create", "--network", "net2", "--subnet-range", "10.1.0.0/24", "sub2")

    vm1 = _server(cloud, "vm1", "private", "compute1", "story", user_data)
    vm2 = _server(cloud, "vm2", "private", "compute2", "story")
    vm3 = _server(cloud, "vm3", "net2", "compute2", "story")
    ip1, ip2 = address(vm1, "private"), address(vm2, "private")
    ns1, ns3 = f"{prefix}-inst-{vm1['id']}", f"{prefix}-inst-{vm3['id']}"

    # DHCP gave each guest its address; across hosts over VXLAN (same default group)
    until("vm1 has its DHCP address", lambda: ip1 in _ns(cloud, "ip", "-4", "addr",
                                                          netns=ns1).stdout)
    until("vm1 pings vm2 across hosts", lambda: _ns(
        cloud, "ping", "-c", "1", "-W", "1", ip2, netns=ns1).returncode == 0)

    # another network: unreachable until it is on the router
    assert _ns(cloud, "ping", "-c", "1", "-W", "1", ip1, netns=ns3).returncode != 0
    cloud.osc("router", "add", "subnet", "router1", "sub2", as_json=False)
    until("vm3 reaches vm1 through router1", lambda: _ns(
        cloud, "ping", "-c", "1", "-W", "1", ip1, netns=ns3).returncode == 0)

    # a floating IP, reached from the public network's namespace
    fip = cloud.osc("floating", "ip", "create", "public")["floating_ip_address"]
    cloud.osc("server", "add", "floating", "ip", "vm1", fip, as_json=False)
    public = f"{prefix}-phys-public"
    # the default group has no ingress from outside: closed
    time.sleep(1.0)
    assert _ns(cloud, "ping", "-c", "1", "-W", "1", fip, netns=public).returncode != 0
    group = next(g["ID"] for g in cloud.osc("security", "group", "list", "--project", "admin")
                 if g["Name"] == "default")
    rule = cloud.osc("security", "group", "rule", "create", "--protocol", "icmp", group)
    until("ping to the floating IP once icmp is allowed", lambda: _ns(
        cloud, "ping", "-c", "1", "-W", "1", fip, netns=public).returncode == 0, timeout=5)
    cloud.osc("security", "group", "rule", "delete", rule["id"], as_json=False)
    until("ping refused again", lambda: _ns(
        cloud, "ping", "-c", "1", "-W", "1", fip, netns=public).returncode != 0, timeout=5)

    # SSH with the key pair through the floating IP
    cloud.osc("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "22",
              group)
    ssh = ["ssh", "-i", str(key), "-o", "StrictHostKeyChecking=no", "-o",
           "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=3", "-o", "BatchMode=yes",
           f"root@{fip}", "hostname"]
    out = until("ssh through the floating IP", lambda: (
        lambda p: p.stdout.strip() if p.returncode == 0 else None)(_ns(cloud, *ssh, netns=public)))
    assert out == "vm1"

    # user data ran, and the console log shows it
    console = cloud.osc("console", "log", "show", "vm1", as_json=False)
    assert "user-data-ran-vm1" in console

    # the trace agrees with the kernel
    traced = subprocess.run([str(BIN / "pocketstack"), "trace", "vm1", "--to", ip2, "--live",
                             "--state-dir", str(cloud.state_dir)], capture_output=True,
                            text=True, env=cloud.env, timeout=60)
    assert traced.returncode == 0, traced.stdout + traced.stderr
    assert "MISSING" not in traced.stdout and "probe: answered" in traced.stdout, traced.stdout

    for name in ("vm1", "vm2", "vm3"):
        cloud.osc("server", "delete", "--wait", name, as_json=False)
    until("guest namespaces gone", lambda: not [
        n for n in run.netns_list() if n.startswith(f"{prefix}-inst-")])
