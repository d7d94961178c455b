"""The identity benchmark's two targets: Pocketstack and the real Keystone.

:class:`PocketstackServer` runs ``pocketstack up`` on a state directory and times its start
(to GET /identity answering 300) and stop; :class:`AttachedServer` stands for a running one
(``--pocketstack-attach``). :func:`start_pocketstack` and :func:`start_keystone` time each
side's cold starts (Keystone through :mod:`benchmarks.peers.keystone`) and leave the last
start running for the load phase.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from benchmarks._common import free_port, stop_group, wait_status
from benchmarks.identity_measure import fmt, hash_rounds, log, median

REPO = Path(__file__).resolve().parents[1]


class PocketstackServer:
    """`pocketstack up` in the foreground as a child process (its own process group)."""

    name = "pocketstack"

    def __init__(self, exe: str, state_dir: Path, password: str, port: int | None = None):
        self.exe, self.state_dir, self.password = exe, state_dir, password
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.ready_line_s: float | None = None
        self.output: list[str] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def v3(self) -> str:
        return f"{self.base}/identity/v3"

    @property
    def server_pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60) -> float:
        """Spawn and wait for the first 300 on /identity; returns seconds from spawn."""
        cmd = [
            self.exe,
            "up",
            "--state-dir",
            str(self.state_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--admin-password",
            self.password,
        ]
        self.ready_line_s = None
        self.output = []
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=REPO,
        )

        def reader(p=self.proc):
            for raw in p.stdout:
                line = raw.decode(errors="replace").rstrip()
                if len(self.output) < 2000:
                    self.output.append(line)
                if self.ready_line_s is None and "ready" in line.lower():
                    self.ready_line_s = time.perf_counter() - t0

        threading.Thread(target=reader, daemon=True).start()
        try:
            ready = wait_status(
                f"{self.base}/identity", {300}, timeout, proc=self.proc, interval=0.002
            )
        except BaseException:
            tail = "\n".join(self.output[-30:])
            self.stop()
            raise RuntimeError(f"pocketstack did not become ready; last output:\n{tail}") from None
        end = time.perf_counter() + 2  # let the reader see the "ready" line (not timed)
        while self.ready_line_s is None and time.perf_counter() < end:
            time.sleep(0.01)
        return ready

    def stop(self) -> float:
        t0 = time.perf_counter()
        if self.proc is not None:
            stop_group(self.proc)  # SIGINT first, as Ctrl-C on the foreground process
            self.proc = None
        return time.perf_counter() - t0

    def hash_files(self) -> list[Path]:
        return [p for p in self.state_dir.rglob("*") if p.is_file()]


class AttachedServer:
    """An already running Pocketstack (e.g. to profile it); no cold start, no CPU accounting."""

    name = "pocketstack"

    def __init__(self, base: str, password: str, pid: int | None):
        self.base, self.password, self._pid = base.rstrip("/"), password, pid

    @property
    def v3(self) -> str:
        return f"{self.base}/identity/v3"

    @property
    def server_pid(self) -> int | None:
        return self._pid

    def hash_files(self) -> list[Path]:
        return []


def start_pocketstack(a, stack: contextlib.ExitStack) -> tuple[dict, object]:
    """Cold starts (fresh dir, then restart on it); leaves the last restart running."""
    res: dict = {"name": "pocketstack"}
    if a.pocketstack_attach:
        res["cold_start"] = None
        return res, AttachedServer(a.pocketstack_attach, a.password, a.pocketstack_pid)
    exe = a.pocketstack_bin
    if not os.path.exists(exe):
        raise RuntimeError(f"{exe} not found (is the package installed in the venv?)")
    tmp = Path(tempfile.mkdtemp(prefix="pocketstack-bench-"))
    if not a.keep:
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
    firsts, restarts, ready_lines, stops = [], [], [], []
    srv = None
    for i in range(a.cold_runs):
        d = tmp / f"state-{i}"
        # the cloud's kernel objects (as root: namespaces, dnsmasq) outlive `up`; the stack
        # unwinds last-in first, so this runs before the directory goes
        stack.callback(subprocess.run, [exe, "clean", "--state-dir", str(d)],
                       capture_output=True, check=False)
        srv = PocketstackServer(exe, d, a.password)
        firsts.append(srv.start())
        ready_lines.append(srv.ready_line_s)
        stops.append(srv.stop())
        srv = PocketstackServer(exe, d, a.password)
        restarts.append(srv.start())
        if i < a.cold_runs - 1:
            stops.append(srv.stop())
        log(
            f"pocketstack cold start #{i + 1}: first {firsts[-1]:.3f} s, "
            f"restart {restarts[-1]:.3f} s (ready line {fmt(ready_lines[-1], 3)} s,"
            f" stop {stops[-1]:.2f} s)"
        )
    stack.callback(srv.stop)
    res["cold_start"] = {
        "first_s": firsts,
        "restart_s": restarts,
        "ready_line_s": ready_lines,
        "stop_s": stops,
        "first_median_s": median(firsts),
        "restart_median_s": median(restarts),
    }
    res["hash_rounds"] = hash_rounds(srv.hash_files())
    res["state_dir_bytes"] = sum(p.stat().st_size for p in srv.hash_files())
    return res, srv


def start_keystone(a, stack: contextlib.ExitStack) -> tuple[dict, object]:
    """Fresh setup (timed, unless --peer-reuse) and restarts; leaves the last one running."""
    from benchmarks.peers.keystone import Keystone, ensure_venv, keystone_version

    ensure_venv()
    res: dict = {"name": "keystone", "version": keystone_version()}
    restarts = []
    fresh_setup = fresh_ready = None
    if not a.peer_reuse:
        with Keystone(admin_password=a.password, fresh=True) as ks:
            fresh_setup, fresh_ready = ks.setup_s, ks.ready_s
        log(f"keystone fresh: setup {fresh_setup:.2f} s + serve {fresh_ready:.2f} s")
    for i in range(a.cold_runs - 1):
        with Keystone(admin_password=a.password) as ks:
            restarts.append(ks.ready_s)
        log(f"keystone restart #{i + 1}: {restarts[-1]:.3f} s")
    ks = stack.enter_context(Keystone(admin_password=a.password))
    restarts.append(ks.ready_s)
    if ks.setup_s is not None:  # --peer-reuse with no usable cache: it had to set up anyway
        fresh_setup, fresh_ready = ks.setup_s, ks.ready_s
    log(f"keystone restart #{len(restarts)}: {restarts[-1]:.3f} s")
    res["cold_start"] = {
        "fresh_setup_s": fresh_setup,
        "fresh_serve_s": fresh_ready,
        "first_s": [fresh_setup + fresh_ready] if fresh_setup is not None else [],
        "first_median_s": (fresh_setup + fresh_ready) if fresh_setup is not None else None,
        "restart_s": restarts,
        "restart_median_s": median(restarts),
    }
    res["hash_rounds"] = hash_rounds([ks.state / "keystone.db"])
    res["workers"] = ks.workers
    return res, ks
