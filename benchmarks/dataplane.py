"""Data plane benchmark: a real `pocketstack up --dataplane linux --compute-driver namespace`.

Starts its own cloud (two compute hosts, VXLAN between them; its own state directory and a
unique kernel prefix ``pb`` + 4 hex digits via POCKETSTACK_KERNEL_PREFIX), drives it through the
REST API (httpx) and measures, on a network of its own (``bench-net``, 10.200.0.0/22, routed to
``public`` by its own router):

1. boot → pingable, ~20 servers booted one at a time on compute1: POST /servers to the first
   echo reply of the server's fixed IP, pinged (10 ms interval) from the network's DHCP
   namespace ``P-qdhcp-<net>``; split into POST→ACTIVE (API polled every 10 ms) and, from the
   guest's console log (timestamps are /proc/uptime, mapped to the wall clock), POST→init
   started, →eth0 carrier (the L2 agent plugged the tap), →DHCP bound, →pingable;
2. DHCP lease time as the guests see it: eth0 carrier ("link up", udhcpc starts) → "bound",
   from the console logs, for the serial boots and for the 100-guest burst;
3. 100 servers on one host (compute2), POSTed by 8 client threads: time until every one is
   ACTIVE and answers a ping; memory: ``free`` (used) before/after, PSS/RSS of every guest's
   processes (``ip netns pids P-inst-<uuid>``), the guests' memory cgroups, dnsmasq, the cloud
   process;
4. security-group rule → enforced: a server in a group with no ingress rule, an icmp ingress
   rule POSTed / DELETEd, time until a ping from the DHCP namespace (not in the group) passes /
   stops passing; ~10 rounds;
5. floating IP associate (PUT port_id) → reachable from ``P-phys-public``; disassociate →
   unreachable; ~5 rounds;
6. TCP throughput (iperf3, 5 s) between two guests on two hosts over VXLAN, and between two
   bare namespaces on a plain veth pair at the same MTU, in the same run; and the ratio.

Needs root and the data plane's tools (ip, nft, dnsmasq, busybox, dropbear, qemu-img, curl,
ping from iputils) and iperf3 (Debian: ``apt-get install -y iperf3``; the throughput step is
skipped, saying so, without it). Everything it makes carries its own prefix; at the end it
stops the cloud and runs ``pocketstack clean`` (also on failure). About 1.5-2 minutes.

    python benchmarks/dataplane.py [--serial 20] [--burst 100] [--sg-rounds 10]
                                   [--fip-rounds 5] [--json FILE]
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import free_port  # noqa: E402

BIN = Path(sys.executable).parent
V21 = "/compute/v2.1"
NET = "/networking/v2.0"
MV = {"OpenStack-API-Version": "compute 2.96"}
PASSWORD = "bench"
IMAGE = "pocketstack-empty-qcow2"


def log(msg: str) -> None:
    print(f"[dataplane-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def boot_offset() -> float:
    """wall clock minus CLOCK_BOOTTIME (what /proc/uptime counts)."""
    return time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)


def sh(*cmd: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def ping_once(netns: str, ip: str, wait: str = "0.5") -> bool:
    return sh("ip", "netns", "exec", netns, "ping", "-n", "-c", "1", "-W", wait,
              ip).returncode == 0


class PingStream:
    """`ping -D -i 0.01` in a namespace: the wall-clock times of its echo replies."""

    def __init__(self, netns: str, ip: str, limit_s: float) -> None:
        self.replies: list[float] = []
        self.first = threading.Event()
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", netns, "ping", "-n", "-D", "-i", "0.01", "-w",
             str(int(limit_s)), ip], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if "bytes from" in line and line.startswith("["):
                self.replies.append(float(line[1:line.index("]")]))
                self.first.set()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(timeout=2)


def first_reply_after(netns: str, ip: str, t0: float, limit_s: float = 30) -> float | None:
    """Seconds from t0 to the first echo reply (pinging every 10 ms), or None."""
    stream = PingStream(netns, ip, limit_s)
    try:
        stream.first.wait(limit_s)
        return stream.replies[0] - t0 if stream.replies else None
    finally:
        stream.stop()


def replies_stop_after(netns: str, ip: str, t0: float, quiet_s: float = 1.5,
                       limit_s: float = 30) -> float | None:
    """Seconds from t0 to the last echo reply once replies stop for quiet_s (0 when none came
    after t0), or None when they never stop within limit_s."""
    stream = PingStream(netns, ip, limit_s + quiet_s + 1)
    try:
        end = time.time() + limit_s
        while time.time() < end:
            time.sleep(0.05)
            last = stream.replies[-1] if stream.replies else t0
            if time.time() - max(last, t0) >= quiet_s:
                return max(0.0, last - t0)
        return None
    finally:
        stream.stop()


class Cloud:
    def __init__(self, work: Path, prefix: str) -> None:
        self.work, self.prefix = work, prefix
        self.state = work / "state"
        self.state.mkdir(parents=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, POCKETSTACK_DATAPLANE="linux",
                        POCKETSTACK_COMPUTE_DRIVER="namespace", POCKETSTACK_COMPUTE_HOSTS="2",
                        POCKETSTACK_KERNEL_PREFIX=prefix, POCKETSTACK_PASSWORD_HASH_ROUNDS="4",
                        POCKETSTACK_LOG_LEVEL="warning", POCKETSTACK_CPU_ALLOCATION_RATIO="100",
                        POCKETSTACK_NETWORK_QUOTA_PORT="-1")
        self.logfile = open(work / "cloud.log", "wb")  # noqa: SIM115
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: httpx.Client | None = None

    def start(self) -> float:
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [str(BIN / "pocketstack"), "up", "--state-dir", str(self.state), "--port",
             str(self.port), "--admin-password", PASSWORD],
            stdout=self.logfile, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"pocketstack up exited {self.proc.returncode}; see "
                                 f"{self.work / 'cloud.log'}")
            try:
                if httpx.get(self.url + "/identity", timeout=1).status_code == 300:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        else:
            raise SystemExit("pocketstack up did not become ready in 120 s")
        ready = time.perf_counter() - t0
        r = httpx.post(self.url + "/identity/v3/auth/tokens", json={"auth": {"identity": {
            "methods": ["password"], "password": {"user": {"name": "admin", "domain": {
                "id": "default"}, "password": PASSWORD}}}, "scope": {"project": {
                    "name": "admin", "domain": {"id": "default"}}}}})
        r.raise_for_status()
        self.project = r.json()["token"]["project"]["id"]
        self.client = httpx.Client(base_url=self.url, headers={
            "X-Auth-Token": r.headers["X-Subject-Token"], **MV}, timeout=60)
        return ready

    def api(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (
            200, 201, 202, 204)) -> Any:
        assert self.client is not None
        r = self.client.request(method, path, json=body)
        if r.status_code not in ok:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:500]}")
        return r.json() if r.content else None

    def stop_and_clean(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run([str(BIN / "pocketstack"), "clean", "--state-dir", str(self.state)],
                       env=self.env, capture_output=True, timeout=180, check=False)
        self.logfile.close()


class Bench:
    def __init__(self, cloud: Cloud) -> None:
        self.c = cloud
        self.offset = boot_offset()
        self.post_times: list[float] = []  # POST /servers response times

    # -- set-up ----------------------------------------------------------------------------
    def setup(self) -> None:
        c = self.c
        c.api("PUT", f"{V21}/os-quota-sets/{c.project}", {"quota_set": {
            "instances": -1, "cores": -1, "ram": -1}})
        c.api("POST", f"{V21}/flavors", {"flavor": {
            "name": "bench.nano", "id": "bench-nano", "ram": 64, "vcpus": 1, "disk": 1}})
        images = c.api("GET", f"/image/v2/images?name={IMAGE}")["images"]
        self.image = images[0]["id"]
        public = c.api("GET", f"{NET}/networks?name=public")["networks"][0]
        self.public_id = public["id"]
        net = c.api("POST", f"{NET}/networks", {"network": {"name": "bench-net"}})["network"]
        self.net_id = net["id"]
        self.subnet = c.api("POST", f"{NET}/subnets", {"subnet": {
            "network_id": self.net_id, "ip_version": 4, "cidr": "10.200.0.0/22",
            "name": "bench-subnet"}})["subnet"]
        router = c.api("POST", f"{NET}/routers", {"router": {
            "name": "bench-router", "external_gateway_info": {"network_id": self.public_id}}})
        c.api("PUT", f"{NET}/routers/{router['router']['id']}/add_router_interface",
              {"subnet_id": self.subnet["id"]})
        self.open_sg = self._group("bench-open", [("icmp", None), ("tcp", None)])
        self.closed_sg = self._group("bench-closed", [])
        self.dhcp_ns = f"{c.prefix}-qdhcp-{self.net_id}"
        self.public_ns = f"{c.prefix}-phys-public"

    def _group(self, name: str, rules: list[tuple[str, int | None]]) -> str:
        sg = self.c.api("POST", f"{NET}/security-groups", {"security_group": {"name": name}})
        sg_id = str(sg["security_group"]["id"])
        for proto, _ in rules:
            self.c.api("POST", f"{NET}/security-group-rules", {"security_group_rule": {
                "security_group_id": sg_id, "direction": "ingress", "ethertype": "IPv4",
                "protocol": proto, "remote_ip_prefix": "0.0.0.0/0"}})
        return sg_id

    # -- servers ---------------------------------------------------------------------------
    def post_server(self, name: str, host: str, group: str = "bench-open") -> tuple[str, float]:
        t0 = time.time()
        body = {"server": {"name": name, "imageRef": self.image, "flavorRef": "bench-nano",
                           "networks": [{"uuid": self.net_id}],
                           "security_groups": [{"name": group}],
                           "availability_zone": f"nova:{host}"}}
        server = self.c.api("POST", f"{V21}/servers", body)["server"]
        self.post_times.append(time.time() - t0)
        return str(server["id"]), t0

    def fixed_ip(self, server_id: str, timeout: float = 60) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            ports = self.c.api("GET", f"{NET}/ports?device_id={server_id}")["ports"]
            for port in ports:
                for ip in port["fixed_ips"]:
                    if "." in ip["ip_address"]:
                        return str(ip["ip_address"])
            time.sleep(0.01)
        raise RuntimeError(f"{server_id}: no port within {timeout} s")

    def until_active(self, server_id: str, timeout: float = 120, poll: float = 0.01) -> float:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            status = self.c.api("GET", f"{V21}/servers/{server_id}")["server"]["status"]
            if status == "ACTIVE":
                return time.time()
            if status == "ERROR":
                raise RuntimeError(f"{server_id} went to ERROR")
            time.sleep(poll)
        raise RuntimeError(f"{server_id} not ACTIVE within {timeout} s")

    def console(self, server_id: str) -> dict[str, float]:
        """Wall-clock times of the guest's boot steps, from its console log."""
        found = glob.glob(str(self.c.state / "**" / "instances" / server_id / "console.log"),
                          recursive=True)
        marks: dict[str, float] = {}
        if not found:
            return marks
        for line in Path(found[0]).read_text(errors="replace").splitlines():
            m = re.match(r"\[([0-9.]+)\] (.*)", line)
            if not m:
                continue
            t, text = float(m.group(1)) + self.offset, m.group(2)
            if text.startswith("Booting") and "init" not in marks:
                marks["init"] = t
            elif text.startswith("eth0: link up") and "link" not in marks:
                marks["link"] = t
            elif text.startswith("eth0: bound") and "bound" not in marks:
                marks["bound"] = t
        return marks

    def boot_until_pingable(self, name: str, host: str) -> dict[str, Any]:
        server_id, t0 = self.post_server(name, host)
        active: list[float] = []
        waiter = threading.Thread(target=lambda: active.append(self.until_active(server_id)))
        waiter.start()
        ip = self.fixed_ip(server_id)
        t_port = time.time() - t0
        ping = first_reply_after(self.dhcp_ns, ip, t0)
        waiter.join()
        if ping is None:
            raise RuntimeError(f"{name} ({ip}) never answered a ping")
        marks = self.console(server_id)
        end = time.monotonic() + 3  # the hook says "bound" once the address and routes are set
        while "bound" not in marks and time.monotonic() < end:
            time.sleep(0.02)
            marks = self.console(server_id)
        row = {"id": server_id, "ip": ip, "post": self.post_times[-1], "port": t_port,
               "active": active[0] - t0, "pingable": ping}
        row.update({k: v - t0 for k, v in marks.items()})
        return row

    # -- 1 and 2: serial boots -------------------------------------------------------------
    def serial(self, n: int) -> dict[str, Any]:
        rows = []
        for i in range(n):
            rows.append(self.boot_until_pingable(f"serial-{i}", "compute1"))
            r = rows[-1]
            log(f"serial {i}: ACTIVE {r['active']:.3f} s, bound {r.get('bound', float('nan')):.3f}"
                f" s, pingable {r['pingable']:.3f} s")
        self.serial_rows = rows
        out: dict[str, Any] = {"n": n}
        for key in ("post", "port", "active", "init", "link", "bound", "pingable"):
            vals = [r[key] for r in rows if key in r]
            out[key] = {"p50": p50(vals), "p95": pct(vals, 0.95), "max": max(vals, default=0)}
        lease = [r["bound"] - r["link"] for r in rows if "bound" in r and "link" in r]
        out["lease"] = {"p50": p50(lease), "p95": pct(lease, 0.95), "n": len(lease)}
        after_active = [r["pingable"] - r["active"] for r in rows]
        out["active_to_pingable"] = {"p50": p50(after_active), "p95": pct(after_active, 0.95)}
        return out

    # -- 4: security group rule -> enforced ----------------------------------------------
    def security_group(self, rounds: int) -> dict[str, Any]:
        row = self.boot_until_pingable_closed()
        ip = row["ip"]
        opened, closed = [], []
        budget = time.monotonic() + 90
        for i in range(rounds):
            if time.monotonic() > budget:
                log(f"security group: stopping after {i} rounds (budget)")
                break
            t0 = time.time()
            rule = self.c.api("POST", f"{NET}/security-group-rules", {"security_group_rule": {
                "security_group_id": self.closed_sg, "direction": "ingress",
                "ethertype": "IPv4", "protocol": "icmp"}})["security_group_rule"]
            t_open = first_reply_after(self.dhcp_ns, ip, t0, limit_s=30)
            t1 = time.time()
            self.c.api("DELETE", f"{NET}/security-group-rules/{rule['id']}")
            t_close = replies_stop_after(self.dhcp_ns, ip, t1)
            log(f"security group round {i}: open {t_open} s, closed {t_close} s")
            if t_open is not None:
                opened.append(t_open)
            if t_close is not None:
                closed.append(t_close)
        return {"rounds": len(opened), "open_p50": p50(opened), "open_max": max(opened or [0]),
                "close_p50": p50(closed), "close_max": max(closed or [0]),
                "open_all": opened, "close_all": closed}

    def boot_until_pingable_closed(self) -> dict[str, Any]:
        server_id, _ = self.post_server("sg-target", "compute1", group="bench-closed")
        self.until_active(server_id)
        ip = self.fixed_ip(server_id)
        end = time.monotonic() + 30
        while "bound" not in self.console(server_id) and time.monotonic() < end:
            time.sleep(0.05)
        # closed by default: make sure nothing answers yet
        if ping_once(self.dhcp_ns, ip, "1"):
            raise RuntimeError("the server in a group without ingress rules answers pings")
        return {"id": server_id, "ip": ip}

    # -- 5: floating IP associate -> reachable -------------------------------------------
    def floating_ip(self, rounds: int) -> dict[str, Any]:
        target = self.serial_rows[0]
        port = self.c.api("GET", f"{NET}/ports?device_id={target['id']}")["ports"][0]
        fip = self.c.api("POST", f"{NET}/floatingips", {"floatingip": {
            "floating_network_id": self.public_id}})["floatingip"]
        address = fip["floating_ip_address"]
        up, down = [], []
        for i in range(rounds):
            t0 = time.time()
            self.c.api("PUT", f"{NET}/floatingips/{fip['id']}",
                       {"floatingip": {"port_id": port["id"]}})
            t_up = first_reply_after(self.public_ns, address, t0, limit_s=30)
            t1 = time.time()
            self.c.api("PUT", f"{NET}/floatingips/{fip['id']}", {"floatingip": {"port_id": None}})
            t_down = replies_stop_after(self.public_ns, address, t1)
            log(f"floating IP round {i}: reachable {t_up} s, unreachable {t_down} s")
            if t_up is not None:
                up.append(t_up)
            if t_down is not None:
                down.append(t_down)
        return {"rounds": len(up), "up_p50": p50(up), "up_max": max(up or [0]),
                "down_p50": p50(down), "up_all": up, "down_all": down}

    # -- 6: throughput ---------------------------------------------------------------------
    def throughput(self, seconds: int) -> dict[str, Any]:
        if shutil.which("iperf3") is None:
            log("iperf3 missing (apt-get install -y iperf3): throughput skipped")
            return {"skipped": "iperf3 missing"}
        a = self.serial_rows[0]
        b = self.boot_until_pingable("iperf-b", "compute2")
        self.iperf_b = b["id"]
        ns_a, ns_b = f"{self.c.prefix}-inst-{a['id']}", f"{self.c.prefix}-inst-{b['id']}"
        mtu = int(sh("ip", "netns", "exec", ns_a, "cat", "/sys/class/net/eth0/mtu").stdout)
        vxlan = self._iperf(ns_a, ns_b, a["ip"], seconds)
        va, vb = f"{self.c.prefix}-bench-veth-a", f"{self.c.prefix}-bench-veth-b"
        try:
            for ns in (va, vb):
                sh("ip", "netns", "add", ns)
                sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", va, "link", "add", "v0", "mtu", str(mtu), "type", "veth", "peer",
               "name", "v0", "netns", vb, "mtu", str(mtu))
            for ns, addr in ((va, "10.99.0.1/24"), (vb, "10.99.0.2/24")):
                sh("ip", "-n", ns, "addr", "add", addr, "dev", "v0")
                sh("ip", "-n", ns, "link", "set", "v0", "up")
            veth = self._iperf(va, vb, "10.99.0.1", seconds)
        finally:
            for ns in (va, vb):
                sh("ip", "netns", "delete", ns)
        return {"seconds": seconds, "mtu": mtu, "vxlan_gbps": vxlan, "veth_gbps": veth,
                "ratio": vxlan / veth if veth else float("nan")}

    @staticmethod
    def _iperf(server_ns: str, client_ns: str, server_ip: str, seconds: int) -> float:
        server = subprocess.Popen(["ip", "netns", "exec", server_ns, "iperf3", "-s", "-1"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            out = sh("ip", "netns", "exec", client_ns, "iperf3", "-c", server_ip, "-t",
                     str(seconds), "-J", timeout=seconds + 30)
            data = json.loads(out.stdout)
            return float(data["end"]["sum_received"]["bits_per_second"]) / 1e9
        finally:
            if server.poll() is None:
                server.kill()
            server.wait()

    # -- 3: 100 guests on one host ---------------------------------------------------------
    def burst(self, n: int) -> dict[str, Any]:
        if getattr(self, "iperf_b", None):
            self.c.api("DELETE", f"{V21}/servers/{self.iperf_b}")
            end = time.monotonic() + 60
            while time.monotonic() < end and self.c.client is not None and \
                    self.c.client.get(f"{V21}/servers/{self.iperf_b}").status_code != 404:
                time.sleep(0.1)
        time.sleep(1)
        before = memory()
        self.post_times.clear()
        t0 = time.time()
        with ThreadPoolExecutor(8) as pool:
            ids = [sid for sid, _ in pool.map(
                lambda i: self.post_server(f"burst-{i}", "compute2"), range(n))]
        t_posted = time.time() - t0
        posts = list(self.post_times)
        log(f"burst: {n} POSTed in {t_posted:.1f} s")
        pending = set(ids)
        active: dict[str, float] = {}
        ips: dict[str, str] = {}
        pingable: dict[str, float] = {}
        deadline = time.monotonic() + 240
        with ThreadPoolExecutor(16) as pool:
            while len(pingable) < n and time.monotonic() < deadline:
                if len(active) < n:
                    for s in self.c.api("GET", f"{V21}/servers/detail?name=burst-")["servers"]:
                        if s["id"] in pending and s["status"] == "ACTIVE" and s["id"] not in active:
                            active[s["id"]] = time.time() - t0
                        if s["status"] == "ERROR":
                            raise RuntimeError(f"{s['name']} went to ERROR")
                if len(ips) < n:
                    for port in self.c.api("GET", f"{NET}/ports?network_id={self.net_id}"
                                           "&device_owner=compute:nova")["ports"]:
                        if port["device_id"] in pending:
                            v4 = [f["ip_address"] for f in port["fixed_ips"]
                                  if "." in f["ip_address"]]
                            if v4:
                                ips[port["device_id"]] = v4[0]
                todo = [s for s in ips if s not in pingable]
                for sid, ok in zip(todo, pool.map(
                        lambda s: ping_once(self.dhcp_ns, ips[s], "0.3"), todo), strict=True):
                    if ok:
                        pingable[sid] = time.time() - t0
                if len(pingable) < n:
                    if pingable and len(active) == n and \
                            time.time() - t0 - max(pingable.values()) > 45:
                        break  # nothing new for 45 s: some will not come
                    time.sleep(0.2)
        missing = [(sid, ips.get(sid)) for sid in ids if sid not in pingable]
        if missing:
            log(f"burst: never pingable: {missing}")
        total = max(pingable.values(), default=float("nan"))
        log(f"burst: {len(pingable)}/{n} pingable after {total:.1f} s")
        time.sleep(2)
        after = memory()
        guests = guest_memory(self.c.prefix, ids)
        leases = []
        for sid in ids:
            marks = self.console(sid)
            if "bound" in marks and "link" in marks:
                leases.append(marks["bound"] - marks["link"])
        dnsmasq = proc_memory([p for ns in netns_with(f"{self.c.prefix}-qdhcp-")
                               for p in netns_pids(ns)])
        assert self.c.proc is not None
        cloud = proc_memory([self.c.proc.pid])
        return {"n": n, "posted_s": t_posted, "post_p50": p50(posts),
                "post_p95": pct(posts, 0.95), "all_active_s": max(active.values(), default=0),
                "active": len(active), "pingable": len(pingable), "never_pingable": missing,
                "all_pingable_s": total,
                "pingable_p50_s": p50(list(pingable.values())),
                "lease_p50": p50(leases), "lease_p95": pct(leases, 0.95),
                "free_used_before_mb": before, "free_used_after_mb": after,
                "free_delta_per_guest_mb": (after - before) / n, "guests": guests,
                "dnsmasq": dnsmasq, "cloud": cloud}


# -- memory ------------------------------------------------------------------------------------
def memory() -> float:
    """`free`'s used memory, MiB."""
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    kb = {k: int(v.split()[0]) for k, v in info.items()}
    return (kb["MemTotal"] - kb["MemAvailable"]) / 1024


def netns_with(start: str) -> list[str]:
    return [line.split()[0] for line in sh("ip", "netns", "list").stdout.splitlines()
            if line.startswith(start)]


def netns_pids(ns: str) -> list[int]:
    return [int(p) for p in sh("ip", "netns", "pids", ns).stdout.split()]


def proc_memory(pids: list[int]) -> dict[str, float]:
    """Summed RSS and PSS (MiB) of pids, from /proc/PID/smaps_rollup."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    return {"processes": len(pids), "rss_mb": rss / 1024, "pss_mb": pss / 1024}


def guest_memory(prefix: str, ids: list[str]) -> dict[str, float]:
    pids = [p for sid in ids for p in netns_pids(f"{prefix}-inst-{sid}")]
    out = proc_memory(pids)
    cg = 0
    for sid in ids:
        try:
            cg += int(Path(f"/sys/fs/cgroup/memory/{prefix}-{sid}/memory.usage_in_bytes")
                      .read_text())
        except OSError:
            pass
    out["cgroup_mb"] = cg / 2**20
    n = max(1, len(ids))
    out.update(rss_per_guest_mb=out["rss_mb"] / n, pss_per_guest_mb=out["pss_mb"] / n,
               cgroup_per_guest_mb=out["cgroup_mb"] / n,
               processes_per_guest=out["processes"] / n)
    return out


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def report(res: dict[str, Any]) -> None:
    ms = lambda v: f"{v * 1000:.0f} ms"  # noqa: E731
    s = res["serial"]
    print(f"\nData plane benchmark ({res['when']}, load average {res['load_before']} → "
          f"{res['load_after']}, cloud ready in {res['ready_s']:.2f} s)")
    print(f"\n1. boot → pingable, {s['n']} servers one at a time (p50 / p95 / max from POST):")
    for key, label in (("post", "POST /servers answered"), ("port", "port allocated (API)"),
                       ("active", "ACTIVE (API)"),
                       ("init", "guest init started"), ("link", "eth0 carrier (tap plugged)"),
                       ("bound", "DHCP bound"), ("pingable", "pingable from qdhcp")):
        v = s[key]
        print(f"   {label:28s} {ms(v['p50']):>8s} / {ms(v['p95']):>8s} / {ms(v['max']):>8s}")
    print(f"   ACTIVE → pingable p50 {ms(s['active_to_pingable']['p50'])}, "
          f"p95 {ms(s['active_to_pingable']['p95'])}  (aim: POST → pingable < 1 s: "
          f"{'met' if s['pingable']['p50'] < 1 else 'NOT met'} at p50)")
    b = res.get("burst")
    print(f"\n2. DHCP lease (carrier → bound, guest's console): serial p50 "
          f"{ms(s['lease']['p50'])} p95 {ms(s['lease']['p95'])}"
          + (f"; during the burst p50 {ms(b['lease_p50'])} p95 {ms(b['lease_p95'])}" if b else ""))
    if b:
        g = b["guests"]
        print(f"\n3. {b['n']} servers on compute2 (8 client threads): POSTed in "
              f"{b['posted_s']:.1f} s (POST p50 {ms(b['post_p50'])}, p95 {ms(b['post_p95'])}), "
              f"{b['active']} ACTIVE by {b['all_active_s']:.1f} s, "
              f"{b['pingable']} pingable by {b['all_pingable_s']:.1f} s (p50 "
              f"{b['pingable_p50_s']:.1f} s)")
        print(f"   memory used (free): {b['free_used_before_mb']:.0f} → "
              f"{b['free_used_after_mb']:.0f} MiB = {b['free_delta_per_guest_mb']:.1f} MiB "
              f"per guest (kernel objects included)")
        print(f"   guests: {g['processes']} processes ({g['processes_per_guest']:.1f} per "
              f"guest), RSS {g['rss_mb']:.0f} MiB ({g['rss_per_guest_mb']:.2f}/guest), PSS "
              f"{g['pss_mb']:.0f} MiB ({g['pss_per_guest_mb']:.2f}/guest), memory cgroups "
              f"{g['cgroup_mb']:.0f} MiB ({g['cgroup_per_guest_mb']:.2f}/guest)")
        print(f"   dnsmasq: {b['dnsmasq']['processes']} processes RSS "
              f"{b['dnsmasq']['rss_mb']:.1f} MiB; cloud process RSS {b['cloud']['rss_mb']:.0f} "
              f"MiB (PSS {b['cloud']['pss_mb']:.0f})")
    g4 = res.get("security_group")
    if g4:
        print(f"\n4. security group rule → enforced ({g4['rounds']} rounds): icmp rule "
              f"created → ping passes p50 {ms(g4['open_p50'])} (max {ms(g4['open_max'])}); "
              f"deleted → ping stops p50 {ms(g4['close_p50'])} (max {ms(g4['close_max'])})")
    f = res.get("floating_ip")
    if f:
        print(f"\n5. floating IP associate → reachable from phys-public ({f['rounds']} rounds):"
              f" p50 {ms(f['up_p50'])} (max {ms(f['up_max'])}); disassociate → unreachable "
              f"p50 {ms(f['down_p50'])}")
    t = res.get("throughput")
    if t and "skipped" not in t:
        print(f"\n6. TCP (iperf3, {t['seconds']} s, MTU {t['mtu']}): guests on two hosts over "
              f"VXLAN {t['vxlan_gbps']:.2f} Gbit/s; bare veth pair {t['veth_gbps']:.2f} Gbit/s; "
              f"ratio {t['ratio']:.2f}")
    elif t:
        print(f"\n6. TCP throughput skipped: {t['skipped']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--serial", type=int, default=20)
    ap.add_argument("--burst", type=int, default=100)
    ap.add_argument("--sg-rounds", type=int, default=10)
    ap.add_argument("--fip-rounds", type=int, default=5)
    ap.add_argument("--iperf-seconds", type=int, default=5)
    ap.add_argument("--json")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--hold", type=float, default=0,
                    help="seconds to wait before cleaning up (to look at the kernel state)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("needs root (network namespaces)")
    prefix = "pb" + secrets.token_hex(2)
    work = Path(tempfile.mkdtemp(prefix="dpbench-"))
    cloud = Cloud(work, prefix)
    res: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                           "load_before": loadavg(), "prefix": prefix}
    t_start = time.monotonic()
    try:
        log(f"starting the cloud (prefix {prefix}, {work})")
        res["ready_s"] = cloud.start()
        bench = Bench(cloud)
        bench.setup()
        log("1/2: serial boots")
        res["serial"] = bench.serial(args.serial)
        log("4: security group")
        res["security_group"] = bench.security_group(args.sg_rounds)
        log("5: floating IP")
        res["floating_ip"] = bench.floating_ip(args.fip_rounds)
        log("6: throughput")
        res["throughput"] = bench.throughput(args.iperf_seconds)
        if args.burst:
            log(f"3: {args.burst} servers on one host")
            res["burst"] = bench.burst(args.burst)
    finally:
        res["load_after"] = loadavg()
        if args.hold:
            log(f"holding {args.hold:.0f} s before cleaning up (cloud at {cloud.url})")
            time.sleep(args.hold)
        log("stopping the cloud and cleaning up")
        cloud.stop_and_clean()
        left = netns_with(prefix + "-")
        if left:
            log(f"WARNING: namespaces left behind: {left}")
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        res["total_s"] = time.monotonic() - t_start
    report(res)
    print(f"\n(total {res['total_s']:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))


if __name__ == "__main__":
    main()
