"""Remote consoles on the fake driver: Nova's API (remote-consoles 2.6+, the 2.1–2.5 actions,
os-console-auth-tokens for admins), and the compute agent's websocket proxy in front of the
fake guests' consoles (token checked before relaying; closed on expiry and on delete)."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from pocketstack.agents.compute.console_proxy import novnc_dir
from tests.conftest import LiveCloud, own_cloud

V21 = "/compute/v2.1"
TTL = 12  # seconds a console token lives in this module's cloud


def mv(version: str) -> dict[str, str]:
    return {"OpenStack-API-Version": f"compute {version}"}


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveCloud]:
    yield from own_cloud(tmp_path_factory, "consoles", {
        "POCKETSTACK_CONSOLE_TOKEN_TTL": str(TTL), "POCKETSTACK_SERIALPROXY_PORT": "0"})


@pytest.fixture(scope="module")
def admin(cloud: LiveCloud) -> Iterator[httpx.Client]:
    token, _ = cloud.token()
    with cloud.client(token) as client:
        yield client


def _server(admin: httpx.Client, name: str) -> str:
    image = admin.get("/image/v2/images", params={"name": "pocketstack-empty-qcow2"}).json()[
        "images"][0]["id"]
    r = admin.post(f"{V21}/servers", headers=mv("2.37"), json={"server": {
        "name": name, "imageRef": image, "flavorRef": "1", "networks": "none"}})
    assert r.status_code == 202, r.text
    server_id = str(r.json()["server"]["id"])
    deadline = time.monotonic() + 30
    while admin.get(f"{V21}/servers/{server_id}").json()["server"]["status"] != "ACTIVE":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return server_id


@pytest.fixture(scope="module")
def server(admin: httpx.Client) -> str:
    return _server(admin, "con1")


def _console(admin: httpx.Client, server: str, protocol: str = "serial",
             kind: str = "serial", version: str = "2.6") -> httpx.Response:
    return admin.post(f"{V21}/servers/{server}/remote-consoles", headers=mv(version),
                      json={"remote_console": {"protocol": protocol, "type": kind}})


def _token(url: str) -> str:
    query = urllib.parse.urlsplit(url).query
    inner = urllib.parse.parse_qs(query).get("path", [""])[0]  # novnc: path=?token=...
    if inner:
        query = inner.lstrip("?")
    return urllib.parse.parse_qs(query)["token"][0]


def test_serial_console_url_relays_the_guest_console_after_checking_the_token(
        admin: httpx.Client, server: str) -> None:
    r = _console(admin, server)
    assert r.status_code == 200, r.text
    body = r.json()["remote_console"]
    assert body["protocol"] == "serial" and body["type"] == "serial"
    assert body["url"].startswith("ws://127.0.0.1:") and "/?token=" in body["url"]
    with connect(body["url"], subprotocols=["binary"], open_timeout=10) as ws:  # type: ignore[list-item]
        assert b"login: " in ws.recv(timeout=10)
        ws.send(b"root\n")
        assert ws.recv(timeout=10) == b"root\n"
    bad = body["url"].replace(_token(body["url"]), "not-a-token")
    with pytest.raises(InvalidStatus) as refused:
        connect(bad, open_timeout=10)
    assert refused.value.response.status_code == 403


def test_legacy_actions_before_2_6_and_gone_after(admin: httpx.Client, server: str) -> None:
    r = admin.post(f"{V21}/servers/{server}/action", headers=mv("2.1"),
                   json={"os-getSerialConsole": {"type": "serial"}})
    assert r.status_code == 200, r.text
    assert r.json()["console"]["type"] == "serial"
    assert r.json()["console"]["url"].startswith("ws://")
    vnc = admin.post(f"{V21}/servers/{server}/action", headers=mv("2.5"),
                     json={"os-getVNCConsole": {"type": "novnc"}})
    assert vnc.status_code == 200, vnc.text
    assert "/vnc_lite.html?path=%3Ftoken%3D" in vnc.json()["console"]["url"]
    gone = admin.post(f"{V21}/servers/{server}/action", headers=mv("2.6"),
                      json={"os-getSerialConsole": {"type": "serial"}})
    assert gone.status_code == 404
    early = _console(admin, server, version="2.5")
    assert early.status_code == 404
    bad = admin.post(f"{V21}/servers/{server}/action", headers=mv("2.1"),
                     json={"os-getSerialConsole": {"type": "novnc"}})
    assert bad.status_code == 400 and "badRequest" in bad.json()


def test_novnc_url_opens_a_websocket_to_the_vnc_display(admin: httpx.Client,
                                                         server: str) -> None:
    r = _console(admin, server, "vnc", "novnc")
    assert r.status_code == 200, r.text
    url = r.json()["remote_console"]["url"]
    assert url.startswith("http://127.0.0.1:") and "/vnc_lite.html?path=" in url
    parts = urllib.parse.urlsplit(url)
    page = httpx.get(url, timeout=10)
    if novnc_dir() is None:  # the page is Debian's novnc package's
        assert page.status_code == 404
    else:
        assert page.status_code == 200 and "noVNC" in page.text and "<script" in page.text
    with connect(f"ws://{parts.netloc}/?token={_token(url)}", open_timeout=10) as ws:
        assert ws.recv(timeout=10) == b"RFB 003.008\n"  # RFB as a VNC client sees it
        ws.send(b"RFB 003.008\n")
        assert ws.recv(timeout=10) == b"\x01\x01"  # one security type: None
        ws.send(b"\x01")
        assert ws.recv(timeout=10) == b"\x00\x00\x00\x00"
        ws.send(b"\x01")
        init = ws.recv(timeout=10)
        assert init[:4] == b"\x02\x80\x01\xe0" and init[24:].startswith(b"instance-")


@pytest.mark.parametrize(("protocol", "kind", "version", "message"), [
    ("spice", "spice-html5", "2.6", "Unavailable console type spice-html5."),
    ("mks", "webmks", "2.8", "Unavailable console type webmks."),
    ("vnc", "serial", "2.6", "Invalid console type serial"),
    ("serial", "novnc", "2.6", "Invalid console type novnc"),
    ("vnc", "xvpvnc", "2.6", "Invalid console type xvpvnc"),
])
def test_console_types_this_cloud_cannot_give_are_novas_400(
        admin: httpx.Client, server: str, protocol: str, kind: str, version: str,
        message: str) -> None:
    r = _console(admin, server, protocol, kind, version)
    assert r.status_code == 400, r.text
    assert r.json()["badRequest"]["message"] == message


def test_bad_bodies_unknown_servers_and_stopped_servers(admin: httpx.Client,
                                                        server: str) -> None:
    assert _console(admin, server, "mks", "webmks", "2.7").status_code == 400  # schema: 2.8+
    assert _console(admin, server, "telnet", "serial").status_code == 400
    no_type = admin.post(f"{V21}/servers/{server}/remote-consoles", headers=mv("2.6"),
                         json={"remote_console": {"protocol": "serial"}})
    assert no_type.status_code == 400
    missing = _console(admin, "00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and "itemNotFound" in missing.json()
    other = _server(admin, "con-stopped")
    assert admin.post(f"{V21}/servers/{other}/action", json={"os-stop": None}).status_code == 202
    deadline = time.monotonic() + 30
    while admin.get(f"{V21}/servers/{other}").json()["server"]["status"] != "SHUTOFF":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    stopped = _console(admin, other)
    assert stopped.status_code == 409, stopped.text
    assert stopped.json()["conflictingRequest"]["message"] == f"Instance {other} is not ready"
    assert admin.delete(f"{V21}/servers/{other}").status_code == 204


def test_console_auth_tokens_show_for_admins_only(cloud: LiveCloud, admin: httpx.Client,
                                                  server: str) -> None:
    url = _console(admin, server).json()["remote_console"]["url"]
    token = _token(url)
    shown = admin.get(f"{V21}/os-console-auth-tokens/{token}", headers=mv("2.31"))
    assert shown.status_code == 200, shown.text
    console = shown.json()["console"]
    assert console["instance_uuid"] == server and console["host"] == "compute1"
    assert isinstance(console["port"], int) and "internal_access_path" in console
    old = admin.get(f"{V21}/os-console-auth-tokens/{token}", headers=mv("2.30"))
    assert old.status_code == 401  # before 2.31 only RDP tokens could be shown
    unknown = admin.get(f"{V21}/os-console-auth-tokens/nope", headers=mv("2.31"))
    assert unknown.status_code == 404 and unknown.json()["itemNotFound"]["message"] == \
        "Token not found"
    demo_token, _ = cloud.token("demo", project="demo")
    with cloud.client(demo_token) as demo:
        denied = demo.get(f"{V21}/os-console-auth-tokens/{token}", headers=mv("2.31"))
        assert denied.status_code == 403
        foreign = demo.post(f"{V21}/servers/{server}/remote-consoles", headers=mv("2.6"),
                            json={"remote_console": {"protocol": "serial", "type": "serial"}})
        assert foreign.status_code == 404  # another project's server


def test_the_stock_cli_shows_a_serial_console_url(cloud: LiveCloud, server: str) -> None:
    shown = cloud.osc("console", "url", "show", "--serial", server)
    assert shown["type"] == "serial" and shown["url"].startswith("ws://")


def test_a_session_ends_when_its_token_expires_and_the_token_then_is_refused(
        admin: httpx.Client, server: str) -> None:
    url = _console(admin, server).json()["remote_console"]["url"]
    started = time.monotonic()
    with connect(url, open_timeout=10) as ws:
        assert b"login: " in ws.recv(timeout=10)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=TTL + 10)
    assert TTL - 3 <= time.monotonic() - started <= TTL + 10
    assert closed.value.rcvd is not None and "expired" in closed.value.rcvd.reason
    with pytest.raises(InvalidStatus):
        connect(url, open_timeout=10)
    assert admin.get(f"{V21}/os-console-auth-tokens/{_token(url)}",
                     headers=mv("2.31")).status_code == 404


def test_deleting_the_server_closes_its_console(admin: httpx.Client) -> None:
    doomed = _server(admin, "con-doomed")
    url = _console(admin, doomed).json()["remote_console"]["url"]
    with connect(url, open_timeout=10) as ws:
        assert b"login: " in ws.recv(timeout=10)
        assert admin.delete(f"{V21}/servers/{doomed}").status_code == 204
        with pytest.raises(ConnectionClosed):
            while True:
                ws.recv(timeout=20)
    with pytest.raises(InvalidStatus):
        connect(url, open_timeout=10)


def test_access_urls_follow_the_base_urls_scheme() -> None:
    from pocketstack.compute.conductor.console import access_url

    assert access_url("ws://h:6083/", "serial", "T") == "ws://h:6083/?token=T"
    assert access_url("wss://h:6083", "novnc", "T") == \
        "https://h:6083/vnc_lite.html?path=%3Ftoken%3DT"
    assert access_url("http://h:6080", "novnc", "T") == \
        "http://h:6080/vnc_lite.html?path=%3Ftoken%3DT"
