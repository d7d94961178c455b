"""libvirt driver benchmark: real VMs (TCG here) through `pocketstack up --compute-driver libvirt`.

Builds the guest image (``pocketstack image build-guest``'s builder; its package cache makes
a rebuild ~5 s) and converts it to raw once, as the driver's ``force_raw_images`` does. Then,
in one run, with the bare boots interleaved with the cloud's so that both see the same load:

1. the cloud (own state dir, unique kernel prefix, the data plane on; a key pair, a floating
   IP and an SSH rule). ``--serial`` servers one at a time, each **created through the API**
   by an already-authenticated openstacksdk connection (what "create" is for the aim: the
   ``POST /servers``, not a program's start-up and login): POST → ACTIVE (polled every
   0.1 s), POST → its QEMU process started (``/proc/PID/stat``), POST → the guest's first
   console line (``pocketstack-guest: init started``, its kernel reached userspace; read from
   ``console.log`` on the host), → ``ready``, → SSH-able (``ssh root@FIP hostname`` from the
   public network's namespace); the QEMU RSS once SSH-able; the guest's own clock at each of
   its progress lines. ``--cli`` more servers the same way but created by the stock CLI
   (``openstack server create --wait``: its start-up, token and polling, which waits 5 s
   between two looks, are in its figures) as the secondary, CLI-inclusive column; and, for
   scale, one ``openstack flavor show``;
2. bare QEMU, before each serial server: ``qemu-system-x86_64 -accel tcg`` boots the same
   raw base through a fresh qcow2 overlay (the driver's disk setup) twice: a minimal command
   (virtio disk and NIC, serial to a file) and the command line libvirt logged for the first
   server's domain with only what ties it to libvirt replaced (no ``-S`` and monitor, a user
   netdev for the tap fd, the console file and overlay by path, VNC on a UNIX socket):
   start → the first line, the guest's clock at it, QEMU's CPU seconds at it;
3. ``--burst`` servers created at once (``--min/--max``), time until all are ACTIVE and until
   every console shows the guest's ready line; the guests' clocks at their stages (p50) and
   their QEMU RSS (p50) once all are ready.

Needs root, the data plane's tools, libvirt + QEMU and the guest image's build tools. Stops the
cloud and runs ``pocketstack clean`` at the end (also on failure).

    python benchmarks/libvirt_boot.py [--serial 3] [--cli 2] [--burst 0] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    CLK_TCK,
    cpu_delta_seconds,
    free_port,
    tree_cpu_sample,
    wait_status,
)

BIN = Path(sys.executable).parent
FIRST_LINE = "pocketstack-guest: init started"
READY = "pocketstack-guest: ready"
#: the guest's progress lines (rcS, udhcpc.script) -> a short stage name
STAGES = {"init started": "init", "drivers loaded": "drivers", "eth0 got": "lease",
          "network:": "network", "instance data:": "instance_data", "ssh keys:": "ssh_keys",
          "sshd listening": "sshd", "ready:": "ready"}
UPTIME = re.compile(r"^pocketstack-guest: (.*) \[up ([0-9.]+)s\]", re.M)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def p50(values: list[float]) -> float:
    return round(statistics.median(values), 2) if values else float("nan")


def wait_for(check: Any, timeout: float, interval: float = 0.1) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(interval)
    return None


def guest_stages(console: str) -> dict[str, float]:
    """The guest's own clock (``/proc/uptime``, from its kernel's start) at each progress line
    of its console: where the time goes inside the guest."""
    found: dict[str, float] = {}
    for text, up in UPTIME.findall(console):
        for prefix, stage in STAGES.items():
            if text.startswith(prefix) and stage not in found:
                found[stage] = float(up)
    return found


def boottime() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def process_start(pid: int) -> float | None:
    """When ``pid`` started, on :func:`boottime`'s clock (10 ms resolution)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return int(fields[19]) / CLK_TCK


class FirstLine(threading.Thread):
    """Watches the consoles of guests that appear after it starts for the first guest line and
    then the ready line (from the start of ``server create``, not only once ``--wait`` has
    returned)."""

    def __init__(self, state: Path) -> None:
        super().__init__(daemon=True)
        self.state = state
        self.known = {p.parent.name for p in state.glob("hypervisors/*/instances/*/console.log")}
        self.start_time = time.monotonic()
        self.seen: float | None = None
        self.ready: float | None = None

    def run(self) -> None:
        while time.monotonic() - self.start_time < 300:
            for path in self.state.glob("hypervisors/*/instances/*/console.log"):
                if path.parent.name in self.known:
                    continue
                text = path.read_text(errors="replace")
                if self.seen is None and FIRST_LINE in text:
                    self.seen = time.monotonic() - self.start_time
                if READY in text:
                    self.ready = time.monotonic() - self.start_time
                    return
            time.sleep(0.05)


def qemu_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system, all threads) QEMU has used so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return round((int(fields[11]) + int(fields[12])) / CLK_TCK, 2)


def minimal_argv(disk: Path, console: Path) -> list[str]:
    """The smallest command that boots the guest: virtio disk and NIC, serial to a file."""
    return ["qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-nodefaults", "-display",
            "none", "-no-user-config", "-serial", f"file:{console}",
            "-drive", f"file={disk},if=virtio,format=qcow2",
            "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"]


#: options of libvirt's QEMU command lines that take no value
_FLAGS = {"-S", "-no-user-config", "-nodefaults", "-no-shutdown", "-no-hpet", "-no-acpi",
          "-enable-kvm", "-nographic"}


def logged_argv(log: Path) -> list[str] | None:
    """The QEMU command line libvirt logged last in a domain's log (its environment
    assignments dropped)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    starts = [i for i, line in enumerate(lines) if ": starting up libvirt" in line]
    if not starts:
        return None
    block = []
    for line in lines[starts[-1] + 1:]:
        block.append(line)
        if not line.endswith("\\"):
            break
    argv = shlex.split(" ".join(line.removesuffix("\\") for line in block))
    while argv and "=" in argv[0] and not argv[0].startswith("/"):
        argv.pop(0)
    return argv


def equivalent_argv(logged: list[str], instance_disk: str, disk: Path, console: Path,
                    vnc: Path) -> list[str]:
    """libvirt's command line for a domain, runnable on its own: no ``-S`` (libvirt starts
    QEMU paused and lets it run once it has set it up), no monitor, no master key; a user
    netdev for the tap libvirt passes as an fd, the console file and the disk overlay by path
    (the same raw base behind it), VNC on a UNIX socket. Every device, the machine, CPU,
    accelerator, cache modes and boot order stay as libvirt made them."""
    out = [logged[0]]
    args = iter(logged[1:])
    for opt in args:
        if opt in _FLAGS:
            if opt != "-S":
                out.append(opt)
            continue
        value = next(args, "")
        if opt in ("-mon", "-add-fd") or (opt == "-chardev" and "charmonitor" in value) \
                or (opt == "-object" and '"secret"' in value):
            continue
        if opt == "-netdev":
            value = f"user,id={json.loads(value)['id']}" if value.startswith("{") \
                else "user," + ",".join(p for p in value.split(",") if p.startswith("id="))
        elif opt == "-chardev" and "/dev/fdset/" in value:
            value = re.sub(r"path=/dev/fdset/\d+", f"path={console}", value)
        elif opt == "-blockdev" and value.startswith("{"):
            node = json.loads(value)
            if node.get("filename") == instance_disk:
                node["filename"] = str(disk)
                value = json.dumps(node)
        elif opt == "-vnc":
            value = re.sub(r"^[^,]+", f"unix:{vnc}", value)
        out += [opt, value]
    return out


def bare_boot(base: Path, work: Path, make_argv: Any) -> dict[str, Any] | None:
    """One bare boot through a fresh qcow2 overlay on the raw ``base`` (the driver's disk
    setup): start → first line, the guest's clock and QEMU's CPU seconds at it."""
    tag = secrets.token_hex(3)
    disk = work / f"bare-{tag}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(base),
                    str(disk), "1G"], check=True)
    console = work / f"bare-{tag}.log"
    console.touch()
    proc = subprocess.Popen(make_argv(disk, console, work / f"bare-{tag}.vnc"),
                            stdout=subprocess.DEVNULL, stderr=open(work / f"bare-{tag}.err",  # noqa: SIM115
                                                                   "wb"))
    try:
        took = wait_for(lambda: FIRST_LINE in console.read_text(errors="replace")
                        or proc.poll() is not None, 180, 0.02)
        if took is None or proc.poll() is not None:
            return None
        cpu = qemu_cpu_s(proc.pid)
        return {"first_line_s": round(took, 2), "qemu_cpu_s": cpu,
                "guest_uptime_s": guest_stages(console.read_text(errors="replace")).get("init")}
    finally:
        proc.kill()
        proc.wait()
        disk.unlink(missing_ok=True)


class Cloud:
    def __init__(self, work: Path) -> None:
        self.state = work / "state"
        self.state.mkdir()
        self.prefix = "pb" + secrets.token_hex(2)
        self.port = free_port()
        env = dict(os.environ, POCKETSTACK_DATAPLANE="linux", POCKETSTACK_COMPUTE_DRIVER="libvirt",
                   POCKETSTACK_KERNEL_PREFIX=self.prefix, POCKETSTACK_HEARTBEAT_INTERVAL="2",
                   POCKETSTACK_LOG_LEVEL="warning", POCKETSTACK_PASSWORD_HASH_ROUNDS="4")
        self.env = env
        self.proc = subprocess.Popen(
            [str(BIN / "pocketstack"), "up", "--state-dir", str(self.state), "--port",
             str(self.port), "--admin-password", "bench"],
            stdout=open(work / "cloud.log", "wb"), stderr=subprocess.STDOUT, env=env)  # noqa: SIM115
        wait_status(f"http://127.0.0.1:{self.port}/identity", {300}, 120, self.proc)

    def osc(self, *args: str, as_json: bool = True) -> Any:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env["OS_CLIENT_CONFIG_FILE"] = str(self.state / "clouds.yaml")
        cmd = [str(BIN / "openstack"), "--os-cloud", "pocketstack-admin", *args]
        out = subprocess.run(cmd + (["-f", "json"] if as_json else []), capture_output=True,
                             text=True, env=env, timeout=300, check=True).stdout
        return json.loads(out) if as_json and out.strip() else out

    def console(self, uuid: str) -> str:
        for path in self.state.glob(f"hypervisors/*/instances/{uuid}/console.log"):
            return path.read_text(errors="replace")
        return ""

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        subprocess.run([str(BIN / "pocketstack"), "clean", "--state-dir", str(self.state)],
                       env=self.env, capture_output=True, timeout=120, check=False)


def qemu_pids(cloud: Cloud, name: str = "*") -> list[int]:
    """The cloud's QEMU processes (libvirt's pid files; a long state path moves them to
    ``/run/pocketstack/<prefix>-<host>``)."""
    files = [*cloud.state.glob(f"hypervisors/*/libvirt/run/qemu/{name}.pid"),
             *Path("/run/pocketstack").glob(f"{cloud.prefix}-*/qemu/{name}.pid")]
    return [int(f.read_text()) for f in files]


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def ssh_argv(cloud: Cloud, key: Path, fip: str) -> list[str]:
    return ["ip", "netns", "exec", f"{cloud.prefix}-phys-public", "ssh", "-i", str(key), "-o",
            "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o",
            "ConnectTimeout=2", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", f"root@{fip}",
            "hostname"]


class Serial:
    """One server created, timed from the create to SSH-able, and deleted (see the module
    docstring); ``via`` is ``api`` (the authenticated SDK's POST) or ``cli``."""

    def __init__(self, cloud: Cloud, conn: Any, ids: dict[str, str], key: Path) -> None:
        self.cloud, self.conn, self.ids, self.key = cloud, conn, ids, key

    def create(self, name: str, via: str) -> tuple[str, float]:
        """Create; return (server id, seconds until ACTIVE) from the start of the create."""
        start = time.monotonic()
        if via == "cli":
            server = self.cloud.osc("server", "create", "--flavor", "m1.tiny", "--image",
                                    "guest", "--network", "private", "--key-name", "bench",
                                    "--wait", name)
            return server["id"], time.monotonic() - start
        server = self.conn.compute.create_server(
            name=name, flavor_id=self.ids["flavor"], image_id=self.ids["image"],
            networks=[{"uuid": self.ids["network"]}], key_name="bench")
        while True:
            status = self.conn.compute.get_server(server.id).status
            if status in ("ACTIVE", "ERROR"):
                if status == "ERROR":
                    raise RuntimeError(f"server {name} went to ERROR")
                return server.id, time.monotonic() - start
            if time.monotonic() - start > 300:
                raise TimeoutError(f"server {name} not ACTIVE within 300 s")
            time.sleep(0.1)

    def run(self, name: str, via: str) -> dict[str, Any]:
        cloud = self.cloud
        watcher = FirstLine(cloud.state)
        watcher.start()
        cloud_cpu = tree_cpu_sample(cloud.proc.pid)
        start, start_boot = time.monotonic(), boottime()
        uuid, active = self.create(name, via)
        server = self.conn.compute.get_server(uuid)
        instance_name = server.instance_name or "*"
        pids = qemu_pids(cloud, instance_name)
        began = process_start(pids[0]) if pids else None
        port = next(iter(self.conn.network.ports(device_id=uuid)))
        self.conn.network.update_ip(self.ids["fip_id"], port_id=port.id)
        wait_for(lambda: watcher.seen is not None or not watcher.is_alive(), 180)
        first = watcher.seen
        cloud_cpu_s = cpu_delta_seconds(cloud_cpu, tree_cpu_sample(cloud.proc.pid))
        ssh = ssh_argv(cloud, self.key, self.ids["fip"])
        sshable = wait_for(lambda: subprocess.run(
            ssh, capture_output=True, timeout=20, check=False).returncode == 0, 240, 0.3)
        row: dict[str, Any] = {
            "via": via, "active_s": round(active, 2),
            "qemu_started_s": None if began is None else round(began - start_boot, 2),
            "first_line_s": None if first is None else round(first, 2),
            "ready_s": None,
            "ssh_s": None if sshable is None else round(time.monotonic() - start, 2),
            "qemu_rss_mb": rss_mb(pids[0]) if pids else None,
            # the cloud's own processes (API, agents, the programs they run; not libvirtd or
            # QEMU) from the create to the first line: CPU the guest competed with
            "cloud_cpu_to_first_line_s": round(cloud_cpu_s, 2)}
        watcher.join(60)
        row["ready_s"] = None if watcher.ready is None else round(watcher.ready, 2)
        row["guest_uptime_s"] = guest_stages(cloud.console(uuid))
        row["instance_name"] = instance_name
        row["uuid"] = uuid
        self.conn.network.update_ip(self.ids["fip_id"], port_id=None)
        self.conn.compute.delete_server(uuid)
        self.conn.compute.wait_for_delete(server, interval=0.5, wait=120)
        return row


def domain_argv(cloud: Cloud, instance_name: str) -> list[str] | None:
    """The QEMU command line libvirt logged for a domain of the cloud."""
    for path in cloud.state.glob(f"hypervisors/*/libvirt/log/qemu/{instance_name}.log"):
        return logged_argv(path)
    return None


def bare_pair(raw: Path, work: Path, logged: list[str],
              into: dict[str, list[dict[str, Any]]]) -> None:
    """One minimal and one libvirt-equivalent bare boot, their results appended to ``into``."""
    disks = [json.loads(v)["filename"] for v in logged if v.startswith('{"driver":"file"')]
    instance_disk = next((d for d in disks if d.endswith("/disk")), "")
    makers = {"minimal": lambda d, c, v: minimal_argv(d, c),
              "libvirt_equivalent": lambda d, c, v: equivalent_argv(logged, instance_disk,
                                                                    d, c, v)}
    for kind, make in makers.items():
        found = bare_boot(raw, work, make)
        log(f"   bare {kind}: {found}")
        if found is not None:
            into[kind].append(found)


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("active_s", "qemu_started_s", "first_line_s", "ready_s", "ssh_s", "qemu_rss_mb",
            "cloud_cpu_to_first_line_s")
    out: dict[str, Any] = {k: p50([r[k] for r in rows if r.get(k) is not None]) for k in keys}
    out["p50_guest_uptime_s"] = {
        stage: p50([r["guest_uptime_s"][stage] for r in rows if stage in r["guest_uptime_s"]])
        for stage in STAGES.values()}
    return out


def bare_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {k: p50([r[k] for r in rows if r.get(k) is not None])
            for k in ("first_line_s", "guest_uptime_s", "qemu_cpu_s")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serial", type=int, default=3, help="servers created through the API")
    parser.add_argument("--cli", type=int, default=2, help="servers created by the stock CLI")
    parser.add_argument("--burst", type=int, default=0)
    parser.add_argument("--json")
    args = parser.parse_args()
    import openstack

    from pocketstack.image import guestimage

    res: dict[str, Any] = {"loadavg_start": Path("/proc/loadavg").read_text().split()[:3]}
    with tempfile.TemporaryDirectory(prefix="ps-lvbench-") as tmp:
        work = Path(tmp)
        log("building the guest image")
        image = guestimage.build_guest_image(work / "guest.qcow2").path
        raw = work / "guest.raw"  # what force_raw_images makes of it in the driver's _base
        subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(image),
                        str(raw)], check=True)
        log("the cloud")
        cloud = Cloud(work)
        try:
            key = work / "id"
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                           check=True)
            cloud.osc("keypair", "create", "--public-key", f"{key}.pub", "bench")
            image_id = cloud.osc("image", "create", "--disk-format", "qcow2",
                                 "--container-format", "bare", "--file", str(image),
                                 "--public", "guest")["id"]
            group = next(g["ID"] for g in cloud.osc("security", "group", "list", "--project",
                                                    "admin") if g["Name"] == "default")
            cloud.osc("security", "group", "rule", "create", "--protocol", "tcp",
                      "--dst-port", "22", group)
            fip = cloud.osc("floating", "ip", "create", "public")
            os.environ["OS_CLIENT_CONFIG_FILE"] = str(cloud.state / "clouds.yaml")
            conn = openstack.connect(cloud="pocketstack-admin")
            conn.authorize()  # the token, and the catalog, before anything is timed
            ids = {"flavor": conn.compute.find_flavor("m1.tiny", ignore_missing=False).id,
                   "image": image_id,
                   "network": conn.network.find_network("private", ignore_missing=False).id,
                   "fip_id": fip["id"], "fip": fip["floating_ip_address"]}
            cli = []  # the stock CLI's own cost (start-up, token, one GET)
            for _ in range(3):
                mark = time.monotonic()
                cloud.osc("flavor", "show", "m1.tiny")
                cli.append(time.monotonic() - mark)
            res["cli_flavor_show_s"] = p50(cli)
            serial = Serial(cloud, conn, ids, key)
            rows: list[dict[str, Any]] = []
            bare: dict[str, list[dict[str, Any]]] = {"minimal": [], "libvirt_equivalent": []}
            equivalent: list[str] | None = None
            plan = ["api"] * args.serial + ["cli"] * args.cli
            for i, via in enumerate(plan):
                if equivalent is not None:  # bare boots interleaved with the cloud's
                    bare_pair(raw, work, equivalent, bare)
                row = serial.run(f"b{i}", via)
                log(f"   b{i} ({via}): {row}")
                rows.append(row)
                if equivalent is None:
                    equivalent = domain_argv(cloud, row["instance_name"])
                    res["libvirt_argv"] = equivalent
            if equivalent is not None and len(bare["minimal"]) < 2:
                bare_pair(raw, work, equivalent, bare)
            res["serial"] = rows
            res["bare"] = bare
            res["p50_bare"] = {kind: bare_summary(found) for kind, found in bare.items()}
            res["p50_api"] = summary([r for r in rows if r["via"] == "api"])
            res["p50_cli"] = summary([r for r in rows if r["via"] == "cli"])
            if args.burst:
                log(f"3: {args.burst} at once")
                start = time.monotonic()
                cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", "guest",
                          "--network", "private", "--min", str(args.burst), "--max",
                          str(args.burst), "--wait", "burst")
                all_active = time.monotonic() - start
                burst_ids = [s["ID"] for s in cloud.osc("server", "list", "--name", "burst")]
                ready = wait_for(lambda: all(READY in cloud.console(u) for u in burst_ids),
                                 900, 1)
                res["burst"] = {"n": args.burst, "all_active_s": round(all_active, 2),
                                "all_ready_s": None if ready is None else round(
                                    time.monotonic() - start, 2)}
                stages = [guest_stages(cloud.console(u)) for u in burst_ids]
                res["burst"]["p50_guest_uptime_s"] = {
                    stage: p50([st[stage] for st in stages if stage in st])
                    for stage in STAGES.values()}
                rss = [rss_mb(pid) for pid in qemu_pids(cloud)]
                res["burst"]["qemu_rss_mb"] = p50([r for r in rss if r is not None])
                log(f"   {res['burst']}")
        finally:
            cloud.stop()
    res["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    print(json.dumps(res, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
