"""The stock `openstack` CLI with the osc-placement plugin (skipped when it is not installed)."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import LiveCloud

pytestmark = [
    pytest.mark.cli,
    pytest.mark.skipif(importlib.util.find_spec("osc_placement") is None,
                       reason="osc-placement is not installed"),
]


def test_resource_provider_commands(cloud: LiveCloud) -> None:
    created = cloud.osc("resource", "provider", "create", "cli-rp-1")
    rp = created["uuid"]
    assert any(p["uuid"] == rp for p in cloud.osc("resource", "provider", "list"))
    cloud.osc("resource", "provider", "inventory", "set", rp, "--resource", "VCPU=8",
              "--resource", "MEMORY_MB=4096")
    inv = {row["resource_class"]: row for row in
           cloud.osc("resource", "provider", "inventory", "list", rp)}
    assert inv["VCPU"]["total"] == 8
    cands = cloud.osc("--os-placement-api-version", "1.10", "allocation", "candidate", "list",
                      "--resource", "VCPU=2")
    assert any(rp in str(c) for c in cands)
    assert any(c["name"] == "VCPU" for c in cloud.osc("resource", "class", "list"))
    cloud.osc("resource", "provider", "delete", rp, as_json=False)
