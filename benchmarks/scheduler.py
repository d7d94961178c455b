"""One scheduling decision (select + claim) with N compute hosts.

Builds a scratch SQLite database with N compute nodes (services up, placement providers with
VCPU/MEMORY_MB/DISK_GB inventory and some usage), then times ``Scheduler.schedule`` for an
m1.small-sized request, releasing each claim so every decision sees the same state.

    python benchmarks/scheduler.py --hosts 1000 10000 --repeat 30
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from pocketstack.common import migrate
from pocketstack.common.db import Database
from pocketstack.compute.domain import nodes, services
from pocketstack.compute.scheduler.model import RequestSpec
from pocketstack.compute.scheduler.scheduler import Scheduler
from pocketstack.config import load_settings
from pocketstack.placement.client import PlacementClient


def build(db: Database, placement: PlacementClient, hosts: int) -> None:
    def write(conn):  # type: ignore[no-untyped-def]
        for i in range(hosts):
            host = f"c{i:05d}"
            services.record_heartbeat(conn, host, "nova-compute")
            nodes.upsert(
                conn,
                host,
                {
                    "hypervisor_hostname": host,
                    "vcpus": 32,
                    "memory_mb": 131072,
                    "local_gb": 2000,
                    "uuid": str(uuid.uuid4()),
                },
            )

    db.write(write)
    for node in db.read(nodes.list_):
        placement.ensure_provider(node["uuid"], node["hypervisor_hostname"])
        placement.set_inventory(
            node["uuid"],
            {
                "VCPU": {
                    "total": 32,
                    "allocation_ratio": 16.0,
                    "reserved": 0,
                    "min_unit": 1,
                    "max_unit": 32,
                    "step_size": 1,
                },
                "MEMORY_MB": {
                    "total": 131072,
                    "allocation_ratio": 1.5,
                    "reserved": 0,
                    "min_unit": 1,
                    "max_unit": 131072,
                    "step_size": 1,
                },
                "DISK_GB": {
                    "total": 2000,
                    "allocation_ratio": 1.0,
                    "reserved": 0,
                    "min_unit": 1,
                    "max_unit": 2000,
                    "step_size": 1,
                },
            },
        )


def beat(db: Database, hosts: int) -> float:
    """Every host heartbeats now, as live agents do; returns when (monotonic)."""

    def write(conn):  # type: ignore[no-untyped-def]
        for i in range(hosts):
            services.record_heartbeat(conn, f"c{i:05d}", "nova-compute")

    db.write(write)
    return time.monotonic()


def measure(hosts: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'sched.db'}")
        migrate.upgrade(db)
        placement = PlacementClient(db)
        t0 = time.perf_counter()
        build(db, placement, hosts)
        setup = time.perf_counter() - t0
        settings = load_settings(environ={})
        scheduler = Scheduler(db, placement, settings)
        # Building 10,000 hosts can take longer than the heartbeat timeout on a slow machine:
        # the hosts heartbeat again before (and, untimed, during) the measurement, as live
        # agents would, so the figure never depends on how fast the setup ran.
        last_beat = beat(db, hosts)
        times = []
        for _ in range(repeat):
            if time.monotonic() - last_beat > settings.service_down_time / 2:
                last_beat = beat(db, hosts)
            consumer = str(uuid.uuid4())
            spec = RequestSpec(
                instance_uuid=consumer,
                project_id="p",
                user_id="u",
                vcpus=1,
                memory_mb=2048,
                root_gb=20,
            )
            start = time.perf_counter()
            chosen, verdicts, _ = scheduler.schedule(spec)
            times.append(time.perf_counter() - start)
            placement.delete_allocations(consumer)
        db.dispose()
    times.sort()
    return {
        "hosts": hosts,
        "setup_s": setup,
        "p50_ms": statistics.median(times) * 1000,
        "p95_ms": times[int(len(times) * 0.95) - 1] * 1000,
        "verdicts": len(verdicts),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"{'hosts':>7} {'p50 ms':>9} {'p95 ms':>9} {'setup s':>8}")
    for n in args.hosts:
        r = measure(n, args.repeat)
        print(
            f"{r['hosts']:>7} {r['p50_ms']:>9.1f} {r['p95_ms']:>9.1f} {r['setup_s']:>8.1f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
