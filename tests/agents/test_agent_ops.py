"""Every driver operation is reachable through the agent over the bus: tasks report back to
the conductor, calls answer the caller; sync drivers run off the event loop; images are found
locally or streamed once into the host's cache; a crashing driver kills its agent."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from pocketstack.agents.compute.agent import AgentOptions, ComputeAgent
from pocketstack.agents.compute.drivers.base import (
    PAUSED,
    RUNNING,
    SHUTDOWN,
    SUSPENDED,
    ImageSource,
    InstanceSpec,
    NetworkInterface,
)
from pocketstack.agents.compute.drivers.fake import FailureModes, FakeDriver, _Guest
from pocketstack.common.bus import InProcessBus

IMAGE = b"qcow2-bytes" * 100_000  # ~1.1 MB: more than one chunk


class Harness:
    """An agent on an in-process bus, with a stand-in conductor that records reports and
    serves image chunks from memory."""

    def __init__(self, tmp: Path, driver: Any) -> None:
        self.bus = InProcessBus()
        self.driver = driver
        self.reports: list[dict[str, Any]] = []
        self.heartbeats: list[dict[str, Any]] = []
        self.chunk_calls = 0
        self.images = {"img": IMAGE, "rescue-img": b"rescue"}
        self.crashed: list[BaseException] = []
        self.agent = ComputeAgent("h1", driver, self.bus, AgentOptions(
            heartbeat_interval=0.05, state_dir=tmp / "h1"), on_crash=self.crashed.append)

    async def conductor(self, msg: dict[str, Any]) -> Any:
        if msg["op"] == "report":
            self.reports.append(msg)
        elif msg["op"] == "heartbeat":
            self.heartbeats.append(msg)
        elif msg["op"] == "image_chunk":
            self.chunk_calls += 1
            data = self.images.get(msg["image_id"])
            if data is None:
                return {"error": "gone", "missing": True}
            chunk = data[msg["offset"]:msg["offset"] + msg["length"]]
            return {"data": base64.b64encode(chunk).decode()}
        return None

    async def task(self, op: str, uuid: str = "u1", **extra: Any) -> dict[str, Any]:
        before = len(self.reports)
        await self.bus.cast("compute.h1", {"op": op, "uuid": uuid, **extra})
        for _ in range(200):
            await asyncio.sleep(0.005)
            if len(self.reports) > before:
                return self.reports[-1]
        raise AssertionError(f"no report for {op}")

    async def call(self, op: str, uuid: str = "u1", **extra: Any) -> Any:
        return await self.bus.call("compute.h1", {"op": op, "uuid": uuid, **extra}, 5)


def spec(uuid: str = "u1", image: str = "img", path: str | None = None,
         **extra: Any) -> dict[str, Any]:
    return InstanceSpec(uuid=uuid, name=f"instance-{uuid}", vcpus=1, memory_mb=256, root_gb=1,
                        image=ImageSource(id=image, size=len(IMAGE) if image == "img" else None,
                                          path=path), **extra).to_dict()


def run(tmp: Path, body: Callable[[Harness], Awaitable[None]], driver: Any = None) -> Harness:
    h = Harness(tmp, driver or FakeDriver("h1"))

    async def main() -> None:
        await h.bus.subscribe("conductor", h.conductor)
        await h.agent.start()
        try:
            await body(h)
        finally:
            await h.agent.stop()
            await h.bus.stop()

    asyncio.run(main())
    return h


def test_every_operation_through_the_bus(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        r = await h.task("spawn", spec=spec())
        assert (r["action"], r["result"], r["power_state"]) == ("spawn", "ok", RUNNING)
        for op, power in (("stop", SHUTDOWN), ("start", RUNNING), ("pause", PAUSED),
                          ("unpause", RUNNING), ("suspend", SUSPENDED), ("resume", RUNNING),
                          ("reboot_soft", RUNNING), ("reboot_hard", RUNNING)):
            r = await h.task(op)
            assert (r["action"], r["result"], r["power_state"]) == (op, "ok", power)
        r = await h.task("rescue", spec=spec(rescue_image=ImageSource(id="rescue-img")))
        assert r["result"] == "ok"
        assert (await h.call("info"))["info"]["rescue_image"] == "rescue-img"
        assert "Booting rescue image rescue-img" in (await h.call("console_output"))["output"]
        assert (await h.task("unrescue"))["result"] == "ok"
        assert (await h.call("diagnostics"))["info"]["rescue_image"] is None
        r = await h.task("rebuild", spec=spec(image="rescue-img"))
        assert r["result"] == "ok"
        assert (await h.call("info"))["info"]["image"] == "rescue-img"
        resized = spec(image="rescue-img")
        resized["memory_mb"] = 512
        assert (await h.task("resize", spec=resized))["result"] == "ok"
        assert (await h.call("info"))["info"]["memory_mb"] == 512
        assert await h.call("snapshot") == {"snapshot": {"image_id": "rescue-img"}}
        attached = await h.call("attach_volume", volume={"volume_id": "v1"})
        assert attached == {"device": "/dev/vdb"}
        nic = NetworkInterface("p1", "fa:16:3e:00:00:01", mtu=1450).__dict__
        assert await h.call("plug_vif", vif=nic) == {}
        info = (await h.call("info"))["info"]
        assert info["volumes"] == {"v1": "/dev/vdb"} and info["vifs"] == ["p1"]
        snap = {"snapshot_id": "s1", "type": "qcow2", "new_file": "v1.s1"}
        assert await h.call("volume_snapshot_create", volume_id="v1", create_info=snap) == {}
        assert (await h.call("info"))["info"]["volume_snapshots"] == {
            "s1": {"volume_id": "v1", "new_file": "v1.s1", "type": "qcow2"}}
        refused = await h.call("volume_snapshot_create", volume_id="v9", create_info=snap)
        assert "Found no disk to snapshot" in refused["error"]
        assert await h.call("volume_snapshot_delete", volume_id="v1", snapshot_id="s1",
                            delete_info={"volume_id": "v1"}) == {}
        assert (await h.call("info"))["info"]["volume_snapshots"] == {}
        assert await h.call("detach_volume", volume_id="v1") == {}
        assert await h.call("unplug_vif", port_id="p1") == {}
        assert await h.call("set_admin_password", password="s3cret") == {}
        guest = h.driver.guests["u1"]
        assert guest.password_sha256 == hashlib.sha256(b"s3cret").hexdigest()
        assert (await h.task("destroy"))["result"] == "ok"
        missing = await h.call("info")
        assert missing["not_found"] is True and "could not be found" in missing["error"]
        r = await h.task("stop")
        assert r["result"] == "error" and "could not be found" in r["message"]
        r = await h.task("frobnicate")
        assert r["result"] == "error" and "unknown operation" in r["message"]
        assert "bad attach_volume request" in (await h.call("attach_volume"))["error"]
        # a host call: the machine's uptime, whatever guests there are
        assert "load average: " in (await h.bus.call("compute.h1", {"op": "host_uptime"}, 5))[
            "uptime"]

    run(tmp_path, body)


def test_images_are_used_in_place_or_streamed_once_into_the_host_cache(tmp_path: Path) -> None:
    local = tmp_path / "store" / "img"
    local.parent.mkdir()
    local.write_bytes(IMAGE)

    async def body(h: Harness) -> None:
        await h.task("spawn", "a", spec=spec("a", path=str(local)))
        assert h.driver.guests["a"].spec.image.path == str(local)
        assert h.chunk_calls == 0  # a readable local file is used as it is
        await h.task("spawn", "b", spec=spec("b", path="/elsewhere/img"))
        await h.task("spawn", "c", spec=spec("c"))
        cached = tmp_path / "h1" / "instances" / "_base" / hashlib.sha1(b"img").hexdigest()
        assert cached.read_bytes() == IMAGE
        assert h.driver.guests["b"].spec.image.path == str(cached)
        assert h.driver.guests["c"].spec.image.path == str(cached)
        assert h.chunk_calls == 2  # b: a full 1 MiB chunk, then the short last one; c: none
        r = await h.task("spawn", "d", spec=spec("d", image="deleted-img"))
        assert r["result"] == "ok" and h.driver.guests["d"].spec.image.path is None
        assert not [p for p in cached.parent.iterdir() if p.name.endswith(".part")]

    run(tmp_path, body)


class PlainDriver(FakeDriver):
    """A driver without Nova's assisted volume snapshots (like libvirt's and namespace's)."""

    volume_snapshot_create = None  # type: ignore[assignment]


def test_a_driver_without_assisted_snapshots_refuses_them(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        await h.task("spawn", spec=spec())
        r = await h.call("volume_snapshot_create", volume_id="v1",
                         create_info={"snapshot_id": "s1"})
        assert r["error"] == "the PlainDriver of host h1 does not do volume_snapshot_create"

    run(tmp_path, body, PlainDriver("h1"))


class SyncDriver(FakeDriver):
    """A driver written with plain (blocking) methods."""

    def __init__(self) -> None:
        super().__init__("h1")
        self.threads: set[str] = set()

    def spawn(self, spec: InstanceSpec) -> None:  # type: ignore[override]
        self.threads.add(threading.current_thread().name)
        self.guests[spec.uuid] = _Guest(spec)

    def power_state(self, uuid: str) -> int:  # type: ignore[override]
        self.threads.add(threading.current_thread().name)
        return self.guests[uuid].power_state


def test_sync_drivers_run_in_a_worker_thread(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        r = await h.task("spawn", spec=spec(path=None, image=""))
        assert (r["result"], r["power_state"]) == ("ok", RUNNING)

    h = run(tmp_path, body, SyncDriver())
    assert h.driver.threads and threading.main_thread().name not in h.driver.threads


def test_a_delete_cancels_a_spawn_that_hangs(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        await h.bus.cast("compute.h1", {"op": "spawn", "uuid": "u1", "spec": spec()})
        await asyncio.sleep(0.05)
        assert "u1" in h.agent._building and not h.reports
        assert (await h.task("destroy"))["result"] == "ok"
        await asyncio.sleep(0.05)
        assert h.agent._building == {} and [r["action"] for r in h.reports] == ["destroy"]

    run(tmp_path, body, FakeDriver("h1", failures=FailureModes(hang=True)))


def test_a_crash_mid_spawn_kills_the_agent(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        await h.bus.cast("compute.h1", {"op": "spawn", "uuid": "u1", "spec": spec()})
        await asyncio.sleep(0.1)
        beats = len(h.heartbeats)
        assert h.agent.dead and h.crashed and not h.reports  # died without a word
        assert await h.call("console_output") is None  # and answers nothing any more
        await asyncio.sleep(0.2)
        assert len(h.heartbeats) == beats

    h = run(tmp_path, body, FakeDriver("h1", failures=FailureModes(crash=True)))
    assert h.driver.guests["u1"].power_state == 0  # the half-built guest is left behind


def test_a_guest_that_dies_later_is_reported_shut_down(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        r = await h.task("spawn", spec=spec())
        assert r["power_state"] == RUNNING
        await asyncio.sleep(0.3)
        assert h.heartbeats[-1]["instances"] == {"u1": SHUTDOWN}
        assert "Kernel panic" in (await h.call("console_output"))["output"]

    run(tmp_path, body, FakeDriver("h1", failures=FailureModes(guest_dies_after=0.1)))


@pytest.mark.parametrize("text, host, expected", [
    ("", "h1", FailureModes()),
    ("spawn", "h1", FailureModes(fail_spawn=True)),
    ("hang@h2, crash@h1", "h1", FailureModes(crash=True)),
    ("guest_dies=2.5,spawn_delay=1", "h9", FailureModes(guest_dies_after=2.5, spawn_delay=1)),
    ("live_migration@h1,live_migration_delay=2", "h1",
     FailureModes(fail_live_migration=True, live_migration_delay=2)),
    ("live_migration@h2", "h1", FailureModes()),
])
def test_failure_modes_parse(text: str, host: str, expected: FailureModes) -> None:
    assert FailureModes.parse(text, host) == expected


@pytest.mark.parametrize("text, message", [
    ("explode", "unknown mode 'explode'"), ("guest_dies", "needs seconds"),
    ("spawn=3", "takes no value"), ("spawn_delay=-1", "0 or more")])
def test_bad_failure_modes_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FailureModes.parse(text, "h1")


def test_live_migration_between_two_agents(tmp_path: Path) -> None:
    """pre_live_migration on the destination answers migrate_data, live_migration on the
    source answers the guest's state, the destination adopts it: the guest runs there only,
    paused as it was, its console log along; a rollback frees the room it held."""
    bus = InProcessBus()
    reports: list[dict[str, Any]] = []
    drivers = {h: FakeDriver(h, vcpus=1, memory_mb=256, cpu_ratio=1, ram_ratio=1)
               for h in ("h1", "h2")}
    agents = {h: ComputeAgent(h, d, bus, AgentOptions(heartbeat_interval=60,
                                                      state_dir=tmp_path / h))
              for h, d in drivers.items()}

    async def conductor(msg: dict[str, Any]) -> None:
        if msg["op"] == "report":
            reports.append(msg)

    async def task(host: str, op: str, **extra: Any) -> dict[str, Any]:
        before = len(reports)
        await bus.cast(f"compute.{host}", {"op": op, "uuid": "u1", **extra})
        for _ in range(400):
            await asyncio.sleep(0.005)
            if len(reports) > before:
                return reports[-1]
        raise AssertionError(f"no report for {op}")

    async def main() -> None:
        await bus.subscribe("conductor", conductor)
        for agent in agents.values():
            await agent.start()
        try:
            nothing = spec(image="")  # no image data to fetch
            assert (await task("h1", "spawn", spec=nothing))["result"] == "ok"
            assert (await task("h1", "pause"))["power_state"] == PAUSED
            pre = await task("h2", "pre_live_migration", spec=nothing, source="h1",
                             block_migration=None)
            assert (pre["result"], pre["migrate_data"]) == (
                "ok", {"dest": "h2", "block_migration": True})
            # the room is held: nothing else fits on h2 meanwhile
            other = await task("h2", "spawn", spec=spec(uuid="u2", image=""))
            assert other["result"] == "error" and "out of capacity" in other["message"]
            moved = await task("h1", "live_migration", dest="h2",
                               migrate_data=pre["migrate_data"])
            assert moved["result"] == "ok" and moved["transfer"]["guest"]["power_state"] == PAUSED
            assert "u1" not in drivers["h1"].guests
            post = await task("h2", "post_live_migration_at_destination", spec=nothing,
                              transfer=moved["transfer"])
            assert (post["result"], post["power_state"]) == ("ok", PAUSED)
            assert drivers["h2"].guests["u1"].power_state == PAUSED
            assert "live-migrated from h1 to h2" in "\n".join(drivers["h2"].guests["u1"].console)
            # a rollback on the destination gives back what pre_live_migration held
            assert (await task("h1", "pre_live_migration", spec=spec(uuid="u3", image=""),
                               source="h2", block_migration=True))["result"] == "ok"
            assert "u3" in drivers["h1"].incoming
            await task("h1", "rollback_live_migration_at_destination", uuid="u3")
            assert drivers["h1"].incoming == {}
        finally:
            for agent in agents.values():
                await agent.stop()
            await bus.stop()

    asyncio.run(main())


def test_a_driver_without_live_migration_refuses_it(tmp_path: Path) -> None:
    class NoLive:  # only what the agent needs to start
        capabilities: dict[str, bool] = {}

        async def inventory(self) -> Any:
            return await FakeDriver("h1").inventory()

        async def list_instances(self) -> dict[str, int]:
            return {}

        async def power_state(self, uuid: str) -> int:
            return RUNNING

    async def body(h: Harness) -> None:
        r = await h.task("live_migration", dest="h2", migrate_data={})
        assert r["result"] == "error" and "cannot live-migrate" in r["message"]
        assert (await h.task("rollback_live_migration_at_destination"))["result"] == "ok"

    run(tmp_path, body, NoLive())


class NoConsoleDriver(FakeDriver):
    """A driver without remote consoles (no ``get_console``)."""

    get_console = None  # type: ignore[assignment]


def test_console_connect_says_where_and_refuses_what_it_cannot(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        h.agent.consoles.port = 0  # a free port, not 6083
        await h.task("spawn", spec=spec())
        serial = await h.call("console_connect", kind="serial")
        assert isinstance(serial["target"]["port"], int) and serial["target"]["path"] is None
        assert serial["base_url"] == f"ws://127.0.0.1:{h.agent.consoles.bound_port}"
        assert (await h.call("console_connect", kind="spice"))["unavailable"] is True
        assert (await h.call("console_connect", "nope", kind="serial"))["not_found"] is True
        await h.task("stop")
        assert (await h.call("console_connect", kind="serial"))["not_ready"] is True

    run(tmp_path, body)


def test_a_driver_without_consoles_answers_not_implemented(tmp_path: Path) -> None:
    async def body(h: Harness) -> None:
        await h.task("spawn", spec=spec())
        answer = await h.call("console_connect", kind="serial")
        assert answer["not_implemented"] is True and h.agent.consoles.bound_port == 0

    run(tmp_path, body, NoConsoleDriver("h1"))
