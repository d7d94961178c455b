"""The storage agent as its own process (`pocketstack agent volume`) joined over RabbitMQ:
no backend → volumes go to error at once; the agent joins → `volume service list` shows it up
and volumes land in its directory; the agent dies → a volume cast to it is moved from
``creating`` to ``error`` when its task deadline passes, and the service goes down."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.compute.test_scheduling_story import amqp_url  # noqa: F401 - the fixture
from tests.conftest import BIN, LiveCloud, own_cloud
from tests.volume.conftest import wait_volume

V = "/volume/v3"


@pytest.fixture(scope="module")
def bus_cloud(tmp_path_factory: pytest.TempPathFactory,
              amqp_url: str) -> Iterator[LiveCloud]:  # noqa: F811
    yield from own_cloud(tmp_path_factory, "volbus", {
        "POCKETSTACK_TRANSPORT_URL": amqp_url, "POCKETSTACK_VOLUME_AGENT_IN_PROCESS": "false",
        "POCKETSTACK_VOLUME_REPORT_INTERVAL": "0.5", "POCKETSTACK_VOLUME_SERVICE_DOWN_TIME": "3",
        "POCKETSTACK_VOLUME_TASK_TIMEOUT": "2"})


def _services(client: httpx.Client) -> dict[str, str]:
    return {s["host"]: s["state"] for s in client.get(
        f"{V}/os-services", params={"binary": "cinder-volume"}).json()["services"]}


def test_agent_joins_then_dies(bus_cloud: LiveCloud, amqp_url: str) -> None:  # noqa: F811
    token, _ = bus_cloud.token()
    client = bus_cloud.client(token)
    r = client.post(f"{V}/volumes", json={"volume": {"size": 1}})
    assert r.status_code == 202 and r.json()["volume"]["status"] == "error"
    env = dict(os.environ, POCKETSTACK_VOLUME_REPORT_INTERVAL="0.5")
    agent = subprocess.Popen(
        [str(BIN / "pocketstack"), "agent", "volume", "--host", "store2", "--transport-url",
         amqp_url, "--state-dir", str(bus_cloud.state_dir)], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        end = time.monotonic() + 30
        while _services(client).get("store2@file") != "up":
            assert agent.poll() is None, agent.stdout.read() if agent.stdout else ""
            assert time.monotonic() < end, "the agent never reported"
            time.sleep(0.1)
        vid = client.post(f"{V}/volumes", json={"volume": {"size": 1}}).json()["volume"]["id"]
        wait_volume(client, vid)
        assert (bus_cloud.state_dir / "volumes" / "store2@file" / f"volume-{vid}").exists()
    finally:
        agent.terminate()
        agent.wait(timeout=15)
    # dead agent, still within its down time: the volume is cast to nobody
    r = client.post(f"{V}/volumes", json={"volume": {"size": 1}})
    stuck = r.json()["volume"]
    assert stuck["status"] == "creating"
    assert wait_volume(client, stuck["id"], "error")["status"] == "error"
    end = time.monotonic() + 15
    while _services(client).get("store2@file") != "down":
        assert time.monotonic() < end
        time.sleep(0.2)
    client.close()
