"""Server-group policies hold for servers created together (``--min N``): the builds of one
request see each other's hosts, as Nova's scheduler does for a multi-create."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.compute.test_scheduling_story import amqp_url  # noqa: F401 - a fixture
from tests.conftest import LiveCloud, fresh_database, start_cloud, unique

V21 = "/compute/v2.1"
LATEST = {"OpenStack-API-Version": "compute 2.96"}


@pytest.fixture(scope="module")
def three_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    state: Path = tmp_path_factory.mktemp("groups") / "state"
    state.mkdir()
    live = start_cloud(state, {"POCKETSTACK_COMPUTE_HOSTS": "3"})
    try:
        live.osc("quota", "set", "--instances", "-1", "--cores", "-1", "--ram", "-1",
                 "admin", as_json=False)
        yield live
    finally:
        live.stop()


def _settled(c: httpx.Client, name: str, count: int) -> list[dict]:
    """The ``count`` servers named ``name-1..N`` once none is building."""
    deadline = time.monotonic() + 60
    while True:
        servers = c.get(f"{V21}/servers/detail", headers=LATEST,
                        params={"name": f"^{name}-"}).json()["servers"]
        if len(servers) == count and all(s["status"] != "BUILD" for s in servers):
            return servers
        assert time.monotonic() < deadline, [(s["name"], s["status"]) for s in servers]
        time.sleep(0.2)


@pytest.mark.parametrize(("policy", "count"), [("anti-affinity", 3), ("affinity", 6)])
def test_group_policy_holds_for_servers_created_together(three_hosts: LiveCloud, policy: str,
                                                         count: int) -> None:
    """Several rounds: each leaves the hosts' usage (and so the weighers' ranking) different,
    so a build that did not see its siblings would break the policy in one of them."""
    cloud = three_hosts
    token, _ = cloud.token()
    with cloud.client(token) as c:
        for _ in range(3):
            group = cloud.osc("server", "group", "create", "--policy", policy, unique("grp"))
            name = unique("together")
            cloud.osc("server", "create", "--flavor", "m1.tiny", "--image",
                      "pocketstack-empty-qcow2", "--nic", "none", "--min", str(count),
                      "--max", str(count), "--hint", f"group={group['id']}", name)
            servers = _settled(c, name, count)
            assert [s["status"] for s in servers] == ["ACTIVE"] * count, servers
            hosts = [s["OS-EXT-SRV-ATTR:host"] for s in servers]
            if policy == "anti-affinity":
                assert len(set(hosts)) == count, hosts
            else:
                assert len(set(hosts)) == 1, hosts
            members = c.get(f"{V21}/os-server-groups/{group['id']}").json()["server_group"][
                "members"]
            assert sorted(members) == sorted(s["id"] for s in servers)
            # the first server stays: the next round starts from uneven hosts
            for s in servers[1:]:
                assert c.delete(f"{V21}/servers/{s['id']}").status_code == 204


@pytest.fixture(scope="module")
def two_conductors(tmp_path_factory: pytest.TempPathFactory,
                   request: pytest.FixtureRequest) -> Iterator[LiveCloud]:
    """Two clouds on one PostgreSQL database and one RabbitMQ vhost: the second runs no
    compute host, only an API and a conductor, so the builds of one request are scheduled by
    two schedulers that cannot see each other's choices (only the database)."""
    amqp = request.getfixturevalue("amqp_url")  # RabbitMQ, or the test is skipped
    url, drop = fresh_database("postgresql")
    base = tmp_path_factory.mktemp("two-conductors")
    first_state, second_state = base / "first", base / "second"
    first_state.mkdir()
    second_state.mkdir()
    env = {"POCKETSTACK_TRANSPORT_URL": amqp, "POCKETSTACK_HEARTBEAT_INTERVAL": "1"}
    first = start_cloud(first_state, {**env, "POCKETSTACK_COMPUTE_HOSTS": "3"},
                        database_url=url)
    shutil.copytree(first_state / "fernet-keys", second_state / "fernet-keys")
    shutil.copy(first_state / "credentials.json", second_state / "credentials.json")
    second = start_cloud(second_state, {**env, "POCKETSTACK_COMPUTE_HOSTS": "0"},
                         database_url=url)
    try:
        first.osc("quota", "set", "--instances", "-1", "--cores", "-1", "--ram", "-1",
                  "admin", as_json=False)
        yield first
    finally:
        second.stop()
        first.stop()
        drop()


def test_late_check_across_conductors(two_conductors: LiveCloud) -> None:
    """Builds of one anti-affinity request handled by two conductors at once: a build whose
    host was taken meanwhile by a sibling is refused when it commits and rescheduled, so the
    policy holds. (The rescheduled attempts are in the scheduling records.)"""
    cloud = two_conductors
    token, _ = cloud.token()
    with cloud.client(token) as c:
        image = c.get("/image/v2/images", params={"name": "pocketstack-empty-qcow2"}).json()[
            "images"][0]["id"]
        for _ in range(4):
            group = c.post(f"{V21}/os-server-groups", headers=LATEST, json={"server_group": {
                "name": unique("late"), "policy": "anti-affinity"}}).json()["server_group"]
            name = unique("late")
            r = c.post(f"{V21}/servers", headers=LATEST, json={
                "server": {"name": name, "imageRef": image, "flavorRef": "1",
                           "networks": "none", "min_count": 3, "max_count": 3},
                "os:scheduler_hints": {"group": group["id"]}})
            assert r.status_code == 202, r.text
            servers = _settled(c, name, 3)
            assert [s["status"] for s in servers] == ["ACTIVE"] * 3, servers
            hosts = [s["OS-EXT-SRV-ATTR:host"] for s in servers]
            assert len(set(hosts)) == 3, hosts
            for s in servers:
                assert c.delete(f"{V21}/servers/{s['id']}").status_code == 204
