"""AvailabilityZoneFilter: the host is in the requested availability zone."""

from __future__ import annotations

from pocketstack.compute.scheduler.model import HostState, RequestSpec


class AvailabilityZoneFilter:
    name = "AvailabilityZoneFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> str | None:
        if spec.availability_zone and host.availability_zone != spec.availability_zone:
            return (f"in availability zone {host.availability_zone!r}, "
                    f"{spec.availability_zone!r} asked")
        return None
