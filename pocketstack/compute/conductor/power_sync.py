"""Power-state sync: what a host's heartbeat says its guests are doing, against what the
database says they should be doing (Nova's ``_sync_power_states``).

For every instance the database places on the reporting host with no task in flight (none in
the database, none queued in the conductor) and not changed in the last
:data:`SETTLE_SECONDS` (the heartbeat may predate that change):

* the observed ``power_state`` is recorded (a guest the host does not have is ``NOSTATE``);
* ``active`` but the guest is shut down, crashed or suspended: it stopped by itself — the
  conductor calls stop (task ``powering-off``, instance action ``stop``), so the server ends
  ``SHUTOFF`` as after a user's stop;
* ``stopped`` but the guest runs (or is paused or suspended): it is stopped again;
* ``paused`` but the guest is shut down or crashed: stopped;
* anything else (building, error, rescued, resized, ...): only the power state is recorded.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from pocketstack.compute.conductor.family import Step
from pocketstack.compute.conductor.power import TASK_OPS
from pocketstack.compute.domain import instance_actions, instances, states

if TYPE_CHECKING:
    from pocketstack.compute.conductor.conductor import Conductor

LOG = logging.getLogger(__name__)

NOSTATE, RUNNING, PAUSED, SHUTDOWN, CRASHED, SUSPENDED = 0, 1, 3, 4, 6, 7
SETTLE_SECONDS = 3.0
POWER_NAMES = {NOSTATE: "no state", RUNNING: "running", PAUSED: "paused",
               SHUTDOWN: "shut down", CRASHED: "crashed", SUSPENDED: "suspended"}


def verdict(vm_state: str, observed: int) -> str | None:
    """``"stop"`` when the guest must be stopped to match the database, else None."""
    if vm_state == states.ACTIVE and observed in (SHUTDOWN, CRASHED, SUSPENDED):
        return "stop"  # it stopped by itself: make the database say so, as Nova does
    if vm_state == states.STOPPED and observed not in (NOSTATE, SHUTDOWN, CRASHED):
        return "stop"  # it runs though it should not: force it off
    if vm_state == states.PAUSED and observed in (SHUTDOWN, CRASHED):
        return "stop"
    return None


class PowerSync:
    """See the module docstring."""

    def __init__(self, conductor: Conductor) -> None:
        self.conductor = conductor

    def candidates(self, host: str, guests: dict[str, int],
                   now: dt.datetime) -> list[tuple[str, int]]:
        """(uuid, observed power state) of the instances on ``host`` worth a sync step."""
        settle = now - dt.timedelta(seconds=SETTLE_SECONDS)
        out = []
        for row in self.conductor.db.read(instances.on_host, host):
            if row["task_state"] is not None or (row["updated_at"] and
                                                 row["updated_at"] > settle):
                continue
            observed = int(guests.get(row["uuid"], NOSTATE))
            if observed != row["power_state"] or verdict(row["vm_state"], observed):
                out.append((row["uuid"], observed))
        return out

    def sync(self, step: Step, host: str, observed: int) -> None:
        """One instance, re-read in its own step (it may have moved on since the heartbeat)."""
        row = step.row
        if row["task_state"] is not None or row["host"] != host or row["deleted"]:
            return  # a task is in flight or it moved: the next heartbeat looks again
        seen = POWER_NAMES.get(observed, str(observed))
        action = verdict(row["vm_state"], observed)
        if action is None:
            if observed != row["power_state"]:
                step.update({"power_state": observed})
                step.note(f"power sync: {host} reports the guest {seen}; power_state "
                          f"{row['power_state']} -> {observed}")
            return
        task_state = states.ACTIONS[action][1]
        assert task_state is not None
        step.update({"power_state": observed, "task_state": task_state, "task_attempts": 0,
                     "task_deadline": self.conductor.deadline()})
        record = instance_actions.start(step.conn, step.uuid, action, "req-power-sync",
                                        row["project_id"], row["user_id"])
        instance_actions.event_start(step.conn, record, "compute_" + action, host)
        step.to_host(host, TASK_OPS[task_state])
        step.note(f"power sync: {host} reports the guest {seen} while it should be "
                  f"{row['vm_state']}; calling {action}")

    def observed(self, msg: dict[str, Any]) -> dict[str, int]:
        """The heartbeat's guests: ``{uuid: power_state}`` (or ``{uuid: {"power_state"}}``)."""
        out = {}
        for uuid, value in (msg.get("instances") or {}).items():
            power = value.get("power_state") if isinstance(value, dict) else value
            out[str(uuid)] = int(power or NOSTATE)
        return out
