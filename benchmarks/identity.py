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

This file holds the options and the run (main); the targets are in identity_targets.py,
the measurements in identity_measure.py and the report in identity_report.py.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make `benchmarks` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.identity_measure import (  # noqa: E402
    bcrypt_cost,
    client_floor,
    load_phase,
    log,
)
from benchmarks.identity_report import evaluate, report  # noqa: E402
from benchmarks.identity_targets import REPO, start_keystone, start_pocketstack  # noqa: E402

PASSWORD = "pocketstack-bench-pw"


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
