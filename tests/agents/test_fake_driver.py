"""The fake driver's semantics — the contract every hypervisor driver keeps."""

from __future__ import annotations

import asyncio
import json

import pytest

from pocketstack.agents.compute.drivers.base import (
    PAUSED,
    RUNNING,
    SHUTDOWN,
    DriverError,
    ImageSource,
    InstanceNotFound,
    InstanceSpec,
    NetworkInterface,
    VolumeConnection,
)
from pocketstack.agents.compute.drivers.fake import FakeDriver


def spec(uuid: str, vcpus: int = 1, ram: int = 512, disk: int = 1, **meta: str) -> InstanceSpec:
    return InstanceSpec(uuid=uuid, name=f"instance-{uuid}", vcpus=vcpus, memory_mb=ram,
                        root_gb=disk, image=ImageSource(id="img"), metadata=dict(meta))


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_capacity_is_enforced_and_freed() -> None:
    d = FakeDriver("h", vcpus=2, memory_mb=1024, local_gb=10, cpu_ratio=1, ram_ratio=1,
                   disk_ratio=1)
    run(d.spawn(spec("a", ram=1024)))
    with pytest.raises(DriverError, match="out of capacity"):
        run(d.spawn(spec("b", ram=512)))
    assert "b" not in run(d.list_instances())  # a failed spawn leaves nothing behind
    run(d.destroy("a"))
    run(d.spawn(spec("b", ram=512)))


def test_spawn_and_destroy_are_idempotent() -> None:
    d = FakeDriver("h")
    run(d.spawn(spec("a")))
    run(d.spawn(spec("a")))
    assert run(d.list_instances()) == {"a": RUNNING}
    run(d.destroy("a"))
    run(d.destroy("a"))  # destroying what is gone succeeds (deletes are retried)
    assert run(d.list_instances()) == {}


def test_failure_injection_and_unknown_guests() -> None:
    d = FakeDriver("h")
    with pytest.raises(DriverError):
        run(d.spawn(spec("x", **{"fake:fail_spawn": "1"})))
    assert run(d.list_instances()) == {}
    with pytest.raises(InstanceNotFound):
        run(d.power_off("nope"))


def test_power_states_console_and_devices() -> None:
    d = FakeDriver("h")
    run(d.spawn(spec("a")))
    run(d.power_off("a"))
    assert run(d.power_state("a")) == SHUTDOWN
    run(d.power_on("a"))
    run(d.pause("a"))
    assert run(d.power_state("a")) == PAUSED
    run(d.unpause("a"))
    run(d.reboot("a", hard=True))
    assert "hard reboot" in run(d.console_output("a"))
    assert run(d.attach_volume("a", VolumeConnection("v1"))) == "/dev/vdb"
    assert run(d.attach_volume("a", VolumeConnection("v2"))) == "/dev/vdc"
    with pytest.raises(DriverError):
        run(d.attach_volume("a", VolumeConnection("v3", device_name="/dev/vdb")))
    run(d.detach_volume("a", "v1"))
    run(d.plug_vif("a", NetworkInterface("p1", "fa:16:3e:00:00:01")))
    info = run(d.info("a"))
    assert info["volumes"] == {"v2": "/dev/vdc"} and info["vifs"] == ["p1"]
    assert run(d.snapshot("a")) == {"image_id": "img"}


def test_resize_checks_capacity_and_rolls_back() -> None:
    d = FakeDriver("h", vcpus=2, memory_mb=2048, local_gb=10, cpu_ratio=1, ram_ratio=1,
                   disk_ratio=1)
    run(d.spawn(spec("a", ram=1024)))
    run(d.resize(spec("a", ram=2048)))
    with pytest.raises(DriverError):
        run(d.resize(spec("a", ram=4096)))
    assert run(d.info("a"))["memory_mb"] == 2048


def test_guests_survive_a_restart_with_a_state_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "guests"
    d = FakeDriver("h", state_path=path)
    run(d.spawn(spec("a")))
    run(d.power_off("a"))
    run(d.attach_volume("a", VolumeConnection("v1")))
    again = FakeDriver("h", state_path=path)
    assert run(again.list_instances()) == {"a": SHUTDOWN}
    assert run(again.info("a"))["volumes"] == {"v1": "/dev/vdb"}
    run(d.spawn(spec("b")))
    assert sorted(p.name for p in path.iterdir()) == ["a.json", "b.json"]  # a file each
    run(again.destroy("a"))
    assert set(FakeDriver("h", state_path=path).guests) == {"b"}


def test_guests_of_an_older_single_state_file_move_to_a_file_each(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pocketstack.agents.compute.drivers.base import DriverContext
    from pocketstack.agents.compute.drivers.fake import create
    from pocketstack.config import Settings

    old = FakeDriver("h", state_path=tmp_path / "scratch")
    run(old.spawn(spec("a")))
    record = json.loads((tmp_path / "scratch" / "a.json").read_text())
    host_dir = tmp_path / "hypervisors" / "h"
    host_dir.mkdir(parents=True)
    (host_dir / "guests.json").write_text(json.dumps({"a": record}))
    driver = create(DriverContext("h", Settings(), host_dir))
    assert run(driver.list_instances()) == {"a": RUNNING}
    assert not (host_dir / "guests.json").exists()
    assert (host_dir / "guests" / "a.json").exists()
