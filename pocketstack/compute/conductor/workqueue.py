"""The conductor's per-instance work queue: one step in flight per instance.

Every piece of conductor work about an instance (a hint from the API, a host's report, a
restart's resume, a deadline, a power-state sync) runs through :meth:`InstanceWorkQueue.run`
under the instance's uuid. Work for one instance runs one at a time in arrival order; work for
different instances runs side by side. A hint ("look at instance X") that finds an identical
hint already waiting is dropped — the waiting one will read the instance's latest state anyway.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Slot:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # running + waiting
    waiting_hints: set[str] = field(default_factory=set)


class InstanceWorkQueue:
    """See the module docstring."""

    def __init__(self) -> None:
        self._slots: dict[str, _Slot] = {}

    def busy(self, key: str) -> bool:
        """Whether work for ``key`` is running or waiting."""
        return key in self._slots

    def __len__(self) -> int:
        return len(self._slots)

    async def run(self, key: str, job: Callable[[], Awaitable[Any]],
                  hint: str | None = None) -> Any:
        """Run ``job`` when no other work for ``key`` is in flight. With ``hint``, return at
        once (None) if the same hint is already waiting its turn for ``key``."""
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = _Slot()
        elif hint is not None and hint in slot.waiting_hints:
            return None
        slot.users += 1
        if hint is not None:
            slot.waiting_hints.add(hint)
        try:
            async with slot.lock:  # asyncio.Lock wakes its waiters in FIFO order
                if hint is not None:
                    slot.waiting_hints.discard(hint)
                return await job()
        finally:
            slot.users -= 1
            if slot.users == 0:
                del self._slots[key]
