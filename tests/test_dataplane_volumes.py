"""A Cinder volume moves between two ``namespace`` guests through the API, on the real kernel:
``openstack server add volume`` makes it ``/dev/vdb`` inside the first guest (a loop device of
the volume's file, in the guest's own /dev), the guest writes a marker, ``server remove
volume`` takes it away (the node and the loop device go), and the second guest reads the marker
back from its own ``/dev/vdb``. Deleting everything leaves no namespace and no loop device."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pocketstack.agents.compute.drivers.namespace import missing as namespace_missing
from pocketstack.agents.compute.drivers.namespace_volumes import loops_of
from pocketstack.agents.kernel import run
from tests.compute.test_servers import IMAGE
from tests.conftest import BIN, LiveCloud, start_cloud

REASON = run.missing() or namespace_missing() or (
    None if os.path.exists("/dev/loop-control") else "no loop devices (/dev/loop-control)")
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

HOST = "compute1"


@pytest.fixture(scope="module")
def ns_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    state = tmp_path_factory.mktemp("dpvolumes") / "state"
    state.mkdir()
    prefix = "pt" + secrets.token_hex(2)
    live = start_cloud(state, {"POCKETSTACK_DATAPLANE": "linux",
                               "POCKETSTACK_COMPUTE_DRIVER": "namespace",
                               "POCKETSTACK_COMPUTE_HOSTS": "1",
                               "POCKETSTACK_KERNEL_PREFIX": prefix})
    live.env["PREFIX"] = prefix
    try:
        yield live
    finally:
        live.stop()
        subprocess.run([str(BIN / "pocketstack"), "clean", "--state-dir", str(state)],
                       env=live.env, capture_output=True, timeout=60, check=False)
        leftovers = [n for n in run.netns_list() if n.startswith(prefix + "-")]
        assert not leftovers, f"namespaces left behind: {leftovers}"
        files = sorted((state / "volumes").glob("*/volume-*"))
        assert not [f for f in files if loops_of(str(f))], "loop devices left behind"


def _until(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s (last: {last!r})")


def _guest_init(cloud: LiveCloud, server_id: str) -> int:
    """The host pid of the guest's PID 1 (the driver's launcher writes its own pid)."""
    base = cloud.state_dir / "hypervisors" / HOST / "instances" / server_id
    launcher = int((base / "init.pid").read_text().strip())
    children = Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split()
    return int(children[0])


def _in_guest(cloud: LiveCloud, server_id: str, command: str) -> subprocess.CompletedProcess[str]:
    """A shell in the guest's mount and pid namespaces (its /dev, its busybox)."""
    return subprocess.run(["nsenter", "-t", str(_guest_init(cloud, server_id)), "-m", "-p",
                           "sh", "-c", command], capture_output=True, text=True, timeout=20,
                          check=False)


def _volume_status(cloud: LiveCloud, vid: str) -> str:
    token, _ = cloud.token()
    with cloud.client(token) as client:
        return str(client.get(f"/volume/v3/volumes/{vid}").json()["volume"]["status"])


def test_volume_moves_between_guests(ns_cloud: LiveCloud) -> None:
    cloud = ns_cloud
    marker = "pocketstack-" + secrets.token_hex(6)
    servers = [cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", IMAGE,
                         "--nic", "none", "--availability-zone", f"nova:{HOST}", "--wait",
                         name)["id"] for name in ("writer", "reader")]
    writer, reader = servers
    vid = cloud.osc("volume", "create", "--size", "1", "shared")["id"]
    _until("volume available", lambda: _volume_status(cloud, vid) == "available")
    volume_file = cloud.state_dir / "volumes" / f"{HOST}@file" / f"volume-{vid}"

    # attach to the writer: a block device inside the guest, backed by a loop device
    cloud.osc("server", "add", "volume", writer, vid, as_json=False)
    _until("volume in-use", lambda: _volume_status(cloud, vid) == "in-use")
    [loop] = loops_of(str(volume_file))
    listing = _in_guest(cloud, writer, "ls -l /dev/vdb")
    assert listing.returncode == 0 and listing.stdout.startswith("b"), listing
    assert not os.path.exists("/dev/vdb")  # the host's /dev is untouched
    wrote = _in_guest(cloud, writer, f"printf '%s' {marker} | dd of=/dev/vdb bs=512 "
                                     "conv=sync,fsync 2>&1")
    assert wrote.returncode == 0, wrote

    # detach: gone from the guest, the loop device freed
    cloud.osc("server", "remove", "volume", writer, vid, as_json=False)
    _until("volume available again", lambda: _volume_status(cloud, vid) == "available")
    assert _in_guest(cloud, writer, "test -e /dev/vdb").returncode != 0
    assert loops_of(str(volume_file)) == []
    backing = Path(f"/sys/block/{loop.removeprefix('/dev/')}/loop/backing_file")
    assert not backing.exists() or backing.read_text().strip() != str(volume_file)

    # the reader sees what the writer wrote
    cloud.osc("server", "add", "volume", reader, vid, as_json=False)
    _until("volume in-use by the reader", lambda: _volume_status(cloud, vid) == "in-use")
    read = _in_guest(cloud, reader, f"dd if=/dev/vdb bs=512 count=1 2>/dev/null | "
                                    f"head -c {len(marker)}")
    assert read.returncode == 0 and read.stdout == marker, read
    shown = cloud.osc("server", "show", reader)
    assert [a["id"] for a in shown["volumes_attached"]] == [vid], shown

    cloud.osc("server", "remove", "volume", reader, vid, as_json=False)
    _until("volume available at the end", lambda: _volume_status(cloud, vid) == "available")
    cloud.osc("server", "delete", "--wait", *servers, as_json=False)
    cloud.osc("volume", "delete", vid, as_json=False)
    assert loops_of(str(volume_file)) == []
