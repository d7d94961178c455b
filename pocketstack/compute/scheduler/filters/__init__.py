"""Scheduler filters: one small class each. ``host_passes`` returns None to keep a host, or
the reason it was rejected (shown to operators in the decision record)."""

from __future__ import annotations

from typing import Protocol

from pocketstack.compute.scheduler.model import HostState, RequestSpec


class Filter(Protocol):
    name: str

    def host_passes(self, host: HostState, spec: RequestSpec) -> str | None: ...


def load_filters(names: str) -> list[Filter]:
    from pocketstack.compute.scheduler.filters import (
        aggregates,
        availability_zone,
        compute,
        hints,
        image_properties,
        server_groups,
    )

    known: dict[str, type] = {
        "ComputeFilter": compute.ComputeFilter,
        "AvailabilityZoneFilter": availability_zone.AvailabilityZoneFilter,
        "ImagePropertiesFilter": image_properties.ImagePropertiesFilter,
        "ServerGroupAffinityFilter": server_groups.ServerGroupAffinityFilter,
        "ServerGroupAntiAffinityFilter": server_groups.ServerGroupAntiAffinityFilter,
        "AggregateMultiTenancyFilter": aggregates.AggregateMultiTenancyFilter,
        "AggregateInstanceExtraSpecsFilter": aggregates.AggregateInstanceExtraSpecsFilter,
        "SameHostFilter": hints.SameHostFilter,
        "DifferentHostFilter": hints.DifferentHostFilter,
        "JsonFilter": hints.JsonFilter,
    }
    out: list[Filter] = []
    for name in (n.strip() for n in names.split(",")):
        if not name:
            continue
        if name not in known:
            raise ValueError(f"unknown scheduler filter {name!r}; known: {', '.join(known)}")
        out.append(known[name]())
    return out
