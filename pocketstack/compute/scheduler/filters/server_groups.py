"""Server group (anti-)affinity filters: hard policies of the instance's server group."""

from __future__ import annotations

from pocketstack.compute.scheduler.model import HostState, RequestSpec


class ServerGroupAffinityFilter:
    name = "ServerGroupAffinityFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> str | None:
        if spec.group_policy != "affinity" or not spec.group_hosts:
            return None
        if host.host not in spec.group_hosts:
            hosts = ", ".join(sorted(set(spec.group_hosts)))
            return f"server group affinity: members run on {hosts}"
        return None


class ServerGroupAntiAffinityFilter:
    name = "ServerGroupAntiAffinityFilter"

    def host_passes(self, host: HostState, spec: RequestSpec) -> str | None:
        if spec.group_policy != "anti-affinity":
            return None
        here = spec.group_hosts.count(host.host)
        if here >= spec.group_max_per_host:
            return f"server group anti-affinity: {here} member(s) already on this host"
        return None
