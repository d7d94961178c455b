"""The L3 agent and the network service's ops together (no bus: the agent's rpc calls the
ops of :mod:`pocketstack.network.rpc` directly): devstack's default topology in a real
database becomes a router namespace in which a floating IP reaches an instance namespace,
and the floating IP's status follows (root only)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any, cast

import pytest
import sqlalchemy as sa

from pocketstack.agents.kernel import cleanup, run
from pocketstack.agents.kernel.names import KernelNames
from pocketstack.common.context import RequestContext
from pocketstack.network import rpc
from pocketstack.network import tables as t
from pocketstack.network.domain import floatingips, ports
from tests.agents.network.test_l3 import Lab
from tests.network.test_l3state import BINDING, QUOTAS, Service
from tests.network.test_l3state import cloud as cloud  # noqa: F401  (the fixture)

pytestmark = pytest.mark.skipif(run.missing() is not None, reason=str(run.missing()))


class ServiceRPC:
    """The agents' ``NetworkRPC`` calling the service's ops in this process."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.ops = rpc._ops()
        self.hints: list[dict[str, Any]] = []

    async def call(self, op: str, **args: Any) -> Any:
        return self.ops[op](cast(Any, self.service), {"op": op, **args})

    async def hint(self, message: dict[str, Any]) -> None:
        self.hints.append(message)


@pytest.fixture()
def lab(cloud: dict[str, Any]) -> Iterator[Lab]:  # noqa: F811
    names = KernelNames("pt" + secrets.token_hex(2))
    try:
        made = Lab(names, ServiceRPC(cloud["service"]), ext=cloud["public"],
                   t1=cloud["private"], instances=False)
    except BaseException:
        cleanup.remove_all(names)
        raise
    try:
        yield made
    finally:
        made.close()


def test_default_topology_floating_ip_end_to_end(cloud: dict[str, Any], lab: Lab) -> None:
    service = cloud["service"]
    demo = RequestContext(project_id="demo", roles=["member"])

    def instance(conn: Any) -> dict[str, Any]:
        v4 = conn.execute(sa.select(t.subnets.c.id).where(
            t.subnets.c.network_id == cloud["private"], t.subnets.c.ip_version == 4)).scalar()
        port = ports.create(conn, demo, {
            "network_id": cloud["private"], "project_id": "demo", "device_owner": "compute:nova",
            "device_id": "vm2", "fixed_ips": [{"subnet_id": v4, "ip_address": "10.0.0.20"}]},
            QUOTAS, BINDING)
        fip = floatingips.update(conn, demo, cloud["spare"]["id"], {"port_id": port["id"]},
                                 None)
        conn.execute(sa.update(t.floatingips).values(status="DOWN"))
        return fip

    fip = service.db.write(instance)
    vm = lab.plug("vm", cloud["private"], "10.0.0.20/26", "10.0.0.1")
    lab.sync()
    address = fip["floating_ip_address"]
    assert lab.ping(lab.world, address)
    assert lab.seen_from(lab.world, address) == "172.24.4.1"
    assert lab.seen_from(vm, "172.24.4.1") == address
    statuses = service.db.read(lambda conn: dict(conn.execute(
        sa.select(t.floatingips.c.id, t.floatingips.c.status)).all()))
    assert statuses == {fip["id"]: "ACTIVE", cloud["fip"]["id"]: "ACTIVE"}
    assert lab.part.configurations()["floating_ips"] == 2
    assert lab.part.configurations()["interfaces"] == 2  # IPv4 and IPv6 subnets of private
