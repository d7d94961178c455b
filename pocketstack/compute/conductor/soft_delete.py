"""The deferred-delete family (``reclaim_instance_interval`` > 0): ``soft-deleting`` powers
the guest off and leaves the server SOFT_DELETED with its claim, ports and volumes kept;
``restoring`` powers it on again (ACTIVE). A server without a guest (shelved offloaded) goes
straight to SOFT_DELETED and is restored to the state it had.

The reclaim — the real delete once ``deleted_at`` is older than the interval — is
:meth:`SoftDelete.reclaim`, run by the conductor's reconcile loop: it starts an ordinary
``deleting`` task.
"""

from __future__ import annotations

from typing import Any

from pocketstack.compute.conductor.family import ENDED, Step, TaskFamily
from pocketstack.compute.domain import instance_actions, states
from pocketstack.compute.domain.common import utcnow

OPS = {states.SOFT_DELETING: "stop", states.RESTORING: "start"}
SOFT_DELETE_EVENT = "compute_soft_delete_instance"


class SoftDelete(TaskFamily):
    """See the module docstring."""

    name = "soft_delete"
    task_states = frozenset(OPS)

    def action_name(self, row: dict[str, Any]) -> str | None:
        return "restore" if row["task_state"] == states.RESTORING else "delete"

    def advance(self, step: Step) -> None:
        row = step.row
        task = row["task_state"]
        if not row["host"] or not self.conductor.host_is_up(row["host"]):
            self._done(step, f"no guest to power {'on' if task == states.RESTORING else 'off'}"
                       if not row["host"] else f"host {row['host']} is down")
            return
        step.to_host(row["host"], OPS[task])
        step.note(f"{task}: {OPS[task]} sent to {row['host']}")

    def on_report(self, step: Step, msg: dict[str, Any]) -> None:
        row = step.row
        op = OPS[row["task_state"]]
        if msg.get("action") != op or msg.get("purpose") or msg.get("host") != row["host"]:
            return
        if msg.get("result") == "ok":
            self._done(step, f"{op} done on {row['host']}", msg.get("power_state"))
            return
        action = self.action_name(row) or ""
        values: dict[str, Any] = dict(ENDED)
        if row["task_state"] == states.SOFT_DELETING:  # the server stays as it was
            hints = dict(row["scheduler_hints"] or {})
            hints.pop(states.BEFORE_SOFT_DELETE_HINT, None)
            values.update({"deleted_at": None, "scheduler_hints": hints})
        step.settle(values, action, False, msg.get("message"))
        step.note(f"{row['task_state']}: {op} failed on {row['host']} "
                  f"({msg.get('message')}); the instance stays {row['vm_state']}")

    def give_up(self, step: Step) -> None:
        # a soft delete whose guest did not answer is still a delete: the server is
        # SOFT_DELETED (the reclaim destroys the guest); a restore that did not answer fails
        if step.row["task_state"] == states.SOFT_DELETING:
            self._done(step, "the host did not confirm the power-off in time")
            return
        super().give_up(step)

    def _done(self, step: Step, why: str, power_state: int | None = None) -> None:
        row = step.row
        hints = dict(row["scheduler_hints"] or {})
        if row["task_state"] == states.SOFT_DELETING:
            step.update({**ENDED, "vm_state": states.SOFT_DELETED,
                         "power_state": power_state or (4 if row["host"] else row["power_state"]),
                         "deleted_at": row["deleted_at"] or utcnow()})
            record = instance_actions.latest(step.conn, step.uuid, "delete")
            if record is not None:
                instance_actions.event_finish(step.conn, record["id"], SOFT_DELETE_EVENT,
                                              "Success")
                instance_actions.finish(step.conn, record["id"])
            step.note(f"soft-delete: {why}; resources kept until reclaimed or restored")
            return
        before = hints.pop(states.BEFORE_SOFT_DELETE_HINT, states.ACTIVE)
        vm_state = states.ACTIVE if row["host"] else before
        step.settle({**ENDED, "vm_state": vm_state, "deleted_at": None,
                     "scheduler_hints": hints,
                     "power_state": power_state or (1 if row["host"] else row["power_state"])},
                    "restore", True)
        step.note(f"{vm_state}: restored ({why})")

    def reclaim(self, step: Step, deadline: Any) -> None:
        """The reclaim interval of a soft-deleted server ended: delete it for good."""
        row = step.row
        if row["vm_state"] != states.SOFT_DELETED or row["task_state"] is not None:
            return  # restored or deleted meanwhile
        step.update({"task_state": states.DELETING, "task_deadline": deadline,
                     "task_attempts": 0})
        step.note("soft-delete: reclaim interval over; deleting")
        self.conductor.advance(step)
