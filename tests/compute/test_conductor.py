"""The conductor's parts: the per-instance work queue, the power-sync rules, a claim that
commits or rolls back with the instance write, and the API's one-task-per-instance rule under
concurrent requests (Nova's 409 body)."""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from pocketstack.compute.conductor.power_sync import verdict
from pocketstack.compute.conductor.workqueue import InstanceWorkQueue
from tests.conftest import LiveCloud

V21 = "/compute/v2.1"
MV = {"OpenStack-API-Version": "compute 2.96"}


def test_work_queue_one_job_per_instance_in_order_instances_side_by_side() -> None:
    async def scenario() -> None:
        queue = InstanceWorkQueue()
        events: list[str] = []
        running: dict[str, int] = {}
        most: dict[str, int] = {}

        async def job(key: str, n: int) -> None:
            running[key] = running.get(key, 0) + 1
            most[key] = max(most.get(key, 0), running[key])
            events.append(f"{key}{n}+")
            await asyncio.sleep(0.01)
            events.append(f"{key}{n}-")
            running[key] -= 1

        await asyncio.gather(*(queue.run(k, lambda k=k, n=n: job(k, n))
                               for n in range(3) for k in ("a", "b")))
        assert most == {"a": 1, "b": 1}  # never two at once for one instance
        assert [e for e in events if e.startswith("a")] == ["a0+", "a0-", "a1+", "a1-",
                                                             "a2+", "a2-"]
        assert events.index("b0+") < events.index("a0-")  # another instance did not wait
        assert len(queue) == 0 and not queue.busy("a")

    asyncio.run(scenario())


def test_work_queue_coalesces_waiting_hints() -> None:
    async def scenario() -> None:
        queue = InstanceWorkQueue()
        ran: list[str] = []
        gate = asyncio.Event()

        async def first() -> None:
            await gate.wait()
            ran.append("report")

        async def hint() -> None:
            ran.append("hint")

        busy = asyncio.create_task(queue.run("x", first))
        await asyncio.sleep(0)
        assert queue.busy("x")
        waiting = [asyncio.create_task(queue.run("x", hint, hint="advance")) for _ in range(5)]
        await asyncio.sleep(0)
        gate.set()
        await asyncio.gather(busy, *waiting)
        assert ran == ["report", "hint"]  # five identical waiting hints: one look is enough

    asyncio.run(scenario())


@pytest.mark.parametrize(("vm_state", "observed", "expected"), [
    ("active", 1, None), ("active", 4, "stop"), ("active", 6, "stop"), ("active", 7, "stop"),
    ("active", 3, None),  # paused unexpectedly: Nova ignores it
    ("active", 0, None),  # not found on the host: recorded, not acted on
    ("stopped", 4, None), ("stopped", 0, None), ("stopped", 1, "stop"), ("stopped", 3, "stop"),
    ("paused", 3, None), ("paused", 4, "stop"),
    ("building", 4, None), ("error", 1, None), ("resized", 4, None), ("rescued", 4, None),
])
def test_power_sync_rules(vm_state: str, observed: int, expected: str | None) -> None:
    assert verdict(vm_state, observed) == expected


def test_claim_joins_the_callers_transaction(database_url: str) -> None:
    """A claim made inside ``joining(conn)`` is rolled back with the caller's transaction and
    committed with it: there is no claim without the instance write that records it."""
    from pocketstack.common import migrate
    from pocketstack.common.db import Database
    from pocketstack.placement.client import PlacementClient

    db = Database(database_url)
    migrate.upgrade(db)
    client = PlacementClient(db)
    client.ensure_provider("11111111-1111-1111-1111-111111111111", "node1")
    client.set_inventory("11111111-1111-1111-1111-111111111111", {"VCPU": {
        "total": 4, "reserved": 0, "min_unit": 1, "max_unit": 4, "step_size": 1,
        "allocation_ratio": 1.0}})
    consumer = "22222222-2222-2222-2222-222222222222"
    claim = {"11111111-1111-1111-1111-111111111111": {"VCPU": 2}}

    class Abandon(Exception):
        pass

    def claim_then_fail(conn: object) -> None:
        with client.joining(conn):  # type: ignore[arg-type]
            client.claim(consumer, claim, "p", "u")
        raise Abandon  # e.g. the instance write lost its compare-and-swap

    with pytest.raises(Abandon):
        db.write(claim_then_fail)
    assert client.get_allocations(consumer) == {}

    def claim_and_commit(conn: object) -> None:
        with client.joining(conn):  # type: ignore[arg-type]
            client.claim(consumer, claim, "p", "u")
            with pytest.raises(Exception, match="VCPU"):  # over capacity: only this fails
                client.claim("33333333-3333-3333-3333-333333333333", {
                    "11111111-1111-1111-1111-111111111111": {"VCPU": 3}}, "p", "u")

    db.write(claim_and_commit)
    assert client.get_allocations(consumer) == claim
    db.dispose()


def test_concurrent_actions_one_wins_the_rest_get_novas_409(cloud: LiveCloud,
                                                             admin: httpx.Client) -> None:
    image = admin.get("/image/v2/images", params={"name": "pocketstack-empty-qcow2"}).json()[
        "images"][0]["id"]
    r = admin.post(f"{V21}/servers", headers=MV, json={"server": {
        "name": "busy", "imageRef": image, "flavorRef": "1", "networks": "none",
        "metadata": {"fake:spawn_delay": "1"}}})
    assert r.status_code == 202, r.text
    server_id = r.json()["server"]["id"]
    # building: refused on vm_state, as Nova checks vm_state first
    early = admin.post(f"{V21}/servers/{server_id}/action", json={"os-stop": None})
    assert early.status_code == 409
    assert early.json()["conflictingRequest"]["message"] == (
        f"Cannot 'stop' instance {server_id} while it is in vm_state building")
    console = admin.post(f"{V21}/servers/{server_id}/action",
                         json={"os-getConsoleOutput": {}})  # asked of the conductor
    assert console.status_code == 409
    assert console.json()["conflictingRequest"]["message"] == (
        f"Cannot 'get_console_output' instance {server_id} while it is in vm_state building")
    deadline = time.monotonic() + 20
    while admin.get(f"{V21}/servers/{server_id}").json()["server"]["status"] != "ACTIVE":
        assert time.monotonic() < deadline
        time.sleep(0.1)

    def act(body: dict) -> httpx.Response:
        return admin.post(f"{V21}/servers/{server_id}/action", json=body)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(act, [{"os-stop": None}, {"reboot": {"type": "HARD"}},
                                      {"os-stop": None}, {"pause": None},
                                      {"reboot": {"type": "SOFT"}}, {"suspend": None}]))
    codes = sorted(a.status_code for a in answers)
    # one task in flight: the losers see the winner's task (or, if it already finished, the
    # state it left); a fast host can finish one task before a later request arrives
    assert codes[0] == 202 and set(codes) <= {202, 409} and codes.count(409) >= 3, codes
    accepted = admin.get(f"{V21}/servers/{server_id}/os-instance-actions",
                         headers=MV).json()["instanceActions"]
    assert len([a for a in accepted if a["action"] != "create"]) == codes.count(202)
    pattern = re.compile(rf"Cannot '(stop|reboot|pause|suspend)' instance {server_id} while "
                         r"it is in (task_state [a-z_-]+|vm_state [a-z]+)")
    for answer in answers:
        if answer.status_code == 409:
            assert pattern.fullmatch(answer.json()["conflictingRequest"]["message"]), \
                answer.text
    output = admin.post(f"{V21}/servers/{server_id}/action",
                        json={"os-getConsoleOutput": {"length": 50}})
    assert output.status_code == 200 and "login:" in output.json()["output"]
    assert admin.delete(f"{V21}/servers/{server_id}").status_code == 204


def test_one_task_per_instance_but_a_hard_reboot_replaces_a_stuck_one(tmp_path: Path) -> None:
    """Nova's rules, in the domain: a second task is refused (vm_state checked first, then
    task_state) except a hard reboot, which may replace a soft reboot, pause, suspend..."""
    from pocketstack.common import exceptions, migrate
    from pocketstack.common.db import Database
    from pocketstack.compute.domain import instance_actions, instances, states

    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    migrate.upgrade(db)
    base = {"display_name": "g", "project_id": "p", "user_id": "u", "image_ref": None,
            "flavor": {"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1},
            "metadata": {}, "tags": [], "security_groups": [], "networks": [],
            "addresses": {}, "block_devices": [], "scheduler_hints": {}}
    row = db.write(lambda conn: instances.create(conn, base, 1, 60))[0]
    uuid = row["uuid"]
    with pytest.raises(exceptions.Conflict, match=rf"^Cannot 'stop' instance {uuid} while it "
                                                  "is in vm_state building$"):
        db.write(lambda conn: instances.start_task(conn, instances.get(conn, uuid), "stop", 60))
    db.write(lambda conn: instances.update(conn, instances.get(conn, uuid), {
        "vm_state": states.ACTIVE, "task_state": None}))

    def start(action: str) -> dict:
        def run(conn):  # type: ignore[no-untyped-def]
            current = instances.get(conn, uuid)
            updated = instances.start_task(conn, current, action, 60)
            instance_actions.start(conn, uuid, instances.API_NAMES.get(action, action),
                                   "req-1", "p", "u")
            return updated
        return instances.write_checked(db, run)  # type: ignore[no-any-return]

    assert start("reboot_soft")["task_state"] == states.REBOOTING
    for action, name in (("stop", "stop"), ("reboot_soft", "reboot"),
                         ("confirm_resize", "confirmResize")):
        with pytest.raises(exceptions.Conflict) as caught:
            start(action)
        expected = ("vm_state active" if action == "confirm_resize"
                    else "task_state rebooting")
        assert caught.value.message == (f"Cannot '{name}' instance {uuid} while it is in "
                                        f"{expected}")
    assert start("reboot_hard")["task_state"] == states.REBOOTING_HARD
    reboots = [a for a in db.read(lambda c: instance_actions.list_(c, uuid))
               if a["action"] == "reboot"]
    assert len(reboots) == 2 and sum(a["finish_time"] is None for a in reboots) == 1
    db.dispose()


def test_a_step_is_one_transaction_rerun_from_a_fresh_read(tmp_path: Path) -> None:
    """A step that loses its compare-and-swap leaves nothing behind (its claim included) and
    runs again from a fresh read; a read-only try that wants to write goes round once more in
    a write transaction; messages are only what the committed attempt wanted."""
    from pocketstack.common import exceptions, migrate
    from pocketstack.common.bus import InProcessBus
    from pocketstack.common.db import Database
    from pocketstack.compute.conductor.conductor import Conductor
    from pocketstack.compute.conductor.family import Step
    from pocketstack.compute.domain import instances
    from pocketstack.config import load_settings
    from pocketstack.placement.client import PlacementClient

    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    migrate.upgrade(db)
    placement = PlacementClient(db)
    node = "11111111-1111-1111-1111-111111111111"
    placement.ensure_provider(node, "node1")
    placement.set_inventory(node, {"VCPU": {"total": 4, "reserved": 0, "min_unit": 1,
                                            "max_unit": 4, "step_size": 1,
                                            "allocation_ratio": 1.0}})
    base = {"display_name": "g", "project_id": "p", "user_id": "u", "image_ref": None,
            "flavor": {"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1},
            "metadata": {}, "tags": [], "security_groups": [], "networks": [],
            "addresses": {}, "block_devices": [], "scheduler_hints": {}}
    uuid = db.write(lambda conn: instances.create(conn, base, 1, 60))[0]["uuid"]
    conductor = Conductor(db, InProcessBus(), load_settings(environ={}), placement)
    seen: list[tuple[bool, str | None, dict]] = []

    def contested(step: Step) -> None:
        seen.append((step.writable, step.row["task_state"], placement.get_allocations(uuid)))
        if len(seen) == 1:  # the read-only try: it wants to write
            step.need_write()
        placement.claim(uuid, {node: {"VCPU": 2}}, "p", "u")
        step.update({"task_state": "spawning"})
        step.to_host("compute1", "spawn", attempt=len(seen))
        if len(seen) == 2:  # the API changed the row meanwhile: this attempt is lost
            raise exceptions.ConcurrentUpdate("instance changed")

    out = conductor._step(uuid, contested, (), read_first=True)
    assert [(w, task) for w, task, _ in seen] == [(False, "scheduling"), (True, "scheduling"),
                                                  (True, "scheduling")]
    assert seen[2][2] == {}  # the lost attempt's claim was rolled back with it
    assert out == [("compute.compute1", {"op": "spawn", "uuid": uuid, "attempt": 3})]
    assert db.read(instances.get, uuid)["task_state"] == "spawning"
    assert placement.get_allocations(uuid) == {node: {"VCPU": 2}}
    db.dispose()
