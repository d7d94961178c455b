"""The network service object: Neutron v2.0 at ``/networking``, its bootstrap topology, the
in-process agents' heartbeats and the :class:`NetworkAPI` compute uses."""

from __future__ import annotations

import logging
from typing import Any

from pocketstack.common.api.app import ServiceApp
from pocketstack.common.api.errors import neutron_error
from pocketstack.common.context import RequestContext
from pocketstack.common.policy import PolicyEngine
from pocketstack.common.service import CatalogEntry, Mount, Role, Runtime
from pocketstack.network import errors
from pocketstack.network.api.viewcache import ViewCache
from pocketstack.network.domain import bootstrap, ports, security_groups, segments
from pocketstack.network.policies import RULES
from pocketstack.network.settings import NetworkSettings

LOG = logging.getLogger(__name__)

QUOTA_FIELDS = ("network", "subnet", "port", "router", "floatingip", "security_group",
                "security_group_rule", "subnetpool", "rbac_policy")
#: bus topic carrying change hints ("look at port X") for the network agents
CHANGES_TOPIC = "network.changes"


class NetworkService:
    """Neutron for one cloud."""

    name = "network"
    catalog = (CatalogEntry("network", "neutron", "/networking", "Neutron Networking Service"),)
    tables = "pocketstack.network.tables"
    settings_section = NetworkSettings

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.options: NetworkSettings = runtime.settings.section(NetworkSettings)
        o = self.options
        if o.network_mechanism not in ports.VIF_DETAILS:
            raise ValueError(f"network_mechanism must be one of {sorted(ports.VIF_DETAILS)}, "
                             f"not {o.network_mechanism!r}")
        self.segment_config: segments.SegmentConfig = segments.SegmentConfig.parse(
            o.network_physical_networks, o.network_vlan_ranges, o.network_vni_ranges,
            o.network_gre_ranges, o.network_geneve_ranges, o.network_tenant_types,
            o.network_mtu)
        self.binding: ports.BindingConfig = ports.BindingConfig(
            o.network_mechanism, o.network_agent_down_time)
        self.quota_defaults: dict[str, int] = {
            name: int(getattr(o, f"network_quota_{name}")) for name in QUOTA_FIELDS}
        self.policy = PolicyEngine(RULES, runtime.settings.policy_file or None)
        self.view_cache = ViewCache()

    # -- the seam -------------------------------------------------------------------------------
    def mounts(self) -> list[Mount]:
        return [Mount("/networking", self.app())]

    def roles(self) -> list[Role]:
        """With the Linux data plane: the ``network.rpc`` endpoint, then one set of network
        agents per compute host (the first is the network node). Without it: the in-process
        agents' heartbeats only (networks stay rows)."""
        from pocketstack.agents.network.host import build_agent, dataplane_on
        from pocketstack.network.roles import AgentHeartbeats, agent_specs
        from pocketstack.network.rpc import AgentRPC

        s = self.runtime.settings
        hosts = [f"{s.compute_host_prefix}{i}" for i in range(1, s.compute_hosts + 1)]
        dataplane = dataplane_on(s)
        if dataplane and self.options.network_mechanism != "linuxbridge":
            if s.dataplane == "linux":
                raise ValueError("dataplane = linux needs network_mechanism = linuxbridge, "
                                 f"not {self.options.network_mechanism!r}")
            dataplane = False  # auto: the Linux data plane only does Linux bridges
        if dataplane:
            physnets = sorted(self.segment_config.physical_networks)
            roles: list[Role] = [AgentRPC(self)]
            roles += [build_agent(s, host, index, self.runtime.bus, physnets=physnets,
                                  report_interval=self.options.network_agent_report_interval)
                      for index, host in enumerate(hosts, start=1)]
            return roles
        tunnels = [k for k in ("vxlan", "gre", "geneve")
                   if self.segment_config.tunnel_ranges.get(k)]
        specs = agent_specs(hosts, self.options.network_mechanism,
                            sorted(self.segment_config.physical_networks), tunnels)
        return [AgentHeartbeats(self.db, specs, self.options.network_agent_report_interval)]

    def provides(self) -> dict[type, object]:
        from pocketstack.network.interface import NetworkAPI
        from pocketstack.network.public import NetworkInterface

        return {NetworkAPI: NetworkInterface(self)}

    def prepare(self) -> None:
        """On first start, devstack's default topology (when enabled and identity can name
        the admin and demo projects)."""
        if not self.options.network_default_topology:
            return
        from pocketstack.identity.interface import IdentityAPI

        identity = self.runtime.interfaces.find(IdentityAPI)
        if identity is None:
            LOG.warning("network: no identity interface; default topology not created")
            return
        admin, demo = identity.project_id("admin"), identity.project_id("demo")
        if admin is None or demo is None:
            LOG.warning("network: admin or demo project missing; default topology not created")
            return
        if self.db.write(bootstrap.create_default_topology, admin, demo, self.segment_config,
                         self.quota_defaults, self.binding):
            LOG.info("network: created devstack's default topology")

    # -- helpers for handlers -------------------------------------------------------------------
    def changed(self, resource: str, ids: list[str]) -> None:
        """A hint for the agents: these resources changed (they re-read the database)."""
        self.runtime.broadcast(CHANGES_TOPIC, {"resource": resource, "ids": ids})

    def enforce(self, ctx: RequestContext, rule: str, target: dict[str, Any]) -> None:
        """Policy, refused with Neutron's ``PolicyNotAuthorized``."""
        if not self.policy.allowed(ctx, rule, target):
            raise errors.PolicyNotAuthorized(f"rule:{rule} is disallowed by policy")

    def ensure_default_security_group(self, project_id: str) -> None:
        """The project's ``default`` group, made on first use (a read when it exists)."""
        if self.db.read(security_groups.default_of, project_id) is None:
            self.db.write(security_groups.ensure_default, project_id)

    def app(self) -> ServiceApp:
        from pocketstack.network.routes import ROUTES

        identity_uri = self.runtime.settings.effective_public_url + "/identity"
        return ServiceApp(
            "network",
            ROUTES,
            neutron_error,
            authenticate=self.runtime.authenticate,
            request_id_headers=("X-Openstack-Request-Id",),
            unauthorized_headers={"WWW-Authenticate": f'Keystone uri="{identity_uri}"'},
            state={"network": self},
        )


