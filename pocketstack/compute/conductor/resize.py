"""The resize/migrate family: ``resize_prep`` (schedule + claim the new size), ``resize_finish``
(the target host builds it), ``resize_confirming`` and ``resize_reverting``.

A resize to the same host is done in place (``resize`` on the host); otherwise the instance's
ports are bound to the target first (its network agents must know them when its taps appear:
Nova's ``migrate_instance_finish`` before ``finish_migration``), then the target spawns the
guest (``spawn`` with purpose ``migrate`` and the ``source`` host, whose agent the target
pulls the guest's disks from); the source's guest is removed on confirm. A failed
spawn binds the ports back to the source; a revert binds them back and hard-reboots the
source's guest (its taps went with the ports). A host forced at create
(``--availability-zone az:host``) does not pin the move. Each claim commits with the instance
write that records it.
"""

from __future__ import annotations

from typing import Any

from pocketstack.compute.conductor import spec as spawn
from pocketstack.compute.conductor.build import rebind_ports, record_of, request_spec
from pocketstack.compute.conductor.family import ENDED, Step, TaskFamily
from pocketstack.compute.conductor.power import OLD_VM_STATE, settled
from pocketstack.compute.domain import instances, states
from pocketstack.compute.domain.common import isotime, utcnow
from pocketstack.compute.scheduler.model import NoValidHost


def resources(flavor: dict[str, Any]) -> dict[str, int]:
    wanted = {"VCPU": int(flavor["vcpus"]), "MEMORY_MB": int(flavor["ram"]),
              "DISK_GB": int(flavor["disk"])}
    return {k: v for k, v in wanted.items() if v > 0}


class ResizeMigrate(TaskFamily):
    """See the module docstring."""

    name = "resize"
    task_states = frozenset({states.RESIZE_PREP, states.RESIZE_FINISH,
                             states.RESIZE_CONFIRMING, states.RESIZE_REVERTING})

    def action_name(self, row: dict[str, Any]) -> str | None:
        task = row["task_state"]
        if task == states.RESIZE_CONFIRMING:
            return "confirm_resize"
        if task == states.RESIZE_REVERTING:
            return "revert_resize"
        return "migrate" if row["scheduler_hints"].get("_migrate") else "resize"

    def advance(self, step: Step) -> None:
        task = step.row["task_state"]
        if task == states.RESIZE_PREP:
            self.move(step)
        elif task == states.RESIZE_CONFIRMING:
            self.confirm(step)
        elif task == states.RESIZE_REVERTING:
            self.revert(step)

    def resume(self, step: Step) -> None:
        row = step.row
        if row["task_state"] == states.RESIZE_FINISH:  # re-send to the target
            records = instances.scheduling_records(step.conn, step.uuid)
            target = records[-1]["chosen_host"] if records else None
            if target:
                self._send(step, target, row["new_flavor"] or row["flavor"])
                step.note(f"resize_finish: re-sent to {target}")
            return
        if row["task_state"] == states.RESIZE_REVERTING and \
                (row["migration_source"] or row["host"]) == row["host"]:
            step.to_host(row["host"], "resize",
                         spec=spawn.spawn_spec(self.conductor, row,
                                               row["old_flavor"] or row["flavor"]))
            return
        self.advance(step)

    def _send(self, step: Step, target: str, flavor: dict[str, Any]) -> None:
        spec = spawn.spawn_spec(self.conductor, step.row, flavor)
        if target == step.row["host"]:
            step.to_host(target, "resize", spec=spec)
        else:  # the ports are the target's first (see rebind_ports), then it spawns,
            # pulling the guest's disks from the host it leaves (agents/compute/disk_move)
            rebind_ports(self.conductor, step, target, then=[(f"compute.{target}", {
                "op": "spawn", "uuid": step.uuid, "spec": spec, "purpose": "migrate",
                "source": step.row["host"]})])

    def move(self, step: Step) -> None:
        """Resize (new flavor) or cold-migrate (same flavor, another host)."""
        step.need_write()
        row, conductor = step.row, self.conductor
        name = self.action_name(row) or "resize"
        new_flavor = row["new_flavor"] or row["flavor"]
        ignore = {row["host"]} if name == "migrate" else set()
        spec = request_spec(conductor, step.conn, row, new_flavor, ignore, move=True)
        try:
            chosen, verdicts, seconds = conductor.scheduler.schedule(spec)  # claims
        except NoValidHost as exc:  # the instance stays where it is, as it was
            step.settle({**ENDED, "new_flavor": None, "fault": {
                "code": 500, "message": exc.message, "summary": exc.summary,
                "created": isotime(utcnow())}}, name, False, exc.message)
            step.note(f"resize_prep: {name} found no host ({exc.summary}); the instance "
                      f"stays on {row['host']}")
            return
        attempt = len(instances.scheduling_records(step.conn, step.uuid)) + 1
        instances.record_scheduling(step.conn, step.uuid, attempt, chosen.host,
                                    record_of(verdicts, chosen.host, seconds, spec))
        hints = dict(row["scheduler_hints"])
        hints[OLD_VM_STATE] = row["vm_state"]  # a stopped server stays stopped
        # the target builds the guest (and may pull its disks over the bus): a build's time
        step.update({"task_state": states.RESIZE_FINISH, "migration_source": row["host"],
                     "task_deadline": conductor.deadline(build_task=True),
                     "scheduler_hints": hints})
        self._send(step, chosen.host, new_flavor)
        step.note(f"resize_finish: {name} scheduled on {chosen.host}, resources claimed")

    def on_report(self, step: Step, msg: dict[str, Any]) -> None:
        row, action = step.row, msg.get("action")
        ok = msg.get("result") == "ok"
        if action == "resize" and row["task_state"] == states.RESIZE_REVERTING:
            values, ops = settled(row)
            step.settle({**values, **ENDED, "flavor": row["old_flavor"] or row["flavor"],
                         "old_flavor": None, "migration_source": None},
                        "revert_resize", ok, msg.get("message"))
            for host, op in ops:
                step.to_host(host, op, purpose="settle")
            step.note(f"{step.row['vm_state']}: resize reverted on {row['host']}")
        elif action in ("resize", "spawn") and row["task_state"] == states.RESIZE_FINISH:
            self.moved(step, msg, ok)

    def moved(self, step: Step, msg: dict[str, Any], ok: bool) -> None:
        step.need_write()
        row, conductor = step.row, self.conductor
        name = self.action_name(row) or "resize"
        if not ok:  # give the source back its allocation
            conductor.placement.claim(step.uuid, {step.node(row["host"])["uuid"]: resources(
                row["flavor"])}, row["project_id"], row["user_id"])
            step.settle({**ENDED, "new_flavor": None, "migration_source": None}, name, False,
                        msg.get("message"))
            if msg.get("host") != row["host"]:
                rebind_ports(conductor, step)  # back to the source
            step.note(f"{row['vm_state']}: {name} failed on {msg.get('host')} "
                      f"({msg.get('message')}); back on {row['host']}")
            return
        step.settle({**ENDED, "vm_state": states.RESIZED, "host": msg["host"],
                     "node": step.node(msg["host"])["hypervisor_hostname"],
                     "old_flavor": row["flavor"], "flavor": row["new_flavor"] or row["flavor"],
                     "new_flavor": None, "power_state": msg.get("power_state") or 1},
                    name, True)
        step.note(f"resized: {name} to {msg['host']} done; waiting for confirm or revert")

    def confirm(self, step: Step) -> None:
        row = step.row
        source = row["migration_source"]
        values, ops = settled(row)
        step.settle({**values, **ENDED, "old_flavor": None, "migration_source": None},
                    "confirm_resize", True)
        for host, op in ops:
            step.to_host(host, op, purpose="settle")
        if source and source != row["host"]:
            step.to_host(source, "destroy", purpose="cleanup")
        step.note(f"{step.row['vm_state']}: resize confirmed on {row['host']}")

    def revert(self, step: Step) -> None:
        step.need_write()
        row = step.row
        source = row["migration_source"] or row["host"]
        old = row["old_flavor"] or row["flavor"]
        self.conductor.placement.claim(step.uuid, {step.node(source)["uuid"]: resources(old)},
                                       row["project_id"], row["user_id"])
        if source == row["host"]:
            step.to_host(source, "resize", spec=spawn.spawn_spec(self.conductor, row, old))
            step.note(f"resize_reverting: resize back sent to {source}")
            return
        target = row["host"]
        values, ops = settled(dict(row, host=source))
        step.settle({**values, **ENDED, "host": source,
                     "node": step.node(source)["hypervisor_hostname"], "flavor": old,
                     "old_flavor": None, "migration_source": None}, "revert_resize", True)
        for host, op in ops:
            step.to_host(host, op, purpose="settle")
        step.to_host(target, "destroy", purpose="cleanup")
        # the ports come back, then the source's guest boots again (Nova's
        # finish_revert_resize powers it on): its taps went with the ports' move
        then = [] if ops else [(f"compute.{source}", {"op": "reboot_hard", "uuid": step.uuid,
                                                       "purpose": "settle"})]
        rebind_ports(self.conductor, step, then=then)
        step.note(f"{step.row['vm_state']}: resize reverted to {source}")
