"""Clients for the network tests: admin and demo (a member of project demo) on /networking,
per module (a module may bring a cloud of its own)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveCloud


@pytest.fixture(scope="module")
def net(cloud: LiveCloud) -> Iterator[httpx.Client]:
    token, _ = cloud.token()
    with httpx.Client(base_url=cloud.url + "/networking/v2.0",
                      headers={"X-Auth-Token": token}, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def demo_net(cloud: LiveCloud) -> Iterator[httpx.Client]:
    token, _ = cloud.token("demo", project="demo")
    with httpx.Client(base_url=cloud.url + "/networking/v2.0",
                      headers={"X-Auth-Token": token}, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def alt_net(cloud: LiveCloud) -> Iterator[httpx.Client]:
    token, _ = cloud.token("alt_demo", project="alt_demo")
    with httpx.Client(base_url=cloud.url + "/networking/v2.0",
                      headers={"X-Auth-Token": token}, timeout=60) as client:
        yield client
