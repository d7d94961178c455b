"""Placement benchmark: Pocketstack vs the real OpenStack Placement, in one run, on this machine.

Both get 1000 resource providers (VCPU 32 x16, MEMORY_MB 131072 x1.5, DISK_GB 2000). Then:
  * create provider + PUT inventories (pairs, c=1, the first 100; the rest are created at c=4);
  * GET /allocation_candidates?resources=VCPU:1,MEMORY_MB:512,DISK_GB:10 (1000 results) and
    the same with limit=50 -- p50/p95 and req/s at c=1 and c=4; and the same GET right after
    an (untimed) claim each time, c=1 -- what a scheduler sees, with no cached answer current;
  * PUT /allocations/{new consumer} on a random provider -- p50/p95, req/s at c=1 and c=4,
    and every non-204 answer counted (a 500 is a failure of the target).
The real Placement (PyPI openstack-placement, own venv in ~/.cache/pocketstack/peers/placement)
runs with noauth2 on SQLite under gunicorn: 1 worker, then a 2nd added with SIGTTIN (two
workers syncing traits at boot on SQLite kill the master). Pocketstack runs `pocketstack up`
(one process, SQLite) with a real Keystone token. Same microversion for both (the lower max).

    .venv/bin/python benchmarks/placement.py [--no-peer] [--json FILE] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from benchmarks._common import free_port, stop_group, wait_status  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PEER_VENV = Path.home() / ".cache" / "pocketstack" / "peers" / "placement"
PASSWORD = "pocketstack-bench-pw"
INVENTORY = {"VCPU": {"total": 32, "allocation_ratio": 16.0},
             "MEMORY_MB": {"total": 131072, "allocation_ratio": 1.5},
             "DISK_GB": {"total": 2000}}
CANDIDATES = "/allocation_candidates?resources=VCPU:1,MEMORY_MB:512,DISK_GB:10"


def log(msg: str) -> None:
    print(f"[placement-bench] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- targets


class Target:
    name = ""
    base = ""  # .../placement root
    headers: dict[str, str] = {}
    proc: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)
            self.proc = None


class Pocketstack(Target):
    name = "pocketstack"

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.state = workdir / "pocketstack-state"
        self.state.mkdir()

    def start(self) -> None:
        exe = str(Path(sys.executable).parent / "pocketstack")
        env = dict(os.environ, POCKETSTACK_DATAPLANE="none", POCKETSTACK_COMPUTE_DRIVER="fake",
                   POCKETSTACK_LOG_LEVEL="warning")
        self.proc = subprocess.Popen(
            [exe, "up", "--state-dir", str(self.state), "--host", "127.0.0.1", "--port",
             str(self.port), "--admin-password", PASSWORD],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=REPO, env=env)
        url = f"http://127.0.0.1:{self.port}"
        wait_status(url + "/identity", {300}, 90, proc=self.proc)
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}}
        r = httpx.post(url + "/identity/v3/auth/tokens", json=body, timeout=30)
        r.raise_for_status()
        self.base = url + "/placement"
        self.headers = {"X-Auth-Token": r.headers["X-Subject-Token"]}


_LOADER = """import sys
sys.argv = sys.argv[:1]
from placement.wsgi.api import application  # noqa: E402,F401
"""


class RealPlacement(Target):
    name = "placement"

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.dir = workdir / "placement"
        self.dir.mkdir()

    @staticmethod
    def install() -> None:
        if (PEER_VENV / "bin" / "placement-manage").exists():
            return
        log(f"installing openstack-placement into {PEER_VENV} ...")
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(PEER_VENV / "bin" / "pip"), "install", "-q", "openstack-placement",
                        "gunicorn"], check=True)

    def start(self) -> None:
        self.install()
        conf = self.dir / "placement.conf"
        conf.write_text(
            "[DEFAULT]\n[api]\nauth_strategy = noauth2\n[placement_database]\n"
            f"connection = sqlite:///{self.dir / 'placement.db'}\n")
        (self.dir / "bench_placement_app.py").write_text(_LOADER)
        env = dict(os.environ, OS_PLACEMENT_CONFIG_DIR=str(self.dir),
                   PYTHONPATH=str(self.dir))
        subprocess.run([str(PEER_VENV / "bin" / "placement-manage"), "--config-file",
                        str(conf), "db", "sync"], check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        logf = open(self.dir / "gunicorn.log", "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(PEER_VENV / "bin" / "gunicorn"), "-w", "1", "--bind",
             f"127.0.0.1:{self.port}", "--timeout", "300", "bench_placement_app:application"],
            stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=self.dir, env=env)
        self.base = f"http://127.0.0.1:{self.port}"
        wait_status(self.base + "/", {200}, 90, proc=self.proc)
        os.kill(self.proc.pid, signal.SIGTTIN)  # a 2nd worker, once the 1st has synced
        time.sleep(3)
        wait_status(self.base + "/", {200}, 30, proc=self.proc)
        self.headers = {"X-Auth-Token": "admin"}


# ---------------------------------------------------------------- measurement


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_point(target: Target, request: Callable[[httpx.Client, int], int], n: int,
              conc: int) -> dict[str, Any]:
    """n timed requests over conc threads (one keep-alive client each)."""
    lat: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    counter = iter(range(n))

    def worker() -> None:
        with httpx.Client(base_url=target.base, headers=target.headers, timeout=120) as c:
            request(c, -1)  # warm the connection
            while True:
                with lock:
                    i = next(counter, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                try:
                    status = request(c, i)
                except httpx.HTTPError:
                    status = -1
                dt = time.perf_counter() - t0
                with lock:
                    lat.append(dt)
                    statuses[status] = statuses.get(status, 0) + 1

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(conc)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    return {"n": len(lat), "conc": conc, "p50_ms": pct(lat, 0.5) * 1000,
            "p95_ms": pct(lat, 0.95) * 1000, "rps": len(lat) / wall if wall else 0.0,
            "statuses": {str(k): v for k, v in sorted(statuses.items())}}


def populate(target: Target, version: str, count: int, timed: int) -> tuple[list[str], dict]:
    hdr = {"OpenStack-API-Version": f"placement {version}"}
    uuids: list[str] = []
    lock = threading.Lock()

    def one(c: httpx.Client, i: int) -> int:
        if i < 0:
            return c.get("/", headers=hdr).status_code
        rp = str(uuid.uuid4())
        r = c.post("/resource_providers", headers=hdr,
                   json={"name": f"bench-{i:05d}-{rp[:8]}", "uuid": rp})
        if r.status_code not in (200, 201):
            return r.status_code
        r = c.put(f"/resource_providers/{rp}/inventories", headers=hdr,
                  json={"inventories": INVENTORY, "resource_provider_generation": 0})
        if r.status_code == 200:
            with lock:
                uuids.append(rp)
        return r.status_code

    pairs = run_point(target, one, timed, 1)
    run_point(target, one, count - timed, 4)
    return uuids, pairs


def bench(target: Target, version: str, args: argparse.Namespace) -> dict[str, Any]:
    hdr = {"OpenStack-API-Version": f"placement {version}"}
    out: dict[str, Any] = {"version": version}
    t0 = time.perf_counter()
    uuids, pairs = populate(target, version, args.providers, min(100, args.providers))
    out["populate_s"] = time.perf_counter() - t0
    out["create_pair"] = pairs
    log(f"{target.name}: {len(uuids)} providers in {out['populate_s']:.1f} s; "
        f"pair p50 {pairs['p50_ms']:.1f} ms")

    def cands(path: str) -> Callable[[httpx.Client, int], int]:
        def go(c: httpx.Client, _i: int) -> int:
            r = c.get(path, headers=hdr)
            return r.status_code
        return go

    with httpx.Client(base_url=target.base, headers=target.headers, timeout=120) as c:
        r = c.get(CANDIDATES, headers=hdr)
        r.raise_for_status()
        out["candidates_count"] = len(r.json()["allocation_requests"])
        out["candidates_bytes"] = len(r.content)
    n_c = args.cand_n
    for label, path in (("candidates", CANDIDATES), ("candidates_limit50",
                                                      CANDIDATES + "&limit=50")):
        for conc in (1, 4):
            point = run_point(target, cands(path), n_c if conc == 1 else 2 * n_c, conc)
            out[f"{label}_c{conc}"] = point
            log(f"{target.name}: {label} c={conc}: p50 {point['p50_ms']:.1f} ms, "
                f"{point['rps']:.1f} req/s {point['statuses']}")

    rng = random.Random(7)

    def claim_body() -> dict[str, Any]:
        body: dict[str, Any] = {
            "allocations": {rng.choice(uuids): {"resources": {"VCPU": 1, "MEMORY_MB": 256,
                                                              "DISK_GB": 1}}},
            "project_id": "bench", "user_id": "bench", "consumer_generation": None}
        if tuple(int(x) for x in version.split(".")) >= (1, 38):
            body["consumer_type"] = "INSTANCE"
        return body

    # candidates right after a claim (what a scheduler sees): nothing cached is current
    lat: list[float] = []
    statuses: dict[str, int] = {}
    with httpx.Client(base_url=target.base, headers=target.headers, timeout=120) as c:
        for _ in range(n_c):
            c.put(f"/allocations/{uuid.uuid4()}", headers=hdr, json=claim_body())
            t1 = time.perf_counter()
            r = c.get(CANDIDATES, headers=hdr)
            lat.append(time.perf_counter() - t1)
            statuses[str(r.status_code)] = statuses.get(str(r.status_code), 0) + 1
    point = {"n": len(lat), "conc": 1, "p50_ms": pct(lat, 0.5) * 1000,
             "p95_ms": pct(lat, 0.95) * 1000, "statuses": statuses}
    out["candidates_after_claim_c1"] = point
    log(f"{target.name}: candidates after a claim c=1: p50 {point['p50_ms']:.1f} ms "
        f"{point['statuses']}")

    def put(c: httpx.Client, i: int) -> int:
        if i < 0:
            return c.get("/", headers=hdr).status_code
        r = c.put(f"/allocations/{uuid.uuid4()}", headers=hdr, json=claim_body())
        return r.status_code

    for conc in (1, 4):
        point = run_point(target, put, args.put_n if conc == 1 else 2 * args.put_n, conc)
        point["errors"] = sum(v for k, v in point["statuses"].items() if k != "204")
        point["http_500"] = point["statuses"].get("500", 0)
        out[f"put_allocations_c{conc}"] = point
        log(f"{target.name}: PUT /allocations c={conc}: p50 {point['p50_ms']:.1f} ms, "
            f"{point['rps']:.1f} req/s {point['statuses']}")
    return out


def max_version(target: Target) -> str:
    r = httpx.get(target.base + "/", timeout=10)
    return str(r.json()["versions"][0]["max_version"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-peer", action="store_true", help="only Pocketstack")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    ap.add_argument("--providers", type=int, default=1000)
    args = ap.parse_args()
    args.cand_n = 10 if args.quick else 40
    args.put_n = 50 if args.quick else 200
    results: dict[str, Any] = {"providers": args.providers, "cpus": os.cpu_count()}
    work = Path(tempfile.mkdtemp(prefix="placement-bench-"))
    targets: list[Target] = [Pocketstack(work)]
    if not args.no_peer:
        targets.append(RealPlacement(work))
    try:
        for target in targets:
            target.start()  # type: ignore[attr-defined]
        version = min((max_version(t) for t in targets),
                      key=lambda s: tuple(int(x) for x in s.split(".")))
        log(f"microversion {version}")
        for target in targets:
            results[target.name] = bench(target, version, args)
            target.stop()
    finally:
        for target in targets:
            target.stop()
        shutil.rmtree(work, ignore_errors=True)
    if "placement" in results:
        ps, pl = results["pocketstack"], results["placement"]
        results["speedup"] = {
            key: round(pl[key]["p50_ms"] / ps[key]["p50_ms"], 1)
            for key in ("candidates_c1", "candidates_limit50_c1", "candidates_after_claim_c1",
                        "put_allocations_c1", "create_pair")}
        results["speedup"].update({
            f"{key}_rps": round(ps[key]["rps"] / pl[key]["rps"], 1)
            for key in ("candidates_c4", "put_allocations_c4")})
    text = json.dumps(results, indent=2, default=statistics.fmean)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 0


if __name__ == "__main__":
    with ThreadPoolExecutor(1):
        pass
    sys.exit(main())
