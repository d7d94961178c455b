"""The conductor after a crash: builds interrupted by ``kill -9`` of ``pocketstack up`` finish
after a restart (long before their deadline), every transition is in the log, and guests whose
power changed on the host while the cloud was down are synced as Nova's _sync_power_states
does (stopped by itself -> SHUTOFF through a stop; running though stopped -> stopped again)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import httpx

from tests.conftest import LiveCloud, start_cloud

V21 = "/compute/v2.1"
MV = {"OpenStack-API-Version": "compute 2.96"}
ENV = {"POCKETSTACK_COMPUTE_HOSTS": "2", "POCKETSTACK_HEARTBEAT_INTERVAL": "1",
       "POCKETSTACK_LOG_LEVEL": "info"}


def _servers(client: httpx.Client, ids: list[str]) -> dict[str, dict]:
    found = client.get(f"{V21}/servers/detail", headers=MV).json()["servers"]
    return {s["id"]: s for s in found if s["id"] in ids}


def _until(what: str, check, timeout: float) -> float:  # type: ignore[no-untyped-def]
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.2)
    return time.monotonic() - started


def _kill_9(cloud: LiveCloud) -> None:
    cloud.process.kill()  # SIGKILL: no shutdown of any kind
    cloud.process.wait()


def _log(state: Path) -> str:
    return (state.parent / f"{state.name}.log").read_text(errors="replace")


def _guests(state: Path) -> dict[str, dict]:
    """Every guest the fake hypervisors of this cloud keep on disk, by uuid (with its host)."""
    out = {}
    for path in (state / "hypervisors").glob("*/guests/*.json"):
        out[path.stem] = dict(json.loads(path.read_text()), _file=path)
    return out


def _set_power(state: Path, uuid: str, power_state: int) -> None:
    """Play the host: the guest's power changed while the cloud was down."""
    path = _guests(state)[uuid]["_file"]
    data = json.loads(path.read_text())
    data["power_state"] = power_state
    path.write_text(json.dumps(data))


def test_kill_9_mid_build_then_restart_resumes_builds_and_syncs_power(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    cloud = start_cloud(state, ENV)
    try:
        token, _ = cloud.token()
        with cloud.client(token) as admin:
            image = admin.get("/image/v2/images").json()["images"][0]["id"]
            ids = []
            for n in range(4):
                r = admin.post(f"{V21}/servers", headers=MV, json={"server": {
                    "name": f"slow-{n}", "imageRef": image, "flavorRef": "1",
                    "networks": "none", "metadata": {"fake:spawn_delay": "6"}}})
                assert r.status_code == 202, r.text
                ids.append(r.json()["server"]["id"])
            _until("every build to be spawning on a host", lambda: all(
                s["OS-EXT-STS:task_state"] == "spawning"
                for s in _servers(admin, ids).values()), timeout=20)
        _kill_9(cloud)
        assert not set(ids) & set(_guests(state))  # no spawn finished before the kill

        cloud = start_cloud(state, ENV)
        with cloud.client(token) as admin:
            took = _until("every build to be ACTIVE", lambda: all(
                s["status"] == "ACTIVE" for s in _servers(admin, ids).values()), timeout=40)
            assert took < 40  # the build deadline is 300 s: these were resumed, not rescued
            log = _log(state)
            for uuid in ids:  # an operator can follow each build in the log
                assert re.search(rf"\[instance: {uuid}\] spawning: resuming the task", log)
                assert re.search(rf"\[instance: {uuid}\] building: spawn re-sent to compute\d",
                                 log)
                assert re.search(rf"\[instance: {uuid}\] active: spawned on compute\d", log)
            assert set(ids) <= set(_guests(state))

            # power sync: one guest stops by itself, one runs although it was stopped
            by_itself, stopped = ids[0], ids[1]
            assert admin.post(f"{V21}/servers/{stopped}/action",
                              json={"os-stop": None}).status_code == 202
            _until("the stop", lambda: _servers(admin, [stopped])[stopped]["status"] ==
                   "SHUTOFF", timeout=15)
        _kill_9(cloud)
        _set_power(state, by_itself, 4)
        _set_power(state, stopped, 1)

        cloud = start_cloud(state, ENV)
        with cloud.client(token) as admin:
            _until("the guest that stopped by itself to show SHUTOFF", lambda: _servers(
                admin, [by_itself])[by_itself]["status"] == "SHUTOFF", timeout=20)
            server = _servers(admin, [by_itself])[by_itself]
            assert server["OS-EXT-STS:vm_state"] == "stopped"
            assert server["OS-EXT-STS:power_state"] == 4
            assert server["OS-EXT-STS:task_state"] is None
            actions = admin.get(f"{V21}/servers/{by_itself}/os-instance-actions",
                                headers=MV).json()["instanceActions"]
            assert actions[0]["action"] == "stop"  # the sync called stop, as Nova does
            # the guest running although the server is stopped was stopped again
            _until("the running guest of a stopped server to be stopped", lambda: _guests(
                state)[stopped]["power_state"] == 4, timeout=20)
            server = _servers(admin, [stopped])[stopped]
            assert (server["status"], server["OS-EXT-STS:power_state"]) == ("SHUTOFF", 4)
            # untouched guests stay as they were
            assert all(s["status"] == "ACTIVE" for s in _servers(admin, ids[2:]).values())
            log = _log(state)
            assert re.search(rf"\[instance: {by_itself}\] power sync: compute\d reports the "
                             r"guest shut down while it should be active; calling stop", log)
            assert re.search(rf"\[instance: {stopped}\] power sync: compute\d reports the "
                             r"guest running while it should be stopped; calling stop", log)
    finally:
        cloud.stop()
