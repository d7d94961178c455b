"""Identity benchmark: Pocketstack vs the real Keystone, in one run, on this machine.

Measures, for each target:
  * cold start to ready -- Pocketstack: spawn `pocketstack up` on a fresh state dir until
    GET /identity answers 300, and again on the existing dir (restart); Keystone: db_sync +
    keys + bootstrap on a fresh database, and gunicorn start until GET /v3 answers 200;
  * GET /v3 (version document: the HTTP/framework floor, for reference),
    POST /v3/auth/tokens (password, project scope), GET /v3/auth/tokens (validate),
    GET /v3/projects -- p50/p95 latency, requests/s and server CPU per request, at 1 and 8
    concurrent clients (httpx, keep-alive, one client per thread, bounded request counts);
  * the issue time beyond the password hash: bcrypt.checkpw at the same cost measured
    in-process, subtracted from the server's CPU per issue and from the issue p50.

Only loopback traffic; every loop is bounded by a request count and a time limit.

    .venv/bin/python benchmarks/identity.py [--no-peer] [--json FILE] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from benchmarks._common import (
    cpu_delta_seconds,
    free_port,
    stop_group,
    tree_cpu_sample,
    wait_status,
)  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "pocketstack-bench-pw"
HASH_RE = re.compile(rb"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
OPS = ["version", "issue", "validate_first", "validate", "projects"]
OP_LABEL = {
    "version": "GET /v3 (version doc, floor)",
    "issue": "POST /v3/auth/tokens (password)",
    "validate_first": "GET /v3/auth/tokens (first validation of a new token)",
    "validate": "GET /v3/auth/tokens (validate)",
    "projects": "GET /v3/projects",
}


def log(msg: str) -> None:
    print(f"[identity-bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- targets


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


# ---------------------------------------------------------------- measurement


def pct(sorted_vals: list[float], q: float) -> float:
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(round(q * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def run_point(request, n: int, conc: int, warmup: int, pid: int | None, max_s: float) -> dict:
    """n timed requests over conc threads (one keep-alive httpx.Client each)."""
    counter = itertools.count()
    lat: list[float] = []
    statuses: dict[int, int] = {}
    errors: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(conc + 1)
    go = threading.Event()
    deadline = [0.0]

    def worker():
        local_lat, local_st = [], {}
        with httpx.Client(timeout=60) as client:
            try:
                for w in range(warmup):
                    request(client, -1 - w)
            except Exception as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(f"warmup: {e!r}")
            ready.wait()
            go.wait()
            while True:
                i = next(counter)
                if i >= n or time.perf_counter() > deadline[0]:
                    break
                t = time.perf_counter()
                try:
                    st = request(client, i)
                except Exception as e:  # noqa: BLE001
                    st = -1
                    with lock:
                        if len(errors) < 5:
                            errors.append(repr(e))
                local_lat.append(time.perf_counter() - t)
                local_st[st] = local_st.get(st, 0) + 1
        with lock:
            lat.extend(local_lat)
            for k, v in local_st.items():
                statuses[k] = statuses.get(k, 0) + v

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(conc)]
    for t in threads:
        t.start()
    ready.wait()
    cpu0 = tree_cpu_sample(pid) if pid else None
    t0 = time.perf_counter()
    deadline[0] = t0 + max_s
    go.set()
    for t in threads:
        t.join(max_s + 120)
    wall = time.perf_counter() - t0
    cpu1 = tree_cpu_sample(pid) if pid else None
    lat.sort()
    done = len(lat)
    ok = sum(v for k, v in statuses.items() if 200 <= k < 300)
    return {
        "n": done,
        "concurrency": conc,
        "ok": ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "errors": errors,
        "p50_ms": pct(lat, 0.50) * 1e3,
        "p95_ms": pct(lat, 0.95) * 1e3,
        "mean_ms": (statistics.fmean(lat) * 1e3) if lat else float("nan"),
        "max_ms": (lat[-1] * 1e3) if lat else float("nan"),
        "rps": done / wall if wall > 0 else float("nan"),
        "wall_s": wall,
        "server_cpu_ms_per_req": (cpu_delta_seconds(cpu0, cpu1) * 1e3 / done)
        if (cpu0 is not None and done)
        else None,
    }


def auth_body(password: str) -> dict:
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": "admin", "domain": {"name": "Default"}, "password": password}
                },
            },
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}},
        }
    }


def prepare_ops(target, label: str) -> tuple[dict, dict, list[str]]:
    """Check the target answers as Keystone does; return (info, {op: request function})."""
    v3 = target.v3
    body = auth_body(target.password)
    with httpx.Client(timeout=60) as c:
        r = c.post(f"{v3}/auth/tokens", json=body)
        if r.status_code != 201:
            raise RuntimeError(
                f"{label}: admin token issue answered {r.status_code}: {r.text[:300]}"
            )
        admin = r.headers["X-Subject-Token"]
        tok = r.json()["token"]
        vr = c.get(f"{v3}/auth/tokens", headers={"X-Auth-Token": admin, "X-Subject-Token": admin})
        pr = c.get(f"{v3}/projects", headers={"X-Auth-Token": admin})
        info = {
            "token_bytes": len(admin),
            "roles": [x.get("name") for x in tok.get("roles", [])],
            "project": (tok.get("project") or {}).get("name"),
            "catalog_entries": len(tok.get("catalog", [])),
            "validate_status": vr.status_code,
            "validate_bytes": len(vr.content),
            "projects_status": pr.status_code,
            "projects_count": len(pr.json().get("projects", [])) if pr.status_code == 200 else None,
        }
    pool: list[str] = []
    pool_lock = threading.Lock()

    def req_version(client, i):
        return client.get(v3).status_code

    def req_issue(client, i):
        resp = client.post(f"{v3}/auth/tokens", json=body)
        if resp.status_code == 201:
            with pool_lock:
                pool.append(resp.headers["X-Subject-Token"])
        return resp.status_code

    def req_validate(client, i):
        # round-robin over the tokens issued in the issue phase (all valid, distinct)
        subject = pool[i % len(pool)] if pool else admin
        return client.get(
            f"{v3}/auth/tokens", headers={"X-Auth-Token": admin, "X-Subject-Token": subject}
        ).status_code

    def req_validate_first(client, i):
        # each token issued in the issue phase, validated for the first time (cache misses)
        return client.get(
            f"{v3}/auth/tokens", headers={"X-Auth-Token": admin, "X-Subject-Token": pool[i]}
        ).status_code

    def req_projects(client, i):
        return client.get(f"{v3}/projects", headers={"X-Auth-Token": admin}).status_code

    fns = {
        "version": req_version,
        "issue": req_issue,
        "validate_first": req_validate_first,
        "validate": req_validate,
        "projects": req_projects,
    }
    return info, fns, pool


def load_phase(targets: list[tuple[dict, object]], conc_list: list[int], a) -> None:
    """Every point runs on each target back to back (both servers are up, the idle one costs
    nothing), so drifting background load hits both sides alike."""
    prepared = []
    for res, srv in targets:
        info, fns, pool = prepare_ops(srv, res["name"])
        res["info"], res["ops"] = info, {}
        prepared.append((res, srv, fns, pool))
    for op in OPS:
        for conc in [1] if op == "validate_first" else conc_list:
            count = a.issue_n if op == "issue" else a.n
            warm = 1 if op == "issue" else 5
            if op == "issue" and conc > 1:
                count = max(a.issue_n, 3 * conc)
            for res, srv, fns, pool in prepared:
                if op == "validate_first":
                    count, warm = len(pool), 0
                load0 = os.getloadavg()[0]
                nearby = bcrypt_cost(12, 5) if (op == "issue" and conc == 1) else None
                r = run_point(fns[op], count, conc, warm, srv.server_pid, a.max_seconds)
                r["loadavg_1m_before"] = load0
                if nearby:  # the hash's cost right before this target's issue point
                    r["bcrypt_nearby"] = nearby
                res["ops"].setdefault(op, {})[str(conc)] = r
                cpu = r["server_cpu_ms_per_req"]
                log(
                    f"{res['name']:11s} {op:14s} c={conc}: p50 {r['p50_ms']:8.2f} ms  "
                    f"p95 {r['p95_ms']:8.2f} ms  {r['rps']:8.1f} req/s  ok {r['ok']}/{r['n']}"
                    + (f"  cpu {cpu:.2f} ms/req" if cpu is not None else "")
                )


CANNED_SERVER = r"""
import asyncio, sys
BODY = b'{"version": {"id": "v3", "status": "stable"}}'
RESP = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
class P(asyncio.Protocol):
    def connection_made(self, t):
        self.t, self.buf = t, b""
    def data_received(self, d):
        self.buf += d
        while b"\r\n\r\n" in self.buf:
            _, self.buf = self.buf.split(b"\r\n\r\n", 1)
            self.t.write(RESP)
async def main():
    srv = await asyncio.get_running_loop().create_server(P, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    async with srv:
        await asyncio.sleep(600)
asyncio.run(main())
"""


def client_floor(conc_list: list[int], n: int, max_s: float) -> dict:
    """httpx against a canned-response asyncio server: the client + loopback floor of this rig."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", CANNED_SERVER, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_status(f"http://127.0.0.1:{port}/", {200}, 10, proc=proc)
        url = f"http://127.0.0.1:{port}/"
        out = {}
        for conc in conc_list:
            out[str(conc)] = run_point(
                lambda c, i: c.get(url).status_code, n, conc, 5, proc.pid, max_s
            )
            r = out[str(conc)]
            log(f"client floor c={conc}: p50 {r['p50_ms']:.3f} ms, {r['rps']:.0f} req/s")
        return out
    finally:
        stop_group(proc, first=15, grace=3)


def bcrypt_cost(rounds: int = 12, samples: int = 7) -> dict:
    """bcrypt.checkpw at `rounds` in this process: median wall time and median CPU time.

    The CPU time (this thread's) is what gets subtracted from the server's CPU per issue: both
    are CPU, so other work on the machine does not skew the difference.
    """
    try:
        import bcrypt
    except ImportError:
        return {"rounds": rounds, "median_ms": None, "note": "bcrypt not importable here"}
    h = bcrypt.hashpw(b"pocketstack-bench-pw", bcrypt.gensalt(rounds))
    times, cpu = [], []
    for _ in range(samples):
        t, c = time.perf_counter(), time.thread_time()
        bcrypt.checkpw(b"pocketstack-bench-pw", h)
        cpu.append((time.thread_time() - c) * 1e3)
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return {
        "rounds": rounds,
        "median_ms": statistics.median(times),
        "min_ms": times[0],
        "max_ms": times[-1],
        "cpu_median_ms": statistics.median(cpu),
        "bcrypt": getattr(bcrypt, "__version__", "?"),
    }


def hash_rounds(files: list[Path]) -> list[int]:
    """bcrypt cost factors of the hashes stored in these files (SQLite, JSON, whatever)."""
    found: set[int] = set()
    for f in files:
        try:
            if f.stat().st_size > 200 * 1024 * 1024:
                continue
            for m in HASH_RE.finditer(f.read_bytes()):
                found.add(int(m.group(1)))
        except OSError:
            pass
    return sorted(found)


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


# ---------------------------------------------------------------- the two sides


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


# ---------------------------------------------------------------- report


def fmt(x, nd=2, unit=""):
    if x is None or (isinstance(x, float) and x != x):
        return "-"
    return f"{x:.{nd}f}{unit}"


def report(result: dict) -> str:
    ps, ks = result.get("pocketstack"), result.get("keystone")
    conc_list = result["config"]["concurrency"]
    lines = []
    w = lines.append
    w(
        f"Identity benchmark — {result['date']} — {result['machine']['cpus']} CPUs "
        f"({result['machine']['cpu_model']}), Python {result['machine']['python']}"
    )
    if ks:
        w(
            f"Peer: Keystone {ks.get('version')} (gunicorn {ks.get('workers')} sync workers, "
            "SQLite, fernet, memcached)"
        )
    w("")
    w("Cold start to ready (median; s)")
    w("| target | first start (fresh state) | restart (existing state) |")
    w("|---|---|---|")
    for t in (ps, ks):
        if t and t.get("cold_start"):
            cs = t["cold_start"]
            first = fmt(cs.get("first_median_s"), 3)
            if t["name"] == "keystone" and cs.get("fresh_setup_s") is not None:
                first += f" (manage {cs['fresh_setup_s']:.2f} + serve {cs['fresh_serve_s']:.2f})"
            w(
                f"| {t['name']} | {first} | {fmt(cs.get('restart_median_s'), 3)} "
                f"(runs: {', '.join(fmt(x, 3) for x in cs.get('restart_s', []))}) |"
            )
    w("")
    w(
        "Requests (latency in ms, client-side, keep-alive httpx; "
        "CPU = server process tree CPU per request)"
    )
    w("| operation | c | target | p50 | p95 | req/s | server CPU ms/req | ok/n |")
    w("|---|---|---|---|---|---|---|---|")
    for op in OPS:
        for conc in conc_list:
            for t in (ps, ks):
                if not t or str(conc) not in t.get("ops", {}).get(op, {}):
                    continue
                r = t["ops"][op][str(conc)]
                w(
                    f"| {OP_LABEL[op]} | {conc} | {t['name']} | {fmt(r['p50_ms'])} | "
                    f"{fmt(r['p95_ms'])} | "
                    f"{fmt(r['rps'], 1)} | {fmt(r['server_cpu_ms_per_req'])} | {r['ok']}/{r['n']} |"
                )
    if ps and ks and "ops" in ps and "ops" in ks:
        w("")
        w("Ratios Pocketstack/Keystone (p50: lower is better; req/s: higher is better)")
        w(
            "| operation | c | p50 PS/KS | speed-up (KS p50 / PS p50) | req/s PS/KS "
            "| server CPU/req KS/PS |"
        )
        w("|---|---|---|---|---|---|")
        for op in OPS:
            for conc in conc_list:
                if str(conc) not in ps["ops"].get(op, {}) or str(conc) not in ks["ops"].get(op, {}):
                    continue
                a_, b_ = ps["ops"][op][str(conc)], ks["ops"][op][str(conc)]
                ca, cb = a_["server_cpu_ms_per_req"], b_["server_cpu_ms_per_req"]
                cpu_ratio = fmt(cb / ca, 1) + "×" if (ca and cb) else "-"
                w(
                    f"| {OP_LABEL[op]} | {conc} | {fmt(a_['p50_ms'] / b_['p50_ms'], 3)} | "
                    f"{fmt(b_['p50_ms'] / a_['p50_ms'], 1)}× | {fmt(a_['rps'] / b_['rps'], 2)} "
                    f"| {cpu_ratio} |"
                )
    fl = result.get("client_floor") or {}
    if fl:
        w("")
        w(
            "Client floor (same httpx rig against a canned-response asyncio server): "
            + ", ".join(
                f"c={c}: p50 {fmt(r['p50_ms'], 3)} ms, {fmt(r['rps'], 0)} req/s"
                for c, r in fl.items()
            )
        )
    bc = result["bcrypt"]
    w("")
    w(
        f"bcrypt.checkpw at {bc['rounds']} rounds in-process: "
        f"median {fmt(bc.get('median_ms'), 1)} ms wall, {fmt(bc.get('cpu_median_ms'), 1)} ms CPU "
        f"(min {fmt(bc.get('min_ms'), 1)}, max {fmt(bc.get('max_ms'), 1)})"
    )
    for t in (ps, ks):
        if t and "beyond_hash" in t:
            b = t["beyond_hash"]
            w(
                f"{t['name']}: stored bcrypt cost {t.get('hash_rounds')}; issue beyond the hash: "
                f"server CPU {fmt(b['cpu_ms'])} ms/req, latency p50 {fmt(b['latency_ms'])} ms "
                f"(minus the version-doc floor: {fmt(b['latency_minus_floor_ms'])} ms)"
            )
    for t in (ps, ks):
        if t and t.get("info"):
            i = t["info"]
            w(
                f"{t['name']}: token {i['token_bytes']} bytes, roles {i['roles']}, catalog "
                f"{i['catalog_entries']} services, validate body {i['validate_bytes']} bytes, "
                f"{i['projects_count']} project(s) listed"
            )
    if result.get("loadavg_before_load"):
        la0, la1 = result["loadavg_before_load"], result.get("loadavg_after_load") or ["?"]
        w(f"load average (1 min) before the load phase {la0[0]:.2f}, after {la1[0]:.2f}")
    if ks and ks.get("memcached"):
        w(f"keystone memcached during the load phase: {ks['memcached']}")
    if result.get("targets"):
        w("")
        w("Targets")
        for name, (ok, detail) in result["targets"].items():
            w(f"- {'PASS' if ok else ('FAIL' if ok is False else 'n/a ')} {name}: {detail}")
    return "\n".join(lines)


def evaluate(result: dict) -> dict:
    ps, ks, bc = result.get("pocketstack"), result.get("keystone"), result["bcrypt"]
    for t in (ps, ks):
        if not t or "ops" not in t:
            continue
        iss = t["ops"]["issue"]["1"]
        ver = t["ops"]["version"]["1"]
        bms = bc.get("median_ms") or 0
        # the hash's CPU cost measured right before this target's issue point (same load)
        bcpu = (iss.get("bcrypt_nearby") or bc).get("cpu_median_ms") or bms
        t["beyond_hash"] = {
            "cpu_ms": (iss["server_cpu_ms_per_req"] - bcpu)
            if iss["server_cpu_ms_per_req"] is not None
            else None,
            "latency_ms": iss["p50_ms"] - bms,
            "latency_minus_floor_ms": iss["p50_ms"] - bms - ver["p50_ms"],
            "bcrypt_cpu_ms": bcpu,
        }
    tg = {}
    if ps and "ops" in ps:
        rounds = ps.get("hash_rounds")
        ks_rounds = ks.get("hash_rounds") if ks else None
        same = bool(rounds) and rounds == [12] and (ks_rounds in (None, [12]))
        tg["same hash strength (bcrypt 12)"] = (
            same if rounds else None,
            f"pocketstack stores cost {rounds or 'not found in state dir'}"
            + (f", keystone {ks_rounds}" if ks else "")
            + f"; server CPU per issue {fmt(ps['ops']['issue']['1']['server_cpu_ms_per_req'], 1)}"
            + f" ms vs checkpw CPU {fmt(ps['beyond_hash']['bcrypt_cpu_ms'], 1)} ms",
        )
        b = ps["beyond_hash"]
        # Judged on the server's CPU per issue beyond the hash (robust to background load);
        # the client-side p50 beyond the hash and the HTTP floor is shown beside it (it would
        # also show I/O or lock waits, but moves by several ms with other work on the machine).
        primary = b["cpu_ms"] if b["cpu_ms"] is not None else b["latency_minus_floor_ms"]
        tg["issue time beyond the hash < 5 ms"] = (
            (primary < 5) if primary > -3 else None,  # well below 0: the measurement is off
            f"server CPU beyond checkpw {fmt(b['cpu_ms'])} ms (checkpw CPU "
            f"{fmt(b['bcrypt_cpu_ms'], 1)} ms measured just before); client p50 beyond checkpw "
            f"{fmt(b['latency_ms'])} ms (incl. HTTP+client; {fmt(b['latency_minus_floor_ms'])} ms "
            f"after subtracting the version-doc floor)",
        )
        if ks and "ops" in ks:
            floor = result.get("client_floor") or {}
            for op in ("validate", "projects"):
                parts, oks = [], []
                for conc in result["config"]["concurrency"]:
                    a_, b_ = ps["ops"][op][str(conc)], ks["ops"][op][str(conc)]
                    sp, rr = b_["p50_ms"] / a_["p50_ms"], a_["rps"] / b_["rps"]
                    ca, cb = a_["server_cpu_ms_per_req"], b_["server_cpu_ms_per_req"]
                    cr = (cb / ca) if (ca and cb) else None
                    # When Pocketstack already runs at >= 80 % of what this client rig can drive
                    # against a canned response, latency and req/s measure the rig, not the
                    # server: judge by server CPU per request then.
                    fl = floor.get(str(conc))
                    rig_bound = bool(fl) and a_["rps"] >= 0.8 * fl["rps"]
                    if rig_bound and cr is not None:
                        oks.append(cr >= 10)
                    else:
                        oks += [sp >= 10, rr >= 10]
                    oks.append(a_["ok"] == a_["n"])
                    if a_["ok"] != a_["n"]:
                        parts.append(f"c={conc}: only {a_['ok']}/{a_['n']} answered 2xx")
                    parts.append(
                        f"c={conc}: p50 {sp:.1f}×, req/s {rr:.1f}×, server CPU/req "
                        + (f"{cr:.1f}×" if cr is not None else "-")
                        + (" (client-rig bound: judged by CPU)" if rig_bound else "")
                    )
                first_a = ps["ops"].get("validate_first", {}).get("1")
                first_b = ks["ops"].get("validate_first", {}).get("1")
                if op == "validate" and first_a and first_b:
                    parts.append(
                        f"first validation of a new token (not judged): p50 "
                        f"{first_b['p50_ms'] / first_a['p50_ms']:.1f}×"
                    )
                tg[f"{OP_LABEL[op]} >= 10x faster than Keystone"] = (all(oks), "; ".join(parts))
        cs = ps.get("cold_start")
        if cs:
            tg["cold start < 2 s"] = (
                max(cs["first_median_s"], cs["restart_median_s"]) < 2,
                f"first start median {cs['first_median_s']:.3f} s (max {max(cs['first_s']):.3f}), "
                f"restart median {cs['restart_median_s']:.3f} s (max {max(cs['restart_s']):.3f})",
            )
    result["targets"] = tg
    return result


def machine_info() -> dict:
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        rev = (
            subprocess.run(
                ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                capture_output=True,
                text=True,
                timeout=5,
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        rev = None
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "git_rev": rev,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="Identity benchmark: Pocketstack vs Keystone (loopback only)."
    )
    ap.add_argument("--no-peer", action="store_true", help="skip the real Keystone")
    ap.add_argument("--only-peer", action="store_true", help="run the Keystone side only")
    ap.add_argument("--json", metavar="FILE", help="write the results as JSON")
    ap.add_argument(
        "--n", type=int, default=200, help="requests per point (validate, projects, version)"
    )
    ap.add_argument(
        "--issue-n", type=int, default=30, help="token issues per point (bcrypt 12: ~0.3 s each)"
    )
    ap.add_argument("--concurrency", default="1,8", help="comma-separated client counts")
    ap.add_argument("--cold-runs", type=int, default=3, help="cold start repetitions")
    ap.add_argument("--max-seconds", type=float, default=120, help="time limit per point")
    ap.add_argument("--quick", action="store_true", help="small counts, to check the script works")
    ap.add_argument("--password", default=PASSWORD)
    ap.add_argument("--pocketstack-bin", default=str(REPO / ".venv" / "bin" / "pocketstack"))
    ap.add_argument("--pocketstack-attach", metavar="URL", help="use a running Pocketstack at URL")
    ap.add_argument("--pocketstack-pid", type=int, help="its pid, for server CPU accounting")
    ap.add_argument("--peer-reuse", action="store_true", help="don't time a fresh Keystone setup")
    ap.add_argument(
        "--hold", type=float, default=0, help="keep Pocketstack up this long after the load"
    )
    ap.add_argument("--keep", action="store_true", help="keep Pocketstack's temporary state dirs")
    ap.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        help="before the load phase, wait up to this many seconds for the 1-min load average < 0.8",
    )
    a = ap.parse_args(argv)
    if a.quick:
        a.n, a.issue_n, a.cold_runs = 30, 4, 1
    a.cold_runs = max(1, a.cold_runs)
    conc_list = [int(x) for x in a.concurrency.split(",") if x.strip()]

    result: dict = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "config": {
            "n": a.n,
            "issue_n": a.issue_n,
            "concurrency": conc_list,
            "cold_runs": a.cold_runs,
        },
        "bcrypt": bcrypt_cost(12),
    }
    log(f"bcrypt 12 rounds in-process: {result['bcrypt'].get('median_ms')} ms")
    result["client_floor"] = client_floor(conc_list, a.n, a.max_seconds)
    rc = 0
    with contextlib.ExitStack() as stack:
        targets = []
        if not a.only_peer:
            try:
                targets.append(start_pocketstack(a, stack))
            except Exception as e:  # noqa: BLE001 - report and still run the peer
                log(f"pocketstack side failed: {e}")
                result["pocketstack"] = {"name": "pocketstack", "error": str(e)}
                rc = 1
        ks_srv = None
        if not a.no_peer:
            targets.append(start_keystone(a, stack))
            ks_srv = targets[-1][1]
        for res, _ in targets:
            result[res["name"]] = res
        mc0 = ks_srv.memcached.stats() if ks_srv else None
        result["loadavg_before_load"] = os.getloadavg()
        if a.wait_quiet > 0:
            end = time.time() + a.wait_quiet
            while os.getloadavg()[0] > 0.8 and time.time() < end:
                time.sleep(5)
            result["loadavg_before_load"] = os.getloadavg()
        if result["loadavg_before_load"][0] > 1.0:
            log(f"warning: load average {result['loadavg_before_load']} -- other work is running")
        load_phase(targets, conc_list, a)
        result["loadavg_after_load"] = os.getloadavg()
        if ks_srv:
            mc1 = ks_srv.memcached.stats()
            result["keystone"]["memcached"] = {
                k: mc1.get(k, 0) - mc0.get(k, 0) for k in ("get_hits", "get_misses", "cmd_set")
            }
        if a.hold and targets and targets[0][0]["name"] == "pocketstack":
            srv = targets[0][1]
            log(f"holding pocketstack at {srv.base} (pid {srv.server_pid}) for {a.hold:.0f} s")
            time.sleep(min(a.hold, 3600))
    b2 = bcrypt_cost(12)
    result["bcrypt_before"] = dict(result["bcrypt"])
    result["bcrypt_after"] = b2
    if b2.get("median_ms") and result["bcrypt"].get("median_ms"):  # mean of the two medians
        result["bcrypt"]["median_ms"] = (result["bcrypt"]["median_ms"] + b2["median_ms"]) / 2
        result["bcrypt"]["cpu_median_ms"] = (
            result["bcrypt"]["cpu_median_ms"] + b2["cpu_median_ms"]
        ) / 2
        result["bcrypt"]["min_ms"] = min(result["bcrypt"]["min_ms"], b2["min_ms"])
        result["bcrypt"]["max_ms"] = max(result["bcrypt"]["max_ms"], b2["max_ms"])
    evaluate(result)
    text = report(result)
    print(text)
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2, default=str))
        log(f"wrote {a.json}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
