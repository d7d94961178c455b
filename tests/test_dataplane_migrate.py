"""Cold migration on the real data plane, with the stock CLI (issue 12): two `namespace` guests
booted on compute1 (`--availability-zone nova:compute1`, which must not pin the move) are
migrated; the one confirmed on compute2 answers ping from the DHCP namespace, has its address
and renews its lease there, and compute1 keeps no tap of it; the one reverted is back on
compute1 with its address and answers too."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pocketstack.agents.kernel import run
from tests.compute.test_servers import IMAGE
from tests.conftest import LiveCloud
from tests.dataplane_kit import address, dataplane_cloud, ns, skip_without_guest_tools, until

pytestmark = pytest.mark.skipif(run.missing() is not None, reason=str(run.missing()))


@pytest.fixture(scope="module")
def dp_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    skip_without_guest_tools()
    with dataplane_cloud(tmp_path_factory.mktemp("dpmigrate") / "state", {
            "POCKETSTACK_COMPUTE_DRIVER": "namespace", "POCKETSTACK_COMPUTE_HOSTS": "2",
            "POCKETSTACK_DATAPLANE_RESYNC_INTERVAL": "2"}) as live:
        yield live


def _servers(cloud: LiveCloud) -> dict[str, dict[str, Any]]:
    return {s["Name"]: s for s in cloud.osc("server", "list", "--long")}


def _pings(netns: str, ip: str) -> bool:
    return ns(netns, "ping", "-c", "1", "-W", "1", ip).returncode == 0


def test_migrate_confirm_and_revert_keep_the_guest_on_its_network(dp_cloud: LiveCloud) -> None:
    cloud, prefix = dp_cloud, dp_cloud.env["PREFIX"]
    # ping from the DHCP namespace (not a member of the default group) is let in
    cloud.osc("security", "group", "rule", "create", "--project", "admin", "--protocol", "icmp",
              "default")
    vms = {name: cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE,
                           "--network", "private", "--availability-zone", "nova:compute1",
                           "--wait", name) for name in ("mig1", "mig2")}
    ips = {name: address(vm, "private") for name, vm in vms.items()}
    guest = {name: f"{prefix}-inst-{vm['id']}" for name, vm in vms.items()}
    network = cloud.osc("network", "show", "private", "-c", "id")["id"]
    dhcp = f"{prefix}-qdhcp-{network}"
    until("mig1 has its DHCP address", lambda: ips["mig1"] in ns(
        guest["mig1"], "ip", "-4", "addr").stdout)
    port = cloud.osc("port", "list", "--server", "mig1", "-c", "ID")[0]["ID"]
    tap = f"tap{port[:11]}"

    for name in vms:
        cloud.osc("server", "migrate", name, as_json=False)
    until("both VERIFY_RESIZE", lambda: {s["Status"] for s in _servers(cloud).values()} ==
          {"VERIFY_RESIZE"}, timeout=60, interval=0.5)
    cloud.osc("server", "resize", "confirm", "mig1", as_json=False)
    cloud.osc("server", "resize", "revert", "mig2", as_json=False)
    until("mig1 ACTIVE on compute2, mig2 ACTIVE on compute1", lambda: {
        n: (s["Status"], s["Host"]) for n, s in _servers(cloud).items()} == {
        "mig1": ("ACTIVE", "compute2"), "mig2": ("ACTIVE", "compute1")},
        timeout=60, interval=0.5)

    # the confirmed guest: reachable from the DHCP namespace, its address, a renewed lease
    until("mig1 answers from the DHCP namespace on compute2",
          lambda: _pings(dhcp, ips["mig1"]), timeout=30)
    assert ips["mig1"] in ns(guest["mig1"], "ip", "-4", "addr").stdout
    # a DHCP exchange from the guest's namespace on compute2 gets its lease again
    asked = ns(guest["mig1"], "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "3",
               "-T", "1", "-s", "/bin/true")
    assert asked.returncode == 0 and f"lease of {ips['mig1']} obtained" in asked.stderr + \
        asked.stdout, asked.stderr
    assert tap in run.links(f"{prefix}-host-compute2")
    until("no tap of mig1 left on compute1",
          lambda: tap not in run.links(f"{prefix}-host-compute1"))

    # the reverted guest: back on compute1, its address, reachable
    until("mig2 answers from the DHCP namespace after the revert",
          lambda: _pings(dhcp, ips["mig2"]), timeout=30)
    assert ips["mig2"] in ns(guest["mig2"], "ip", "-4", "addr").stdout


def test_live_migration_of_a_namespace_guest_is_refused_and_rolled_back(
        dp_cloud: LiveCloud) -> None:
    """The namespace driver cannot live-migrate (its guests are process trees): the
    destination's pre_live_migration refuses with the reason, the migration ends as ``error``
    and the guest stays ACTIVE on compute1, still on its network."""
    cloud, prefix = dp_cloud, dp_cloud.env["PREFIX"]
    # ping from the DHCP namespace is let in (the rule may be there from the test above)
    cloud.osc("security", "group", "rule", "create", "--project", "admin", "--protocol", "icmp",
              "default", check=False)
    vm = cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE, "--network",
                   "private", "--availability-zone", "nova:compute1", "--wait", "live1")
    ip = address(vm, "private")
    network = cloud.osc("network", "show", "private", "-c", "id")["id"]
    dhcp = f"{prefix}-qdhcp-{network}"
    until("live1 answers", lambda: _pings(dhcp, ip), timeout=60)
    cloud.osc("--os-compute-api-version", "2.30", "server", "migrate", "--live-migration",
              "--host", "compute2", "live1", as_json=False)

    def migration() -> dict[str, Any] | None:
        rows = cloud.osc("--os-compute-api-version", "2.80", "server", "migration", "list",
                         "--server", vm["id"])
        return rows[0] if rows and rows[0]["Status"] in ("error", "completed") else None

    row = until("the live migration ends", migration, timeout=60)
    assert (row["Type"], row["Status"]) == ("live-migration", "error")
    actions = cloud.osc("--os-compute-api-version", "2.51", "server", "event", "list", "live1")
    detail = cloud.osc("--os-compute-api-version", "2.51", "server", "event", "show", "live1",
                       actions[0]["Request ID"])
    failed = [e for e in detail["events"] if e["result"] == "Error"]
    assert [e["event"] for e in failed] == ["compute_pre_live_migration"]
    assert "namespace driver cannot live-migrate" in failed[0]["traceback"]
    shown = cloud.osc("server", "show", "live1")
    assert (shown["status"], shown["OS-EXT-SRV-ATTR:host"]) == ("ACTIVE", "compute1")
    assert _pings(dhcp, ip)
    cloud.osc("server", "delete", "--wait", "live1", as_json=False)
