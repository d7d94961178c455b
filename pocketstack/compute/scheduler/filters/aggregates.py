"""Aggregate filters: tenant isolation and flavor extra-spec matching on host aggregates."""

from __future__ import annotations

from pocketstack.compute.scheduler.model import HostState, RequestSpec


class AggregateMultiTenancyFilter:
    """Hosts in aggregates with ``filter_tenant_id`` only take those projects' instances."""

    name = "AggregateMultiTenancyFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> str | None:
        allowed: set[str] = set()
        for agg in host.aggregates:
            for key, value in agg["metadata"].items():
                if key == "filter_tenant_id" or key.startswith("filter_tenant_id"):
                    allowed.update(v.strip() for v in str(value).split(","))
        if allowed and spec.project_id not in allowed:
            return "aggregate reserved for other projects (filter_tenant_id)"
        return None


class AggregateInstanceExtraSpecsFilter:
    """Flavor extra specs ``aggregate_instance_extra_specs:K=V`` must match aggregate metadata."""

    name = "AggregateInstanceExtraSpecsFilter"
    prefix = "aggregate_instance_extra_specs:"

    def host_passes(self, host: HostState, spec: RequestSpec) -> str | None:
        wanted = {k[len(self.prefix):]: v for k, v in spec.extra_specs.items()
                  if k.startswith(self.prefix)}
        if not wanted:
            return None
        merged: dict[str, set[str]] = {}
        for agg in host.aggregates:
            for key, value in agg["metadata"].items():
                merged.setdefault(key, set()).update(str(value).split(","))
        for key, value in wanted.items():
            if value not in merged.get(key, set()):
                return f"no aggregate with {key}={value}"
        return None
