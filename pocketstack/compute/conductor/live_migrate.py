"""Live migration (task ``migrating``): the guest keeps running while it moves to another host.

Steps, each recorded as an event of the ``live-migration`` instance action (the migration
record's status is read from them, see :mod:`pocketstack.compute.domain.migrations`):

1. ``conductor_live_migrate_instance``: a destination is chosen — the scheduler with the
   server's own host ignored (a requested host without ``force`` is checked by its filters),
   or the forced host after the checks Nova's conductor makes (not the source, service up) —
   and claimed: during the move the instance holds resources on both hosts.
2. ``compute_pre_live_migration`` on the destination, once the ports are bound to it with
   the source kept in their profile (``migrating_from``): the destination's network agents
   must know the ports when the incoming guest's taps appear, and the source's keep its taps
   wired while the guest runs there. Its driver prepares (disks, images, the place the
   guest's memory will arrive); it answers with ``migrate_data`` for the source.
3. ``compute_live_migration`` on the source: the driver moves the running guest; it answers
   with what the destination needs to adopt it. The ports then drop the source.
4. ``compute_post_live_migration_at_destination``: the destination adopts the guest; the
   instance's host becomes the destination, the source's claim is dropped and the source
   cleans up what is left of the guest there.

A failure before step 4 ends (or a deadline given up) rolls back: the destination discards
what it prepared, the ports are bound to the source again, the claim shrinks back to the
source, and the instance stays ACTIVE (or PAUSED) on the source; the migration is ``error``
and the action's failed event carries the reason. A failure in step 4 leaves the instance in
ERROR on the destination, as Nova does.

An abort (``DELETE /servers/{id}/migrations/{id}``, recorded as a ``live_migration_abort``
action) before step 3 rolls back at once; during step 3 the source's driver is told to stop the
move (``live_migration_abort``), whose failure then rolls back; the migration ends
``cancelled``.

A force-complete (``POST /servers/{id}/migrations/{id}/action``, recorded as a
``live_migration_force_complete`` action) during step 3 tells the source's driver to pause the
guest so that its memory copy converges; the destination runs it again. The action's event
closes with the driver's answer.

Limits: a restart (or deadline) in step 3 re-sends the move, and if
the source's report of a move that had finished was lost, the source now answers that it has
no such guest and the migration is rolled back although the guest runs on the destination
(the destination's rollback leaves a running guest alone, so nothing is destroyed; the
instance must then be fixed by hand).
"""

from __future__ import annotations

from typing import Any

from pocketstack.common import exceptions
from pocketstack.compute.conductor import spec as spawn
from pocketstack.compute.conductor.build import rebind_ports, record_of, request_spec
from pocketstack.compute.conductor.family import ENDED, Step, TaskFamily
from pocketstack.compute.conductor.resize import resources
from pocketstack.compute.domain import instance_actions, instances, services, states
from pocketstack.compute.domain.common import utcnow
from pocketstack.compute.scheduler.model import NoValidHost

ACTION = "live-migration"
ABORT_ACTION = "live_migration_abort"
FORCE_COMPLETE_ACTION = "live_migration_force_complete"
FORCE_COMPLETE_EVENT = "compute_live_migration_force_complete"
SCHEDULE, PRE, LIVE, POST = ("conductor_live_migrate_instance", "compute_pre_live_migration",
                             "compute_live_migration",
                             "compute_post_live_migration_at_destination")
#: host op -> (the phase it answers, the event it closes)
REPORTS = {"pre_live_migration": ("pre", PRE), "live_migration": ("live", LIVE),
           "post_live_migration_at_destination": ("post", POST)}


class LiveMigrationFailed(Exception):
    """A check of the conductor refused the destination (the message says why)."""


class LiveMigrate(TaskFamily):
    """See the module docstring."""

    name = "live_migrate"
    task_states = frozenset({states.MIGRATING})

    def action_name(self, row: dict[str, Any]) -> str | None:
        return ACTION

    @staticmethod
    def request(row: dict[str, Any]) -> dict[str, Any]:
        return dict((row["scheduler_hints"] or {}).get(states.LIVE_MIGRATION_HINT) or {})

    def _set(self, step: Step, request: dict[str, Any], **values: Any) -> None:
        hints = dict(step.row["scheduler_hints"])
        hints[states.LIVE_MIGRATION_HINT] = request
        step.update({"scheduler_hints": hints, "task_deadline": self.conductor.deadline(),
                     **values})

    def _event(self, step: Step, finish: str | None, start: str | None, host: str | None,
               ok: bool = True, message: str | None = None) -> None:
        record = instance_actions.latest(step.conn, step.uuid, ACTION)
        if record is None:
            return
        if finish:
            instance_actions.event_finish(step.conn, record["id"], finish,
                                          "Success" if ok else "Error",
                                          None if ok else message)
        if start:
            instance_actions.event_start(step.conn, record["id"], start, host)

    # -- 1: the destination ---------------------------------------------------------------------
    def advance(self, step: Step) -> None:
        request = self.request(step.row)
        if request.get("abort") and not request.get("abort_sent"):
            self.abort(step, request)
        elif request.get("force_complete") and not request.get("force_complete_sent"):
            self.force_complete(step, request)
        elif "dest" not in request:
            self.schedule(step)
        # otherwise a host has the next step; its report (or the deadline) moves it on

    def abort(self, step: Step, request: dict[str, Any]) -> None:
        """An abort was asked (the API allows it before ``post-migrating``): roll back now,
        or once the source's driver has stopped the move under way."""
        step.need_write()
        phase = request.get("phase")
        if "dest" not in request:
            self._end(step, request, SCHEDULE, "live migration aborted")
            step.note("migrating: live migration aborted before it was scheduled")
        elif phase == "pre":
            self.failed(step, request, PRE, "live migration aborted", ports_moved=True)
        elif phase == "live":
            request["abort_sent"] = True
            self._set(step, request)
            step.to_host(step.row["host"], "live_migration_abort", purpose="cleanup")
            step.note(f"migrating: abort sent to {step.row['host']}")

    def force_complete(self, step: Step, request: dict[str, Any]) -> None:
        """Asked while the move runs (the API checks that): the source pauses the guest."""
        step.need_write()
        request["force_complete_sent"] = True
        self._set(step, request)
        if request.get("phase") == "live":
            step.to_host(step.row["host"], "live_migration_force_complete")
            step.note(f"migrating: force complete sent to {step.row['host']}")

    def _close_force_complete(self, step: Step, ok: bool, message: str | None) -> None:
        record = instance_actions.latest(step.conn, step.uuid, FORCE_COMPLETE_ACTION)
        if record is not None and record["finish_time"] is None:
            instance_actions.event_finish(step.conn, record["id"], FORCE_COMPLETE_EVENT,
                                          "Success" if ok else "Error", message)
            instance_actions.finish(step.conn, record["id"], None if ok else "Error")

    def schedule(self, step: Step) -> None:
        step.need_write()
        row, conductor = step.row, self.conductor
        request = self.request(row)
        source = row["host"]
        try:
            dest = self._choose(step, request)
        except (LiveMigrationFailed, NoValidHost) as exc:
            message = exc.message if isinstance(exc, NoValidHost) else str(exc)
            self._end(step, request, SCHEDULE, message)
            step.note(f"migrating: live migration refused ({message}); the instance stays on "
                      f"{source}")
            return
        request.update(dest=dest, phase="pre")
        self._set(step, request)
        self._event(step, SCHEDULE, PRE, dest)
        # the ports first: the destination makes the guest's taps as it prepares, and its
        # network agents take a tap of no port they serve for a stale one; the source keeps
        # serving them too (``migrating_from``) while the guest runs there
        rebind_ports(conductor, step, dest, then=[(f"compute.{dest}", self._pre_message(step))],
                     migrating_from=source)
        step.note(f"migrating: live migration from {source} to {dest}, resources claimed on "
                  "both; ports bound to both; the destination prepares")

    def _choose(self, step: Step, request: dict[str, Any]) -> str:
        """Pick and claim the destination (the instance then holds both hosts)."""
        row, conductor = step.row, self.conductor
        source, host = row["host"], request.get("host")
        wanted = resources(row["flavor"])
        if host and host == source:
            raise LiveMigrationFailed(f"Unable to migrate instance ({row['uuid']}) to current "
                                      f"host ({source}).")
        if host:
            svc = services.compute_service_of(step.conn, host)
            if svc is None or not services.is_up(svc, utcnow(),
                                                 conductor.settings.service_down_time):
                raise LiveMigrationFailed(f"Compute service of {host} is unavailable at this "
                                          "time.")
        attempt = len(instances.scheduling_records(step.conn, step.uuid)) + 1
        if host and request.get("force"):  # no scheduler: the host's room is the only check
            try:
                target = step.node(host)
            except LookupError:
                raise LiveMigrationFailed(f"Compute host {host} could not be found.") from None
            try:
                conductor.placement.claim(step.uuid, {
                    step.node(source)["uuid"]: wanted, target["uuid"]: wanted},
                    row["project_id"], row["user_id"])
            except exceptions.Conflict as exc:
                raise LiveMigrationFailed(f"Unable to migrate instance ({row['uuid']}) to "
                                          f"host {host}: {exc}") from None
            conductor.scheduler.invalidate()
            instances.record_scheduling(step.conn, step.uuid, attempt, host, {
                "chosen": host, "forced": True, "hosts": {}})
            return host
        spec = request_spec(conductor, step.conn, row, row["flavor"], {source}, move=True)
        spec.force_host = host or None
        chosen, verdicts, seconds = conductor.scheduler.schedule(spec)  # claims the target
        instances.record_scheduling(step.conn, step.uuid, attempt, chosen.host,
                                    record_of(verdicts, chosen.host, seconds, spec))
        # the source keeps its share until the guest has left it
        conductor.placement.claim(step.uuid, {
            step.node(source)["uuid"]: wanted, step.node(chosen.host)["uuid"]: wanted},
            row["project_id"], row["user_id"])
        conductor.scheduler.invalidate()
        return str(chosen.host)

    # -- 2-4: the hosts' reports ----------------------------------------------------------------
    def on_report(self, step: Step, msg: dict[str, Any]) -> None:
        action = str(msg.get("action"))
        request = self.request(step.row)
        if action == FORCE_COMPLETE_ACTION:
            ok = msg.get("result") == "ok"
            self._close_force_complete(step, ok, None if ok else str(msg.get("message")))
            return
        if action not in REPORTS or "dest" not in request:
            return
        phase, event = REPORTS[action]
        expected = step.row["host"] if phase == "live" else request["dest"]
        if request.get("phase") != phase or msg.get("host") != expected:
            return  # stale: a re-sent step answered twice
        if msg.get("result") != "ok":
            self.failed(step, request, event, str(msg.get("message") or "failed"),
                        ports_moved=phase in ("pre", "live"))
            return
        if phase == "pre":
            self.prepared(step, request, msg)
        elif phase == "live":
            self.moved(step, request, msg)
        else:
            self.adopted(step, request, msg)

    def _pre_message(self, step: Step) -> dict[str, Any]:
        request = self.request(step.row)
        return {"op": "pre_live_migration", "uuid": step.uuid, "source": step.row["host"],
                "block_migration": request.get("block_migration"),
                "spec": spawn.spawn_spec(self.conductor, step.row, step.row["flavor"])}

    def _live_message(self, step: Step, request: dict[str, Any]) -> dict[str, Any]:
        return {"op": "live_migration", "uuid": step.uuid, "dest": request["dest"],
                "block_migration": request.get("block_migration"),
                "migrate_data": request.get("migrate_data") or {}}

    def _post_message(self, step: Step, request: dict[str, Any]) -> dict[str, Any]:
        return {"op": "post_live_migration_at_destination", "uuid": step.uuid,
                "source": step.row["host"], "transfer": request.get("transfer") or {},
                "spec": spawn.spawn_spec(self.conductor, step.row, step.row["flavor"])}

    def prepared(self, step: Step, request: dict[str, Any], msg: dict[str, Any]) -> None:
        request.update(phase="live", migrate_data=msg.get("migrate_data") or {})
        self._set(step, request)
        self._event(step, PRE, LIVE, step.row["host"])
        rebind_ports(self.conductor, step, request["dest"], then=[
            (f"compute.{step.row['host']}", self._live_message(step, request))],
            migrating_from=step.row["host"])
        step.note(f"migrating: {request['dest']} is ready; ports bound to it, the guest "
                  f"moves from {step.row['host']}")

    def moved(self, step: Step, request: dict[str, Any], msg: dict[str, Any]) -> None:
        request.update(phase="post", transfer=msg.get("transfer") or {})
        request.pop("migrate_data", None)
        self._set(step, request)
        self._event(step, LIVE, POST, request["dest"])
        # the source's agents let go of the ports now (the guest has left it)
        rebind_ports(self.conductor, step, request["dest"], then=[
            (f"compute.{request['dest']}", self._post_message(step, request))])
        step.note(f"migrating: the guest left {step.row['host']}; {request['dest']} adopts it")

    def adopted(self, step: Step, request: dict[str, Any], msg: dict[str, Any]) -> None:
        row, dest, source = step.row, request["dest"], step.row["host"]
        self.conductor.placement.claim(step.uuid, {step.node(dest)["uuid"]: resources(
            row["flavor"])}, row["project_id"], row["user_id"])
        self.conductor.scheduler.invalidate()
        hints = dict(row["scheduler_hints"])
        hints.pop(states.LIVE_MIGRATION_HINT, None)
        values: dict[str, Any] = {**ENDED, "host": dest, "scheduler_hints": hints,
                                  "node": step.node(dest)["hypervisor_hostname"]}
        if msg.get("power_state") is not None:
            values["power_state"] = msg["power_state"]
        step.update(values)
        self._event(step, POST, None, dest)
        self._finish(step, True, request)
        step.to_host(source, "destroy", purpose="cleanup")
        step.note(f"{row['vm_state']}: live-migrated from {source} to {dest}")

    # -- failure --------------------------------------------------------------------------------
    def failed(self, step: Step, request: dict[str, Any], event: str, message: str,
               ports_moved: bool) -> None:
        row, dest, source = step.row, request["dest"], step.row["host"]
        if request.get("phase") == "post":  # the guest left the source: it is the dest's now
            hints = dict(row["scheduler_hints"])
            hints.pop(states.LIVE_MIGRATION_HINT, None)
            step.update({**ENDED, "vm_state": states.ERROR, "host": dest,
                         "node": step.node(dest)["hypervisor_hostname"],
                         "scheduler_hints": hints})
            self.conductor.placement.claim(step.uuid, {step.node(dest)["uuid"]: resources(
                row["flavor"])}, row["project_id"], row["user_id"])
            self._event(step, event, None, dest, ok=False, message=message)
            self._finish(step, False, request)
            step.note(f"error: live migration failed on {dest} after the guest left "
                      f"{source} ({message})")
            return
        self.conductor.placement.claim(step.uuid, {step.node(row["host"])["uuid"]: resources(
            row["flavor"])}, row["project_id"], row["user_id"])
        self.conductor.scheduler.invalidate()
        self._end(step, request, event, message)
        step.to_host(dest, "rollback_live_migration_at_destination", purpose="cleanup")
        if ports_moved:
            rebind_ports(self.conductor, step)  # back to the source
        step.note(f"{row['vm_state']}: live migration to {dest} failed ({message}); rolled "
                  f"back, the instance stays on {source}")

    def _end(self, step: Step, request: dict[str, Any], event: str, message: str) -> None:
        hints = dict(step.row["scheduler_hints"])
        hints.pop(states.LIVE_MIGRATION_HINT, None)
        step.update({**ENDED, "scheduler_hints": hints})
        self._event(step, event, None, None, ok=False, message=message)
        self._finish(step, False, request)

    def _finish(self, step: Step, ok: bool, request: dict[str, Any]) -> None:
        record = instance_actions.latest(step.conn, step.uuid, ACTION)
        if record is not None:
            instance_actions.finish(step.conn, record["id"], None if ok else "Error")
        if request.get("abort"):  # the abort worked unless the move got through first
            aborted = instance_actions.latest(step.conn, step.uuid, ABORT_ACTION)
            if aborted is not None and aborted["finish_time"] is None:
                instance_actions.event_finish(
                    step.conn, aborted["id"], "compute_live_migration_abort",
                    "Error" if ok else "Success",
                    "the live migration had completed" if ok else None)
                instance_actions.finish(step.conn, aborted["id"], "Error" if ok else None)
        if request.get("force_complete"):  # its report did not come before the end
            self._close_force_complete(step, ok, None if ok else "the live migration failed")

    # -- restarts and deadlines -----------------------------------------------------------------
    def resume(self, step: Step) -> None:
        """Re-send the step under way (hosts treat a repeated message as a no-op)."""
        request = self.request(step.row)
        phase = request.get("phase")
        if "dest" not in request:
            self.advance(step)
        elif phase == "pre":
            rebind_ports(self.conductor, step, request["dest"], then=[
                (f"compute.{request['dest']}", self._pre_message(step))],
                migrating_from=step.row["host"])
        elif phase == "live":  # the ports first again: their binding may have been lost
            rebind_ports(self.conductor, step, request["dest"], then=[
                (f"compute.{step.row['host']}", self._live_message(step, request))],
                migrating_from=step.row["host"])
        elif phase == "post":
            step.send(f"compute.{request['dest']}", self._post_message(step, request))

    def give_up(self, step: Step) -> None:
        step.need_write()
        request = self.request(step.row)
        phase = request.get("phase")
        if "dest" not in request:
            self._end(step, request, SCHEDULE, "live migration timed out")
            return
        event = {"pre": PRE, "live": LIVE, "post": POST}.get(str(phase), SCHEDULE)
        self.failed(step, request, event, f"live migration timed out in {event}",
                    ports_moved=phase in ("pre", "live"))
