"""Cold migration with the stock CLI between two compute hosts: migrate, confirm, revert."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.compute.test_servers import IMAGE, wait_status
from tests.conftest import LiveCloud, start_cloud, unique


@pytest.fixture(scope="module")
def two_hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    state = tmp_path_factory.mktemp("migrate") / "state"
    state.mkdir()
    live = start_cloud(state, {"POCKETSTACK_COMPUTE_HOSTS": "2"})
    try:
        yield live
    finally:
        live.stop()


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
