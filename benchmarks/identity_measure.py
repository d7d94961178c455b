"""The identity benchmark's measurements (benchmarks/identity.py runs them).

A load point (:func:`run_point`): a bounded number of requests over N keep-alive clients,
their latency percentiles, requests/s and the server's CPU per request; the requests of each
operation (:data:`OPS`: version document, token issue, first and repeated validation, project
list) made ready against a target (:func:`prepare_ops`) and run at each concurrency
(:func:`load_phase`); the client's own floor against a canned asyncio server
(:func:`client_floor`); bcrypt's cost measured in-process (:func:`bcrypt_cost`) and the cost
factors stored in a target's state (:func:`hash_rounds`); and the small helpers the report
shares (:func:`median`, :func:`fmt`, :func:`log`).
"""

from __future__ import annotations

import itertools
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from benchmarks._common import (
    cpu_delta_seconds,
    free_port,
    stop_group,
    tree_cpu_sample,
    wait_status,
)

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


def fmt(x, nd=2, unit=""):
    if x is None or (isinstance(x, float) and x != x):
        return "-"
    return f"{x:.{nd}f}{unit}"
