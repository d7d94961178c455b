"""The ``libvirt`` driver's host side: which accelerator works, and a libvirtd of its own.

**Accelerator probe** (:func:`probe_virt_type`). ``/dev/kvm`` being there proves nothing: on a
PVM host (``kvm_pvm``) it opens, QEMU starts, and a stock guest kernel hangs once it leaves
real mode. So KVM is taken only when ``/dev/kvm`` opens, the KVM backend is a hardware one
(``kvm_intel`` / ``kvm_amd``, not ``kvm_pvm``), and a 52-byte multiboot guest run with
``-accel kvm`` writes its marker to the serial port and exits within a few seconds (the same
guest under TCG checks the probe itself). The answer (``kvm`` or ``qemu``, with the reason)
is cached in ``libvirt/virt-type.json`` per machine boot (``/proc/sys/kernel/random/boot_id``).

**The daemon** (:class:`Libvirtd`). Each compute host gets its own ``libvirtd``, started without
systemd inside the host's network namespace ``P-host-<host>`` — the namespace where the data
plane's bridges and the instances' taps live — because libvirt opens an ``ethernet``
interface's tap (``/dev/net/tun``, ``TUNSETIFF``) in its own namespace and hands the fd to
QEMU. ``ip netns exec`` gives it a private mount namespace too, where the driver bind-mounts
its own directories (``STATE/hypervisors/<host>/libvirt/{etc,lib,cache,log,run}``) over
``/etc/libvirt``, ``/var/lib/libvirt``, ``/var/cache/libvirt``, ``/var/log/libvirt`` and
``/run/libvirt``: two hosts (or two clouds, or the machine's own libvirtd) never share a
file. Its ``qemu.conf`` runs QEMU as root with no security driver, no cgroups, no per-domain
``/dev`` namespace and no ``virtlogd`` (none of them work without systemd/udev here); the
QEMU capabilities probe is cached in its ``cache`` directory.

Clients reach it through its socket (``qemu:///system?socket=…/run/libvirt-sock``): an
operator runs ``virsh -c "$(pocketstack …)"`` or simply the URI shown in
``docs/architecture.md``. QEMU processes outlive the daemon (a restarted libvirtd finds them
in its ``run`` directory); deleting the host's namespace kills the daemon and its guests.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from pocketstack.agents.compute.drivers.base import DriverError, InstanceNotFound
from pocketstack.agents.kernel import run

QEMU = "qemu-system-x86_64"
REQUIRED_TOOLS = (QEMU, "qemu-img", "libvirtd", "virsh")
#: libvirt's directories -> the subdirectory of the host's own ``libvirt`` directory
BINDS = {"/etc/libvirt": "etc", "/var/lib/libvirt": "lib", "/var/cache/libvirt": "cache",
         "/var/log/libvirt": "log", "/run/libvirt": "run"}
_SOCKET_MAX = 100  # sun_path is 108 bytes; a longer run dir moves to /run/pocketstack
_START_WAIT = 30.0
_PROBE_TIMEOUT = 4.0
_VIRSH_TIMEOUT = 120.0

QEMU_CONF = """\
# written by pocketstack's libvirt driver: no systemd, udev, cgroups or LSM on this host
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
"""

LIBVIRTD_CONF = """\
# written by pocketstack's libvirt driver
unix_sock_group = "root"
unix_sock_rw_perms = "0700"
auth_unix_rw = "none"
auth_unix_ro = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
"""


def missing() -> str | None:
    """Why libvirt guests cannot run here, or None when they can."""
    reason = run.missing()
    if reason is not None:
        return reason
    absent = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if absent:
        return (f"the libvirt driver needs {', '.join(absent)} on PATH (Debian: qemu-system-x86 "
                "qemu-utils libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu)")
    if not os.path.exists("/dev/net/tun"):
        return "the libvirt driver needs /dev/net/tun for its guests' taps"
    return None


# -- the accelerator probe --------------------------------------------------------------------
def _probe_guest() -> bytes:
    """A multiboot (a.out kludge) guest: 32-bit code that writes ``K`` to COM1 and exits QEMU
    through ``isa-debug-exit`` (status 1)."""
    magic, flags, load = 0x1BADB002, 0x00010000, 0x100000
    code = bytes([0x66, 0xBA, 0xF8, 0x03, 0xB0, ord("K"), 0xEE,   # mov dx,0x3f8; mov al,'K'; out
                  0xB0, 0x0A, 0xEE,                               # mov al,'\n'; out
                  0x66, 0xBA, 0xF4, 0x00, 0xB0, 0x00, 0xEE,       # mov dx,0xf4; mov al,0; out
                  0xF4, 0xEB, 0xFD])                              # hlt; jmp hlt
    end = load + 32 + len(code)
    words = [magic, flags, (-(magic + flags)) & 0xFFFFFFFF, load, load, end, end, load + 32]
    return b"".join(w.to_bytes(4, "little") for w in words) + code


def _boots(accel: str, kernel: Path, timeout: float) -> tuple[bool, float, str]:
    argv = [QEMU, "-accel", accel, "-nodefaults", "-nographic", "-no-user-config", "-m", "16",
            "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-kernel", str(kernel)]
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, check=False,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return False, time.monotonic() - start, f"no answer within {timeout:g} s"
    except FileNotFoundError:
        return False, 0.0, f"{QEMU} is not installed"
    took = time.monotonic() - start
    if proc.returncode == 1 and b"K" in proc.stdout:
        return True, took, "ok"
    err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    return False, took, f"exit {proc.returncode}: {err[-1] if err else 'no marker'}"


def _kvm_backend() -> str | None:
    for module in ("kvm_intel", "kvm_amd", "kvm_pvm"):
        if os.path.isdir(f"/sys/module/{module}"):
            return module
    return None


def probe(timeout: float = _PROBE_TIMEOUT) -> dict[str, object]:
    """Probe now: ``{"virt_type": "kvm"|"qemu", "reason", "seconds"}``."""
    start = time.monotonic()

    def answer(virt_type: str, reason: str) -> dict[str, object]:
        return {"virt_type": virt_type, "reason": reason,
                "seconds": round(time.monotonic() - start, 3)}

    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
        os.close(fd)
    except OSError as exc:
        return answer("qemu", f"/dev/kvm cannot be opened: {exc.strerror}")
    backend = _kvm_backend()
    if backend == "kvm_pvm":
        return answer("qemu", "/dev/kvm is PVM (kvm_pvm): it runs only PVM guest kernels, "
                      "a stock guest hangs")
    with tempfile.TemporaryDirectory(prefix="ps-kvm-probe-") as tmp:
        kernel = Path(tmp) / "probe.mb"
        kernel.write_bytes(_probe_guest())
        ok, took, why = _boots("kvm", kernel, timeout)
        if ok:
            return answer("kvm", f"a guest ran under KVM ({backend or 'kvm'}) in {took:.2f} s")
        tcg, _, tcg_why = _boots("tcg", kernel, timeout * 3)
        if not tcg:
            return answer("qemu", f"KVM probe failed ({why}); the TCG control run failed "
                          f"too ({tcg_why})")
        return answer("qemu", f"a guest did not run under KVM: {why}")


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def probe_virt_type(cache: Path) -> dict[str, object]:
    """The cached probe result for this machine boot (probing once when there is none)."""
    boot = _boot_id()
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(cache.read_text())
        if isinstance(data, dict) and data.get("boot_id") == boot \
                and data.get("virt_type") in ("kvm", "qemu"):
            return data
    data = {**probe(), "boot_id": boot, "probed_at": time.time()}
    cache.parent.mkdir(parents=True, exist_ok=True)
    # a temporary file of this thread's own: the agent's warm-up and a first spawn may probe
    # at once, and a shared name made one's rename fail when the other's had taken the file
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, cache)
    return data


# -- the daemon -------------------------------------------------------------------------------
class Libvirtd:
    """One compute host's libvirtd (see the module docstring)."""

    def __init__(self, root: Path, netns: str, short_run: Path) -> None:
        self.root = root
        self.netns = netns
        self._run = root / "run"
        if len(str(self._run / "libvirt-sock")) > _SOCKET_MAX:
            self._run = short_run
        self._lock = threading.Lock()

    @property
    def run_dir(self) -> Path:
        return self._run

    @property
    def socket(self) -> Path:
        return self._run / "libvirt-sock"

    @property
    def uri(self) -> str:
        return f"qemu:///system?socket={self.socket}"

    @property
    def pidfile(self) -> Path:
        return self._run / "libvirtd.pid"

    def pid(self) -> int | None:
        """The daemon's pid when it is alive in the host's namespace."""
        try:
            pid = int(self.pidfile.read_text().strip())
            with open(f"/proc/{pid}/stat") as handle:
                if handle.read().rpartition(")")[2].split()[0] in ("Z", "X"):
                    return None
            ns = os.stat(os.path.join(run.NETNS_DIR, self.netns))
            mine = os.stat(f"/proc/{pid}/ns/net")
        except (OSError, ValueError, IndexError):
            return None
        return pid if (ns.st_dev, ns.st_ino) == (mine.st_dev, mine.st_ino) else None

    def _write_config(self) -> None:
        for sub in BINDS.values():
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self._run.mkdir(parents=True, exist_ok=True)
        etc = self.root / "etc"
        (etc / "qemu.conf").write_text(QEMU_CONF)
        (etc / "libvirtd.conf").write_text(LIBVIRTD_CONF)
        (etc / "libvirt.conf").write_text("")
        (etc / "qemu").mkdir(exist_ok=True)

    def ensure(self) -> None:
        """Start the daemon unless it runs; wait until it answers."""
        with self._lock:
            if self.pid() is not None and self.socket.exists():
                return
            run.ensure_netns(self.netns)
            self._write_config()
            with contextlib.suppress(FileNotFoundError):
                self.socket.unlink()
            binds = {target: str(self.root / sub) for target, sub in BINDS.items()}
            binds["/run/libvirt"] = str(self._run)
            script = "set -e\n" + "".join(
                f"mkdir -p {target}\nmount --bind {_q(source)} {target}\n"
                for target, source in binds.items()) + \
                f"exec libvirtd --daemon --pid-file {_q(str(self.pidfile))}\n"
            proc = subprocess.run(["ip", "netns", "exec", self.netns, "sh", "-c", script],
                                  capture_output=True, text=True, timeout=30, check=False,
                                  stdin=subprocess.DEVNULL, cwd="/")
            if proc.returncode != 0:
                raise DriverError(f"libvirtd could not be started in {self.netns}: "
                                  f"{(proc.stderr or proc.stdout).strip()}")
            deadline = time.monotonic() + _START_WAIT
            while time.monotonic() < deadline:
                if self.socket.exists() and self._answers():
                    return
                time.sleep(0.05)
            raise DriverError(f"libvirtd in {self.netns} did not answer within "
                              f"{_START_WAIT:g} s (log: {self.root / 'log' / 'libvirtd.log'})")

    def _answers(self) -> bool:
        proc = subprocess.run(["virsh", "-q", "-c", self.uri, "list", "--all", "--name"],
                              capture_output=True, timeout=10, check=False)
        return proc.returncode == 0

    def stop(self) -> None:
        """Stop the daemon (its guests keep running)."""
        pid = self.pid()
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 15)

    def virsh(self, *args: str, check: bool = True, timeout: float = _VIRSH_TIMEOUT,
              input: str | None = None) -> str:
        """Run ``virsh ARGS`` against this daemon (started first if need be).

        A missing domain raises :class:`InstanceNotFound`, any other failure
        :class:`DriverError` carrying libvirt's message."""
        self.ensure()
        argv = ["virsh", "-q", "-c", self.uri, *args]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  check=False, input=input)
        except subprocess.TimeoutExpired as exc:
            raise DriverError(f"virsh {' '.join(args)}: no answer within {timeout:g} s") \
                from exc
        if check and proc.returncode != 0:
            message = (proc.stderr or proc.stdout).strip().replace("error: ", "")
            message = " ".join(message.split())
            if "Domain not found" in message or "failed to get domain" in message:
                raise InstanceNotFound(message)
            raise DriverError(f"virsh {args[0]}: {message}")
        return proc.stdout


def _q(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
