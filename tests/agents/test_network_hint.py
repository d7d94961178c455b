"""The compute agent tells the network agents when a guest's taps may be new: a
``network.changes`` fanout ``{"resource": "device", "host"}`` after a successful spawn,
rebuild, start, reboot or ``plug_vif``; none after other operations or failures."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from pocketstack.agents.compute.drivers.base import NetworkInterface
from pocketstack.agents.network.rpc import CHANGES_TOPIC
from tests.agents.test_agent_ops import Harness, run, spec


def test_hints_follow_operations_that_make_taps(tmp_path: Path) -> None:
    hints: list[dict[str, Any]] = []

    async def record(msg: dict[str, Any]) -> None:
        hints.append(msg)

    async def count(h: Harness, op: str, call: bool = False, **extra: Any) -> int:
        before = len(hints)
        if call:
            assert await h.call(op, **extra) == {}
        else:
            assert (await h.task(op, **extra))["result"] == "ok"
        await asyncio.sleep(0.02)  # fanout consumers run as tasks
        return len(hints) - before

    async def body(h: Harness) -> None:
        await h.bus.subscribe(CHANGES_TOPIC, record)
        assert await count(h, "spawn", spec=spec()) == 1
        assert hints[-1] == {"resource": "device", "host": "h1"}
        assert await count(h, "stop") == 0
        assert await count(h, "start") == 1
        assert await count(h, "reboot_hard") == 1
        assert await count(h, "rebuild", spec=spec()) == 1
        nic = NetworkInterface("p1", "fa:16:3e:00:00:01", mtu=1450).__dict__
        assert await count(h, "plug_vif", call=True, vif=nic) == 1
        assert await count(h, "unplug_vif", call=True, port_id="p1") == 0
        before = len(hints)
        assert (await h.task("destroy"))["result"] == "ok"
        r = await h.task("start")  # the guest is gone: an error, no hint
        assert r["result"] == "error"
        await asyncio.sleep(0.02)
        assert len(hints) == before

    run(tmp_path, body)
