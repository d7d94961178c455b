"""The shelve family: ``shelving`` (shelve and offload at once, as Nova's default
``shelved_offload_time = 0``: the claim is given back and the guest removed; the API has
already made the ``<name>-shelved`` snapshot) and ``unshelving`` (schedule + claim again —
on the host an admin asked for, if any — then spawn on the chosen host from the shelved
snapshot, which is deleted once the server runs)."""

from __future__ import annotations

from typing import Any

from pocketstack.compute.conductor import spec as spawn
from pocketstack.compute.conductor.build import rebind_ports, record_of, request_spec
from pocketstack.compute.conductor.family import ENDED, Step, TaskFamily
from pocketstack.compute.domain import instances, states
from pocketstack.compute.scheduler.model import NoValidHost


class Shelve(TaskFamily):
    """See the module docstring."""

    name = "shelve"
    task_states = frozenset({states.SHELVING, states.UNSHELVING})

    def action_name(self, row: dict[str, Any]) -> str | None:
        return "unshelve" if row["task_state"] == states.UNSHELVING else "shelve"

    def advance(self, step: Step) -> None:
        row = step.row
        if row["task_state"] == states.SHELVING:
            self.shelve(step)
        elif not row["host"]:  # unshelving, not yet placed (placed: waiting for the spawn)
            self.unshelve(step)

    def resume(self, step: Step) -> None:
        row = step.row
        if row["task_state"] == states.UNSHELVING and row["host"]:
            step.to_host(row["host"], "spawn", spec=self._spec(row))
            step.note(f"unshelving: spawn re-sent to {row['host']}")
            return
        self.advance(step)

    def shelve(self, step: Step) -> None:
        step.need_write()
        host = step.row["host"]
        self.conductor.placement.delete_allocations(step.uuid)
        step.settle({**ENDED, "vm_state": states.SHELVED_OFFLOADED, "host": None,
                     "node": None, "power_state": 4}, "shelve", True)
        if host:
            step.to_host(host, "destroy", purpose="cleanup")
        rebind_ports(self.conductor, step)
        step.note(f"shelved_offloaded: claim released, guest removed from {host}")

    def unshelve(self, step: Step) -> None:
        step.need_write()
        row, conductor = step.row, self.conductor
        spec = request_spec(conductor, step.conn, row, row["flavor"], set())
        # a host forced at creation does not pin the unshelve (Nova resets forced
        # destinations); a host asked for by the unshelve (2.91) does
        spec.force_host = (row["scheduler_hints"] or {}).get(states.UNSHELVE_HOST_HINT)
        try:
            chosen, verdicts, seconds = conductor.scheduler.schedule(spec)  # claims
        except NoValidHost as exc:
            step.settle({**ENDED, "scheduler_hints": _without_host(row)}, "unshelve", False,
                        exc.message)
            step.note(f"shelved_offloaded: unshelve found no host ({exc.summary})")
            return
        attempt = len(instances.scheduling_records(step.conn, step.uuid)) + 1
        instances.record_scheduling(step.conn, step.uuid, attempt, chosen.host,
                                    record_of(verdicts, chosen.host, seconds, spec))
        step.update({"host": chosen.host, "node": chosen.hypervisor_hostname,
                     "task_deadline": conductor.deadline(build_task=True)})
        step.to_host(chosen.host, "spawn", spec=self._spec(step.row))
        rebind_ports(self.conductor, step)
        step.note(f"unshelving: scheduled on {chosen.host}, resources claimed; spawning")

    def on_report(self, step: Step, msg: dict[str, Any]) -> None:
        row = step.row
        if msg.get("action") != "spawn" or row["task_state"] != states.UNSHELVING or \
                msg.get("host") != row["host"]:
            return
        step.need_write()
        if msg.get("result") == "ok":
            hints = _without_host(row)
            snapshot = hints.pop(states.SHELVED_IMAGE_HINT, None)
            step.settle({**ENDED, "vm_state": states.ACTIVE, "scheduler_hints": hints,
                         "power_state": msg.get("power_state") or 1}, "unshelve", True)
            if snapshot:  # the server runs: its shelved snapshot has served
                step.send("conductor", {"op": "delete_image", "image_id": snapshot,
                                        "uuid": step.uuid})
            step.note(f"active: unshelved on {row['host']}"
                      + (f"; deleting snapshot {snapshot}" if snapshot else ""))
            return
        self.conductor.placement.delete_allocations(step.uuid)
        step.settle({**ENDED, "vm_state": states.SHELVED_OFFLOADED, "host": None,
                     "node": None, "scheduler_hints": _without_host(row)}, "unshelve", False,
                    msg.get("message"))
        step.note(f"shelved_offloaded: unshelve on {row['host']} failed "
                  f"({msg.get('message')}); claim released")

    def _spec(self, row: dict[str, Any]) -> dict[str, Any]:
        """The spawn spec of an unshelve: from the shelved snapshot, if one was made."""
        snapshot = (row["scheduler_hints"] or {}).get(states.SHELVED_IMAGE_HINT)
        return spawn.spawn_spec(self.conductor, row, row["flavor"], image_id=snapshot)


def _without_host(row: dict[str, Any]) -> dict[str, Any]:
    hints = dict(row["scheduler_hints"] or {})
    hints.pop(states.UNSHELVE_HOST_HINT, None)
    return hints
