"""The libvirt host helpers that need no libvirt: the accelerator probe's per-boot cache."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pocketstack.agents.compute.drivers import libvirt_host as lvhost


def test_concurrent_first_probes_all_answer_and_leave_one_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The agent's warm-up and a first spawn may probe at once: each gets the answer, the cache
    is whole, and no temporary file is left (a shared temporary name failed one rename)."""
    calls: list[int] = []

    def slow_probe() -> dict[str, object]:
        calls.append(1)
        time.sleep(0.05)
        return {"virt_type": "qemu", "reason": "test"}

    monkeypatch.setattr(lvhost, "probe", slow_probe)
    cache = tmp_path / "libvirt" / "virt-type.json"
    with ThreadPoolExecutor(8) as pool:
        found = list(pool.map(lambda _: lvhost.probe_virt_type(cache), range(8)))
    assert {f["virt_type"] for f in found} == {"qemu"}
    assert json.loads(cache.read_text())["virt_type"] == "qemu"
    assert [p.name for p in cache.parent.iterdir()] == ["virt-type.json"]
    calls.clear()
    assert lvhost.probe_virt_type(cache)["virt_type"] == "qemu" and not calls  # cached
