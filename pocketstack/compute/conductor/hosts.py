"""What compute hosts tell the conductor in their heartbeats: liveness, inventory (kept in
placement) and the guests they really run — guests the database does not place there are
removed (the power states of the rest are synced by :mod:`.power_sync`)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pocketstack.compute.conductor.family import Outbox
from pocketstack.compute.domain import instances, nodes, services

if TYPE_CHECKING:
    from pocketstack.compute.conductor.conductor import Conductor

LOG = logging.getLogger(__name__)


class Hosts:
    """See the module docstring."""

    def __init__(self, conductor: Conductor) -> None:
        self.conductor = conductor
        self._inventories: dict[str, dict[str, Any]] = {}  # node uuid -> last set in placement

    def on_heartbeat(self, msg: dict[str, Any]) -> Outbox:
        conductor = self.conductor
        host = msg["host"]
        inventory = msg["inventory"]

        def run(conn: Any) -> dict[str, Any]:
            services.record_heartbeat(conn, host, "nova-compute", msg.get("availability_zone"))
            return nodes.upsert(conn, host, inventory)

        node = conductor.db.write(run)
        wanted = {
            "VCPU": {"total": inventory["vcpus"], "reserved": 0, "min_unit": 1,
                     "max_unit": inventory["vcpus"], "step_size": 1,
                     "allocation_ratio": inventory["cpu_allocation_ratio"]},
            "MEMORY_MB": {"total": inventory["memory_mb"], "reserved": 0, "min_unit": 1,
                          "max_unit": inventory["memory_mb"], "step_size": 1,
                          "allocation_ratio": inventory["ram_allocation_ratio"]},
            "DISK_GB": {"total": inventory["local_gb"], "reserved": 0, "min_unit": 1,
                        "max_unit": inventory["local_gb"], "step_size": 1,
                        "allocation_ratio": inventory["disk_allocation_ratio"]},
        }
        if self._inventories.get(node["uuid"]) != wanted:
            conductor.placement.ensure_provider(node["uuid"], node["hypervisor_hostname"])
            conductor.placement.set_inventory(node["uuid"], wanted)
            self._inventories[node["uuid"]] = wanted
            conductor.scheduler.invalidate()  # a new or changed host: look again
        return self.orphans(host, list((msg.get("instances") or {}).keys()))

    def orphans(self, host: str, guests: list[str]) -> Outbox:
        """Guests a hypervisor runs that the database does not place there (a spawn that
        finished after its build was given up, a delete that raced a restart): remove them."""
        if not guests:
            return []
        known = {r["uuid"]: r for r in self.conductor.db.read(instances.by_uuids, guests)}
        out: Outbox = []
        for uuid in guests:
            row = known.get(uuid)
            if row is not None and not row["deleted"] and (
                    row["task_state"] is not None
                    or host in (row["host"], row["migration_source"])):
                continue
            LOG.info("[instance: %s] orphan: %s runs a guest the database does not place "
                     "there; destroying it", uuid, host)
            out.append((f"compute.{host}", {"op": "destroy", "uuid": uuid,
                                             "purpose": "cleanup"}))
        return out
