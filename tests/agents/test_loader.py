"""Drivers are chosen by name: built in, from another package's entry point, or refused with
the list of the ones that exist."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from pocketstack.agents.compute.drivers import loader
from pocketstack.agents.compute.drivers.base import DriverContext
from pocketstack.agents.compute.drivers.fake import FakeDriver
from pocketstack.config import load_settings

BIN = Path(sys.executable).parent


def ctx(tmp_path: Path, **settings: str) -> DriverContext:
    return DriverContext("h1", load_settings(environ={}, overrides=settings),
                         tmp_path / "hypervisors" / "h1")


def test_fake_is_declared_as_an_entry_point() -> None:
    names = {ep.name: ep.value for ep in entry_points(group=loader.GROUP)}
    assert names.get("fake") == "pocketstack.agents.compute.drivers.fake:create"


def test_fake_by_name_is_built_from_settings(tmp_path: Path) -> None:
    driver = loader.load_driver("fake", ctx(tmp_path, fake_vcpus=3, fake_fail="spawn@h2"))
    assert isinstance(driver, FakeDriver)
    inventory = asyncio.run(driver.inventory())
    assert (inventory.hypervisor_hostname, inventory.vcpus) == ("h1", 3)
    assert driver.state_path == tmp_path / "hypervisors" / "h1" / "guests"
    assert not driver.failures.fail_spawn  # that failure was for another host


def test_another_package_adds_a_driver_through_the_entry_point_group(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "tinyhv.py").write_text(
        "class Tiny:\n"
        "    capabilities = {}\n"
        "    def __init__(self, context):\n"
        "        self.context = context\n")
    dist = site / "tinyhv-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyhv\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{loader.GROUP}]\ntiny = tinyhv:Tiny\n")
    monkeypatch.syspath_prepend(str(site))
    assert {"fake", "tiny"} <= set(loader.available())
    context = ctx(tmp_path)
    driver = loader.load_driver("tiny", context)
    assert type(driver).__name__ == "Tiny" and driver.context is context  # type: ignore[attr-defined]


def test_unknown_name_lists_the_available_drivers(tmp_path: Path) -> None:
    with pytest.raises(loader.UnknownDriver, match=r"unknown compute driver 'nope'; "
                                                   r"available: fake"):
        loader.load_driver("nope", ctx(tmp_path))


def test_a_driver_that_refuses_its_configuration_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(loader.DriverLoadError, match="fake_fail: unknown mode 'explode'"):
        loader.load_driver("fake", ctx(tmp_path, fake_fail="explode"))


@pytest.mark.parametrize("argv, message", [
    (["up", "--compute-driver", "nope"], "unknown compute driver 'nope'; available: fake"),
    (["agent", "compute", "--host", "h", "--transport-url", "amqp://u:p@127.0.0.1:1/",
      "--driver", "nope"], "unknown compute driver 'nope'; available: fake"),
    (["up", "--fake-fail", "guest_dies"], "guest_dies needs seconds"),
])
def test_the_cli_refuses_bad_driver_settings_before_starting(
        tmp_path: Path, argv: list[str], message: str) -> None:
    proc = subprocess.run([str(BIN / "pocketstack"), *argv, "--state-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert not (tmp_path / "pocketstack.db").exists()  # nothing was started


def test_a_fake_hosts_guests_move_from_the_old_single_file(tmp_path: Path) -> None:
    from pocketstack.agents.compute.drivers.base import ImageSource, InstanceSpec

    scratch = tmp_path / "scratch"
    old = FakeDriver("h1", state_path=scratch)
    asyncio.run(old.spawn(InstanceSpec("u1", "instance-1", 1, 512, 1, ImageSource(id="i"))))
    legacy = tmp_path / "hypervisors" / "h1.json"
    legacy.parent.mkdir()
    legacy.write_text(json.dumps({"u1": json.loads((scratch / "u1.json").read_text())}))
    driver = loader.load_driver("fake", ctx(tmp_path))
    assert isinstance(driver, FakeDriver) and set(driver.guests) == {"u1"}
    assert not legacy.exists()
