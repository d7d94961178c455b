"""The delete family (task state ``deleting``): ask the host to destroy the guest, then
release the claim and mark the instance deleted in one transaction.

An instance with no host, a shelved-offloaded one, or one whose host is down is deleted at
once (Nova's "local delete"); a guest left on a host that was down is removed by the orphan
check when the host heartbeats again.
"""

from __future__ import annotations

from typing import Any

from pocketstack.compute.conductor.family import Step, TaskFamily
from pocketstack.compute.domain import instance_actions, instances, states


class Delete(TaskFamily):
    """See the module docstring."""

    name = "delete"
    task_states = frozenset({states.DELETING})

    def advance(self, step: Step) -> None:
        row = step.row
        if not row["host"] or row["vm_state"] == states.SHELVED_OFFLOADED:
            self.finalize(step, "no guest to remove")
            return
        if not self.conductor.host_is_up(row["host"]):
            self.finalize(step, f"host {row['host']} is down; deleted locally")
            return
        step.to_host(row["host"], "destroy")
        if row["migration_source"] and row["migration_source"] != row["host"]:
            step.to_host(row["migration_source"], "destroy", purpose="cleanup")
        step.note(f"deleting: destroy sent to {row['host']}")

    def on_report(self, step: Step, msg: dict[str, Any]) -> None:
        if msg.get("action") == "destroy" and msg.get("result") == "ok" and \
                msg.get("host") == step.row["host"]:
            self.finalize(step, f"guest destroyed on {msg.get('host')}")

    def give_up(self, step: Step) -> None:
        self.finalize(step, "the host did not confirm the destroy in time; deleted locally")

    def finalize(self, step: Step, why: str) -> None:
        step.need_write()
        self.conductor.placement.delete_allocations(step.uuid)
        if self.conductor.network is not None and step.row["networks"]:
            step.send("conductor", {"op": "release_ports", "uuid": step.uuid,
                                    "keep": [str(r["port_id"]) for r in step.row["networks"]
                                             if r.get("port_id")]})
        attached = [b for b in step.row["block_devices"] or [] if b.get("volume_id")]
        if attached:
            step.send("conductor", {"op": "release_volumes", "uuid": step.uuid,
                                    "volumes": attached})
        snapshot = (step.row["scheduler_hints"] or {}).get(states.SHELVED_IMAGE_HINT)
        if snapshot:  # a shelved server's snapshot goes with it (as Nova's delete)
            step.send("conductor", {"op": "delete_image", "image_id": snapshot,
                                    "uuid": step.uuid})
        instances.finalize_delete(step.conn, step.row)
        record = instance_actions.latest(step.conn, step.uuid, "delete")
        if record is not None:
            instance_actions.event_finish(step.conn, record["id"], "compute_terminate_instance",
                                          "Success")
            instance_actions.finish(step.conn, record["id"])
        step.note(f"deleted: {why}; claim released")
