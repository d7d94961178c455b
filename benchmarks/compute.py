"""Compute through the public API with the fake driver: boot latency and boot+delete cycles.

Starts ``pocketstack up`` (fake hosts sized so capacity never runs out, quota raised), then:

* create → ACTIVE latency, one at a time (p50/p95), polled every 2 ms so the figure is not
  quantized by the poll (a poll costs the server ~1 ms: at one client that is noise), without
  a port and with one (``networks: auto``: the port allocated and bound in the build);
* N concurrent boot+delete cycles (each: POST /servers, poll until ACTIVE, DELETE, poll until
  gone) at a given concurrency — cycles/s and boot/delete p50, to set beside OpenStack's
  published Rally figure (1000 fake hosts, concurrency 50: ~5.4 cycles/s, boot p50 6.2 s),
  polled every 20 ms per server (``--poll``), with the server's CPU time per cycle (the
  ``pocketstack up`` process tree, from /proc: clients' polls included);
* ``GET /servers/detail`` latency with many servers (rows inserted through the domain layer).

    python benchmarks/compute.py --cycles 100 --concurrency 50 --list-servers 10000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_delta_seconds, free_port, tree_cpu_sample  # noqa: E402

V21 = "/compute/v2.1"
MV = {"OpenStack-API-Version": "compute 2.96"}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def start(state: Path, hosts: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(os.environ, POCKETSTACK_DATAPLANE="none", POCKETSTACK_COMPUTE_DRIVER="fake",
                   POCKETSTACK_PASSWORD_HASH_ROUNDS="4", POCKETSTACK_LOG_LEVEL="warning",
               POCKETSTACK_COMPUTE_HOSTS=str(hosts), POCKETSTACK_FAKE_MEMORY_MB="1048576",
               POCKETSTACK_FAKE_VCPUS="1024", POCKETSTACK_FAKE_DISK_GB="100000")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "pocketstack"), "up",
                             "--state-dir", str(state), "--port", str(port),
                             "--admin-password", "bench"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/identity", timeout=1).status_code == 300:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("pocketstack up did not start")


def admin_token(url: str) -> tuple[str, str]:
    r = httpx.post(url + "/identity/v3/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {"name": "admin", "domain": {
            "id": "default"}, "password": "bench"}}}, "scope": {"project": {
                "name": "admin", "domain": {"id": "default"}}}}})
    return r.headers["X-Subject-Token"], r.json()["token"]["project"]["id"]


POLL = 0.02  # seconds between status polls in the concurrent phase (Rally: 1 s)
LATENCY_POLL = 0.002  # one client: fine enough not to quantize a ~10 ms boot
POLLS = [0]  # status GETs sent (to take their CPU out of the per-cycle figure)


async def until(client: httpx.AsyncClient, server_id: str, gone: bool = False,
                poll: float | None = None) -> None:
    while True:
        POLLS[0] += 1
        r = await client.get(f"{V21}/servers/{server_id}", headers=MV)
        if gone and r.status_code == 404:
            return
        if not gone:
            status = r.json()["server"]["status"]
            if status == "ACTIVE":
                return
            if status == "ERROR":
                raise RuntimeError(r.json()["server"].get("fault"))
        await asyncio.sleep(POLL if poll is None else poll)


async def cycle(client: httpx.AsyncClient, image: str, n: int,
                poll: float | None = None, networks: Any = "none") -> tuple[float, float]:
    t0 = time.perf_counter()
    r = await client.post(f"{V21}/servers", headers=MV, json={"server": {
        "name": f"bench-{n}", "imageRef": image, "flavorRef": "1", "networks": networks}})
    server_id = r.json()["server"]["id"]
    await until(client, server_id, poll=poll)
    t1 = time.perf_counter()
    await client.delete(f"{V21}/servers/{server_id}")
    await until(client, server_id, gone=True, poll=poll)
    return t1 - t0, time.perf_counter() - t1


async def run_cycles(url: str, token: str, image: str, count: int,
                     concurrency: int, poll: float | None = None,
                     networks: Any = "none") -> dict[str, float]:
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"X-Auth-Token": token},
                                 limits=limits, timeout=120) as client:
        sem = asyncio.Semaphore(concurrency)

        async def one(n: int) -> tuple[float, float]:
            async with sem:
                return await cycle(client, image, n, poll, networks)

        t0 = time.perf_counter()
        results = await asyncio.gather(*(one(n) for n in range(count)))
        wall = time.perf_counter() - t0
    boots = [b for b, _ in results]
    deletes = [d for _, d in results]
    return {"cycles_per_s": count / wall, "boot_p50": statistics.median(boots),
            "boot_p95": pct(boots, 0.95), "delete_p50": statistics.median(deletes),
            "wall_s": wall}


def get_cost(url: str, token: str, image: str, pid: int, count: int = 300) -> float:
    """Server CPU seconds of one ``GET /servers/{id}`` (what a status poll costs)."""
    with httpx.Client(base_url=url, headers={"X-Auth-Token": token, **MV}, timeout=60) as c:
        server = c.post(f"{V21}/servers", json={"server": {
            "name": "probe", "imageRef": image, "flavorRef": "1", "networks": "none"}}
        ).json()["server"]["id"]
        before = tree_cpu_sample(pid)
        for _ in range(count):
            c.get(f"{V21}/servers/{server}")
        cost = cpu_delta_seconds(before, tree_cpu_sample(pid)) / count
        c.delete(f"{V21}/servers/{server}")
    return cost


def list_bench(url: str, token: str, state: Path, count: int) -> dict[str, float]:
    """Insert ``count`` ACTIVE servers via the domain layer, then time GET /servers/detail."""
    from pocketstack.common.db import Database
    from pocketstack.compute.domain import instances

    db = Database(f"sqlite:///{state / 'pocketstack.db'}")
    _, project = admin_token(url)
    base = {"display_name": "listed", "description": None, "project_id": project,
            "user_id": "bench", "image_ref": None,
            "flavor": {"id": "1", "name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1,
                       "ephemeral": 0, "swap": 0, "extra_specs": {}},
            "requested_az": None, "key_name": None, "key_data": None, "user_data": None,
            "metadata": {}, "tags": [], "locked": False, "config_drive": "",
            "access_ip_v4": None, "access_ip_v6": None, "disk_config": "MANUAL",
            "security_groups": [], "networks": [], "addresses": {}, "block_devices": [],
            "scheduler_hints": {}, "server_group": None, "admin_pass": None, "progress": 0}
    for offset in range(0, count, 1000):
        batch = min(1000, count - offset)
        db.write(lambda conn, n=batch: instances.create(conn, base, n, 300))
    db.dispose()
    out: dict[str, float] = {}
    with httpx.Client(base_url=url, headers={"X-Auth-Token": token, **MV}, timeout=300) as c:
        for label, params in (("detail_limit_1000", {"limit": "1000"}),
                              ("detail_all", {}), ("index_all", None)):
            times = []
            for _ in range(3 if label != "detail_limit_1000" else 10):
                t0 = time.perf_counter()
                path = f"{V21}/servers" if params is None else f"{V21}/servers/detail"
                r = c.get(path, params=params or {})
                times.append(time.perf_counter() - t0)
                assert r.status_code == 200
            out[label + "_p50_ms"] = statistics.median(times) * 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--latency-boots", type=int, default=30)
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--list-servers", type=int, default=10000)
    parser.add_argument("--poll", type=float, default=POLL)
    args = parser.parse_args()
    globals()["POLL"] = args.poll
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        proc, url = start(state, args.hosts)
        try:
            token, project = admin_token(url)
            with httpx.Client(base_url=url, headers={"X-Auth-Token": token}) as c:
                c.put(f"{V21}/os-quota-sets/{project}", json={"quota_set": {
                    "instances": -1, "cores": -1, "ram": -1}})
                image = c.get("/image/v2/images").json()["images"][0]["id"]
            time.sleep(1.2)  # let the agents' first heartbeats register the hosts
            lat = asyncio.run(run_cycles(url, token, image, args.latency_boots, 1,
                                         LATENCY_POLL))
            print(f"create->ACTIVE, one at a time ({args.latency_boots}, polled every "
                  f"{LATENCY_POLL * 1000:.0f} ms): "
                  f"p50 {lat['boot_p50'] * 1000:.0f} ms, p95 {lat['boot_p95'] * 1000:.0f} ms; "
                  f"delete p50 {lat['delete_p50'] * 1000:.0f} ms", flush=True)
            # the same with one port (networks "auto": devstack's `shared` network here)
            port = asyncio.run(run_cycles(url, token, image, args.latency_boots, 1,
                                          LATENCY_POLL, networks="auto"))
            print(f"create->ACTIVE with one port, one at a time: p50 "
                  f"{port['boot_p50'] * 1000:.0f} ms, p95 {port['boot_p95'] * 1000:.0f} ms "
                  f"({(port['boot_p50'] - lat['boot_p50']) * 1000:+.0f} ms against no port); "
                  f"delete p50 {port['delete_p50'] * 1000:.0f} ms", flush=True)
            before = tree_cpu_sample(proc.pid)
            POLLS[0] = 0
            res = asyncio.run(run_cycles(url, token, image, args.cycles, args.concurrency))
            cpu = cpu_delta_seconds(before, tree_cpu_sample(proc.pid))
            polls = POLLS[0]
            per_get = get_cost(url, token, image, proc.pid)
            net = (cpu - polls * per_get) / args.cycles
            print(f"{args.cycles} boot+delete cycles at concurrency {args.concurrency}: "
                  f"{res['cycles_per_s']:.1f} cycles/s (Rally/Nova fake: ~5.4, ratio "
                  f"{res['cycles_per_s'] / 5.4:.1f}x); boot p50 {res['boot_p50']:.2f} s, "
                  f"p95 {res['boot_p95']:.2f} s; delete p50 {res['delete_p50']:.2f} s; "
                  f"server CPU {cpu / args.cycles * 1000:.1f} ms per cycle with its "
                  f"{polls / args.cycles:.1f} polls (every {POLL * 1000:.0f} ms), "
                  f"{net * 1000:.1f} ms net of them (a poll: {per_get * 1000:.2f} ms)",
                  flush=True)
            if args.list_servers:
                listed: Any = list_bench(url, token, state, args.list_servers)
                print(f"servers list with {args.list_servers} servers: " + ", ".join(
                    f"{k} {v:.0f}" for k, v in listed.items()), flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
