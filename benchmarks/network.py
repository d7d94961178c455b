"""Network benchmark: port create/delete rates and listing 10,000 ports, on `pocketstack up`.

  * port create and delete, serial (c=1) and with 20 concurrent clients: p50/p95 and req/s;
  * fill to 10,000 ports (bulk creates of 200), then `GET /v2.0/ports` (every port, admin):
    the first list (no serialised view cached yet, response parsed too), then p50/p95 of ten
    more; and `GET /v2.0/ports?limit=50`: p50/p95.

    .venv/bin/python benchmarks/network.py [--json FILE] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from benchmarks._common import free_port, stop_group, wait_status  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "pocketstack-bench-pw"


def log(msg: str) -> None:
    print(f"[network-bench] {msg}", file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def run(quick: bool) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="netbench-"))
    port = free_port()
    env = dict(os.environ, POCKETSTACK_DATAPLANE="none", POCKETSTACK_COMPUTE_DRIVER="fake",
                   POCKETSTACK_PASSWORD_HASH_ROUNDS="4",
               POCKETSTACK_LOG_LEVEL="warning", POCKETSTACK_NETWORK_QUOTA_PORT="-1")
    proc = subprocess.Popen(
        [str(REPO / ".venv/bin/pocketstack"), "up", "--state-dir", str(work / "state"),
         "--port", str(port), "--admin-password", PASSWORD],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {}
    try:
        wait_status(url + "/identity", {300}, 60, proc)
        r = httpx.post(url + "/identity/v3/auth/tokens", json={"auth": {"identity": {
            "methods": ["password"], "password": {"user": {
                "name": "admin", "domain": {"name": "Default"}, "password": PASSWORD}}},
            "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}}}})
        token = r.headers["X-Subject-Token"]
        client = httpx.Client(base_url=url + "/networking/v2.0",
                              headers={"X-Auth-Token": token}, timeout=300)
        net = client.post("/networks", json={"network": {"name": "bench"}}).json()["network"]
        client.post("/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                                 "cidr": "10.128.0.0/16"}}).raise_for_status()
        body = {"port": {"network_id": net["id"]}}
        serial = 50 if quick else 200
        created: list[str] = []

        def create_one(c: httpx.Client = client) -> None:
            resp = c.post("/ports", json=body)
            assert resp.status_code == 201, resp.text
            created.append(resp.json()["port"]["id"])

        t0 = time.perf_counter()
        times = [timed(create_one) for _ in range(serial)]
        results["create_c1"] = {"p50_ms": statistics.median(times), "p95_ms": pct(times, .95),
                                "req_s": serial / (time.perf_counter() - t0)}
        t0 = time.perf_counter()
        times = [timed(lambda i=i: client.delete(f"/ports/{i}").raise_for_status())
                 for i in list(created)]
        results["delete_c1"] = {"p50_ms": statistics.median(times), "p95_ms": pct(times, .95),
                                "req_s": serial / (time.perf_counter() - t0)}
        created.clear()
        clients = [httpx.Client(base_url=url + "/networking/v2.0",
                                headers={"X-Auth-Token": token}, timeout=300)
                   for _ in range(20)]
        conc = 100 if quick else 400
        t0 = time.perf_counter()
        with ThreadPoolExecutor(20) as pool:
            times = list(pool.map(lambda i: timed(lambda: create_one(clients[i % 20])),
                                  range(conc)))
        results["create_c20"] = {"p50_ms": statistics.median(times), "p95_ms": pct(times, .95),
                                 "req_s": conc / (time.perf_counter() - t0)}
        t0 = time.perf_counter()
        ids = list(created)
        with ThreadPoolExecutor(20) as pool:
            times = list(pool.map(lambda i: timed(
                lambda: clients[i % 20].delete(f"/ports/{ids[i]}").raise_for_status()),
                range(len(ids))))
        results["delete_c20"] = {"p50_ms": statistics.median(times), "p95_ms": pct(times, .95),
                                 "req_s": len(ids) / (time.perf_counter() - t0)}
        target = 1000 if quick else 10000
        log(f"filling to {target} ports")
        t0 = time.perf_counter()
        total = 0
        while total < target:
            n = min(200, target - total)
            resp = client.post("/ports", json={"ports": [{"network_id": net["id"]}] * n})
            assert resp.status_code == 201, resp.text
            total += n
        results["fill_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        listed = client.get("/ports").json()["ports"]
        results["list_all_first_ms"] = (time.perf_counter() - t0) * 1000  # views not cached
        results["ports_listed"] = len(listed)
        times = [timed(lambda: client.get("/ports").raise_for_status()) for _ in range(10)]
        results["list_all"] = {"p50_ms": statistics.median(times), "p95_ms": pct(times, .95)}
        times = [timed(lambda: client.get("/ports", params={"limit": 50}).raise_for_status())
                 for _ in range(20)]
        results["list_limit50"] = {"p50_ms": statistics.median(times),
                                   "p95_ms": pct(times, .95)}
        with open("/proc/loadavg") as fh:
            results["loadavg"] = fh.read().split()[:3]
    finally:
        stop_group(proc)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--json")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    results = run(args.quick)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text)


if __name__ == "__main__":
    main()
