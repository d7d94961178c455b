"""The power family: stop, start, reboot, pause/unpause, suspend/resume, rescue/unrescue and
rebuild — tasks the instance's own host carries out in one operation, whose report ends them.
A volume-backed server's rebuild from 2.93 re-images its root volume before (:mod:`.reimage`).
"""

from __future__ import annotations

from typing import Any

from pocketstack.compute.conductor import reimage
from pocketstack.compute.conductor import spec as spawn
from pocketstack.compute.conductor.family import ENDED, Step, TaskFamily
from pocketstack.compute.domain import states

# task_state -> the hypervisor operation that carries it out
TASK_OPS = {
    states.POWERING_OFF: "stop", states.POWERING_ON: "start",
    states.REBOOTING: "reboot_soft", states.REBOOTING_HARD: "reboot_hard",
    states.PAUSING: "pause", states.UNPAUSING: "unpause", states.SUSPENDING: "suspend",
    states.RESUMING: "resume", states.RESCUING: "rescue", states.UNRESCUING: "unrescue",
    states.REBUILDING: "rebuild",  # the driver's rebuild (or destroy + spawn), with a spec
}
OLD_VM_STATE = "_old_vm_state"  # internal scheduler hint: vm_state to come back to


def settled(row: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """State after a rebuild, confirm or revert: as before it (a stopped server stays stopped,
    and its guest is powered off again). Returns (values, [(host, op)] to send)."""
    hints = dict(row["scheduler_hints"])
    old = hints.pop(OLD_VM_STATE, states.ACTIVE)
    if old == states.STOPPED:
        return ({"vm_state": states.STOPPED, "power_state": 4, "scheduler_hints": hints},
                [(row["host"], "stop")])
    return {"vm_state": states.ACTIVE, "scheduler_hints": hints}, []


class PowerActions(TaskFamily):
    """See the module docstring."""

    name = "power"
    task_states = frozenset(TASK_OPS)

    def action_name(self, row: dict[str, Any]) -> str | None:
        task = row["task_state"]
        return "rebuild" if task == states.REBUILDING else TASK_OPS.get(task)

    def advance(self, step: Step) -> None:
        row = step.row
        if row["task_state"] == states.REBUILDING and reimage.pending(row) is not None:
            # a volume-backed server (2.93): its root volume is re-imaged first
            step.send("conductor", {"op": "reimage_root", "uuid": step.uuid})
            step.note("rebuilding: re-imaging the root volume first")
            return
        if row["host"]:
            op = TASK_OPS[row["task_state"]]
            # rescue and rebuild carry the spawn spec (the rescue image, the new image)
            step.send(f"compute.{row['host']}", spawn.task_message(self.conductor, row, op))
            step.note(f"{row['task_state']}: {op} sent to {row['host']}")

    def on_report(self, step: Step, msg: dict[str, Any]) -> None:
        row = step.row
        if msg.get("action") != TASK_OPS[row["task_state"]] or msg.get("purpose") or \
                msg.get("host") != row["host"]:
            return  # stale: the instance has moved on
        action = self.action_name(row) or ""
        ok = msg.get("result") == "ok"
        if not ok:
            step.settle(dict(ENDED), action, False, msg.get("message"))
            step.note(f"{row['task_state']}: {action} failed on {row['host']}: "
                      f"{msg.get('message')}; the instance stays {row['vm_state']}")
            return
        vm_state, power = states.RESULTS.get(action, (states.ACTIVE, 1))
        values: dict[str, Any] = {**ENDED, "vm_state": vm_state,
                                  "power_state": msg.get("power_state") or power}
        if action == "rebuild":
            after, ops = settled(row)  # a stopped server is rebuilt stopped
            values.update(after)
            for host, op in ops:
                step.to_host(host, op, purpose="settle")
        step.settle(values, action, True)
        step.note(f"{step.row['vm_state']}: {action} done on {row['host']}")
