"""Scheduler weighers: one small class each; raw values are normalised to 0..1 across the
hosts that passed, multiplied and summed (higher wins)."""

from __future__ import annotations

from typing import Protocol

from pocketstack.compute.scheduler.model import HostState, RequestSpec


class Weigher(Protocol):
    name: str
    multiplier: float

    def weigh(self, host: HostState, spec: RequestSpec) -> float: ...


class RAMWeigher:
    """Prefer hosts with more free RAM (spread)."""

    name, multiplier = "RAMWeigher", 1.0

    def weigh(self, host: HostState, spec: RequestSpec) -> float:
        return float(host.free("MEMORY_MB"))


class CPUWeigher:
    name, multiplier = "CPUWeigher", 1.0

    def weigh(self, host: HostState, spec: RequestSpec) -> float:
        return float(host.free("VCPU"))


class DiskWeigher:
    name, multiplier = "DiskWeigher", 1.0

    def weigh(self, host: HostState, spec: RequestSpec) -> float:
        return float(host.free("DISK_GB"))


class ServerGroupSoftAffinityWeigher:
    """soft-affinity: more members on a host is better; soft-anti-affinity: fewer is better."""

    name, multiplier = "ServerGroupSoftAffinityWeigher", 1.0

    def weigh(self, host: HostState, spec: RequestSpec) -> float:
        here = float(spec.group_hosts.count(host.host))
        if spec.group_policy == "soft-affinity":
            return here
        if spec.group_policy == "soft-anti-affinity":
            return -here
        return 0.0


def load_weighers(names: str) -> list[Weigher]:
    known: dict[str, type] = {cls.name: cls for cls in (
        RAMWeigher, CPUWeigher, DiskWeigher, ServerGroupSoftAffinityWeigher)}
    out: list[Weigher] = []
    for name in (n.strip() for n in names.split(",")):
        if not name:
            continue
        if name not in known:
            raise ValueError(f"unknown scheduler weigher {name!r}; known: {', '.join(known)}")
        out.append(known[name]())
    return out
