"""`pocketstack up --api-workers N`: the API in N processes on one port, handing work to the
main process's conductor (over the bus relay with the in-process bus)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from tests.conftest import start_cloud


def _workers(main_pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == main_pid and b"_api-worker" in cmdline:
            out.append(int(entry.name))
    return out


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_workers_serve_the_api_and_hand_builds_to_the_conductor(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    cloud = start_cloud(state, {"POCKETSTACK_API_WORKERS": "3"})
    try:
        deadline = time.monotonic() + 30
        while len(workers := _workers(cloud.process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(workers) == 2
        token, body = cloud.token()
        image = httpx.get(cloud.url + "/image/v2/images", headers={"X-Auth-Token": token}
                          ).json()["images"][0]["id"]
        before = {pid: _cpu_ticks(pid) for pid in workers}
        ids = []
        for n in range(8):  # a new connection each: the kernel spreads them over processes
            r = httpx.post(cloud.url + "/compute/v2.1/servers",
                           headers={"X-Auth-Token": token},
                           json={"server": {"name": f"w{n}", "imageRef": image,
                                            "flavorRef": "1", "networks": "none"}})
            assert r.status_code == 202, r.text
            ids.append(r.json()["server"]["id"])
        for server_id in ids:
            deadline = time.monotonic() + 30
            while True:
                status = httpx.get(f"{cloud.url}/compute/v2.1/servers/{server_id}",
                                   headers={"X-Auth-Token": token}).json()["server"]["status"]
                if status == "ACTIVE" or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert status == "ACTIVE", server_id
        # the console log is a call to the compute host: relayed from any process
        for _ in range(6):
            r = httpx.post(f"{cloud.url}/compute/v2.1/servers/{ids[0]}/action",
                           headers={"X-Auth-Token": token},
                           json={"os-getConsoleOutput": {"length": 5}})
            assert r.status_code == 200, r.text
            assert "instance-" in r.json()["output"]
        assert any(_cpu_ticks(pid) > before[pid] for pid in workers)
        # the main process dies without a word: its workers leave too (the port is freed)
        os.kill(cloud.process.pid, signal.SIGKILL)
        cloud.process.wait()
        deadline = time.monotonic() + 10
        while any(Path(f"/proc/{pid}").exists() and "Z" not in
                  Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
                  for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert time.monotonic() < deadline, "API workers outlived the main process"
    finally:
        cloud.stop()
