"""The namespace driver against the real kernel: a guest gets its address from dnsmasq, its key
and user data from a metadata server, answers ping and SSH; power, pause and destroy do what
they say and leave nothing behind.

Each test builds its own small world under a unique prefix: the host namespace with a bridge
(the L2 agent's job, done here by hand), a DHCP namespace on it running dnsmasq with a static
host for the guest's MAC and a metadata HTTP server on 169.254.169.254:80.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest

from pocketstack.agents.compute.agent import AgentOptions, ComputeAgent
from pocketstack.agents.compute.drivers import loader
from pocketstack.agents.compute.drivers import namespace_boot as boot
from pocketstack.agents.compute.drivers.base import (
    PAUSED,
    RUNNING,
    SHUTDOWN,
    SUSPENDED,
    DriverContext,
    DriverError,
    ImageSource,
    InstanceNotFound,
    InstanceSpec,
    NetworkInterface,
)
from pocketstack.agents.compute.drivers.namespace import NamespaceDriver, missing
from pocketstack.agents.kernel import cgroups, cleanup, run
from pocketstack.agents.kernel.names import KernelNames
from pocketstack.common.bus import InProcessBus
from pocketstack.config import load_settings

REASON = missing() or (None if shutil.which("ssh") and shutil.which("ssh-keygen")
                       else "ssh and ssh-keygen are needed")
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or "")

BRIDGE = "brqtest"
GUEST_IP = "10.10.0.11"
SECOND_IP = "10.10.0.12"  # a second port's
DHCP_IP = "10.10.0.2"
MTU = 1450


@dataclass
class World:
    names: KernelNames
    driver: NamespaceDriver
    context: DriverContext
    dhcp_ns: str
    host_ns: str
    tmp: Path
    key: Path
    pubkey: str
    mac: str
    mac2: str
    procs: list[subprocess.Popen[bytes]]

    def ping(self, address: str = GUEST_IP, wait: str = "0.3") -> bool:
        argv = ["ping", "-c1", "-W", wait, address]
        return subprocess.run(run.in_netns(argv, self.dhcp_ns), capture_output=True,
                              check=False).returncode == 0

    def plug(self, tap: str) -> None:
        """What the L2 agent does with a new tap: into the bridge, up."""
        run.run(["ip", "link", "set", tap, "master", BRIDGE, "up"], self.host_ns)

    def ssh(self, command: str) -> subprocess.CompletedProcess[str]:
        argv = ["ssh", "-i", str(self.key), "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                "-o", "ConnectTimeout=3", "-o", "LogLevel=ERROR", f"root@{GUEST_IP}", command]
        return subprocess.run(run.in_netns(argv, self.dhcp_ns), capture_output=True,
                              text=True, timeout=15, check=False)


def until(check: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``check`` until it holds; answers the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - start


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    prefix = "pt" + secrets.token_hex(2)
    names = KernelNames(prefix)
    settings = load_settings(environ={}, overrides={"kernel_prefix": prefix,
                                                    "state_dir": str(tmp_path / "state")})
    context = DriverContext("h1", settings, tmp_path / "state" / "hypervisors" / "h1")
    procs: list[subprocess.Popen[bytes]] = []
    mac, mac2 = ("fa:16:3e:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))
                 for _ in range(2))
    try:
        driver = loader.load_driver("namespace", context)
        assert isinstance(driver, NamespaceDriver)
        host_ns, dhcp_ns = names.host_ns("h1"), names.dhcp_ns("net1")
        run.ensure_netns(host_ns)
        run.ensure_netns(dhcp_ns)
        run.ip_batch([f"link add {BRIDGE} type bridge", f"link set {BRIDGE} up",
                      f"link add tapdhcp type veth peer name ns-dhcp netns {dhcp_ns}",
                      f"link set tapdhcp master {BRIDGE} up"], host_ns)
        run.ip_batch([f"addr add {DHCP_IP}/24 dev ns-dhcp",
                      "addr add 169.254.169.254/32 dev ns-dhcp", "link set ns-dhcp up"],
                     dhcp_ns)
        d = tmp_path / "dhcp"
        d.mkdir()
        (d / "hosts").write_text(f"{mac},vm,{GUEST_IP}\n{mac2},vm2,{SECOND_IP}\n")
        (d / "opts").write_text(
            "tag:flat,option:classless-static-route,"
            f"169.254.169.254/32,{DHCP_IP},0.0.0.0/0,10.10.0.1\n"
            f"tag:flat,option:mtu,{MTU}\n")
        procs.append(subprocess.Popen(run.in_netns([
            "dnsmasq", "--no-hosts", "--no-resolv", "--keep-in-foreground",
            "--conf-file=/dev/null", "--user=root", f"--pid-file={d}/dnsmasq.pid",
            f"--dhcp-hostsfile={d}/hosts", f"--dhcp-optsfile={d}/opts",
            f"--dhcp-leasefile={d}/leases", "--interface=ns-dhcp", "--bind-interfaces",
            "--except-interface=lo", "--port=0",
            "--dhcp-range=set:flat,10.10.0.0,static,255.255.255.0,86400s",
            "--domain=openstacklocal", "--log-dhcp", f"--log-facility={d}/dnsmasq.log"],
            dhcp_ns)))
        key = tmp_path / "key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True)
        pubkey = (tmp_path / "key.pub").read_text().strip()
        md = tmp_path / "md" / "openstack" / "latest"
        md.mkdir(parents=True)
        procs.append(subprocess.Popen(run.in_netns(
            [sys.executable, "-m", "http.server", "80", "--bind", "169.254.169.254",
             "--directory", str(tmp_path / "md")], dhcp_ns),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield World(names, driver, context, dhcp_ns, host_ns, tmp_path, key, pubkey, mac,
                    mac2, procs)
    finally:
        for log in sorted(tmp_path.glob("state/hypervisors/h1/instances/*/console.log")):
            print(f"--- {log}\n{log.read_text()}")  # shown when the test failed
        for log in sorted(tmp_path.glob("dhcp/dnsmasq.log")):
            print(f"--- {log}\n{log.read_text()[-3000:]}")
        for proc in procs:
            proc.kill()
            proc.wait()
        cleanup.remove_all(names)
        assert not [ns for ns in run.netns_list() if names.owns(ns)]
        assert not cgroups.owned(prefix)


def metadata(world: World, uuid: str, hostname: str, user_data: str | None) -> None:
    md = world.tmp / "md" / "openstack" / "latest"
    (md / "meta_data.json").write_text(json.dumps({
        "uuid": uuid, "name": hostname, "hostname": f"{hostname}.novalocal",
        "public_keys": {"k1": world.pubkey + "\n"}, "launch_index": 0}))
    if user_data is not None:
        (md / "user_data").write_text(user_data)


def make_spec(world: World, hostname: str, with_image: bool = True,
              **kw: object) -> InstanceSpec:
    path = None
    if with_image:
        path = world.tmp / "image.raw"
        if not path.exists():
            subprocess.run(["qemu-img", "create", "-q", "-f", "raw", str(path), "16M"],
                           check=True)
    uuid = str(uuidlib.uuid4())
    vif = NetworkInterface(str(uuidlib.uuid4()), world.mac, network_id="net1", mtu=MTU)
    values: dict[str, object] = dict(
        uuid=uuid, name="instance-00000001", vcpus=1, memory_mb=64, root_gb=1,
        image=ImageSource(id="img1", disk_format="raw", path=str(path) if path else None),
        hostname=hostname, network_interfaces=[vif])
    values.update(kw)
    return InstanceSpec(**values)  # type: ignore[arg-type]


def test_guest_boots_answers_ping_and_ssh_and_obeys_power(world: World) -> None:
    driver, hostname = world.driver, "vm-" + secrets.token_hex(3)
    spec = make_spec(world, hostname)
    marker = f"USERDATA-{secrets.token_hex(4)}"
    metadata(world, spec.uuid, hostname,
             f"#!/bin/sh\necho {marker} on $(hostname)\ntouch /root/marker\n")
    tap = spec.network_interfaces[0].devname
    assert tap is not None

    start = time.monotonic()
    driver.spawn(spec)
    spawned = time.monotonic() - start
    assert driver.power_state(spec.uuid) == RUNNING
    group = f"{world.names.prefix}-{spec.uuid}"
    limit = cgroups.path("memory", group) / "memory.limit_in_bytes"
    assert int(limit.read_text()) == 64 << 20  # the flavor's memory bounds the guest
    links = run.links(world.host_ns)
    assert "UP" not in links[tap]["flags"]  # left down for the L2 agent
    world.plug(tap)
    pingable = until(world.ping, 15, "the guest to answer ping") + spawned
    print(f"\nspawn took {spawned:.3f} s; spawn -> pingable {pingable:.2f} s")

    until(lambda: f"{marker} on {hostname}" in driver.console_output(spec.uuid), 10,
          "the user data to run")
    base = world.context.state_dir / "instances" / spec.uuid
    assert (base / "root" / "marker").exists()  # the guest's /root, not the host's
    assert not Path("/root/marker").exists()
    console = driver.console_output(spec.uuid)
    assert "metadata: 1 public key(s) for root" in console
    assert f"eth0: bound {GUEST_IP}/24 mtu {MTU}" in console

    result = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        result = world.ssh("hostname; cat /sys/class/net/eth0/mtu; ip -4 route")
        if result.returncode == 0:
            break
        time.sleep(0.2)
    assert result is not None and result.returncode == 0, result and result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == [hostname, str(MTU)]
    assert f"169.254.169.254 via {DHCP_IP} dev eth0" in result.stdout  # option 121
    assert "default via 10.10.0.1 dev eth0" in result.stdout

    info = driver.info(spec.uuid)
    assert info["addresses"] == {"eth0": [GUEST_IP]}
    assert info["devices"] == {spec.network_interfaces[0].port_id: "eth0"}
    assert info["vifs"] == [spec.network_interfaces[0].port_id] and info["uptime"] < 30
    disk = json.loads(run.run(["qemu-img", "info", "--output=json", str(base / "disk")]))
    assert disk["format"] == "qcow2" and disk["backing-filename"] == spec.image.path
    assert disk["virtual-size"] == 1 << 30
    assert driver.snapshot(spec.uuid) == {"image_id": "img1"}  # nothing of its own yet
    if shutil.which("qemu-io"):
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 64k", str(base / "disk")],
                       check=True, capture_output=True)
        snap = driver.snapshot(spec.uuid)
        assert snap["disk_format"] == "qcow2"
        about = json.loads(run.run(["qemu-img", "info", "--output=json", snap["path"]]))
        assert "backing-filename" not in about  # standalone
        Path(snap["path"]).unlink()

    # a second port, plugged while the guest runs, then unplugged
    second = NetworkInterface(str(uuidlib.uuid4()), world.mac2, network_id="net1", mtu=MTU)
    driver.plug_vif(spec.uuid, second)
    assert driver.info(spec.uuid)["devices"][second.port_id] == "eth1"
    world.plug(second.devname or "")
    until(lambda: world.ping(SECOND_IP), 10, "the hot-plugged eth1 to answer ping")
    driver.unplug_vif(spec.uuid, second.port_id)
    assert second.devname not in run.links(world.host_ns)
    assert "eth1" not in run.links(world.names.guest_ns(spec.uuid))
    assert not [p for p in run.netns_pids(world.names.guest_ns(spec.uuid))
                if b"eth1" in Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")]
    assert driver.info(spec.uuid)["vifs"] == [spec.network_interfaces[0].port_id]

    # the agent restarts: its guests are found again, still running
    again = loader.load_driver("namespace", world.context)
    assert again.list_instances() == {spec.uuid: RUNNING}  # type: ignore[misc]

    driver.power_off(spec.uuid)
    assert driver.power_state(spec.uuid) == SHUTDOWN
    assert not world.ping(wait="1")
    assert run.netns_exists(world.names.guest_ns(spec.uuid))
    assert tap in run.links(world.host_ns)
    driver.power_on(spec.uuid)
    assert driver.power_state(spec.uuid) == RUNNING
    until(world.ping, 10, "the guest to answer ping after power on")
    assert driver.console_output(spec.uuid).count(marker) == 1  # user data runs once
    assert "reboot: Power down" in driver.console_output(spec.uuid)  # a clean shutdown
    before = driver.guest_init_pid(spec.uuid)
    driver.reboot(spec.uuid, hard=True)
    assert driver.guest_init_pid(spec.uuid) not in (None, before)
    until(world.ping, 10, "the guest to answer ping after a hard reboot")

    driver.pause(spec.uuid)
    assert driver.power_state(spec.uuid) == PAUSED
    assert cgroups.freezer_state(group) == "FROZEN"
    assert driver.guest_init_pid(spec.uuid) in cgroups.pids(group)
    driver.unpause(spec.uuid)
    assert driver.power_state(spec.uuid) == RUNNING
    driver.suspend(spec.uuid)
    assert driver.list_instances() == {spec.uuid: SUSPENDED}
    driver.resume(spec.uuid)
    assert driver.power_state(spec.uuid) == RUNNING

    # the guest dies on its own (its init is killed from outside)
    init = driver.guest_init_pid(spec.uuid)
    assert init is not None
    pids = set(run.netns_pids(world.names.guest_ns(spec.uuid)))
    os.kill(init, signal.SIGKILL)
    until(lambda: driver.list_instances() == {spec.uuid: SHUTDOWN}, 5,
          "the dead guest to show SHUTDOWN")

    driver.power_on(spec.uuid)
    pids |= set(run.netns_pids(world.names.guest_ns(spec.uuid)))
    print(driver.console_output(spec.uuid))  # shown when the test fails (or with -s)
    driver.pause(spec.uuid)  # destroy must get rid of a frozen guest too
    driver.destroy(spec.uuid)
    assert driver.list_instances() == {}
    assert not run.netns_exists(world.names.guest_ns(spec.uuid))
    assert tap not in run.links(world.host_ns)
    assert not [p for p in pids if os.path.exists(f"/proc/{p}")
                and Path(f"/proc/{p}/stat").read_text().split(") ")[1][0] != "Z"]
    assert not cgroups.owned(world.names.prefix)
    assert not base.exists()
    driver.destroy(spec.uuid)  # an unknown guest: fine
    with pytest.raises(InstanceNotFound):
        driver.power_on(spec.uuid)


def test_without_metadata_the_spec_key_and_user_data_are_used(world: World) -> None:
    """No metadata answers (404): the spec's key and user data, as a config drive gives."""
    hostname = "vm-" + secrets.token_hex(3)
    marker = f"LOCAL-{secrets.token_hex(4)}"
    spec = make_spec(world, hostname, with_image=False, root_gb=0, key_data=world.pubkey,
                     user_data=base64.b64encode(f"#!/bin/sh\necho {marker}\n".encode()).decode())
    world.driver.spawn(spec)
    world.plug(spec.network_interfaces[0].devname or "")
    until(lambda: marker in world.driver.console_output(spec.uuid), 15,
          "the spec's user data to run")
    assert "metadata: no answer" in world.driver.console_output(spec.uuid)
    result = world.ssh("hostname")
    assert (result.returncode, result.stdout.strip()) == (0, hostname), result.stderr
    base = world.context.state_dir / "instances" / spec.uuid
    assert not (base / "disk").exists()  # no image, no flavor disk: no disk
    world.driver.destroy(spec.uuid)
    assert not base.exists()


def test_failed_spawn_leaves_nothing(world: World) -> None:
    spec = make_spec(world, "vm-bad")
    spec.network_interfaces.append(NetworkInterface(str(uuidlib.uuid4()), "not-a-mac"))
    with pytest.raises(DriverError):
        world.driver.spawn(spec)
    assert world.driver.list_instances() == {}
    assert not run.netns_exists(world.names.guest_ns(spec.uuid))
    assert not [link for link in run.links(world.host_ns) if link.startswith("tap")
                and link != "tapdhcp"]
    assert not cgroups.owned(world.names.prefix)
    assert not (world.context.state_dir / "instances" / spec.uuid).exists()
    missing_image = make_spec(world, "vm-bad", with_image=False)
    missing_image.image.path = str(world.tmp / "nowhere")
    with pytest.raises(DriverError, match="missing"):
        world.driver.spawn(missing_image)
    with pytest.raises(InstanceNotFound):
        world.driver.power_state(spec.uuid)


def test_clean_removes_a_frozen_guest(world: World) -> None:
    """``pocketstack clean`` (cleanup.remove_all) gets rid of guests the driver never
    destroyed, paused ones too (a frozen process cannot die until thawed)."""
    spec = make_spec(world, "vm-frozen", with_image=False)
    world.driver.spawn(spec)
    world.driver.pause(spec.uuid)
    pids = cgroups.pids(f"{world.names.prefix}-{spec.uuid}")
    assert pids
    cleanup.remove_all(world.names)
    assert not run.netns_exists(world.names.guest_ns(spec.uuid))
    assert not cgroups.owned(world.names.prefix)
    assert not [p for p in pids if os.path.exists(f"/proc/{p}")
                and Path(f"/proc/{p}/stat").read_text().split(") ")[1][0] != "Z"]
    assert world.driver.list_instances() == {spec.uuid: SHUTDOWN}  # its files are still there


def test_through_the_agent_with_its_image_cache(world: World) -> None:
    """The compute agent drives the driver over the bus (sync methods in worker threads); the
    image streamed into the host's ``instances/_base`` backs the guest's disk next to it."""
    source = world.tmp / "source.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(source), "64M"], check=True)
    image = source.read_bytes()
    spec = make_spec(world, "vm-agent", with_image=False, network_interfaces=[],
                     image=ImageSource(id="img-q", disk_format="qcow2", size=len(image)))
    reports: list[dict[str, object]] = []

    async def conductor(msg: dict[str, object]) -> object:
        if msg["op"] == "report":
            reports.append(msg)
        elif msg["op"] == "image_chunk":
            offset, length = int(msg["offset"]), int(msg["length"])  # type: ignore[call-overload]
            return {"data": base64.b64encode(image[offset:offset + length]).decode()}
        return None

    async def main() -> None:
        bus = InProcessBus()
        agent = ComputeAgent("h1", cast(Any, world.driver), bus, AgentOptions(
            heartbeat_interval=0.05, state_dir=world.context.state_dir))
        await bus.subscribe("conductor", conductor)
        await agent.start()

        async def task(op: str, **extra: object) -> dict[str, object]:
            before = len(reports)
            await bus.cast("compute.h1", {"op": op, "uuid": spec.uuid, **extra})
            for _ in range(400):
                await asyncio.sleep(0.01)
                if len(reports) > before:
                    return reports[-1]
            raise AssertionError(f"no report for {op}")

        try:
            r = await task("spawn", spec=spec.to_dict())
            assert (r["result"], r["power_state"]) == ("ok", RUNNING), r
            for op, power in (("stop", SHUTDOWN), ("start", RUNNING), ("pause", PAUSED),
                              ("unpause", RUNNING), ("suspend", SUSPENDED), ("resume", RUNNING),
                              ("reboot_soft", RUNNING), ("reboot_hard", RUNNING)):
                r = await task(op)
                assert (r["result"], r["power_state"]) == ("ok", power), (op, r)
            call = {"op": "snapshot", "uuid": spec.uuid}
            assert await bus.call("compute.h1", call, 5) == {"snapshot": {"image_id": "img-q"}}
            call = {"op": "set_admin_password", "uuid": spec.uuid, "password": "x"}
            assert "not support" in (await bus.call("compute.h1", call, 5))["error"]
            call = {"op": "console_output", "uuid": spec.uuid}
            for _ in range(500):  # the last (hard) reboot may not have written a line yet
                output = (await bus.call("compute.h1", call, 5))["output"]
                if output.count("Booting instance-") == 4 and output.endswith(
                        "vm-agent login:\n"):
                    break
                await asyncio.sleep(0.02)
            assert output.endswith("vm-agent login:\n"), output
            assert output.count("Booting instance-") == 4  # spawn, start and two reboots
            base = world.context.state_dir / "instances"
            disk = json.loads(run.run(["qemu-img", "info", "--output=json",
                                       str(base / spec.uuid / "disk")]))
            backing = Path(disk["backing-filename"])
            assert backing.parent == base / "_base" and backing.read_bytes() == image
            assert (await task("destroy"))["result"] == "ok"
            assert not (base / spec.uuid).exists() and backing.exists()
        finally:
            await agent.stop()
            await bus.stop()

    asyncio.run(main())


def test_guests_in_parallel(world: World) -> None:
    """The agent runs driver calls in worker threads: guests built and destroyed at once
    do not trip over each other (shared host namespace, cgroup hierarchies)."""
    specs = []
    for i in range(4):
        vif = NetworkInterface(str(uuidlib.uuid4()), f"fa:16:3e:00:01:{i:02x}", mtu=MTU)
        specs.append(make_spec(world, f"vm-par{i}", with_image=False, network_interfaces=[vif]))
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(world.driver.spawn, specs))
        assert world.driver.list_instances() == {s.uuid: RUNNING for s in specs}
        taps = {s.network_interfaces[0].devname for s in specs}
        assert taps <= set(run.links(world.host_ns))
        list(pool.map(world.driver.destroy, [s.uuid for s in specs]))
    assert world.driver.list_instances() == {}
    assert not taps & set(run.links(world.host_ns))
    assert not cgroups.owned(world.names.prefix)
    assert [ns for ns in run.netns_list() if world.names.owns(ns)] == \
        sorted([world.host_ns, world.dhcp_ns])


def test_cpuinfo_shows_the_flavor_vcpus() -> None:
    host = ("processor\t: 0\nmodel name\t: A\n\nprocessor\t: 1\nmodel name\t: B\n\n")
    three = boot.cpuinfo(host, 3)
    assert [ln for ln in three.splitlines() if ln.startswith("processor")] == [
        "processor\t: 0", "processor\t: 1", "processor\t: 2"]
    assert [ln for ln in three.splitlines() if ln.startswith("model")] == [
        "model name\t: A", "model name\t: B", "model name\t: A"]
    assert boot.cpuinfo(host, 1).count("processor") == 1


def test_guest_answers_what_tempest_runs_over_ssh(world: World) -> None:
    """What Tempest's RemoteClient runs as ``image_ssh_user`` (root) in a cloud image: the
    flavor's vCPUs in /proc/cpuinfo (test_verify_created_server_vcpus), ``sudo``, udhcpc's pid
    file in /var/run and a lease renewal with ``kill -USR1`` (test_subnet_details), an uptime
    counted from the guest's boot (the reboot tests' boot time)."""
    spec = make_spec(world, "vm-tempest", with_image=False, vcpus=3, key_data=world.pubkey)
    world.driver.spawn(spec)
    world.plug(spec.network_interfaces[0].devname or "")
    until(world.ping, 15, "the guest to answer ping")
    result = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        result = world.ssh("set -eu -o pipefail; PATH=$PATH:/sbin:/usr/sbin; "
                           "grep -c ^processor /proc/cpuinfo; sudo hostname; "
                           "cat /var/run/udhcpc.eth0.pid; cut -f1 -d. /proc/uptime")
        if result.returncode == 0:
            break
        time.sleep(0.2)
    assert result is not None and result.returncode == 0, result and result.stderr
    vcpus, hostname, pid, uptime = result.stdout.split()
    assert (vcpus, hostname) == ("3", "vm-tempest")
    assert int(uptime) < 60 < float(Path("/proc/uptime").read_text().split()[0])
    log = world.tmp / "dhcp" / "dnsmasq.log"

    def acks() -> int:
        return log.read_text().count(f"DHCPACK(ns-dhcp) {GUEST_IP} {world.mac}")

    before = acks()
    renew = world.ssh(f"sudo /bin/kill -USR1 {pid}")
    assert renew.returncode == 0, renew.stderr
    until(lambda: acks() > before, 10, "udhcpc to renew its lease")
    assert not Path("/run/udhcpc.eth0.pid").exists() or \
        Path("/run/udhcpc.eth0.pid").read_text().strip() != pid  # the guest's own /run
    # a login's ip is busybox's, as in cirros: Tempest tolerates its words for an address that
    # DHCP set meanwhile on a hot-plugged NIC
    again = world.ssh(f"sudo ip addr add {GUEST_IP}/24 dev eth0")
    assert again.returncode != 0 and "RTNETLINK answers: File exists" in again.stderr
    # a resize changes what a running guest sees
    world.driver.resize(make_spec(world, "vm-tempest", with_image=False, vcpus=1,
                                  uuid=spec.uuid))
    count = world.ssh("grep -c ^processor /proc/cpuinfo")
    assert count.stdout.strip() == "1", count.stderr
    world.driver.destroy(spec.uuid)
