"""The metadata proxy in real namespaces: a DHCP-like namespace with 169.254.169.254/32 on a
veth, a guest namespace on the other end routed to it, the proxy listening inside the first
(opened by this process) and forwarding to a stand-in metadata API on 127.0.0.1; the guest's
``curl`` gets its meta_data.json, an address that is no instance's gets 404, and a network
no longer served (or a stopped proxy) has no listener."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pocketstack.agents.kernel import run
from pocketstack.agents.kernel.cleanup import remove_all
from pocketstack.agents.kernel.names import KernelNames
from pocketstack.agents.network.base import AgentContext
from pocketstack.agents.network.metadata import MetadataPart
from pocketstack.agents.network.rpc import RPC_TOPIC, NetworkRPC
from pocketstack.common.bus import InProcessBus
from pocketstack.common.metadata_secret import verify

pytestmark = pytest.mark.skipif(run.missing() is not None,
                                reason=str(run.missing()) + " (metadata proxy test)")

SECRET = "s3cret-for-the-test"
NETWORK = "11111111-2222-4333-8444-555555555555"
GUEST, STRANGER, SERVER_SIDE = "10.50.0.5", "10.50.0.6", "10.50.0.2"
INSTANCE, PROJECT = "9b0c7c2e-0000-4000-8000-00000000abcd", "proj-1"


class _StandIn(BaseHTTPRequestHandler):
    """The metadata API as the proxy sees it: checks the signature, answers meta_data.json."""

    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802
        headers = {k.lower(): v for k, v in self.headers.items()}
        type(self).seen.append({"path": self.path, **headers})
        iid = self.headers.get("X-Instance-ID", "")
        if not verify(SECRET, iid, self.headers.get("X-Instance-ID-Signature", "")):
            self._reply(403, b"Invalid proxy request signature.", "text/plain")
        elif self.path == "/metadata/openstack/latest/meta_data.json":
            body = json.dumps({"uuid": iid, "project_id": self.headers["X-Tenant-ID"]})
            self._reply(200, body.encode(), "application/json")
        else:
            self._reply(404, b"404 Not Found", "text/plain")

    def _reply(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture()
def names() -> Iterator[KernelNames]:
    names = KernelNames("pt" + secrets.token_hex(2))
    try:
        yield names
    finally:
        remove_all(names)


@pytest.fixture()
def api() -> Iterator[tuple[str, list[dict[str, str]]]]:
    handler = type("Handler", (_StandIn,), {"seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metadata", handler.seen
    finally:
        server.shutdown()
        server.server_close()


def _wire(names: KernelNames) -> tuple[str, str]:
    """The served namespace (169.254.169.254/32 on its veth) and the guest's namespace."""
    served, guest = names.dhcp_ns(NETWORK), f"{names.prefix}-guest"
    run.ensure_netns(served)
    run.ensure_netns(guest)
    run.ip_batch([f"link add ns-md type veth peer name eth0 netns {guest}",
                  f"addr add {SERVER_SIDE}/24 dev ns-md",
                  "addr add 169.254.169.254/32 dev ns-md", "link set ns-md up"], served)
    run.ip_batch([f"addr add {GUEST}/24 dev eth0", f"addr add {STRANGER}/24 dev eth0",
                  "link set eth0 up", f"route add 169.254.169.254/32 via {SERVER_SIDE}"], guest)
    return served, guest


def _listening(netns: str | None) -> bool:
    """A TCP listener on 169.254.169.254:80 in ``netns`` (its /proc/net/tcp)."""
    out = run.run(["cat", "/proc/net/tcp"], netns) if netns else Path(
        "/proc/net/tcp").read_text()
    return any(f.split()[1] == "FEA9FEA9:0050" and f.split()[3] == "0A"
               for f in out.splitlines()[1:])


async def _curl(guest: str, path: str, source: str = GUEST) -> tuple[int, str, int]:
    """(curl's exit code, body, HTTP status) of a GET from the guest."""
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", guest, "curl", "-s", "--max-time", "10", "--interface", source,
        "-w", "\n%{http_code}", f"http://169.254.169.254{path}",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    body, _, code = out.decode().rpartition("\n")
    return proc.returncode or 0, body, int(code or 0)


def _part(names: KernelNames, url: str, served: dict[str, dict[str, Any]],
          tmp: Path) -> tuple[MetadataPart, InProcessBus]:
    bus = InProcessBus()
    ctx = AgentContext(host="net1", names=names, rpc=NetworkRPC(bus, timeout=5),
                       state_dir=tmp, underlay_ip="10.254.0.2", underlay_prefixlen=24,
                       physnet_gateways={}, physical_networks=(), metadata_secret=SECRET,
                       metadata_url=url)
    return MetadataPart(ctx, lambda: dict(served)), bus


async def _answer_lookups(bus: InProcessBus, asked: list[dict[str, Any]]) -> None:
    async def handle(msg: dict[str, Any]) -> Any:
        asked.append(msg)
        if msg["op"] == "metadata_lookup" and msg["network_id"] == NETWORK \
                and msg["address"] == GUEST:
            return {"instance_id": INSTANCE, "project_id": PROJECT}
        return {}
    await bus.start()
    await bus.subscribe(RPC_TOPIC, handle)


def test_proxy_forwards_signed_requests(names: KernelNames, api: Any, tmp_path: Path) -> None:
    url, seen = api
    served_ns, guest = _wire(names)
    served = {NETWORK: {"netns": served_ns}}
    part, bus = _part(names, url, served, tmp_path)
    asked: list[dict[str, Any]] = []

    async def scenario() -> None:
        await _answer_lookups(bus, asked)
        await part.sync()
        assert part.listening() == {NETWORK: served_ns}
        assert await asyncio.to_thread(_listening, served_ns)
        assert not await asyncio.to_thread(_listening, None)  # not in this process's own
        rc, body, status = await _curl(guest, "/openstack/latest/meta_data.json")
        assert (rc, status) == (0, 200), body
        assert json.loads(body) == {"uuid": INSTANCE, "project_id": PROJECT}
        got = seen[-1]
        assert got["x-instance-id"] == INSTANCE and got["x-tenant-id"] == PROJECT
        assert got["x-forwarded-for"] == GUEST
        assert asked[-1] == {"op": "metadata_lookup", "network_id": NETWORK,
                             "address": GUEST}
        # the API's own answers come back as they are
        rc, body, status = await _curl(guest, "/openstack/latest/nothing?x=1")
        assert status == 404 and seen[-1]["path"] == "/metadata/openstack/latest/nothing?x=1"
        # an address that is no instance's: 404 from the proxy, the API never asked
        before = len(seen)
        rc, body, status = await _curl(guest, "/openstack/latest/meta_data.json", STRANGER)
        assert status == 404 and len(seen) == before
        assert asked[-1]["address"] == STRANGER
        # a second sync changes nothing
        await part.sync()
        rc, body, status = await _curl(guest, "/openstack/latest/meta_data.json")
        assert status == 200
        # the network is no longer served: its listener goes
        served.clear()
        await part.sync()
        assert part.listening() == {}
        assert not await asyncio.to_thread(_listening, served_ns)
        rc, body, status = await _curl(guest, "/openstack/latest/meta_data.json")
        assert rc == 7 and status == 0  # connection refused
        await part.stop()
        await bus.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_stop_closes_and_a_remade_namespace_is_served_again(
        names: KernelNames, api: Any, tmp_path: Path) -> None:
    url, _seen = api
    served_ns, guest = _wire(names)
    part, bus = _part(names, url, {NETWORK: {"netns": served_ns}}, tmp_path)

    async def scenario() -> None:
        await _answer_lookups(bus, [])
        await part.sync()
        assert (await _curl(guest, "/openstack/latest/meta_data.json"))[2] == 200
        # the namespace is deleted and made again (a DHCP restart): the proxy follows it
        await asyncio.to_thread(run.delete_netns, served_ns)
        await asyncio.to_thread(run.delete_netns, guest)
        await asyncio.to_thread(_wire, names)
        await part.sync()
        assert await asyncio.to_thread(_listening, served_ns)
        assert (await _curl(guest, "/openstack/latest/meta_data.json"))[2] == 200
        await part.stop()
        assert part.listening() == {}
        assert not await asyncio.to_thread(_listening, served_ns)
        rc, _body, _status = await _curl(guest, "/openstack/latest/meta_data.json")
        assert rc == 7
        await bus.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_missing_namespace_is_waited_for_not_an_error(names: KernelNames, api: Any,
                                                        tmp_path: Path) -> None:
    """A DHCP namespace that is not there (yet, or any more: its network is being deleted)
    is not a failure of the sync; the proxy opens once the namespace exists."""
    url, _seen = api
    served_ns = names.dhcp_ns(NETWORK)
    part, bus = _part(names, url, {NETWORK: {"netns": served_ns}}, tmp_path)

    async def scenario() -> None:
        await part.sync()
        assert part.listening() == {}
        await asyncio.to_thread(_wire, names)
        await part.sync()
        assert part.listening() == {NETWORK: served_ns}
        await part.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_through_to_a_live_cloud(names: KernelNames, cloud: Any, tmp_path: Path) -> None:
    """The whole way: the guest's curl, the proxy, the cloud's /metadata with its own secret
    (STATE/metadata_secret), a server booted with user data; the guest has the server's
    fixed address."""
    import base64
    import time

    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as c:
        image = c.get("/image/v2/images",
                      params={"name": "pocketstack-empty-qcow2"}).json()["images"][0]["id"]
        private = c.get("/networking/v2.0/networks",
                        params={"name": "private"}).json()["networks"][0]["id"]
        r = c.post("/compute/v2.1/servers", json={"server": {
            "name": "proxied", "imageRef": image, "flavorRef": "1",
            "networks": [{"uuid": private}],
            "user_data": base64.b64encode(b"#!/bin/sh\necho hi\n").decode()}})
        assert r.status_code == 202, r.text
        sid = r.json()["server"]["id"]
        try:
            deadline = time.monotonic() + 60
            shown: dict[str, Any] = {}
            while time.monotonic() < deadline and shown.get("status") != "ACTIVE":
                shown = c.get(f"/compute/v2.1/servers/{sid}").json()["server"]
                time.sleep(0.2)
            fixed = next(a["addr"] for a in shown["addresses"]["private"] if a["version"] == 4)
            _proxied(names, cloud, tmp_path, sid, shown["tenant_id"], fixed)
        finally:
            c.delete(f"/compute/v2.1/servers/{sid}")


def _proxied(names: KernelNames, cloud: Any, tmp_path: Path, sid: str, project: str,
             fixed: str) -> None:
    served_ns, guest = names.dhcp_ns(NETWORK), f"{names.prefix}-guest"
    run.ensure_netns(served_ns)
    run.ensure_netns(guest)
    side = "10.0.0.61" if fixed != "10.0.0.61" else "10.0.0.62"  # the DHCP port's stand-in
    run.ip_batch([f"link add ns-md type veth peer name eth0 netns {guest}",
                  f"addr add {side}/26 dev ns-md", "addr add 169.254.169.254/32 dev ns-md",
                  "link set ns-md up"], served_ns)
    run.ip_batch([f"addr add {fixed}/26 dev eth0", "link set eth0 up",
                  f"route add 169.254.169.254/32 via {side}"], guest)
    bus = InProcessBus()
    secret = (cloud.state_dir / "metadata_secret").read_text().strip()
    ctx = AgentContext(host="net1", names=names, rpc=NetworkRPC(bus, timeout=5),
                       state_dir=tmp_path, underlay_ip="10.254.0.2", underlay_prefixlen=24,
                       physnet_gateways={}, physical_networks=(), metadata_secret=secret,
                       metadata_url=cloud.url + "/metadata")
    part = MetadataPart(ctx, lambda: {NETWORK: {"netns": served_ns}})

    async def lookup(msg: dict[str, Any]) -> Any:  # what network.rpc would answer
        return {"instance_id": sid, "project_id": project} if msg["address"] == fixed else {}

    async def scenario() -> None:
        await bus.start()
        await bus.subscribe(RPC_TOPIC, lookup)
        await part.sync()
        rc, body, status = await _curl(guest, "/openstack/latest/meta_data.json", fixed)
        assert (rc, status) == (0, 200), body
        assert json.loads(body)["uuid"] == sid
        rc, body, status = await _curl(guest, "/latest/user-data", fixed)
        assert (status, body) == (200, "#!/bin/sh\necho hi\n")
        rc, body, status = await _curl(guest, "/latest/meta-data/local-ipv4", fixed)
        assert (status, body) == (200, fixed)
        # a proxy with another secret is refused by the API
        await part.stop()
        wrong = MetadataPart(dataclasses.replace(ctx, metadata_secret="wrong"), part.served)
        await wrong.sync()
        rc, body, status = await _curl(guest, "/openstack/latest/meta_data.json", fixed)
        assert status == 403
        await wrong.stop()
        await bus.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))
