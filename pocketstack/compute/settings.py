"""The compute service's own options (read with ``settings.section(ComputeSettings)``).

Most compute options predate service sections and live in :class:`pocketstack.config.Settings`
(scheduler, timeouts, the fake hypervisor); new ones go here."""

from __future__ import annotations

from dataclasses import dataclass

from pocketstack.config import _opt


@dataclass(frozen=True)
class ComputeSettings:
    """Deferred delete (Nova's ``reclaim_instance_interval``)."""

    reclaim_instance_interval: int = _opt(
        0, "Seconds a deleted server stays SOFT_DELETED (powered off, resources kept, "
        "`server restore` brings it back) before it is reclaimed; 0 deletes at once.")
