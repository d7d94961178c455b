"""Cold migration with the stock CLI between two compute hosts: migrate, confirm, revert."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.compute.test_servers import IMAGE, wait_status
from tests.conftest import LiveCloud, own_cloud, unique


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    yield from own_cloud(tmp_path_factory, "migrate", {
        "POCKETSTACK_COMPUTE_HOSTS": "2"})


def test_migrate_confirm_and_revert(two_hosts: LiveCloud) -> None:
    cloud = two_hosts
    name = unique("mig")
    cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE, "--nic", "none",
              "--wait", name)
    before = cloud.osc("server", "show", name)["OS-EXT-SRV-ATTR:host"]
    cloud.osc("server", "migrate", "--wait", name, as_json=False)
    moved = wait_status(cloud, name, "VERIFY_RESIZE")
    cloud.osc("server", "migrate", "confirm", name, as_json=False)
    shown = cloud.osc("server", "show", name)
    assert shown["status"] == "ACTIVE"
    after = shown["OS-EXT-SRV-ATTR:host"]
    assert {before, after} == {"compute1", "compute2"}
    assert moved["id"] == shown["id"]
    # and back, then change our mind
    cloud.osc("server", "migrate", "--wait", name, as_json=False)
    wait_status(cloud, name, "VERIFY_RESIZE")
    cloud.osc("server", "migrate", "revert", name, as_json=False)
    wait_status(cloud, name, "ACTIVE")
    assert cloud.osc("server", "show", name)["OS-EXT-SRV-ATTR:host"] == after
    cloud.osc("server", "delete", "--wait", name, as_json=False)


def test_os_migrations_records_moves(two_hosts: LiveCloud) -> None:
    """Migrations listed by os-migrations (and the stock CLI) follow real moves: a confirmed
    migration, a reverted one and a confirmed resize, with filters and 2.59 pagination."""
    import httpx

    cloud = two_hosts
    name = unique("migs")
    server_id = cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE,
                          "--nic", "none", "--wait", name)["id"]
    first = cloud.osc("server", "show", name)["OS-EXT-SRV-ATTR:host"]
    other = "compute2" if first == "compute1" else "compute1"
    cloud.osc("server", "migrate", "--wait", name, as_json=False)
    wait_status(cloud, name, "VERIFY_RESIZE")
    cloud.osc("server", "migrate", "confirm", name, as_json=False)
    wait_status(cloud, name, "ACTIVE")
    cloud.osc("server", "migrate", "--wait", name, as_json=False)
    wait_status(cloud, name, "VERIFY_RESIZE")
    cloud.osc("server", "migrate", "revert", name, as_json=False)
    wait_status(cloud, name, "ACTIVE")
    cloud.osc("server", "resize", "--flavor", "m1.small", "--wait", name, as_json=False)
    wait_status(cloud, name, "VERIFY_RESIZE")

    token, body = cloud.token()
    with cloud.client(token) as admin:
        def migs(version: str = "2.80", **params: str) -> httpx.Response:
            return admin.get("/compute/v2.1/os-migrations",
                             params={"instance_uuid": server_id, **params},
                             headers={"OpenStack-API-Version": f"compute {version}"})

        rows = migs().json()["migrations"]
        assert [(m["migration_type"], m["status"]) for m in rows] == [
            ("resize", "finished"), ("migration", "reverted"), ("migration", "confirmed")]
        resize, reverted, confirmed = rows
        assert (confirmed["source_compute"], confirmed["dest_compute"]) == (first, other)
        assert (reverted["source_compute"], reverted["dest_compute"]) == (other, first)
        assert confirmed["source_node"] and confirmed["dest_node"]
        assert confirmed["old_instance_type_id"] == confirmed["new_instance_type_id"]
        assert resize["old_instance_type_id"] != resize["new_instance_type_id"]
        assert resize["source_compute"] == other and resize["dest_compute"] in (first, other)
        assert all(m["updated_at"] and m["created_at"] for m in rows)
        assert {m["user_id"] for m in rows} == {body["user"]["id"]}
        assert {m["project_id"] for m in rows} == {body["project"]["id"]}
        assert rows[0]["uuid"] and isinstance(rows[0]["id"], int)
        # shapes per microversion
        old = migs("2.1").json()["migrations"][0]
        assert "migration_type" not in old and "uuid" not in old and "user_id" not in old
        assert "uuid" not in migs("2.58").json()["migrations"][0]
        assert "user_id" not in migs("2.79").json()["migrations"][0]
        # filters
        assert [m["id"] for m in migs(status="reverted").json()["migrations"]] == [
            reverted["id"]]
        assert [m["id"] for m in migs(migration_type="resize").json()["migrations"]] == [
            resize["id"]]
        assert len(migs(host=first).json()["migrations"]) >= 2
        assert migs(source_compute="nowhere").json()["migrations"] == []
        assert migs(user_id="someone-else").json()["migrations"] == []
        assert len(migs(project_id=rows[0]["project_id"]).json()["migrations"]) == 3
        # 2.59 pagination: newest first, marker = migration uuid
        page1 = migs(limit="2").json()
        assert [m["id"] for m in page1["migrations"]] == [resize["id"], reverted["id"]]
        assert "marker=" + reverted["uuid"] in page1["migrations_links"][0]["href"]
        page2 = migs(limit="2", marker=reverted["uuid"]).json()
        assert [m["id"] for m in page2["migrations"]] == [confirmed["id"]]
        assert "migrations_links" not in page2
        assert migs(**{"changes-since": resize["updated_at"]}).json()["migrations"][0][
            "id"] == resize["id"]
        assert migs(**{"changes-before": "2000-01-01T00:00:00Z"}).json()["migrations"] == []

    # the stock CLI
    listed = cloud.osc("--os-compute-api-version", "2.80", "server", "migration", "list",
                       "--server", server_id)
    assert [(m["Type"], m["Status"]) for m in listed] == [
        ("resize", "finished"), ("migration", "reverted"), ("migration", "confirmed")]
    assert cloud.osc("--os-compute-api-version", "2.80", "server", "migration", "list",
                     "--server", server_id, "--type", "cold-migration",
                     "--status", "confirmed")[0]["Id"] == confirmed["id"]
    # no live migration is ever in progress
    assert cloud.osc("--os-compute-api-version", "2.80", "server", "migration", "list",
                     "--server", server_id, "--type", "live-migration") == []
    cloud.osc("server", "resize", "confirm", name, as_json=False)
    wait_status(cloud, name, "ACTIVE")
    with cloud.client(token) as admin:
        status = admin.get("/compute/v2.1/os-migrations", params={"instance_uuid": server_id},
                           headers={"OpenStack-API-Version": "compute 2.80"}).json()[
            "migrations"][0]["status"]
    assert status == "confirmed"
    # deleting a server that waits for confirmation confirms its migration
    cloud.osc("server", "migrate", "--wait", name, as_json=False)
    wait_status(cloud, name, "VERIFY_RESIZE")
    cloud.osc("server", "delete", "--wait", name, as_json=False)
    with cloud.client(token) as admin:
        rows = admin.get("/compute/v2.1/os-migrations", params={"instance_uuid": server_id},
                         headers={"OpenStack-API-Version": "compute 2.80"}).json()["migrations"]
    assert [m["status"] for m in rows] == [
        "confirmed", "confirmed", "reverted", "confirmed"]
