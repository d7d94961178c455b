"""The DHCP agent part: one dnsmasq per DHCP-enabled network, in ``P-qdhcp-<network>``.

For each network ``dhcp_state`` names, the part keeps (Neutron's DHCP agent with
``force_metadata``):

* the namespace and the DHCP port's veth: ``tap<port>`` in the host namespace, left down for
  the L2 agent to enslave into the network's bridge and bring up, and ``ns-<port>`` in the
  qdhcp namespace with the port's MAC, addresses, the network's MTU and 169.254.169.254/32
  (where the metadata proxy listens);
* the files under ``STATE_DIR/dhcp/<network>/``: ``hosts`` (``MAC,host-<ip>.openstacklocal.,IP``
  per fixed IP on a DHCP subnet), ``opts`` (per ``subnet-<id>`` tag: router, DNS servers,
  classless static routes (options 121 and 249: host routes, 169.254.169.254 via the DHCP
  port, the other subnets on-link, the default route) and the MTU; per ``port-<id>`` tag
  the port's ``extra_dhcp_opts``), ``leases``,
  ``dnsmasq.pid``, ``log``;
* dnsmasq, started detached in the namespace in static mode (only known MACs get an
  address), run through the link ``STATE_DIR/dhcp/<prefix>-dnsmasq`` so its name carries the
  cloud's prefix. A change of hosts or options rewrites the files and sends SIGHUP; dnsmasq
  is restarted only when its command line (ranges, device) or the port's addresses change,
  when it is gone, or when its lease file holds an IPv4 lease of a host no longer there (a
  deleted port's: dnsmasq would refuse that address to the port it is given to next; the
  lease is dropped from the file while dnsmasq is stopped, as Neutron's dhcp_release does).

Networks no longer served lose their dnsmasq, namespace and files.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import shutil
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pocketstack.agents.kernel import names as kn
from pocketstack.agents.kernel import run
from pocketstack.agents.network.base import AgentContext

LOG = logging.getLogger(__name__)

METADATA_ADDRESS = "169.254.169.254"
DOMAIN = "openstacklocal"
DHCPV6_MODES = ("dhcpv6-stateful", "dhcpv6-stateless")
MAX_LEASES = 2 ** 24


# -- what dnsmasq is told (pure) ------------------------------------------------------------
def served_subnets(network: dict[str, Any]) -> list[dict[str, Any]]:
    """The subnets dnsmasq answers on: DHCP-enabled IPv4, and IPv6 that is not SLAAC."""
    out = []
    for subnet in network["subnets"]:
        if not subnet.get("enable_dhcp"):
            continue
        if subnet["ip_version"] == 6:
            mode = subnet.get("ipv6_address_mode")
            if mode not in DHCPV6_MODES and (mode or subnet.get("ipv6_ra_mode")):
                continue
            if ipaddress.ip_network(subnet["cidr"]).prefixlen < 64:
                continue
        out.append(subnet)
    return out


def _stateful(subnet: dict[str, Any]) -> bool:
    return subnet["ip_version"] == 4 or subnet.get("ipv6_address_mode") != "dhcpv6-stateless"


def dhcp_ranges(network: dict[str, Any], lease: int) -> list[str]:
    out = []
    for subnet in served_subnets(network):
        net = ipaddress.ip_network(subnet["cidr"])
        mask = str(net.netmask) if net.version == 4 else str(net.prefixlen)
        out.append(f"--dhcp-range=set:subnet-{subnet['id']},{net.network_address},static,"
                   f"{mask},{lease}s")
    return out


def lease_max(network: dict[str, Any]) -> int:
    total = sum(ipaddress.ip_network(s["cidr"]).num_addresses for s in served_subnets(network))
    return max(1, min(total, MAX_LEASES))


def host_name(address: str) -> str:
    return "host-" + address.replace(".", "-").replace(":", "-")


def hosts_file(network: dict[str, Any]) -> str:
    """One line per fixed IP on a subnet dnsmasq hands addresses out on."""
    stateful = {s["id"] for s in served_subnets(network) if _stateful(s)}
    lines = []
    for port in network["ports"]:
        for ip in port["fixed_ips"]:
            if ip["subnet_id"] not in stateful:
                continue
            address = ip["ip_address"]
            shown = f"[{address}]" if ":" in address else address
            tag = f"set:port-{port['id']}," if port.get("extra_dhcp_opts") else ""
            lines.append(f"{port['mac_address']},{tag}{host_name(address)}.{DOMAIN}.,{shown}")
    return "".join(line + "\n" for line in lines)


def port_opts(network: dict[str, Any]) -> list[str]:
    """A port's extra DHCP options (``extra_dhcp_opts``), tagged by the port: a numeric name
    is the option number, any other one dnsmasq's option name."""
    lines = []
    for port in network["ports"]:
        for opt in port.get("extra_dhcp_opts") or []:
            name, value = str(opt["opt_name"]), str(opt["opt_value"])
            space = "option6:" if opt.get("ip_version") == 6 else "option:"
            key = name if name.isdigit() and space == "option:" else f"{space}{name}"
            lines.append(f"tag:port-{port['id']},{key},{value}")
    return lines


def _dhcp_address(network: dict[str, Any], subnet_id: str) -> str | None:
    for ip in network["dhcp_port"]["fixed_ips"]:
        if ip["subnet_id"] == subnet_id:
            return str(ip["ip_address"])
    return None


def static_routes(network: dict[str, Any], subnet: dict[str, Any]) -> list[tuple[str, str]]:
    """(destination, nexthop) for options 121/249: host routes, the metadata address via the
    DHCP port, the network's other IPv4 subnets on-link, then the default route."""
    routes = [(str(ipaddress.ip_network(r["destination"], strict=False)), str(r["nexthop"]))
              for r in subnet.get("host_routes") or []]
    destinations = {d for d, _ in routes}
    own = _dhcp_address(network, subnet["id"])
    if own and f"{METADATA_ADDRESS}/32" not in destinations:
        routes.append((f"{METADATA_ADDRESS}/32", own))
    for other in network["subnets"]:
        if other["ip_version"] == 4 and other["id"] != subnet["id"] and \
                other["cidr"] not in destinations:
            routes.append((other["cidr"], "0.0.0.0"))
    if subnet.get("gateway_ip") and "0.0.0.0/0" not in destinations:
        routes.append(("0.0.0.0/0", subnet["gateway_ip"]))
    return routes


def opts_file(network: dict[str, Any]) -> str:
    lines = []
    for subnet in served_subnets(network):
        tag = f"tag:subnet-{subnet['id']}"
        servers = [s for s in subnet.get("dns_nameservers") or []
                   if ipaddress.ip_address(s).version == subnet["ip_version"]]
        if subnet["ip_version"] == 6:
            if servers:
                lines.append(f"{tag},option6:dns-server,"
                             + ",".join(f"[{s}]" for s in servers))
            continue
        gateway = subnet.get("gateway_ip")
        lines.append(f"{tag},option:router,{gateway}" if gateway else f"{tag},option:router")
        if servers:
            lines.append(f"{tag},option:dns-server," + ",".join(servers))
        routes = ",".join(f"{d},{n}" for d, n in static_routes(network, subnet))
        if routes:
            lines.append(f"{tag},option:classless-static-route,{routes}")
            lines.append(f"{tag},249,{routes}")
        if network.get("mtu"):
            lines.append(f"{tag},option:mtu,{network['mtu']}")
    lines += port_opts(network)
    return "".join(line + "\n" for line in lines)


def port_addresses(network: dict[str, Any]) -> list[str]:
    """The DHCP port's addresses with their subnets' prefix lengths, and the metadata one."""
    cidrs = {s["id"]: s["cidr"] for s in network["subnets"]}
    out = []
    for ip in network["dhcp_port"]["fixed_ips"]:
        cidr = cidrs.get(ip["subnet_id"])
        if cidr is not None:
            out.append(f"{ip['ip_address']}/{ipaddress.ip_network(cidr).prefixlen}")
    out.append(f"{METADATA_ADDRESS}/32")
    return out


@dataclass(frozen=True)
class Files:
    """A network's dnsmasq files (``STATE_DIR/dhcp/<network>/``)."""

    dir: Path

    @property
    def hosts(self) -> Path:
        return self.dir / "hosts"

    @property
    def opts(self) -> Path:
        return self.dir / "opts"

    @property
    def leases(self) -> Path:
        return self.dir / "leases"

    @property
    def pid(self) -> Path:
        return self.dir / "dnsmasq.pid"

    @property
    def log(self) -> Path:
        return self.dir / "log"


def dnsmasq_argv(binary: str, files: Files, device: str, ranges: list[str],
                 leases: int) -> list[str]:
    # --user=root: dnsmasq re-reads its files after dropping privileges, and the state
    # directory may sit under a private home (0700)
    return [binary, "--no-hosts", "--no-resolv", "--conf-file=/dev/null", "--user=root",
            f"--pid-file={files.pid}", f"--dhcp-hostsfile={files.hosts}",
            f"--dhcp-optsfile={files.opts}", f"--dhcp-leasefile={files.leases}",
            f"--interface={device}", "--bind-interfaces", "--except-interface=lo", "--port=0",
            *ranges, f"--dhcp-lease-max={leases}", f"--domain={DOMAIN}",
            f"--log-facility={files.log}"]


def stale_leases(leases: str, hosts: str) -> list[str]:
    """The IPv4 lines of dnsmasq's lease file that no line of ``hosts`` gives (a deleted
    port's lease): dnsmasq refuses an address leased to another MAC ("no address available")
    until the lease expires, so an address freed and given to a new port needs them gone."""
    given = set()
    for line in hosts.splitlines():
        fields = line.split(",")
        given.add((fields[0].lower(), fields[-1]))
    stale = []
    for line in leases.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1].count(":") == 5 and "." in fields[2] \
                and (fields[1].lower(), fields[2]) not in given:
            stale.append(line)
    return stale


def prune_leases(path: Path, hosts: str) -> None:
    """Drop the stale IPv4 leases (:func:`stale_leases`) from the lease file of a stopped
    dnsmasq (it reads the file when it starts)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return
    stale = set(stale_leases(text, hosts))
    if stale:
        write_if_changed(path, "".join(line + "\n" for line in text.splitlines()
                                       if line not in stale))


# -- processes -------------------------------------------------------------------------------
def read_pid(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return None
    return pid if pid > 1 else None


def cmdline(pid: int) -> list[str]:
    """The process's argv ([] when it is gone or a zombie)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0")[:-1]]


def in_netns(pid: int, netns: str) -> bool:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == \
            os.stat(os.path.join(run.NETNS_DIR, netns)).st_ino
    except OSError:
        return False


def stop_process(pid: int, binary: str, wait: float = 2.0) -> None:
    """SIGTERM (SIGKILL after ``wait`` seconds) the process if it is still ours."""
    args = cmdline(pid)
    if not args or args[0] != binary:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while cmdline(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if cmdline(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def write_if_changed(path: Path, text: str) -> bool:
    try:
        if path.read_text() == text:
            return False
    except FileNotFoundError:
        pass
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return True


# -- the part ---------------------------------------------------------------------------------
@dataclass
class _Counts:
    networks: int = 0
    subnets: int = 0
    ports: int = 0


@dataclass
class DhcpPart:
    """The DHCP agent of the network host (see the module docstring)."""

    ctx: AgentContext
    lease_duration: int = 86400
    agent_type: str = "DHCP agent"
    binary: str = "neutron-dhcp-agent"
    topic: str = "dhcp_agent"
    _served: dict[str, dict[str, Any]] = field(default_factory=dict)
    _counts: _Counts = field(default_factory=_Counts)

    # -- AgentPart ---------------------------------------------------------------------------
    def configurations(self) -> dict[str, Any]:
        return {"dhcp_driver": "neutron.agent.linux.dhcp.Dnsmasq",
                "dhcp_lease_duration": self.lease_duration, "log_agent_heartbeats": False,
                "networks": self._counts.networks, "subnets": self._counts.subnets,
                "ports": self._counts.ports}

    async def sync(self) -> None:
        state = await self.ctx.rpc.call("dhcp_state", host=self.ctx.host)
        await asyncio.to_thread(self.apply, list(state.get("networks") or []))

    async def stop(self) -> None:
        return None

    def served(self) -> dict[str, dict[str, Any]]:
        """network id -> ``{netns, addresses, port_id, device}`` of every network served
        (for the metadata proxy: it listens in ``netns``)."""
        return {k: dict(v) for k, v in self._served.items()}

    # -- the work (blocking) -------------------------------------------------------------------
    @property
    def root(self) -> Path:
        return self.ctx.state_dir / "dhcp"

    def files(self, network_id: str) -> Files:
        return Files(self.root / network_id)

    def dnsmasq_binary(self) -> str:
        """The link to dnsmasq whose name carries the cloud's prefix (``ps1a2b-dnsmasq``)."""
        link = self.root / f"{self.ctx.names.prefix}-dnsmasq"
        target = shutil.which("dnsmasq")
        if target is None:
            raise run.KernelError("dnsmasq: not installed")
        if not link.is_symlink() or os.readlink(link) != target:
            self.root.mkdir(parents=True, exist_ok=True)
            tmp = link.with_name(link.name + ".tmp")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(target)
            os.replace(tmp, link)
        return str(link)

    def apply(self, networks: list[dict[str, Any]]) -> None:
        host_ns = self.ctx.names.host_ns(self.ctx.host)
        if not run.netns_exists(host_ns):
            LOG.info("%s: DHCP waits for the host namespace %s (the L2 agent makes it)",
                     self.ctx.host, host_ns)
            return
        host_links = run.links(host_ns)
        served: dict[str, dict[str, Any]] = {}
        for network in networks:
            try:
                served[network["id"]] = self.serve(network, host_ns, host_links)
            except (run.KernelError, OSError) as exc:
                LOG.warning("%s: DHCP for network %s: %s", self.ctx.host, network["id"], exc)
                if network["id"] in self._served:
                    served[network["id"]] = self._served[network["id"]]
        self.forget({n["id"] for n in networks})
        self._served = served
        self._counts = _Counts(
            networks=len(served),
            subnets=sum(len(served_subnets(n)) for n in networks if n["id"] in served),
            ports=sum(len(n["ports"]) for n in networks if n["id"] in served))

    def serve(self, network: dict[str, Any], host_ns: str,
              host_links: dict[str, dict[str, Any]]) -> dict[str, Any]:
        names = self.ctx.names
        netns = names.dhcp_ns(network["id"])
        port = network["dhcp_port"]
        device = kn.dhcp_dev(port["id"])
        run.ensure_netns(netns)
        readdressed = self.plug(netns, host_ns, host_links, port, device,
                                port_addresses(network), int(network.get("mtu") or 0))
        files = self.files(network["id"])
        files.dir.mkdir(parents=True, exist_ok=True)
        hosts = hosts_file(network)
        changed = write_if_changed(files.hosts, hosts)
        changed = write_if_changed(files.opts, opts_file(network)) or changed
        binary = self.dnsmasq_binary()
        argv = dnsmasq_argv(binary, files, device,
                            dhcp_ranges(network, self.lease_duration), lease_max(network))
        pid = read_pid(files.pid)
        running = pid is not None and in_netns(pid, netns)
        current = cmdline(pid) if running and pid is not None else []
        try:
            stale = bool(stale_leases(files.leases.read_text(), hosts))
        except FileNotFoundError:
            stale = False
        if pid is not None and current == argv and not readdressed and not stale:
            if changed:
                os.kill(pid, signal.SIGHUP)
        else:
            if pid is not None:
                stop_process(pid, binary)
            prune_leases(files.leases, hosts)
            self.start(netns, argv, files)
        return {"netns": netns, "port_id": port["id"], "device": device,
                "addresses": [ip["ip_address"] for ip in port["fixed_ips"]]}

    def plug(self, netns: str, host_ns: str, host_links: dict[str, dict[str, Any]],
             port: dict[str, Any], device: str, addresses: list[str], mtu: int) -> bool:
        """The DHCP port's veth, MAC, MTU and addresses; True when the addresses changed (or
        the device is new), so dnsmasq must bind again."""
        tap = kn.tap(port["id"])
        inside = {link["ifname"]: link for link in run.ip_json(["addr", "show"], netns)}
        gone = [f"link del {name}" for name in inside
                if name.startswith("ns-") and name != device]
        fresh = device not in inside or tap not in host_links
        if fresh:
            if device in inside:
                gone.append(f"link del {device}")
            if tap in host_links:
                run.run(["ip", "link", "del", tap], host_ns, check=False)
        # a veth whose far end went (a host namespace deleted, the tap removed) may vanish
        # between the listing and here: deleting what is already gone is not an error
        if gone:
            run.run(["ip", "-force", "-batch", "-"], netns, input="\n".join(gone) + "\n",
                    check=False)
        if fresh:
            run.ip_batch([f"link add {device} type veth peer name {tap} netns {host_ns}"],
                         netns)
        link = {} if fresh else inside[device]
        have = {f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info") or []
                if a.get("scope") != "link" or a.get("family") == "inet"}
        want = {str(ipaddress.ip_interface(a)) for a in addresses}
        lines = []
        if link.get("address") != port["mac_address"]:
            lines.append(f"link set {device} address {port['mac_address']}")
        if mtu and link.get("mtu") != mtu:
            lines.append(f"link set {device} mtu {mtu}")
        for address in sorted(have - want):
            lines.append(f"addr del {address} dev {device}")
        for address in sorted(want - have):
            extra = " nodad" if ":" in address else ""
            lines.append(f"addr add {address} dev {device}{extra}")
        if "UP" not in (link.get("flags") or []):
            lines.append(f"link set {device} up")
        run.ip_batch(lines, netns)
        if mtu and (fresh or host_links[tap].get("mtu") != mtu):
            run.ip_batch([f"link set {tap} mtu {mtu}"], host_ns)
        return fresh or have != want

    def start(self, netns: str, argv: list[str], files: Files) -> int:
        files.pid.unlink(missing_ok=True)
        run.run(argv, netns)  # dnsmasq detaches once it listens, having written its pid
        for _ in range(50):
            pid = read_pid(files.pid)
            if pid is not None:
                return pid
            time.sleep(0.02)
        raise run.KernelError(f"dnsmasq in {netns} wrote no pid file {files.pid}")

    def forget(self, keep: set[str]) -> None:
        """Stop serving every network not in ``keep``: dnsmasq, namespace, files."""
        marker = self.ctx.names.dhcp_ns("")
        binary = str(self.root / f"{self.ctx.names.prefix}-dnsmasq")
        stale = {ns[len(marker):] for ns in run.netns_list() if ns.startswith(marker)}
        if self.root.is_dir():
            stale |= {d.name for d in self.root.iterdir() if d.is_dir()}
        for network_id in sorted(stale - keep):
            files = self.files(network_id)
            pid = read_pid(files.pid)
            if pid is not None:
                stop_process(pid, binary, wait=0.5)
            run.delete_netns(self.ctx.names.dhcp_ns(network_id))
            shutil.rmtree(files.dir, ignore_errors=True)
