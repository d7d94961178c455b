"""A ``namespace`` driver guest's network links (:class:`GuestLinks`).

One veth per port: ``eth<i>`` in the guest's namespace ``P-inst-<uuid>`` (the port's MAC and
MTU), ``tap<port[:11]>`` in the host namespace ``P-host-<host>``, left DOWN for the L2 agent.
Plugging at boot and on ``interface attach`` (a running guest runs its ``net.sh`` DHCP on the
new ``eth<i>`` at once), unplugging (its DHCP client killed first), recreating what a guest is
missing before it boots, and the heartbeat's repair of a running guest whose tap was deleted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
from dataclasses import asdict
from pathlib import Path
from typing import Any

from pocketstack.agents.compute.drivers import namespace_boot as boot
from pocketstack.agents.compute.drivers.base import (
    DriverError,
    InstanceNotFound,
    NetworkInterface,
)
from pocketstack.agents.compute.drivers.namespace_guest import GUEST_ENV, Guests, one_at_a_time
from pocketstack.agents.kernel import cgroups, run

LOG = logging.getLogger(__name__)
_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")


class GuestLinks(Guests):
    """The guests' veths: plug, unplug, hot-plug and repair (see the module docstring)."""

    def _plug(self, uuid: str, vif: NetworkInterface, dev: str,
              host_links: dict[str, dict[str, Any]] | None = None) -> None:
        """Create the veth ``dev`` (guest) / ``vif.devname`` (host, left down)."""
        host_ns = self.names.host_ns(self.host)
        tap = vif.devname or f"tap{vif.port_id[:11]}"
        if not _MAC.match(vif.mac_address or ""):
            raise DriverError(f"port {vif.port_id}: bad MAC address {vif.mac_address!r}")
        if not _IFNAME.match(tap):
            raise DriverError(f"port {vif.port_id}: bad device name {tap!r}")
        run.ensure_netns(host_ns)
        if host_links is None:
            host_links = run.links(host_ns)
        if tap in host_links:  # left over by a guest that was not cleaned up
            run.run(["ip", "link", "del", tap], host_ns, check=False)
        mtu = f" mtu {int(vif.mtu)}" if vif.mtu else ""
        host_mac = "fe" + vif.mac_address[2:]  # as Nova's taps: the bridge never takes it
        try:
            run.ip_batch([f"link add {dev} address {vif.mac_address}{mtu} type veth peer name "
                          f"{tap} address {host_mac}{mtu} netns {host_ns}"],
                         self.names.guest_ns(uuid))
        except run.KernelError as exc:
            raise DriverError(f"port {vif.port_id}: cannot plug {dev} (host end {tap} in "
                              f"{host_ns}): {str(exc).splitlines()[0].split(': ', 1)[-1]}"
                              ) from exc

    def _unplug(self, uuid: str, vif: NetworkInterface, dev: str) -> None:
        host_ns = self.names.host_ns(self.host)
        tap = vif.devname or f"tap{vif.port_id[:11]}"
        if run.netns_exists(host_ns):
            run.run(["ip", "link", "del", tap], host_ns, check=False)
        if run.netns_exists(self.names.guest_ns(uuid)):
            run.run(["ip", "link", "del", dev], self.names.guest_ns(uuid), check=False)

    def _ensure_links(self, uuid: str, record: dict[str, Any]) -> None:
        """Recreate the namespace and veths a guest is missing (e.g. after the host's reboot)."""
        netns = self.names.guest_ns(uuid)
        self._claim_netns(uuid)
        present = run.links(netns)
        for vif in self._spec(record).network_interfaces:
            dev = record["devs"][vif.port_id]
            if dev not in present:
                self._plug(uuid, vif, dev)

    def _repair_links(self, uuid: str) -> None:
        with self._guest_lock(uuid):
            try:
                record = self._record(uuid)
                netns = self.names.guest_ns(uuid)
                init = self.guest_init_pid(uuid)
                if record.get("building") or init is None or not run.netns_exists(netns):
                    return
                present = run.links(netns)
                for vif in self._spec(record).network_interfaces:
                    dev = record["devs"].get(vif.port_id)
                    if dev is None or dev in present:
                        continue
                    LOG.warning("%s: guest %s lost %s; plugging it again", self.host, uuid,
                                dev)
                    self._stop_dhcp(uuid, dev)
                    self._plug(uuid, vif, dev)
                    self._hotplug(uuid, init, dev)
            except (DriverError, run.KernelError, InstanceNotFound) as exc:
                LOG.warning("%s: guest %s: links not repaired: %s", self.host, uuid, exc)

    @one_at_a_time
    def plug_vif(self, uuid: str, vif: NetworkInterface) -> None:
        """A new ``eth<i>`` (the lowest free); a running guest runs DHCP on it at once."""
        record = self._record(uuid)
        if vif.port_id in record["devs"]:
            return
        used = set(record["devs"].values())
        dev = next(f"eth{i}" for i in range(len(used) + 1) if f"eth{i}" not in used)
        self._claim_netns(uuid)
        self._plug(uuid, vif, dev)
        record["devs"][vif.port_id] = dev
        record["spec"]["network_interfaces"].append(asdict(vif))
        self._save(uuid, record)
        boot.write_scripts(self._dir(uuid), self._spec(record), record["devs"])
        init = self.guest_init_pid(uuid)
        if init is not None:
            self._hotplug(uuid, init, dev)

    def _hotplug(self, uuid: str, init: int, dev: str) -> None:
        """Run the guest's interface script for ``dev`` inside its namespaces and groups."""
        base = self._dir(uuid)
        joins = " ".join(f"echo $$ > {boot.q(str(p))} &&"
                         for p in cgroups.join_paths(self._group(uuid)))
        command = (f"{joins} exec nsenter -t {init} -n -m -u -p busybox sh "
                   f"{boot.q(str(base / 'net.sh'))} {boot.q(dev)}")
        with open(base / "console.log", "ab") as console:
            subprocess.run(["setsid", "-f", "sh", "-c", command], stdin=subprocess.DEVNULL,
                           stdout=console, stderr=subprocess.STDOUT, cwd="/", env=GUEST_ENV,
                           check=False)

    def _stop_dhcp(self, uuid: str, dev: str) -> None:
        """Kill the guest's DHCP client of ``dev``, or its wait for carrier (the interface is
        about to go)."""
        for pid in run.netns_pids(self.names.guest_ns(uuid)):
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except (FileNotFoundError, ProcessLookupError):
                continue
            dhcp = b"udhcpc" in argv or any(arg.endswith(b"/net.sh") for arg in argv)
            if dhcp and dev.encode() in argv:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    @one_at_a_time
    def unplug_vif(self, uuid: str, port_id: str) -> None:
        record = self._record(uuid)
        dev = record["devs"].pop(port_id, None)
        if dev is None:
            return
        interfaces = record["spec"]["network_interfaces"]
        vif = next((NetworkInterface.from_dict(v) for v in interfaces
                    if v.get("port_id") == port_id), NetworkInterface(port_id, ""))
        self._stop_dhcp(uuid, dev)
        self._unplug(uuid, vif, dev)
        record["spec"]["network_interfaces"] = [v for v in interfaces
                                                if v.get("port_id") != port_id]
        self._save(uuid, record)
        boot.write_scripts(self._dir(uuid), self._spec(record), record["devs"])
