"""Choose a host for one instance and claim its resources, recording why each host lost.

1. Placement returns the providers with room for the flavor (the resource filter). Hosts it
   leaves out are explained from the provider summaries ("not enough RAM (1024 MB free, 2048 MB
   asked)").
2. Configured filters run on the rest, in order; the first to object names the reason.
3. Weighers rank what passed; the best host is claimed atomically in placement. A host that
   lost a race to a concurrent claim is noted and the next one is tried — a host is never
   over-committed because the claim, not the choice, is authoritative.

Members of one server group are scheduled one at a time, each seeing where the others are —
including siblings of the same request this scheduler has placed whose builds have not yet
recorded a host (Nova's scheduler does the same for a multi-create). Across schedulers, the
conductor's late check (:func:`server_groups.check_placement`) has the last word.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any

from pocketstack.common import exceptions
from pocketstack.common.db import Database
from pocketstack.compute.domain import aggregates_view, nodes, server_groups, services
from pocketstack.compute.domain.common import utcnow
from pocketstack.compute.domain.states import BUILDING
from pocketstack.compute.scheduler.filters import load_filters
from pocketstack.compute.scheduler.model import HostState, HostVerdict, NoValidHost, RequestSpec
from pocketstack.compute.scheduler.weighers import load_weighers
from pocketstack.config import Settings

LOG = logging.getLogger(__name__)

LABELS = {"VCPU": ("vCPUs", ""), "MEMORY_MB": ("RAM", " MB"), "DISK_GB": ("disk", " GB")}


def resource_reason(state: HostState, spec: RequestSpec) -> str:
    """Why placement had no room on this host, resource by resource."""
    reasons = []
    for rc, amount in spec.resources.items():
        label, unit = LABELS.get(rc, (rc, ""))
        if rc not in state.resources:
            reasons.append(f"no {label} inventory")
            continue
        free = state.free(rc)
        if amount > free:
            reasons.append(f"not enough {label} ({free}{unit} free, {amount}{unit} asked)")
    if not reasons:
        return "no allocation candidate (a single resource exceeds the host's max_unit)"
    return "; ".join(reasons)


class Scheduler:
    """Filters and weighers over the hosts with room; see the module docstring.

    The view of hosts (nodes, services, aggregates, placement usage) is cached for
    ``scheduler_cache_seconds`` and updated in place by this scheduler's own claims, as Nova's
    HostManager does: a stale view can only cost a lost claim, never an over-commit.
    """

    def __init__(self, db: Database, placement: Any, settings: Settings) -> None:
        self.db = db
        self.placement = placement
        self.settings = settings
        self.filters = load_filters(settings.scheduler_filters)
        self.weighers = load_weighers(settings.scheduler_weighers)
        self._states: list[HostState] = []
        self._loaded_at = 0.0
        self._lock = threading.Lock()
        self._random = random.Random()
        # grouped schedules queue here; picks: group -> {instance: host} this scheduler chose
        # for members whose builds have not recorded a host yet
        self._group_lock = threading.Lock()
        self._group_picks: dict[str, dict[str, str]] = {}

    def invalidate(self) -> None:
        self._loaded_at = 0.0

    def host_states(self) -> list[HostState]:
        with self._lock:
            if time.monotonic() - self._loaded_at > self.settings.scheduler_cache_seconds:
                self._states = self._load()
                self._loaded_at = time.monotonic()
            return self._states

    def _load(self) -> list[HostState]:
        now = utcnow()
        with self.db.reader() as conn:
            node_rows = nodes.list_(conn)
            by_host = services.compute_services_by_host(conn)
            host_aggs = aggregates_view.by_host(conn)
        summaries = self.placement.provider_summaries()
        default_az = self.settings.default_availability_zone
        states = []
        for node in node_rows:
            svc = by_host.get(node["host"])
            aggs = host_aggs.get(node["host"], [])
            az = next((a["metadata"]["availability_zone"] for a in aggs
                       if a["metadata"].get("availability_zone")), default_az)
            states.append(HostState(
                host=node["host"], node_uuid=node["uuid"],
                hypervisor_hostname=node["hypervisor_hostname"],
                hypervisor_type=node["hypervisor_type"],
                enabled=bool(svc and not svc["disabled"]),
                up=bool(svc and services.is_up(svc, now, self.settings.service_down_time)),
                disabled_reason=svc["disabled_reason"] if svc else "no nova-compute service",
                availability_zone=az, aggregates=aggs,
                resources=summaries.get(node["uuid"], {}),
                cpu_info=node["cpu_info"] or {}))
        return states

    def select(self, spec: RequestSpec,
               states: list[HostState] | None = None) -> tuple[list[HostState],
                                                                list[HostVerdict], int]:
        """Rank the hosts that can take ``spec``. Returns (ranked, verdicts, not_examined):
        verdicts explain every host examined. Hosts are examined in random order until
        ``scheduler_max_candidates`` with room are found (as Nova's max_placement_results),
        so a large cloud costs the same per decision as a small one; when nothing fits, every
        host is examined and explained."""
        states = self.host_states() if states is None else states
        wanted = list(spec.resources.items())
        verdicts: list[HostVerdict] = []
        fitting: list[HostState] = []
        limit = self.settings.scheduler_max_candidates
        if len(states) > limit:
            start = self._random.randrange(len(states))
            order = states[start:] + states[:start]
        else:
            order = states
        examined = 0
        for state in order:
            if len(fitting) >= limit:
                break
            examined += 1
            res = state.resources
            if spec.force_host and state.host != spec.force_host:
                verdicts.append(HostVerdict(state.host, False, "force_host",
                                            f"not the requested host {spec.force_host}"))
            elif state.host in spec.ignore_hosts:
                verdicts.append(HostVerdict(state.host, False, "retry",
                                            "already tried for this instance"))
            elif all(rc in res and res[rc]["capacity"] - res[rc]["used"] >= amount
                     for rc, amount in wanted):
                fitting.append(state)
            else:
                verdicts.append(HostVerdict(state.host, False, "placement",
                                            resource_reason(state, spec)))
        not_sampled = len(states) - examined
        passed: list[HostState] = []
        for state in fitting:
            for flt in self.filters:
                reason = flt.host_passes(state, spec)
                if reason is not None:
                    verdicts.append(HostVerdict(state.host, False, flt.name, reason))
                    break
            else:
                passed.append(state)
        weighed = self._weigh(passed, spec)
        for state, total, parts in weighed:
            verdicts.append(HostVerdict(state.host, True, "weighed", weight=total,
                                        weights=parts))
        return [state for state, _, _ in weighed], verdicts, not_sampled

    def _weigh(self, hosts: list[HostState], spec: RequestSpec
               ) -> list[tuple[HostState, float, dict[str, float]]]:
        parts: dict[str, dict[str, float]] = {h.host: {} for h in hosts}
        for weigher in self.weighers:
            raw = [weigher.weigh(h, spec) for h in hosts]
            if not raw:
                continue
            lo, hi = min(raw), max(raw)
            for h, value in zip(hosts, raw, strict=True):
                norm = 0.0 if hi == lo else (value - lo) / (hi - lo)
                parts[h.host][weigher.name] = weigher.multiplier * norm
        out = [(h, sum(parts[h.host].values()), parts[h.host]) for h in hosts]
        out.sort(key=lambda item: (-item[1], item[0].host))
        return out

    def schedule(self, spec: RequestSpec) -> tuple[HostState, list[HostVerdict], float]:
        """Select and claim; returns (host, verdicts, seconds taken) or raises NoValidHost."""
        if spec.group_uuid is None:
            return self._schedule(spec)
        with self._group_lock:
            spec.group_hosts = self._group_hosts(spec.group_uuid, spec.instance_uuid)
            chosen = self._schedule(spec)
            self._group_picks.setdefault(spec.group_uuid, {})[spec.instance_uuid] = \
                chosen[0].host
            return chosen

    def _group_hosts(self, group_uuid: str, instance_uuid: str) -> list[str]:
        """Hosts of the group's other members: where the database says they are, or where
        this scheduler just put one that is still building (one entry per member)."""
        with self.db.reader() as conn:
            placed = server_groups.placements(conn, group_uuid)
        picks = self._group_picks.get(group_uuid, {})
        for uuid in list(picks):
            host, vm_state = placed.get(uuid, (None, ""))
            if host is not None or vm_state != BUILDING:
                del picks[uuid]  # recorded (or gone): the database has the last word
        if not picks:
            self._group_picks.pop(group_uuid, None)
        hosts = []
        for uuid, (host, _) in placed.items():
            if uuid == instance_uuid:
                continue
            host = host or picks.get(uuid)
            if host is not None:
                hosts.append(host)
        return hosts

    def _schedule(self, spec: RequestSpec) -> tuple[HostState, list[HostVerdict], float]:
        started = time.perf_counter()
        ranked, verdicts, not_sampled = self.select(spec)
        by_host = {v.host: v for v in verdicts}
        for state in ranked:
            try:
                self.placement.claim(spec.instance_uuid, {state.node_uuid: spec.resources},
                                     spec.project_id, spec.user_id)
            except exceptions.Conflict as exc:
                # another boot took the room first: explain with the host's usage now
                state.resources = self.placement.provider_summaries(
                    [state.node_uuid]).get(state.node_uuid, state.resources)
                verdict = by_host[state.host]
                verdict.passed, verdict.stage = False, "placement"
                verdict.reason = resource_reason(state, spec)
                if verdict.reason.startswith("no allocation candidate"):
                    verdict.stage, verdict.reason = "claim", f"lost the claim: {exc.message}"
                continue
            with self._lock:  # our own claim: keep the cached view current
                for rc, amount in spec.resources.items():
                    if rc in state.resources:
                        state.resources[rc] = dict(state.resources[rc],
                                                   used=state.resources[rc]["used"] + amount)
            if not_sampled:
                verdicts.append(HostVerdict(f"({not_sampled} more hosts)", False,
                                            "sample", "not examined: enough candidates found"))
            return state, verdicts, time.perf_counter() - started
        raise NoValidHost(verdicts, summarise(verdicts))


def summarise(verdicts: list[HostVerdict]) -> str:
    """A member-safe summary: counts by kind of reason, no host names."""
    if not verdicts:
        return "There are not enough hosts available: no compute host has reported in."
    counts: dict[str, int] = {}
    for v in verdicts:
        if v.passed:
            continue
        if v.stage == "placement":
            for part in v.reason.split("; "):
                kind = part.split(" (")[0]
                counts[kind] = counts.get(kind, 0) + 1
        else:
            counts[v.reason.split(":")[0]] = counts.get(v.reason.split(":")[0], 0) + 1
    detail = ", ".join(f"{reason} on {n} host{'s' if n > 1 else ''}"
                       for reason, n in sorted(counts.items()))
    return f"There are not enough hosts available ({len(verdicts)} considered: {detail})."
