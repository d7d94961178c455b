"""ComputeFilter: the host's nova-compute service is enabled and up."""

from __future__ import annotations

from pocketstack.compute.scheduler.model import HostState, RequestSpec


class ComputeFilter:
    name = "ComputeFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> str | None:
        if not host.enabled:
            why = f": {host.disabled_reason}" if host.disabled_reason else ""
            return f"compute service is disabled{why}"
        if not host.up:
            return "compute service is down (no heartbeat)"
        return None
