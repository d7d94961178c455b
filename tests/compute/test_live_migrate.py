"""Live migration (``os-migrateLive``) with the fake driver between in-process compute hosts:
the stock CLI, Nova's microversion rules for the body, the state checks, the migration record
and its in-progress listing, and the rollback of a migration that fails on the source.

compute3 is told to fail every live migration from it (``fake_fail=live_migration@compute3``),
compute2 to take 5 s for each (``live_migration_delay=5@compute2``), so that a migration
can be seen in progress, and compute4 60 s (a move to force to complete)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.compute.test_servers import IMAGE, wait_status
from tests.conftest import LiveCloud, own_cloud, unique

API = "/compute/v2.1"


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    yield from own_cloud(tmp_path_factory, "livemig", {
        "POCKETSTACK_COMPUTE_HOSTS": "4",
        "POCKETSTACK_FAKE_FAIL": "live_migration@compute3,"
        "live_migration_delay=5@compute2,live_migration_delay=60@compute4"})


def boot(cloud: LiveCloud, host: str) -> tuple[str, str]:
    name = unique("lm")
    server_id = cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE,
                          "--nic", "none", "--availability-zone", f"nova:{host}", "--wait",
                          name)["id"]
    assert cloud.osc("server", "show", name)["OS-EXT-SRV-ATTR:host"] == host
    return name, server_id


def admin(cloud: LiveCloud) -> httpx.Client:
    token, _ = cloud.token()
    return cloud.client(token)


def migrate(c: httpx.Client, server_id: str, version: str, body: dict[str, Any]
            ) -> httpx.Response:
    return c.post(f"{API}/servers/{server_id}/action", json={"os-migrateLive": body},
                  headers={"OpenStack-API-Version": f"compute {version}"})


def migrations_of(c: httpx.Client, server_id: str) -> list[dict[str, Any]]:
    return list(c.get(f"{API}/os-migrations", params={"instance_uuid": server_id},
                      headers={"OpenStack-API-Version": "compute 2.80"}).json()["migrations"])


def wait_migration(c: httpx.Client, server_id: str, statuses: tuple[str, ...],
                   timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        rows = migrations_of(c, server_id)
        if rows and rows[0]["status"] in statuses:
            return rows[0]
        assert time.monotonic() < deadline, f"migration stuck: {rows}"
        time.sleep(0.05)


def test_live_migrate_to_a_host_with_the_cli(cloud: LiveCloud) -> None:
    name, server_id = boot(cloud, "compute1")
    cloud.osc("--os-compute-api-version", "2.30", "server", "migrate", "--live-migration",
              "--host", "compute3", "--wait", name, as_json=False)
    shown = wait_status(cloud, name, "ACTIVE")
    assert shown["OS-EXT-SRV-ATTR:host"] == "compute3"
    with admin(cloud) as c:
        (row,) = migrations_of(c, server_id)
        assert (row["migration_type"], row["status"]) == ("live-migration", "completed")
        assert (row["source_compute"], row["dest_compute"]) == ("compute1", "compute3")
        assert row["dest_node"] and row["source_node"] and "links" not in row
        assert row["old_instance_type_id"] == row["new_instance_type_id"]
        # the instance action and its events, as Nova records them
        actions = c.get(f"{API}/servers/{server_id}/os-instance-actions").json()[
            "instanceActions"]
        assert actions[0]["action"] == "live-migration"
        events = c.get(f"{API}/servers/{server_id}/os-instance-actions/"
                       f"{actions[0]['request_id']}",
                       headers={"OpenStack-API-Version": "compute 2.51"}).json()[
            "instanceAction"]["events"]
        assert {e["event"]: e["result"] for e in events} == {
            "conductor_live_migrate_instance": "Success",
            "compute_pre_live_migration": "Success", "compute_live_migration": "Success",
            "compute_post_live_migration_at_destination": "Success"}
        # placement: the claim moved with it (the source holds nothing)
        hyps = {h["hypervisor_hostname"]: h for h in c.get(
            f"{API}/os-hypervisors/detail").json()["hypervisors"]}
        assert hyps["compute3"]["running_vms"] >= 1
        usage = c.get(f"/placement/allocations/{server_id}").json()["allocations"]
        assert len(usage) == 1
    # the guest is really on compute3 now: its console log followed it
    log = cloud.osc("console", "log", "show", name, as_json=False)
    assert "live-migrated from compute1 to compute3" in log
    cloud.osc("server", "delete", "--wait", name, as_json=False)


def test_scheduler_picks_another_host_and_paused_stays_paused(cloud: LiveCloud) -> None:
    name, server_id = boot(cloud, "compute1")
    cloud.osc("server", "pause", name, as_json=False)
    wait_status(cloud, name, "PAUSED")
    with admin(cloud) as c:
        assert migrate(c, server_id, "2.25", {"host": None, "block_migration": "auto"}
                       ).status_code == 202
        row = wait_migration(c, server_id, ("completed", "error"))
    assert row["status"] == "completed"
    shown = wait_status(cloud, name, "PAUSED")
    assert shown["OS-EXT-SRV-ATTR:host"] in ("compute2", "compute3", "compute4")
    assert shown["OS-EXT-STS:power_state"] == 3
    cloud.osc("server", "delete", "--wait", name, as_json=False)


def test_in_progress_listing(cloud: LiveCloud) -> None:
    """compute2's migrations take 5 s: long enough to see one under way."""
    name, server_id = boot(cloud, "compute2")
    with admin(cloud) as c:
        assert migrate(c, server_id, "2.30", {"host": "compute1", "block_migration": "auto",
                                               "force": True}).status_code == 202
        row = wait_migration(c, server_id, ("running",))
        server = c.get(f"{API}/servers/{server_id}").json()["server"]
        assert server["status"] == "MIGRATING"
        assert server["OS-EXT-STS:task_state"] == "migrating"
        v = {"OpenStack-API-Version": "compute 2.80"}
        (live,) = c.get(f"{API}/servers/{server_id}/migrations", headers=v).json()[
            "migrations"]
        assert live["id"] == row["id"] and live["server_uuid"] == server_id
        assert (live["status"], live["source_compute"], live["dest_compute"]) == (
            "running", "compute2", "compute1")
        assert live["uuid"] == row["uuid"] and live["memory_total_bytes"] is None
        assert row["links"][0]["href"].endswith(
            f"/servers/{server_id}/migrations/{row['id']}")
        one = c.get(f"{API}/servers/{server_id}/migrations/{row['id']}", headers=v)
        assert one.status_code == 200 and one.json()["migration"]["id"] == row["id"]
        # a second live migration while one is under way: 409
        assert migrate(c, server_id, "2.30", {"host": None, "block_migration": "auto"}
                       ).status_code == 409
        done = wait_migration(c, server_id, ("completed", "error"))
        assert done["status"] == "completed" and "links" not in done
        assert c.get(f"{API}/servers/{server_id}/migrations", headers=v).json() == {
            "migrations": []}
        gone = c.get(f"{API}/servers/{server_id}/migrations/{row['id']}", headers=v)
        assert gone.status_code == 404 and "In-progress live migration" in gone.text
    assert wait_status(cloud, name, "ACTIVE")["OS-EXT-SRV-ATTR:host"] == "compute1"
    cloud.osc("server", "delete", "--wait", name, as_json=False)


def test_failure_rolls_back_to_the_source(cloud: LiveCloud) -> None:
    name, server_id = boot(cloud, "compute3")  # live migrations from compute3 fail
    with admin(cloud) as c:
        assert migrate(c, server_id, "2.68", {"host": "compute1", "block_migration": False}
                       ).status_code == 202
        row = wait_migration(c, server_id, ("completed", "error"))
        assert row["status"] == "error" and row["dest_compute"] == "compute1"
        actions = c.get(f"{API}/servers/{server_id}/os-instance-actions").json()[
            "instanceActions"]
        detail = c.get(f"{API}/servers/{server_id}/os-instance-actions/"
                       f"{actions[0]['request_id']}",
                       headers={"OpenStack-API-Version": "compute 2.51"}).json()[
            "instanceAction"]
        assert detail["message"] == "Error"
        failed = [e for e in detail["events"] if e["result"] == "Error"]
        assert [e["event"] for e in failed] == ["compute_live_migration"]
        assert "fake_fail=live_migration" in (failed[0]["traceback"] or "")
        usage = c.get(f"/placement/allocations/{server_id}").json()["allocations"]
        assert len(usage) == 1  # the destination's claim was given back
    shown = wait_status(cloud, name, "ACTIVE")
    assert shown["OS-EXT-SRV-ATTR:host"] == "compute3"
    # the guest still runs on the source
    assert cloud.osc("server", "show", name)["OS-EXT-STS:power_state"] in ("Running", 1)
    cloud.osc("server", "delete", "--wait", name, as_json=False)


def test_body_rules_states_and_policy(cloud: LiveCloud) -> None:
    name, server_id = boot(cloud, "compute1")
    with admin(cloud) as c:
        def code(version: str, body: Any) -> int:
            return migrate(c, server_id, version, body).status_code

        # 2.1: all three required, no "auto"; 2.25: no disk_over_commit; 2.68: no force
        assert code("2.1", {"host": None, "block_migration": False}) == 400
        assert code("2.1", {"host": None, "block_migration": "auto",
                            "disk_over_commit": False}) == 400
        assert code("2.25", {"host": None, "block_migration": "auto",
                             "disk_over_commit": False}) == 400
        assert code("2.25", {"host": None, "block_migration": "sometimes"}) == 400
        assert code("2.29", {"host": None, "block_migration": "auto", "force": True}) == 400
        assert code("2.68", {"host": None, "block_migration": "auto", "force": True}) == 400
        assert code("2.30", {"host": "no-such-host", "block_migration": "auto"}) == 400
        assert code("2.30", {"host": "bad host!", "block_migration": "auto"}) == 400
        same = migrate(c, server_id, "2.30", {"host": "compute1", "block_migration": "auto"})
        assert same.status_code == 400 and "current host" in same.text
        # from 2.34 the conductor's checks end the migration as error instead
        assert code("2.34", {"host": "compute1", "block_migration": "auto"}) == 202
        assert wait_migration(c, server_id, ("completed", "error"))["status"] == "error"
        wait_status(cloud, name, "ACTIVE")
        # state: a stopped server cannot live-migrate
        cloud.osc("server", "stop", name, as_json=False)
        wait_status(cloud, name, "SHUTOFF")
        stopped = migrate(c, server_id, "2.30", {"host": None, "block_migration": "auto"})
        assert stopped.status_code == 409
        assert "Cannot 'os-migrateLive'" in stopped.text and "stopped" in stopped.text
    # a project member may not (admin only)
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as member:
        denied = migrate(member, server_id, "2.30", {"host": None, "block_migration": "auto"})
        assert denied.status_code in (403, 404)
    cloud.osc("server", "delete", "--wait", name, as_json=False)


def test_abort_a_live_migration_under_way(cloud: LiveCloud) -> None:
    """DELETE /servers/{id}/migrations/{id} (2.24) stops compute2's slow move: the migration
    is cancelled and the server stays ACTIVE on compute2."""
    name, server_id = boot(cloud, "compute2")
    with admin(cloud) as c:
        assert migrate(c, server_id, "2.30", {"host": "compute1", "block_migration": "auto",
                                               "force": True}).status_code == 202
        row = wait_migration(c, server_id, ("running",))
        url = f"{API}/servers/{server_id}/migrations/{row['id']}"

        def delete(version: str, path: str = url) -> httpx.Response:
            return c.delete(path, headers={"OpenStack-API-Version": f"compute {version}"})

        assert delete("2.23").status_code == 404  # no abort before 2.24
        missing = delete("2.24", f"{API}/servers/{server_id}/migrations/999999")
        assert missing.status_code == 404 and "not found for instance" in missing.text
        assert delete("2.24").status_code == 202
        done = wait_migration(c, server_id, ("cancelled", "completed", "error"))
        assert done["status"] == "cancelled"
        actions = c.get(f"{API}/servers/{server_id}/os-instance-actions").json()[
            "instanceActions"]
        assert [a["action"] for a in actions[:2]] == ["live_migration_abort", "live-migration"]
        # not under way any more: 400 (Nova's InvalidMigrationState)
        again = delete("2.65")
        assert again.status_code == 400 and "is cancelled" in again.text
    shown = wait_status(cloud, name, "ACTIVE")
    assert shown["OS-EXT-SRV-ATTR:host"] == "compute2"
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as member:
        assert member.delete(f"{API}/servers/{server_id}/migrations/{row['id']}", headers={
            "OpenStack-API-Version": "compute 2.24"}).status_code in (403, 404)
    cloud.osc("server", "delete", "--wait", name, as_json=False)


def test_force_complete_a_live_migration_under_way(cloud: LiveCloud) -> None:
    """``openstack server migration force complete`` (2.22) ends compute4's 60 s move at once:
    the source pauses the guest so the copy converges, the server is ACTIVE on the
    destination, and the action's event closes with the host's answer. Nova's checks:
    404 before 2.22, 400 for another server's or a finished migration, 409 when the server
    is not migrating, 400 for a malformed body."""
    name, server_id = boot(cloud, "compute4")
    with admin(cloud) as c:
        headers = {"OpenStack-API-Version": "compute 2.22"}

        def action(mid: Any, body: Any, version: str = "2.22") -> httpx.Response:
            return c.post(f"{API}/servers/{server_id}/migrations/{mid}/action", json=body,
                          headers={"OpenStack-API-Version": f"compute {version}"})

        not_migrating = action(1, {"force_complete": None})
        assert not_migrating.status_code == 409
        assert "while it is in task_state None" in not_migrating.text
        started = time.monotonic()
        assert migrate(c, server_id, "2.30", {"host": "compute1", "block_migration": "auto",
                                               "force": True}).status_code == 202
        row = wait_migration(c, server_id, ("running",))
        assert action(row["id"], {"force_complete": None}, "2.21").status_code == 404
        bad = action(row["id"], {"force_complete": {}})
        assert bad.status_code == 400 and "badRequest" in bad.text
        unknown = action(row["id"], {"finish": None})
        assert unknown.status_code == 400 and "There is no such action: finish" in unknown.text
        other = action(999999, {"force_complete": None})
        assert other.status_code == 400 and "not found for instance" in other.text
        cloud.osc("--os-compute-api-version", "2.22", "server", "migration", "force",
                  "complete", server_id, str(row["id"]), as_json=False)
        done = wait_migration(c, server_id, ("completed", "error", "cancelled"))
        assert done["status"] == "completed"
        assert time.monotonic() - started < 40, "force complete did not shorten the 60 s move"
        actions = c.get(f"{API}/servers/{server_id}/os-instance-actions",
                        headers=headers).json()["instanceActions"]
        assert [a["action"] for a in actions[:2]] == ["live_migration_force_complete",
                                                      "live-migration"]
        forced = c.get(f"{API}/servers/{server_id}/os-instance-actions/"
                       f"{actions[0]['request_id']}", headers={
                           "OpenStack-API-Version": "compute 2.51"}).json()["instanceAction"]
        deadline = time.monotonic() + 10
        while forced["events"][0]["finish_time"] is None and time.monotonic() < deadline:
            time.sleep(0.1)
            forced = c.get(f"{API}/servers/{server_id}/os-instance-actions/"
                           f"{actions[0]['request_id']}", headers={
                               "OpenStack-API-Version": "compute 2.51"}).json()[
                                   "instanceAction"]
        assert [(e["event"], e["result"]) for e in forced["events"]] == [
            ("compute_live_migration_force_complete", "Success")]
        finished = action(row["id"], {"force_complete": None})
        assert finished.status_code == 409  # no longer migrating: the state check comes first
    shown = wait_status(cloud, name, "ACTIVE")
    assert shown["OS-EXT-SRV-ATTR:host"] == "compute1"
    console = cloud.osc("console", "log", "show", name, as_json=False)
    assert "paused on compute4 to complete the live migration" in console
    cloud.osc("server", "delete", "--wait", name, as_json=False)
