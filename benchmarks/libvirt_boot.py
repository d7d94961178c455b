"""libvirt driver benchmark: real VMs (TCG here) through `pocketstack up --compute-driver libvirt`.

Builds the guest image (``pocketstack image build-guest``'s builder; its package cache makes
a rebuild ~5 s), then, in the same run:

1. bare QEMU: ``qemu-system-x86_64 -accel tcg`` boots the same image ``--bare`` times (a
   copy-on-write overlay each, virtio disk and NIC, serial to a file): start → the guest's
   first line (``pocketstack-guest: init started``, its kernel reached userspace);
2. the cloud (own state dir, unique kernel prefix, the data plane on): ``--serial`` servers
   created one at a time with the stock CLI on ``private`` with a key pair and a floating IP:
   create → ACTIVE (``--wait``), create → the same console line (``console.log`` read on the
   host), create → SSH-able (``ssh root@FIP hostname`` from the public network's namespace);
   the QEMU process's RSS once the guest is SSH-able (memory per idle guest); also when its
   QEMU process started (``/proc/PID/stat``), the guest's own clock at each of its progress
   lines (where the time goes inside the guest) and, for scale, what one ``openstack flavor
   show`` costs (the CLI's start-up and token are part of every create); then deleted;
3. ``--burst`` servers created at once (``--min/--max``), time until all are ACTIVE and until
   every console shows the guest's ready line; the guests' clocks at their stages (p50) and
   their QEMU RSS (p50) once all are ready.

Needs root, the data plane's tools, libvirt + QEMU and the guest image's build tools. Stops the
cloud and runs ``pocketstack clean`` at the end (also on failure).

    python benchmarks/libvirt_boot.py [--bare 3] [--serial 3] [--burst 0] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CLK_TCK, free_port, wait_status  # noqa: E402

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


def bare_boot(image: Path, work: Path) -> tuple[float, dict[str, float]] | None:
    disk = work / f"bare-{secrets.token_hex(3)}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image),
                    str(disk)], check=True)
    console = disk.with_suffix(".log")
    proc = subprocess.Popen(["qemu-system-x86_64", "-accel", "tcg", "-m", "512", "-nodefaults",
                             "-nographic", "-no-user-config", "-serial", f"file:{console}",
                             "-drive", f"file={disk},if=virtio,format=qcow2",
                             "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        took = wait_for(lambda: console.exists() and FIRST_LINE in console.read_text(
            errors="replace"), 180)
        return None if took is None else (took, guest_stages(console.read_text(errors="replace")))
    finally:
        proc.kill()
        proc.wait()


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bare", type=int, default=3)
    parser.add_argument("--serial", type=int, default=3)
    parser.add_argument("--burst", type=int, default=0)
    parser.add_argument("--json")
    args = parser.parse_args()
    from pocketstack.image import guestimage

    res: dict[str, Any] = {"loadavg_start": Path("/proc/loadavg").read_text().split()[:3]}
    with tempfile.TemporaryDirectory(prefix="ps-lvbench-") as tmp:
        work = Path(tmp)
        log("building the guest image")
        image = guestimage.build_guest_image(work / "guest.qcow2").path
        log(f"1: bare QEMU boots x{args.bare}")
        bare = [t for t in (bare_boot(image, work) for _ in range(args.bare)) if t is not None]
        res["bare_first_line_s"] = [round(t, 2) for t, _ in bare]
        res["bare_guest_uptime_at_first_line_s"] = [st.get("init") for _, st in bare]
        log(f"   {res['bare_first_line_s']} (guest uptime "
            f"{res['bare_guest_uptime_at_first_line_s']})")
        log("2: the cloud")
        cloud = Cloud(work)
        try:
            key = work / "id"
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                           check=True)
            cloud.osc("keypair", "create", "--public-key", f"{key}.pub", "bench")
            cloud.osc("image", "create", "--disk-format", "qcow2", "--container-format",
                      "bare", "--file", str(image), "--public", "guest")
            group = next(g["ID"] for g in cloud.osc("security", "group", "list", "--project",
                                                    "admin") if g["Name"] == "default")
            cloud.osc("security", "group", "rule", "create", "--protocol", "tcp",
                      "--dst-port", "22", group)
            fip = cloud.osc("floating", "ip", "create", "public")["floating_ip_address"]
            cli = []  # the stock CLI's own cost (start-up, token, one GET): part of every create
            for _ in range(3):
                mark = time.monotonic()
                cloud.osc("flavor", "show", "m1.tiny")
                cli.append(time.monotonic() - mark)
            res["cli_flavor_show_s"] = p50(cli)
            rows = []
            for i in range(args.serial):
                name = f"b{i}"
                watcher = FirstLine(cloud.state)
                watcher.start()
                start, start_boot = time.monotonic(), boottime()
                server = cloud.osc("server", "create", "--flavor", "m1.tiny", "--image",
                                   "guest", "--network", "private", "--key-name", "bench",
                                   "--wait", name)
                active = time.monotonic() - start
                pids = qemu_pids(cloud, server["OS-EXT-SRV-ATTR:instance_name"])
                began = process_start(pids[0]) if pids else None
                cloud.osc("server", "add", "floating", "ip", name, fip, as_json=False)
                uuid = server["id"]
                wait_for(lambda w=watcher: w.seen is not None or not w.is_alive(), 180)
                first = watcher.seen
                ssh = ["ip", "netns", "exec", f"{cloud.prefix}-phys-public", "ssh", "-i",
                       str(key), "-o", "StrictHostKeyChecking=no", "-o",
                       "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=2", "-o",
                       "BatchMode=yes", "-o", "LogLevel=ERROR", f"root@{fip}", "hostname"]
                sshable = wait_for(lambda argv=ssh: subprocess.run(
                    argv, capture_output=True, timeout=20, check=False).returncode == 0, 240,
                    0.3)
                row = {"active_s": round(active, 2),
                       "qemu_started_s": None if began is None else round(
                           began - start_boot, 2),
                       "first_line_s": None if first is None else round(first, 2),
                       "ready_s": None,
                       "ssh_s": None if sshable is None else round(
                           time.monotonic() - start, 2),
                       "qemu_rss_mb": rss_mb(pids[0]) if pids else None}
                watcher.join(60)
                row["ready_s"] = None if watcher.ready is None else round(watcher.ready, 2)
                row["guest_uptime_s"] = guest_stages(cloud.console(uuid))
                log(f"   {name}: {row}")
                rows.append(row)
                cloud.osc("server", "delete", "--wait", name, as_json=False)
            res["serial"] = rows
            res["p50"] = {k: p50([r[k] for r in rows if r[k] is not None])
                          for k in ("active_s", "qemu_started_s", "first_line_s", "ready_s",
                                    "ssh_s", "qemu_rss_mb")}
            res["p50_guest_uptime_s"] = {
                stage: p50([r["guest_uptime_s"][stage] for r in rows
                            if stage in r["guest_uptime_s"]]) for stage in STAGES.values()}
            if args.burst:
                log(f"3: {args.burst} at once")
                start = time.monotonic()
                cloud.osc("server", "create", "--flavor", "m1.tiny", "--image", "guest",
                          "--network", "private", "--min", str(args.burst), "--max",
                          str(args.burst), "--wait", "burst")
                all_active = time.monotonic() - start
                ids = [s["ID"] for s in cloud.osc("server", "list", "--name", "burst")]
                ready = wait_for(lambda: all(READY in cloud.console(u) for u in ids), 900, 1)
                res["burst"] = {"n": args.burst, "all_active_s": round(all_active, 2),
                                "all_ready_s": None if ready is None else round(
                                    time.monotonic() - start, 2)}
                stages = [guest_stages(cloud.console(u)) for u in ids]
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
