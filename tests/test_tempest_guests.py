"""tools/tempest/guests.py: what `run.py --validation` / `--compute-driver` set for each
driver's guests (tempest.conf options, the cloud's environment, the image Tempest boots)."""

from __future__ import annotations

import configparser
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from pocketstack.agents.compute.drivers import libvirt
from pocketstack.image import guestimage


def _guests() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "tools" / "tempest" / "guests.py"
    spec = importlib.util.spec_from_file_location("tempest_guests", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _options(sets: list[str]) -> dict[str, str]:
    out = {}
    for item in sets:
        key, _, value = item.partition("=")
        assert key not in out, f"{key} set twice"
        out[key] = value
    return out


def test_each_driver_gets_ssh_and_its_own_timeouts() -> None:
    guests = _guests()
    ns, lv = (_options(guests.validation_sets(d)) for d in ("namespace", "libvirt"))
    for opts in (ns, lv):
        assert opts["validation.run_validation"] == "true"
        assert opts["validation.connect_method"] == "floating"
        assert opts["validation.image_ssh_user"] == "root"
    assert int(ns["validation.ssh_timeout"]) < int(lv["validation.ssh_timeout"])
    assert int(lv["compute.build_timeout"]) >= 300
    with pytest.raises(ValueError, match="unknown compute driver"):
        guests.validation_sets("xen")


def test_libvirt_flags_say_what_the_driver_does() -> None:
    lv = _options(_guests().validation_sets("libvirt"))
    driver = libvirt.LibvirtDriver
    for op in ("rescue", "resize", "snapshot", "pause", "suspend", "console_output"):
        assert lv[f"compute-feature-enabled.{op}"] == "true"
        assert callable(getattr(driver, op, None)), op
    # set_admin_password is refused (no guest agent in the image)
    assert lv["compute-feature-enabled.change_password"] == "false"
    assert lv["compute-feature-enabled.live_migration"] == "false"
    assert lv["compute-feature-enabled.config_drive"] == "true"


def test_cloud_env_and_guest_image() -> None:
    guests = _guests()
    assert guests.GUEST_IMAGE == guestimage.NAME
    env = guests.cloud_env("libvirt")
    assert env["POCKETSTACK_COMPUTE_DRIVER"] == "libvirt"
    assert env["POCKETSTACK_IMAGE_DEFAULT_GUEST"] == "true"
    assert "POCKETSTACK_IMAGE_DEFAULT_GUEST" not in guests.cloud_env("namespace")
    images = [{"id": "old", "name": guestimage.NAME, "status": "active",
               "created_at": "2026-12-01T00:00:00Z"},
              {"id": "new", "name": guestimage.NAME, "status": "active",
               "created_at": "2026-12-02T00:00:00Z"},
              {"id": "queued", "name": guestimage.NAME, "status": "queued",
               "created_at": "2026-12-03T00:00:00Z"},
              {"id": "other", "name": "cirros", "status": "active",
               "created_at": "2026-12-04T00:00:00Z"}]
    assert guests.guest_image_id(images) == "new"
    assert guests.guest_image_id(images[2:]) is None

    images.append({"id": "copy", "name": f"{guestimage.NAME}-alt", "status": "active"})

    class Api:
        def get(self, url: str) -> tuple[int, dict[str, str], dict[str, Any]]:
            base, _, name = url.partition("/images?name=")
            assert base == "http://x/image/v2"
            return 200, {}, {"images": [i for i in images if i["name"] == name]}

    conf = configparser.ConfigParser()
    conf.read_dict({"compute": {"image_ref": "", "image_ref_alt": "chosen"}})
    assert guests.set_guest_image(Api(), conf, "http://x/image/v2") == "new"
    assert conf.get("compute", "image_ref") == "new"
    assert conf.get("compute", "image_ref_alt") == "chosen"  # --set wins
    conf.set("compute", "image_ref_alt", "")
    guests.set_guest_image(Api(), conf, "http://x/image/v2")
    # a distinct image for the tests that need two (the copy made by an earlier run)
    assert conf.get("compute", "image_ref_alt") == "copy"
