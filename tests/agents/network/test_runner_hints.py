"""Change hints mark a host's agent parts dirty, except a compute agent's ``device`` hint
for another host (its new taps are none of this host's business)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pocketstack.agents.network.runner import NetworkAgent


def test_device_hints_of_other_hosts_are_ignored(tmp_path: Path) -> None:
    part = SimpleNamespace(agent_type="Linux bridge agent")
    agent = NetworkAgent(SimpleNamespace(host="compute1"), [part], bus=None)  # type: ignore[arg-type,list-item]
    dirty = agent._dirty[id(part)]

    def after(message: dict[str, Any]) -> bool:
        dirty.clear()
        asyncio.run(agent.hint(message))
        return dirty.is_set()

    assert not after({"resource": "device", "host": "compute2"})
    assert after({"resource": "device", "host": "compute1"})
    assert after({"resource": "port", "ids": ["p1"]})
    assert after({"resource": "device"})
