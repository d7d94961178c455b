"""Cold start of `pocketstack up`: spawned -> `GET /identity` answers 300, fresh and restart.

Runs the real command as a user would (bytecode caching on, as a normal install has it — the
benchmark removes PYTHONDONTWRITEBYTECODE from the child's environment and warms the cache
with one throw-away start). A *fresh* start is a new state directory: migrations, keys,
bootstrap, the default image; a *restart* reuses it. The bcrypt hashes of the three bootstrap
passwords on a fresh start cost ~0.25 s at the default 12 rounds on this machine, so fresh
starts are measured at the default and at 4 rounds (the hash aside).

    python -m benchmarks.startup [--runs 7] [--aim-restart 1.0] [--aim-fresh 1.5]

Exits non-zero when a p50 misses its aim, so CI or a reviewer can use it as a guard.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._common import free_port, http_status_noredirect, stop_group

BIN = Path(sys.executable).parent / "pocketstack"


def start_once(state: Path, rounds: int | None = None, binary: Path = BIN,
               dataplane: bool = False) -> float:
    """``dataplane``: start with the Linux data plane (two hosts, namespace guests; the kernel
    objects carry the state directory's own prefix); else the model only."""
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("POCKETSTACK_")}
    if rounds is not None:
        env["POCKETSTACK_PASSWORD_HASH_ROUNDS"] = str(rounds)
    if not dataplane:
        env.update(POCKETSTACK_DATAPLANE="none", POCKETSTACK_COMPUTE_DRIVER="fake")
    else:
        env.update(POCKETSTACK_DATAPLANE="linux", POCKETSTACK_COMPUTE_DRIVER="namespace",
                   POCKETSTACK_COMPUTE_HOSTS="2")
    t0 = time.perf_counter()
    proc = subprocess.Popen([str(binary), "up", "--state-dir", str(state), "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/identity"
    try:
        while True:
            if http_status_noredirect(url, timeout=0.5) == 300:
                return time.perf_counter() - t0
            if proc.poll() is not None:
                raise RuntimeError(f"pocketstack up exited with {proc.returncode}")
            if time.perf_counter() - t0 > 60:
                raise RuntimeError("pocketstack up not ready in 60 s")
            time.sleep(0.002)
    finally:
        stop_group(proc)


def summary(name: str, values: list[float]) -> float:
    p50 = statistics.median(values)
    print(f"{name:<28} p50 {p50:.3f} s  min {min(values):.3f}  max {max(values):.3f}  "
          f"({len(values)} runs)")
    return p50


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--aim-restart", type=float, default=1.0)
    ap.add_argument("--aim-fresh", type=float, default=1.5)
    ap.add_argument("--bin", type=Path, default=BIN,
                    help="the pocketstack command to measure (another checkout's, to compare)")
    ap.add_argument("--dataplane", action="store_true",
                    help="start with the Linux data plane (two hosts' namespaces, DHCP, router)"
                    " and remove its kernel objects after each start (needs root)")
    a = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="ps-startup-"))

    def clean(state: Path) -> None:
        subprocess.run([str(a.bin), "clean", "--state-dir", str(state)],
                       capture_output=True, check=False)

    def once(state: Path, rounds: int | None = None, keep: bool = False) -> float:
        try:
            return start_once(state, rounds, a.bin, a.dataplane)
        finally:
            if a.dataplane and not keep:
                clean(state)

    try:
        once(root / "warm")  # caches bytecode, as an installed copy has
        fresh12, fresh4, restart = [], [], []
        for i in range(a.runs):
            # a restart finds its kernel objects in place (as after a real restart)
            fresh12.append(once(root / f"f12-{i}", keep=i == 0))
            fresh4.append(once(root / f"f4-{i}", rounds=4))
            restart.append(once(root / "f12-0", keep=True))
    finally:
        if a.dataplane:
            clean(root / "f12-0")
        shutil.rmtree(root, ignore_errors=True)
    mode = "with the Linux data plane, 2 hosts" if a.dataplane else "the model only"
    print(f"{a.bin} up ({mode}), spawned -> GET /identity (load {os.getloadavg()[0]:.2f})")
    f12 = summary("fresh (12 bcrypt rounds)", fresh12)
    f4 = summary("fresh (4 rounds: hash aside)", fresh4)
    r = summary("restart", restart)
    ok = r < a.aim_restart and f4 < a.aim_fresh
    print(f"aims: restart < {a.aim_restart} s, fresh (hash aside) < {a.aim_fresh} s: "
          f"{'met' if ok else 'MISSED'} (fresh at 12 rounds: {f12:.3f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
