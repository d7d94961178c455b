"""Image benchmark: upload/download throughput of a large image with the server's peak RSS, and
list latency with 10,000 images.

Starts its own `pocketstack up` on a fresh temporary state dir and a free loopback port, then:

  * uploads a "sparse-ish" raw image (1 random MiB in every 8, the rest zeros) of 128 MiB and of
    SIZE (1 GiB by default) with `PUT /v2/images/{id}/file`, streamed from a generator (the
    client never holds it either), and downloads it back (full, then a 64 MiB range);
    for each phase: MB/s, the server's max sampled RSS during the phase, and its VmHWM;
  * registers COUNT (10,000) image rows through the domain layer (bulk insert into the cloud's
    database, with tags and a property each) and times `GET /v2/images` with the default page,
    `limit=1000`, filters (name, tag, property, status+sort), a marker in the middle, a walk of
    every page through `next`, and the stock `openstack image list` (which pages through all).

Every loop is bounded.   .venv/bin/python benchmarks/image.py [--size-mib 1024] [--count 10000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from benchmarks._common import (  # noqa: E402
    free_port,
    stop_group,
    tree_cpu_seconds,
    wait_status,
)

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MiB = 1 << 20


def _proc_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class RssSampler:
    """Samples the server's VmRSS every 10 ms while a phase runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _proc_kib(self.pid, "VmRSS"))
            time.sleep(0.01)

    def __enter__(self) -> RssSampler:
        self.peak = _proc_kib(self.pid, "VmRSS")
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def sparse_chunks(total: int, chunk: int = MiB) -> Iterator[bytes]:
    rnd = os.urandom(chunk)
    zero = bytes(chunk)
    sent = 0
    i = 0
    while sent < total:
        n = min(chunk, total - sent)
        block = rnd if i % 8 == 0 else zero
        yield block if n == chunk else block[:n]
        sent += n
        i += 1


def token(url: str, user: str, password: str, project: str) -> tuple[str, str]:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}}
    r = httpx.post(url + "/identity/v3/auth/tokens", json=body, timeout=30)
    r.raise_for_status()
    return r.headers["X-Subject-Token"], r.json()["token"]["project"]["id"]


def phase_upload(c: httpx.Client, pid: int, size: int) -> dict[str, Any]:
    image = c.post("/image/v2/images", json={"name": f"bench-{size // MiB}M",
                                             "disk_format": "raw",
                                             "container_format": "bare"}).json()
    cpu0 = tree_cpu_seconds(pid)
    with RssSampler(pid) as rss:
        t0 = time.perf_counter()
        r = c.put(f"/image/v2/images/{image['id']}/file", content=sparse_chunks(size),
                  headers={"Content-Type": "application/octet-stream",
                           "Content-Length": str(size)}, timeout=600)
        elapsed = time.perf_counter() - t0
    assert r.status_code == 204, r.text
    shown = c.get(f"/image/v2/images/{image['id']}").json()
    assert shown["status"] == "active" and shown["size"] == size
    return {"image_id": image["id"], "bytes": size, "seconds": round(elapsed, 2),
            "server_cpu_s": round(tree_cpu_seconds(pid) - cpu0, 2),
            "MB_s": round(size / MiB / elapsed, 1), "server_rss_peak_MiB": round(rss.peak / 1024),
            "server_hwm_MiB": round(_proc_kib(pid, "VmHWM") / 1024)}


def phase_download(c: httpx.Client, pid: int, image_id: str, size: int,
                   range_bytes: int | None = None) -> dict[str, Any]:
    headers = {"Range": f"bytes=0-{range_bytes - 1}"} if range_bytes else {}
    got = 0
    cpu0 = tree_cpu_seconds(pid)
    with RssSampler(pid) as rss:
        t0 = time.perf_counter()
        with c.stream("GET", f"/image/v2/images/{image_id}/file", headers=headers,
                      timeout=600) as r:
            assert r.status_code == (206 if range_bytes else 200), r.status_code
            for block in r.iter_raw(MiB):
                got += len(block)
        elapsed = time.perf_counter() - t0
    want = range_bytes or size
    assert got == want, (got, want)
    return {"bytes": got, "seconds": round(elapsed, 2), "MB_s": round(got / MiB / elapsed, 1),
            "server_cpu_s": round(tree_cpu_seconds(pid) - cpu0, 2),
            "server_rss_peak_MiB": round(rss.peak / 1024),
            "server_hwm_MiB": round(_proc_kib(pid, "VmHWM") / 1024)}


def seed_images(state: Path, owner: str, count: int) -> float:
    """Insert ``count`` queued images (with a tag and a property each) through the DB layer."""
    import sqlalchemy as sa

    from pocketstack.common.db import Database
    from pocketstack.image import tables as t

    db = Database(f"sqlite:///{state / 'pocketstack.db'}")
    t0 = time.perf_counter()
    base = dt.datetime(2025, 1, 1)
    batch = 1000
    try:
        for start in range(0, count, batch):
            rows, tags, props = [], [], []
            for i in range(start, min(count, start + batch)):
                image_id = str(uuid.uuid4())
                when = base + dt.timedelta(seconds=i)
                rows.append({
                    "id": image_id, "name": f"seed-{i:05d}", "status": "active",
                    "visibility": ("private", "shared", "public")[i % 3], "protected": False,
                    "os_hidden": False, "disk_format": "qcow2", "container_format": "bare",
                    "size": 1000 + i, "virtual_size": 1 << 30, "checksum": None,
                    "os_hash_algo": None, "os_hash_value": None, "owner": owner,
                    "min_disk": 0, "min_ram": 0, "created_at": when, "updated_at": when,
                    "location": None, "upload_id": None, "staged": None, "generation": 0})
                tags.append({"image_id": image_id, "value": f"group-{i % 100}"})
                props.append({"image_id": image_id, "name": "os_distro",
                              "value": ("cirros", "debian", "ubuntu")[i % 3]})

            def write(conn: Any, rows: list = rows, tags: list = tags, props: list = props
                      ) -> None:
                conn.execute(sa.insert(t.images), rows)
                conn.execute(sa.insert(t.tags), tags)
                conn.execute(sa.insert(t.properties), props)

            db.write(write)
    finally:
        db.dispose()
    return time.perf_counter() - t0


def timed(c: httpx.Client, path: str, n: int) -> dict[str, Any]:
    samples = []
    count = 0
    for _ in range(n):
        t0 = time.perf_counter()
        r = c.get(path)
        samples.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, r.text
        count = len(r.json()["images"])
    samples.sort()
    return {"path": path, "n": n, "images": count,
            "p50_ms": round(statistics.median(samples), 2),
            "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 2)}


def walk(c: httpx.Client, limit: int) -> dict[str, Any]:
    t0 = time.perf_counter()
    url: str | None = f"/v2/images?limit={limit}"
    pages = total = 0
    while url and pages < 1000:
        body = c.get("/image" + url).json()
        total += len(body["images"])
        pages += 1
        url = body.get("next")
    return {"limit": limit, "pages": pages, "images": total,
            "seconds": round(time.perf_counter() - t0, 2)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--count", type=int, default=10000)
    p.add_argument("--json", help="write the results here too")
    p.add_argument("--skip-cli", action="store_true")
    args = p.parse_args()

    results: dict[str, Any] = {"when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="pocketstack-image-bench-") as tmp:
        state = Path(tmp) / "state"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, POCKETSTACK_DATAPLANE="none", POCKETSTACK_COMPUTE_DRIVER="fake",
                   POCKETSTACK_PASSWORD_HASH_ROUNDS="4",
                   POCKETSTACK_LOG_LEVEL="warning")
        log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [str(BIN / "pocketstack"), "up", "--state-dir", str(state), "--port", str(port),
             "--admin-password", "bench-admin"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            results["startup_s"] = round(wait_status(url + "/image", {300}, 60, proc), 2)
            pid = proc.pid
            results["server_rss_idle_MiB"] = round(_proc_kib(pid, "VmRSS") / 1024)
            demo_pw = json.loads((state / "credentials.json").read_text())["passwords"]["demo"]
            tok, project = token(url, "demo", demo_pw, "demo")
            with httpx.Client(base_url=url, headers={"X-Auth-Token": tok}, timeout=60) as c:
                small = phase_upload(c, pid, 128 * MiB)
                print("upload 128 MiB:", small, flush=True)
                big = phase_upload(c, pid, args.size_mib * MiB)
                print(f"upload {args.size_mib} MiB:", big, flush=True)
                down = phase_download(c, pid, big["image_id"], big["bytes"])
                print(f"download {args.size_mib} MiB:", down, flush=True)
                ranged = phase_download(c, pid, big["image_id"], big["bytes"], 64 * MiB)
                print("download 64 MiB range:", ranged, flush=True)
                results["upload_128MiB"] = small
                results[f"upload_{args.size_mib}MiB"] = big
                results[f"download_{args.size_mib}MiB"] = down
                results["download_range_64MiB"] = ranged

                results["seed_seconds"] = round(seed_images(state, project, args.count), 2)
                print(f"seeded {args.count} images in {results['seed_seconds']} s", flush=True)
                lists = [
                    timed(c, "/image/v2/images", 50),
                    timed(c, "/image/v2/images?limit=1000", 10),
                    timed(c, "/image/v2/images?name=seed-05000", 50),
                    timed(c, "/image/v2/images?tag=group-7", 50),
                    timed(c, "/image/v2/images?os_distro=debian&limit=100", 20),
                    timed(c, "/image/v2/images?status=active&sort=name:asc&limit=100", 20),
                    timed(c, "/image/v2/images?visibility=public&sort=size:desc", 50),
                ]
                mid = c.get("/image/v2/images?name=seed-05000").json()["images"][0]["id"]
                lists.append(timed(c, f"/image/v2/images?marker={mid}", 50))
                for row in lists:
                    print("list:", row, flush=True)
                results["list"] = lists
                results["walk_1000"] = walk(c, 1000)
                results["walk_25"] = walk(c, 25)
                print("walk:", results["walk_1000"], results["walk_25"], flush=True)
            if not args.skip_cli:
                cli_env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(state / "clouds.yaml"))
                t0 = time.perf_counter()
                out = subprocess.run([str(BIN / "openstack"), "--os-cloud", "pocketstack",
                                      "image", "list", "-f", "value", "-c", "ID"],
                                     capture_output=True, text=True, env=cli_env, timeout=600)
                results["cli_image_list"] = {
                    "seconds": round(time.perf_counter() - t0, 2),
                    "images": len(out.stdout.split()), "rc": out.returncode}
                print("openstack image list:", results["cli_image_list"], flush=True)
            results["server_hwm_final_MiB"] = round(_proc_kib(pid, "VmHWM") / 1024)
        finally:
            stop_group(proc)
            log.close()
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
