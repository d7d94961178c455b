"""What the scheduler reasons about: the request, each host's state, and the record."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RequestSpec:
    """One instance to place."""

    instance_uuid: str
    project_id: str
    user_id: str
    vcpus: int
    memory_mb: int
    root_gb: int
    extra_specs: dict[str, str] = field(default_factory=dict)
    image_properties: dict[str, Any] = field(default_factory=dict)
    availability_zone: str | None = None
    group_uuid: str | None = None  # the instance's server group, if any
    group_policy: str | None = None  # affinity, anti-affinity, soft-affinity, ...
    group_hosts: list[str] = field(default_factory=list)  # hosts of the group's other members
    group_max_per_host: int = 1
    ignore_hosts: set[str] = field(default_factory=set)
    force_host: str | None = None
    same_host: list[str] | None = None  # hosts of the servers a same_host hint names
    different_host: list[str] = field(default_factory=list)  # ... a different_host hint
    query: Any = None  # the query hint (JSON text or already parsed)

    @property
    def resources(self) -> dict[str, int]:
        wanted = {"VCPU": self.vcpus, "MEMORY_MB": self.memory_mb, "DISK_GB": self.root_gb}
        return {rc: amount for rc, amount in wanted.items() if amount > 0}


@dataclass
class HostState:
    """One compute node as the scheduler sees it."""

    host: str
    node_uuid: str
    hypervisor_hostname: str
    hypervisor_type: str
    enabled: bool
    up: bool
    disabled_reason: str | None
    availability_zone: str
    aggregates: list[dict[str, Any]]  # {"name", "metadata"}
    resources: dict[str, dict[str, int]]  # rc -> {"capacity", "used"}
    cpu_info: dict[str, Any] = field(default_factory=dict)

    def free(self, rc: str) -> int:
        entry = self.resources.get(rc)
        return 0 if entry is None else entry["capacity"] - entry["used"]


@dataclass
class HostVerdict:
    host: str
    passed: bool
    stage: str  # placement, a filter name, or "weighed"
    reason: str = ""
    weight: float = 0.0
    weights: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"result": "passed" if self.passed else "rejected",
                               "stage": self.stage}
        if self.reason:
            out["reason"] = self.reason
        if self.passed:
            out["weight"] = round(self.weight, 4)
            out["weights"] = {k: round(v, 4) for k, v in self.weights.items()}
        return out


class NoValidHost(Exception):
    """Nothing fits; carries the per-host reasons."""

    def __init__(self, verdicts: list[HostVerdict], summary: str) -> None:
        self.verdicts = verdicts
        self.summary = summary
        super().__init__(self.message)

    @property
    def message(self) -> str:
        lines = ["No valid host was found. " + self.summary]
        lines += [f"{v.host}: {v.reason}" for v in self.verdicts if not v.passed]
        return "\n".join(lines)
