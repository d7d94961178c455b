"""A real VM's serial console over the websocket proxy: `pocketstack up` with the `libvirt`
driver boots the guest image; `openstack console url show --serial` (the stock CLI) gives a
ws:// URL; a websocket client on it presses Enter and gets the guest's getty login prompt on
ttyS0, while `console log show` keeps showing the same port's output (QEMU logs the socket
chardev to console.log). A wrong token is refused before anything is relayed; the noVNC URL
reaches QEMU's VNC server (its RFB greeting); deleting the server leaves no console socket.

Needs root, the data plane's tools, libvirt + QEMU and the guest image's build tools; skips
saying which is missing.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from pocketstack.image import guestimage
from tests.conftest import LiveCloud
from tests.dataplane_kit import until
from tests.libvirt_kit import BOOT, guest_access, libvirt_cloud, virsh

TOOLS = ("ssh-keygen",)


@pytest.fixture(scope="module")
def lv_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveCloud, Path]]:
    yield from libvirt_cloud(tmp_path_factory, "libvirt consoles", TOOLS,
                             {"POCKETSTACK_SERIALPROXY_PORT": "0"})


def _read_until(ws: object, marker: bytes, timeout: float) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {marker!r} on the console in {timeout:.0f} s: "
                                 f"{seen[-400:]!r}")
        try:
            seen += ws.recv(timeout=min(left, 5.0))  # type: ignore[attr-defined]
        except TimeoutError:
            ws.send(b"\r")  # type: ignore[attr-defined]
    return seen


@pytest.mark.timeout(600)
def test_serial_console_of_a_real_vm(lv_cloud: tuple[LiveCloud, Path], tmp_path: Path) -> None:
    cloud, image = lv_cloud
    guest_access(cloud, image, tmp_path)
    server = cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", guestimage.NAME,
                       "--network", "private", "--wait", "con1")
    uuid = server["id"]
    until("the guest's init ready", lambda: guestimage.READY_MARKER in cloud.osc(
        "console", "log", "show", "con1", as_json=False), BOOT, 2.0)
    xml = virsh(cloud, "dumpxml", uuid)
    assert "<serial type='unix'>" in xml and "console.log" in xml

    shown = cloud.osc("console", "url", "show", "--serial", "con1")
    assert shown["type"] == "serial" and shown["url"].startswith("ws://127.0.0.1:")
    started = time.monotonic()
    with connect(shown["url"], subprotocols=["binary"], open_timeout=10) as ws:  # type: ignore[list-item]
        ws.send(b"\r")
        seen = _read_until(ws, b"login:", 60)
        print(f"\nserial console: Enter -> login prompt in {time.monotonic() - started:.2f} s")
    assert b"con1 login:" in seen or b"login:" in seen
    assert "login:" in cloud.osc("console", "log", "show", "con1", as_json=False)

    bad = shown["url"].split("?token=")[0] + "?token=wrong"
    with pytest.raises(InvalidStatus) as refused:
        connect(bad, open_timeout=10)
    assert refused.value.response.status_code == 403

    novnc = cloud.osc("console", "url", "show", "--novnc", "con1")
    parts = urllib.parse.urlsplit(novnc["url"])
    path = urllib.parse.parse_qs(parts.query)["path"][0]
    with connect(f"ws://{parts.netloc}/{path}", subprotocols=["binary"],  # type: ignore[list-item]
                 open_timeout=10) as ws:
        assert ws.recv(timeout=10)[:4] == b"RFB "

    cloud.osc("server", "delete", "--wait", "con1", as_json=False)
    assert not [p for p in Path("/run/pocketstack").glob(
        f"{cloud.env['PREFIX']}-*/s-{uuid.replace('-', '')[:12]}.sock")]
    assert not list(cloud.state_dir.glob(
        f"hypervisors/*/libvirt/run/s-{uuid.replace('-', '')[:12]}.sock"))
