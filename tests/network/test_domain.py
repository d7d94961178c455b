"""Pure parts of the network domain: pools, EUI-64, segment ranges and MTUs, and the
race-free allocators against a real (SQLite) database."""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pocketstack.common import exceptions, migrate
from pocketstack.common.context import RequestContext
from pocketstack.common.db import Database
from pocketstack.network.domain import ipam, networks, segments

CONFIG = segments.SegmentConfig.parse("public,physnet1", "physnet1:10:11", "5:6", "", "",
                                      "vxlan", 1500)
QUOTAS = {k: -1 for k in ("network", "subnet", "port", "router", "floatingip",
                          "security_group", "security_group_rule", "subnetpool",
                          "rbac_policy")}


def test_default_pools_skip_gateway_network_and_broadcast() -> None:
    net = ipaddress.ip_network("10.0.0.0/29")
    assert ipam.default_pools(net, "10.0.0.1") == [{"start": "10.0.0.2", "end": "10.0.0.6"}]
    assert ipam.default_pools(net, "10.0.0.4") == [{"start": "10.0.0.1", "end": "10.0.0.3"},
                                                   {"start": "10.0.0.5", "end": "10.0.0.6"}]
    v6 = ipaddress.ip_network("2001:db8::/126")
    assert ipam.default_pools(v6, None) == [{"start": "2001:db8::1", "end": "2001:db8::3"}]


def test_eui64() -> None:
    assert ipam.eui64("2001:db8::/64", "fa:16:3e:12:34:56") == "2001:db8::f816:3eff:fe12:3456"


def test_segment_ranges_and_mtu() -> None:
    assert CONFIG.physical_networks == frozenset({"public", "physnet1"})
    assert CONFIG.vlan_ranges == {"physnet1": [(10, 11)]}
    assert CONFIG.mtu_of(["vxlan"]) == 1450 and CONFIG.mtu_of(["gre"]) == 1458
    assert CONFIG.mtu_of(["flat", "vxlan"]) == 1450
    with pytest.raises(exceptions.BadRequest):
        segments.validate(CONFIG, {"provider:network_type": "vlan",
                                   "provider:physical_network": "nope"})


@pytest.fixture()
def db(tmp_path: Path) -> Database:
    database = Database(f"sqlite:///{tmp_path / 'net.db'}")
    migrate.upgrade(database)
    return database


def test_tenant_ids_run_out_without_duplicates(db: Database) -> None:
    ctx = RequestContext(project_id="p1", roles=["admin"])

    def create(_: int) -> int | str:
        try:
            made = db.write(networks.create, ctx, {"project_id": "p1"}, [], CONFIG, QUOTAS)
        except exceptions.PocketstackError as exc:
            return type(exc).__name__
        return int(made["segments"][0]["segmentation_id"])

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(create, range(4)))
    ids = sorted(r for r in results if isinstance(r, int))
    assert ids == [5, 6]
    assert sorted(r for r in results if isinstance(r, str)) == ["NoNetworkAvailable"] * 2
    # deleting a network frees its VNI for the next one
    first = db.read(lambda conn: networks.list_networks(
        conn, ctx, networks.ListQuery(), {})[0][0])
    db.write(networks.delete, ctx, first["id"])
    again = db.write(networks.create, ctx, {"project_id": "p1"}, [], CONFIG, QUOTAS)
    assert again["segments"][0]["segmentation_id"] == first["segments"][0]["segmentation_id"]


def test_alive_is_a_report_within_the_down_time() -> None:
    import datetime as dt

    from pocketstack.network.domain import agents

    now = dt.datetime(2026, 1, 1, 12, 0, 0)
    agent = {"heartbeat_timestamp": now - dt.timedelta(seconds=75)}
    assert agents.is_alive(agent, 75, now)
    agent = {"heartbeat_timestamp": now - dt.timedelta(seconds=76)}
    assert not agents.is_alive(agent, 75, now)
