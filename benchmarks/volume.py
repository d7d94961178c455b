"""Block storage benchmark: create-from-image throughput against ``qemu-img convert`` of the
same file, and blank volume create→available latency, serial and concurrent.

Starts its own `pocketstack up` on a fresh temporary state dir and a free loopback port, then:

  * writes a semi-random raw image of SIZE (1 GiB by default: 1 random MiB in every 2, the rest
    zeros) in the temp dir, uploads it with the image API, and times ``POST /v3/volumes``
    with ``imageRef`` until the volume is ``available`` (MB/s of the image's size); in the same
    run, times ``qemu-img convert -f raw -O raw`` of the same file onto the same filesystem
    (the copy the storage agent itself makes) and prints the ratio; each copy starts after
    an ``os.sync()``, so none pays for writing back another's freshly written file;
  * creates COUNT blank 1 GiB volumes one after another, then in waves of CONCURRENCY (20)
    threads, each timed from the POST to the first GET that shows ``available``
    (serial: polling every 2 ms; concurrent: every 50 ms), and prints p50/p95/max, with the
    server's own ``updated_at - created_at`` of each volume (no polling error).

Every loop is bounded; the cloud is stopped at the end.
    .venv/bin/python benchmarks/volume.py [--size-mib 1024] [--count 60] [--concurrency 20]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from benchmarks._common import free_port, stop_group, wait_status  # noqa: E402

BIN = Path(sys.executable).parent
MiB = 1 << 20
V = "/volume/v3"


def token(url: str, user: str, password: str, project: str) -> tuple[str, str]:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"name": "Default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}}
    r = httpx.post(url + "/identity/v3/auth/tokens", json=body, timeout=30)
    r.raise_for_status()
    return r.headers["X-Subject-Token"], r.json()["token"]["project"]["id"]


def make_image(path: Path, size: int) -> None:
    rnd = os.urandom(MiB)
    zero = bytes(MiB)
    with path.open("wb") as f:
        for i in range(size // MiB):
            # vary the random block so nothing dedups/compresses trivially
            f.write(rnd[i % 251:] + rnd[:i % 251] if i % 2 == 0 else zero)


def wait_available(c: httpx.Client, vid: str, timeout: float, poll: float) -> float:
    return wait_body(c, vid, timeout, poll)[0]


def wait_body(c: httpx.Client, vid: str, timeout: float,
              poll: float) -> tuple[float, dict[str, Any]]:
    end = time.perf_counter() + timeout
    while True:
        body = c.get(f"{V}/volumes/{vid}").json()["volume"]
        st = body["status"]
        if st == "available":
            return time.perf_counter(), body
        if st.startswith("error") or time.perf_counter() > end:
            raise RuntimeError(f"volume {vid} is {st}")
        time.sleep(poll)


def from_image(c: httpx.Client, image_id: str, size_gb: int) -> tuple[float, str]:
    os.sync()  # see qemu_convert
    t0 = time.perf_counter()
    r = c.post(f"{V}/volumes", json={"volume": {"size": size_gb, "imageRef": image_id}})
    assert r.status_code == 202, r.text
    vid = r.json()["volume"]["id"]
    return wait_available(c, vid, 600, 0.01) - t0, vid


def qemu_convert(src: Path, dst: Path) -> float:
    # Every timed copy starts with nothing dirty in the page cache: the image (1 GiB) and the
    # image store's copy of it were just written, and a copy with O_DIRECT (-T none) first
    # waits for the writeback of its source's dirty pages. Without this the first qemu-img
    # run and the volume each paid a writeback the second qemu-img run did not (a ratio of
    # 0.5-0.8 for the same copy that measures ~1 once clean).
    os.sync()
    t0 = time.perf_counter()
    cmd = ["qemu-img", "convert", "-f", "raw", "-O", "raw", "-t", "none", "-T", "none",
           str(src), str(dst)]
    if subprocess.run(cmd, capture_output=True, check=False).returncode != 0:
        subprocess.run(cmd[:6] + cmd[10:], check=True)
    elapsed = time.perf_counter() - t0
    dst.unlink()
    return elapsed


def blank(c: httpx.Client, poll: float = 0.002) -> tuple[float, str, float]:
    """Client-observed seconds, the id, and the server's own created_at→updated_at."""
    t0 = time.perf_counter()
    r = c.post(f"{V}/volumes", json={"volume": {"size": 1}})
    assert r.status_code == 202, r.text
    vid = r.json()["volume"]["id"]
    t1, body = wait_body(c, vid, 60, poll)
    fmt = "%Y-%m-%dT%H:%M:%S.%f"
    server = (dt.datetime.strptime(body["updated_at"], fmt)
              - dt.datetime.strptime(body["created_at"], fmt)).total_seconds()
    return t1 - t0, vid, server


def stats(samples: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples)
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1),
            "p95_ms": round(ms[max(0, int(len(ms) * 0.95) - 1)], 1), "max_ms": round(ms[-1], 1)}


def delete_all(c: httpx.Client, ids: list[str]) -> None:
    for vid in ids:
        c.delete(f"{V}/volumes/{vid}")
    end = time.monotonic() + 120
    while ids and time.monotonic() < end:
        ids = [v for v in ids if c.get(f"{V}/volumes/{v}").status_code != 404]
        time.sleep(0.1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--count", type=int, default=60)
    p.add_argument("--concurrency", type=int, default=20)
    p.add_argument("--json", help="write the results here too")
    args = p.parse_args()
    results: dict[str, Any] = {"when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                               "cpus": os.cpu_count(), "load": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="pocketstack-volume-bench-") as tmp:
        state = Path(tmp) / "state"
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = dict(os.environ, POCKETSTACK_DATAPLANE="none", POCKETSTACK_COMPUTE_DRIVER="fake",
                   POCKETSTACK_PASSWORD_HASH_ROUNDS="4", POCKETSTACK_LOG_LEVEL="warning")
        log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [str(BIN / "pocketstack"), "up", "--state-dir", str(state), "--port", str(port),
             "--admin-password", "bench-admin"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            wait_status(url + "/volume", {300}, 90, proc)
            admin_tok, _ = token(url, "admin", "bench-admin", "admin")
            demo_pw = json.loads((state / "credentials.json").read_text())["passwords"]["demo"]
            tok, project = token(url, "demo", demo_pw, "demo")
            httpx.put(f"{url}{V}/os-quota-sets/{project}", headers={"X-Auth-Token": admin_tok},
                      json={"quota_set": {"volumes": -1, "gigabytes": -1,
                                          "per_volume_gigabytes": -1}}).raise_for_status()
            limits = httpx.Limits(max_connections=args.concurrency + 4)
            with httpx.Client(base_url=url, headers={"X-Auth-Token": tok}, timeout=120,
                              limits=limits) as c:
                size = args.size_mib * MiB
                image = Path(tmp) / "image.raw"
                make_image(image, size)
                img = c.post("/image/v2/images", json={
                    "name": "bench-volume", "disk_format": "raw",
                    "container_format": "bare"}).json()
                with image.open("rb") as f:
                    r = c.put(f"/image/v2/images/{img['id']}/file", content=f,
                              headers={"Content-Type": "application/octet-stream"},
                              timeout=600)
                assert r.status_code == 204, r.text
                gb = max(1, -(-size // (1 << 30)))
                qemu = qemu_convert(image, Path(tmp) / "convert.raw")
                vol_s, vid = from_image(c, img["id"], gb)
                qemu2 = qemu_convert(image, Path(tmp) / "convert.raw")
                best_qemu = min(qemu, qemu2)
                mb = size / MiB
                results["from_image"] = {
                    "image_MiB": args.size_mib, "volume_s": round(vol_s, 2),
                    "volume_MBps": round(mb / vol_s, 1), "qemu_img_s": round(best_qemu, 2),
                    "qemu_img_MBps": round(mb / best_qemu, 1),
                    "ratio": round(best_qemu / vol_s, 2)}
                print("create from image:", results["from_image"], flush=True)
                delete_all(c, [vid])

                blank(c)  # warm-up
                serial = [blank(c) for _ in range(args.count)]
                results["blank_serial"] = stats([s for s, _, _ in serial])
                results["blank_serial_server"] = stats([s for _, _, s in serial])
                print("blank serial:", results["blank_serial"], "server-side:",
                      results["blank_serial_server"], flush=True)
                delete_all(c, [v for _, v, _ in serial])
                # 20 clients polling every 2 ms flood a 2-core server with GETs; each client
                # polls every 50 ms instead and the server-side figure is the precise one
                conc: list[tuple[float, str, float]] = []
                with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
                    for _ in range(max(1, args.count // args.concurrency)):
                        conc += list(pool.map(lambda _: blank(c, 0.05), range(args.concurrency)))
                key = f"blank_concurrent_{args.concurrency}"
                results[key] = stats([s for s, _, _ in conc])
                results[key + "_server"] = stats([s for _, _, s in conc])
                print(f"blank {args.concurrency} concurrent:", results[key], "server-side:",
                      results[key + "_server"], flush=True)
                delete_all(c, [v for _, v, _ in conc])
        finally:
            stop_group(proc)
            log.close()
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
