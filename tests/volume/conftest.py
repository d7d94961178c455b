"""Helpers for block storage tests against the session's live cloud."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveCloud


def volume_dir(cloud: LiveCloud) -> Path:
    """Where the in-process storage agent keeps its files (``compute1@file``)."""
    return cloud.state_dir / "volumes" / "compute1@file"


def wait_status(client: httpx.Client, path: str, key: str, statuses: set[str],
                timeout: float = 30.0) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while True:
        r = client.get(path)
        if r.status_code == 404 and "gone" in statuses:
            return {"status": "gone"}
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()[key]
        if body["status"] in statuses:
            return body
        assert not body["status"].startswith("error") or body["status"] in statuses, body
        assert time.monotonic() < end, f"{path} still {body['status']}"
        time.sleep(0.05)


def wait_volume(client: httpx.Client, vid: str, *statuses: str) -> dict[str, Any]:
    return wait_status(client, f"/volume/v3/volumes/{vid}", "volume",
                       set(statuses or ("available",)))


@pytest.fixture(scope="module")
def demo(cloud: LiveCloud) -> Iterator[httpx.Client]:
    token, _ = cloud.token("demo", project="demo")
    with cloud.client(token) as client:
        yield client


@pytest.fixture(scope="module")
def alt(cloud: LiveCloud) -> Iterator[httpx.Client]:
    token, _ = cloud.token("alt_demo", project="alt_demo")
    with cloud.client(token) as client:
        yield client
